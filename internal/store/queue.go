package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
)

// notifyCooldown is the shortest gap between two insert notifications of
// the queue (River's FetchCooldown of the inserting client).
const notifyCooldown = 5 * time.Millisecond

// jobMaxAttempts bounds the queue's own attempts of one job: failures of
// the job itself (database errors, panics, a worker killed mid-job), not
// API errors, which are counted in execution_attempts.
const jobMaxAttempts = 25

// liveStates are the job states in which a job will still run; a request
// has at most one job in them (unique insert), while a discarded or
// cancelled job does not block a new one.
var liveStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// enqueue inserts the request's execution job in the transaction, so that
// the job exists if and only if the change commits. A second enqueue while
// the request's job is live is a no-op.
func (t *tx) enqueue(ctx context.Context, job lifecycle.ReleaseJob) error {
	_, err := t.db.queue.InsertTx(ctx, t.Tx, job, releaseJobOpts())
	if err != nil {
		return fmt.Errorf("enqueue release of request %s: %w", job.RequestID, err)
	}
	return nil
}

// releaseJobOpts are the insert options of a request's execution job: at
// most one live job per request.
func releaseJobOpts() *river.InsertOpts {
	return &river.InsertOpts{
		Queue:       lifecycle.ReleaseQueue,
		MaxAttempts: jobMaxAttempts,
		UniqueOpts:  river.UniqueOpts{ByArgs: true, ByState: liveStates},
	}
}

func liveStateNames() []string {
	states := make([]string, len(liveStates))
	for i, s := range liveStates {
		states[i] = string(s)
	}
	return states
}

const liveJobSQL = `SELECT 1 FROM river_job j
    WHERE j.kind = $1 AND j.args->>'request_id' = %s AND j.state::text = ANY($2::text[])`

// HasLiveJob reports whether the request has a job the queue will still run.
func (t *tx) HasLiveJob(ctx context.Context, id uuid.UUID) (bool, error) {
	var live bool
	err := t.QueryRow(ctx, `SELECT EXISTS (`+fmt.Sprintf(liveJobSQL, "$3")+`)`,
		lifecycle.ReleaseJob{}.Kind(), liveStateNames(), id.String()).Scan(&live)
	if err != nil {
		return false, fmt.Errorf("look for a live job of request %s: %w", id, err)
	}
	return live, nil
}

// Orphans lists approved or executing requests unchanged for longer than
// olderThan that have no live job.
func (db *DB) Orphans(ctx context.Context, olderThan time.Duration, limit int) ([]uuid.UUID, error) {
	rows, err := db.pool.Query(ctx, `SELECT r.id FROM requests r
WHERE r.status IN ('approved', 'executing') AND r.target_count = 0
  AND r.updated_at < now() - $3 * interval '1 microsecond'
  AND NOT EXISTS (`+fmt.Sprintf(liveJobSQL, "r.id::text")+`)
ORDER BY r.id LIMIT $4`, lifecycle.ReleaseJob{}.Kind(), liveStateNames(), olderThan.Microseconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("find orphaned requests: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("find orphaned requests: %w", err)
	}
	return ids, nil
}

// notifyMaxAttempts bounds the attempts of one notification delivery:
// with package notify's default backoff (1 s doubling to 5 min) the last
// comes about two hours after the first.
const notifyMaxAttempts = 30

// notify inserts one delivery job per notice and channel of c in the
// transaction, so that a notification exists if and only if its change
// commits, and a channel that fails is retried alone. The jobs hold the
// channel's name, never its URL or secret.
func (t *tx) notify(ctx context.Context, c lifecycle.Change) error {
	var params []river.InsertManyParams
	for _, n := range c.Notify {
		for _, ch := range n.Channels {
			id, err := uuid.NewV7()
			if err != nil {
				return fmt.Errorf("notification delivery id: %w", err)
			}
			params = append(params, river.InsertManyParams{
				Args: lifecycle.NotifyJob{DeliveryID: id, Channel: ch, Notice: n, Trace: c.Trace},
				InsertOpts: &river.InsertOpts{Queue: lifecycle.NotifyQueue, MaxAttempts: notifyMaxAttempts,
					ScheduledAt: n.SendAt},
			})
		}
	}
	if len(params) == 0 {
		return nil
	}
	if _, err := t.db.queue.InsertManyTx(ctx, t.Tx, params); err != nil {
		return fmt.Errorf("enqueue notifications of request %s: %w", c.Request, err)
	}
	return nil
}

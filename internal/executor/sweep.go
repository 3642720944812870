package executor

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/store"
)

// sweepArgs is the periodic job that runs Sweep on the leader.
type sweepArgs struct{}

// Kind implements river.JobArgs.
func (sweepArgs) Kind() string { return "rdsgate.execution_sweep" }

type sweepWorker struct {
	river.WorkerDefaults[sweepArgs]
	e *Executor
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[sweepArgs]) error {
	_, err := w.e.Sweep(ctx)
	return err
}

// orphansSQL finds approved or executing requests, unchanged for longer
// than $1, that have no job River will still run: River discarded it after
// its own attempts ran out (repeated crashes, a long database outage), or
// the request was approved while no executor was wired.
const orphansSQL = `
SELECT r.id FROM requests r
WHERE r.status IN ('approved', 'executing')
  AND r.updated_at < now() - $1 * interval '1 microsecond'
  AND NOT EXISTS (SELECT 1 FROM river_job j
      WHERE j.kind = $2 AND j.args->>'request_id' = r.id::text AND j.state::text = ANY($3::text[]))
ORDER BY r.id LIMIT 500`

// Sweep re-enqueues requests that are approved or executing but have no
// live job, so that none stays there forever; after maxRequeues such
// re-enqueues it fails the request instead. It returns how many requests
// it acted on. The executor runs it periodically on River's leader.
func (e *Executor) Sweep(ctx context.Context) (int, error) {
	rows, err := e.cfg.Pool.Query(ctx, orphansSQL, e.cfg.RescueAfter.Microseconds(), KindRelease, liveStateNames())
	if err != nil {
		return 0, fmt.Errorf("find orphaned requests: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return 0, fmt.Errorf("find orphaned requests: %w", err)
	}
	n := 0
	for _, id := range ids {
		acted, err := e.requeue(ctx, id)
		if err != nil {
			return n, err
		}
		if acted {
			n++
		}
	}
	if n > 0 {
		e.log.WarnContext(ctx, "requeued orphaned requests", slog.Int("count", n), slog.Any("request_ids", requestIDs(ids)))
	}
	return n, nil
}

// requeue enqueues a new job for one orphaned request, or fails it after
// maxRequeues.
func (e *Executor) requeue(ctx context.Context, id uuid.UUID) (bool, error) {
	acted := false
	err := e.commit(ctx, func(tx pgx.Tx) error {
		r, err := store.GetRequest(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if r.Status != request.StatusApproved && r.Status != request.StatusExecuting {
			return nil
		}
		// Another sweeper (or an approval) may have enqueued one since.
		var live bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM river_job j WHERE j.kind = $1
    AND j.args->>'request_id' = $2 AND j.state::text = ANY($3::text[]))`, KindRelease, id.String(), liveStateNames()).Scan(&live); err != nil {
			return fmt.Errorf("look for a live job: %w", err)
		}
		if live {
			return nil
		}
		var requeues int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE request_id = $1 AND kind = $2`,
			id, audit.KindExecutionRequeued).Scan(&requeues); err != nil {
			return fmt.Errorf("count requeues: %w", err)
		}
		acted = true
		now := clock()
		if requeues >= maxRequeues {
			if err := store.SetStatus(ctx, tx, id, r.Status, request.StatusFailed, now); err != nil {
				return err
			}
			return audit.Append(ctx, tx, audit.Record{Kind: audit.KindExecutionFailed, Actor: Actor, RequestID: id, DBInstanceID: r.DBInstanceID,
				At: now, Payload: map[string]any{"from": r.Status, "status": request.StatusFailed,
					"reason": fmt.Sprintf("the execution job was abandoned %d times", requeues+1)}})
		}
		if err := e.EnqueueRelease(ctx, tx, id); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Record{Kind: audit.KindExecutionRequeued, Actor: Actor, RequestID: id, DBInstanceID: r.DBInstanceID,
			At: now, Payload: map[string]any{"status": r.Status, "requeue": requeues + 1}})
	})
	if err != nil {
		return false, fmt.Errorf("requeue request %s: %w", id, err)
	}
	return acted, nil
}

func liveStateNames() []string {
	states := make([]string, len(liveStates))
	for i, s := range liveStates {
		states[i] = string(s)
	}
	return states
}

package store

import (
	"context"
	"fmt"
	"time"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// Gauges are the request and queue facts that monitoring reads at each
// scrape (package metrics).
type Gauges struct {
	// QueueJobs counts the execution queue's live jobs by state.
	QueueJobs map[string]int64
	// OldestAvailable is how long the oldest available job has been due.
	OldestAvailable time.Duration
	// Requests counts the pending, approved and executing requests.
	Requests map[string]int64
	// OutcomeUnknown counts executing requests whose last release call
	// ended with an unknown outcome, or has had no outcome for longer than
	// a call can run (its worker died): they wait for reconciliation.
	OutcomeUnknown int64
}

// Gauges reads the Gauges in two statements over indexes (the queue's
// fetch index, requests_status_idx). inflight is the longest a release
// call may still be running after its attempt started.
func (db *DB) Gauges(ctx context.Context, inflight time.Duration) (Gauges, error) {
	g := Gauges{QueueJobs: map[string]int64{}, Requests: map[string]int64{}}
	rows, err := db.pool.Query(ctx, `SELECT state::text, count(*),
  coalesce((extract(epoch FROM now() - min(scheduled_at)) * 1000000)::bigint, 0)
FROM river_job WHERE queue = $1 AND state = ANY($2::text[]::river_job_state[])
GROUP BY state`, lifecycle.ReleaseQueue, liveStateNames())
	if err != nil {
		return Gauges{}, fmt.Errorf("count queue jobs: %w", err)
	}
	for rows.Next() {
		var state string
		var n, oldestUS int64
		if err := rows.Scan(&state, &n, &oldestUS); err != nil {
			rows.Close()
			return Gauges{}, fmt.Errorf("count queue jobs: %w", err)
		}
		g.QueueJobs[state] = n
		if state == "available" {
			g.OldestAvailable = max(0, time.Duration(oldestUS)*time.Microsecond)
		}
	}
	if err := rows.Err(); err != nil {
		return Gauges{}, fmt.Errorf("count queue jobs: %w", err)
	}

	rows, err = db.pool.Query(ctx, `SELECT r.status, count(*),
  count(*) FILTER (WHERE r.status = $1 AND EXISTS (
    SELECT 1 FROM (SELECT a.outcome, a.finished_at, a.started_at FROM execution_attempts a
                   WHERE a.request_id = r.id AND a.operation = $2
                   ORDER BY a.attempt DESC LIMIT 1) AS last
    WHERE last.outcome = 'unknown'
       OR (last.finished_at IS NULL AND last.started_at < now() - $3 * interval '1 microsecond')))
FROM requests r WHERE r.status = ANY($4::text[])
GROUP BY r.status`, request.StatusExecuting, request.OpRelease, inflight.Microseconds(),
		[]string{string(request.StatusPending), string(request.StatusApproved), string(request.StatusExecuting)})
	if err != nil {
		return Gauges{}, fmt.Errorf("count active requests: %w", err)
	}
	for rows.Next() {
		var status string
		var n, unknown int64
		if err := rows.Scan(&status, &n, &unknown); err != nil {
			rows.Close()
			return Gauges{}, fmt.Errorf("count active requests: %w", err)
		}
		g.Requests[status] = n
		g.OutcomeUnknown += unknown
	}
	if err := rows.Err(); err != nil {
		return Gauges{}, fmt.Errorf("count active requests: %w", err)
	}
	return g, nil
}

package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/request"
)

// Attempts lists the calls made for a request, oldest first; an empty
// (non-nil) slice when there were none.
func (db *DB) Attempts(ctx context.Context, id uuid.UUID) ([]request.Attempt, error) {
	rows, err := db.pool.Query(ctx, `SELECT attempt, operation, started_at, finished_at, coalesce(outcome, ''),
    classification, coalesce(http_status, 0), error_code, error_message, alibaba_request_id,
    retry_after_ms, coalesce(found, '')
FROM execution_attempts WHERE request_id = $1 ORDER BY attempt`, id)
	if err != nil {
		return nil, fmt.Errorf("attempts of request %s: %w", id, err)
	}
	defer rows.Close()
	out := []request.Attempt{}
	for rows.Next() {
		var a request.Attempt
		if err := rows.Scan(&a.Attempt, &a.Operation, &a.StartedAt, &a.FinishedAt, &a.Outcome, &a.Classification,
			&a.HTTPStatus, &a.ErrorCode, &a.ErrorMessage, &a.AlibabaRequestID, &a.RetryAfterMS, &a.Found); err != nil {
			return nil, fmt.Errorf("attempts of request %s: %w", id, err)
		}
		a.StartedAt = a.StartedAt.UTC()
		if a.FinishedAt != nil {
			t := a.FinishedAt.UTC()
			a.FinishedAt = &t
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("attempts of request %s: %w", id, err)
	}
	return out, nil
}

// AttemptCounts counts a request's release calls and checks.
func (t *tx) AttemptCounts(ctx context.Context, id uuid.UUID) (releases, checks int, err error) {
	err = t.QueryRow(ctx, `SELECT count(*) FILTER (WHERE operation = $2), count(*) FILTER (WHERE operation = $3)
FROM execution_attempts WHERE request_id = $1`, id, request.OpRelease, request.OpDescribe).Scan(&releases, &checks)
	if err != nil {
		return 0, 0, fmt.Errorf("count attempts of request %s: %w", id, err)
	}
	return releases, checks, nil
}

// NextAttempt is the number of the request's next attempt. The caller holds
// the request's row lock, which serialises numbering.
func (t *tx) NextAttempt(ctx context.Context, id uuid.UUID) (int, error) {
	var n int
	if err := t.QueryRow(ctx, `SELECT coalesce(max(attempt), 0) + 1 FROM execution_attempts WHERE request_id = $1`, id).Scan(&n); err != nil {
		return 0, fmt.Errorf("next attempt of request %s: %w", id, err)
	}
	return n, nil
}

// OpenAttempts lists the numbers of the request's attempts without an
// outcome.
func (t *tx) OpenAttempts(ctx context.Context, id uuid.UUID) ([]int, error) {
	rows, err := t.Query(ctx, `SELECT attempt FROM execution_attempts WHERE request_id = $1 AND finished_at IS NULL ORDER BY attempt`, id)
	if err != nil {
		return nil, fmt.Errorf("open attempts of request %s: %w", id, err)
	}
	nums, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, fmt.Errorf("open attempts of request %s: %w", id, err)
	}
	if nums == nil {
		nums = []int{}
	}
	return nums, nil
}

// ReconcileWait is how long until the outcome of the request's last
// release attempt may be checked: delay after it finished, or, for an
// attempt whose worker died, after the latest moment its call could still
// have been running (started + inflight). It is computed on the database's
// clock, the one all replicas share; 0 when there was no release attempt.
func (db *DB) ReconcileWait(ctx context.Context, id uuid.UUID, inflight, delay time.Duration) (time.Duration, error) {
	var us *int64
	err := db.pool.QueryRow(ctx, `SELECT (extract(epoch FROM (
        coalesce(finished_at, started_at + $3 * interval '1 microsecond') + $4 * interval '1 microsecond'
        - clock_timestamp())) * 1000000)::bigint
FROM execution_attempts WHERE request_id = $1 AND operation = $2 ORDER BY attempt DESC LIMIT 1`,
		id, request.OpRelease, inflight.Microseconds(), delay.Microseconds()).Scan(&us)
	switch {
	case err == pgx.ErrNoRows || (err == nil && us == nil):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("last attempt of request %s: %w", id, err)
	}
	return max(0, time.Duration(*us)*time.Microsecond), nil
}

package executor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Outcomes of an attempt.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
	OutcomeUnknown   = "unknown"
)

// What a reconciliation check found.
const (
	FoundPresent  = "present"
	FoundReleased = "released"
)

// Attempt is one call the executor made for a request, as the request
// detail lists it. Finished is nil (and Outcome empty) while the call is in
// flight, or when its worker died during it.
type Attempt struct {
	Attempt          int        `json:"attempt"`
	Operation        string     `json:"operation"`
	StartedAt        time.Time  `json:"started_at"`
	FinishedAt       *time.Time `json:"finished_at,omitempty"`
	Outcome          string     `json:"outcome,omitempty"`
	Classification   string     `json:"classification,omitempty"`
	HTTPStatus       int        `json:"http_status,omitempty"`
	ErrorCode        string     `json:"error_code,omitempty"`
	ErrorMessage     string     `json:"error_message,omitempty"`
	AlibabaRequestID string     `json:"alibaba_request_id,omitempty"`
	RetryAfterMS     int64      `json:"retry_after_ms,omitempty"`
	// Found is what a DescribeDBInstanceNetInfo reconciliation found:
	// "present" or "released".
	Found string `json:"found,omitempty"`
}

// Querier is a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// execer is what the writes below need: a pgx.Tx in practice.
type execer interface {
	Querier
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Attempts lists the calls made for a request, oldest first; an empty
// (non-nil) slice when there were none.
func Attempts(ctx context.Context, q Querier, requestID uuid.UUID) ([]Attempt, error) {
	rows, err := q.Query(ctx, `SELECT attempt, operation, started_at, finished_at, coalesce(outcome, ''),
    classification, coalesce(http_status, 0), error_code, error_message, alibaba_request_id,
    retry_after_ms, coalesce(found, '')
FROM execution_attempts WHERE request_id = $1 ORDER BY attempt`, requestID)
	if err != nil {
		return nil, fmt.Errorf("attempts of request %s: %w", requestID, err)
	}
	defer rows.Close()
	out := []Attempt{}
	for rows.Next() {
		var a Attempt
		if err := rows.Scan(&a.Attempt, &a.Operation, &a.StartedAt, &a.FinishedAt, &a.Outcome, &a.Classification,
			&a.HTTPStatus, &a.ErrorCode, &a.ErrorMessage, &a.AlibabaRequestID, &a.RetryAfterMS, &a.Found); err != nil {
			return nil, fmt.Errorf("attempts of request %s: %w", requestID, err)
		}
		a.StartedAt = a.StartedAt.UTC()
		if a.FinishedAt != nil {
			t := a.FinishedAt.UTC()
			a.FinishedAt = &t
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("attempts of request %s: %w", requestID, err)
	}
	return out, nil
}

// attemptCounts returns how many calls of each operation were made for a
// request.
func attemptCounts(ctx context.Context, q Querier, id uuid.UUID) (releases, describes int, err error) {
	err = q.QueryRow(ctx, `SELECT count(*) FILTER (WHERE operation = $2), count(*) FILTER (WHERE operation = $3)
FROM execution_attempts WHERE request_id = $1`, id, OpRelease, OpDescribe).Scan(&releases, &describes)
	if err != nil {
		return 0, 0, fmt.Errorf("count attempts of request %s: %w", id, err)
	}
	return releases, describes, nil
}

// nextAttempt returns the number of the next attempt. The caller holds the
// request's row lock, which serialises numbering.
func nextAttempt(ctx context.Context, q Querier, id uuid.UUID) (int, error) {
	var n int
	if err := q.QueryRow(ctx, `SELECT coalesce(max(attempt), 0) + 1 FROM execution_attempts WHERE request_id = $1`, id).Scan(&n); err != nil {
		return 0, fmt.Errorf("next attempt of request %s: %w", id, err)
	}
	return n, nil
}

// insertStarted records a release attempt before its call; started_at is
// the database's clock.
func insertStarted(ctx context.Context, tx execer, id uuid.UUID, attempt int, op string) (time.Time, error) {
	var at time.Time
	err := tx.QueryRow(ctx, `INSERT INTO execution_attempts (request_id, attempt, operation, started_at)
VALUES ($1, $2, $3, clock_timestamp()) RETURNING started_at`, id, attempt, op).Scan(&at)
	if err != nil {
		return time.Time{}, fmt.Errorf("record attempt %d of request %s: %w", attempt, id, err)
	}
	return at.UTC(), nil
}

// result is what one call produced, in the attempt row's terms.
type result struct {
	Outcome          string
	Classification   string
	HTTPStatus       int
	ErrorCode        string
	ErrorMessage     string
	AlibabaRequestID string
	RetryAfter       time.Duration
	Found            string
}

// errAttemptClosed means the attempt already has an outcome: a
// reconciliation settled it while its worker was stalled past every bound.
var errAttemptClosed = errors.New("attempt already settled")

// finishAttempt completes a release attempt row.
func finishAttempt(ctx context.Context, tx execer, id uuid.UUID, attempt int, r result) error {
	tag, err := tx.Exec(ctx, `UPDATE execution_attempts SET finished_at = clock_timestamp(), outcome = $3,
    classification = $4, http_status = nullif($5, 0), error_code = $6, error_message = $7,
    alibaba_request_id = $8, retry_after_ms = $9
WHERE request_id = $1 AND attempt = $2 AND finished_at IS NULL`,
		id, attempt, r.Outcome, r.Classification, r.HTTPStatus, r.ErrorCode, r.ErrorMessage,
		r.AlibabaRequestID, r.RetryAfter.Milliseconds())
	if err != nil {
		return fmt.Errorf("record outcome of attempt %d of request %s: %w", attempt, id, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("record outcome of attempt %d of request %s: %w", attempt, id, errAttemptClosed)
	}
	return nil
}

// insertFinished records a whole attempt (a reconciliation check) at once.
func insertFinished(ctx context.Context, tx execer, id uuid.UUID, attempt int, op string, started time.Time, r result) error {
	_, err := tx.Exec(ctx, `INSERT INTO execution_attempts (request_id, attempt, operation, started_at, finished_at,
    outcome, classification, http_status, error_code, error_message, alibaba_request_id, retry_after_ms, found)
VALUES ($1, $2, $3, $4, clock_timestamp(), $5, $6, nullif($7, 0), $8, $9, $10, $11, nullif($12, ''))`,
		id, attempt, op, started, r.Outcome, r.Classification, r.HTTPStatus, r.ErrorCode, r.ErrorMessage,
		r.AlibabaRequestID, r.RetryAfter.Milliseconds(), r.Found)
	if err != nil {
		return fmt.Errorf("record attempt %d of request %s: %w", attempt, id, err)
	}
	return nil
}

// closeOpenAttempts marks release attempts that never got an outcome (their
// worker died during the call) as unknown, and returns their numbers.
func closeOpenAttempts(ctx context.Context, tx execer, id uuid.UUID) ([]int, error) {
	rows, err := tx.Query(ctx, `UPDATE execution_attempts SET finished_at = clock_timestamp(), outcome = 'unknown',
    classification = 'unknown_outcome', error_message = 'no outcome recorded: the worker stopped during the call'
WHERE request_id = $1 AND finished_at IS NULL RETURNING attempt`, id)
	if err != nil {
		return nil, fmt.Errorf("close open attempts of request %s: %w", id, err)
	}
	nums, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, fmt.Errorf("close open attempts of request %s: %w", id, err)
	}
	return nums, nil
}

// reconcileWait returns how long to wait before the outcome of the last
// release attempt may be checked: ReconcileDelay after it finished, or, for
// an attempt whose worker died, after the latest moment its call could
// still have been running (started + limiter horizon + call timeout). It is
// computed on the database's clock. A request with no release attempt may
// be reconciled at once.
func reconcileWait(ctx context.Context, q Querier, id uuid.UUID, inflight, delay time.Duration) (time.Duration, error) {
	var us *int64
	err := q.QueryRow(ctx, `SELECT (extract(epoch FROM (
        coalesce(finished_at, started_at + $3 * interval '1 microsecond') + $4 * interval '1 microsecond'
        - clock_timestamp())) * 1000000)::bigint
FROM execution_attempts WHERE request_id = $1 AND operation = $2 ORDER BY attempt DESC LIMIT 1`,
		id, OpRelease, inflight.Microseconds(), delay.Microseconds()).Scan(&us)
	switch {
	case err == pgx.ErrNoRows || (err == nil && us == nil):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("last attempt of request %s: %w", id, err)
	}
	return max(0, time.Duration(*us)*time.Microsecond), nil
}

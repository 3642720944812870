package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// tx is one transaction of DB.InTx; it implements lifecycle.Tx.
type tx struct {
	pgx.Tx
	db *DB
}

// errNoEvents refuses a change without audit records.
var errNoEvents = errors.New("a change of state needs its audit records")

// Apply writes c whole: the new request, the vote, the status (compare and
// set), the attempt rows, the queue job, the notification deliveries and
// the audit records. The statements go in one round trip; the queue job
// and the deliveries, when there are any, in one more each. It implements
// lifecycle.Tx.
func (t *tx) Apply(ctx context.Context, c lifecycle.Change) error {
	if len(c.Events) == 0 && !cursorOnly(c) {
		return fmt.Errorf("apply change of request %s: %w", c.Request, errNoEvents)
	}
	if c.To != "" {
		if err := request.Transition(c.From, c.To); err != nil {
			return err
		}
	}
	var (
		b      pgx.Batch
		checks []func() error
	)
	// expect checks that the statement queued last changed exactly one row.
	expect := func(q *pgx.QueuedQuery, fail func() error) {
		var tag pgconn.CommandTag
		q.Exec(func(ct pgconn.CommandTag) error { tag = ct; return nil })
		checks = append(checks, func() error {
			if tag.RowsAffected() != 1 {
				return fail()
			}
			return nil
		})
	}
	id := pgtype.UUID{Bytes: c.Request, Valid: true}
	if r := c.New; r != nil {
		reqs, err := json.Marshal(r.ApproverRequirements)
		if err != nil {
			return fmt.Errorf("insert request: %w", err)
		}
		b.Queue(`INSERT INTO requests (`+requestColumns+`)
VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20)`,
			id, r.Requester, r.RegionID, r.DBInstanceID, r.ConnectionString, r.NetworkType,
			r.Justification, r.Ticket, string(r.Status), r.PayloadHash[:], r.RequiredApprovals, reqs,
			r.Environment, []byte(r.Decision), r.PolicyRevision, r.CreatedAt, r.CreatedAt,
			r.AccountID, r.ParentID, r.TargetCount)
	}
	if v := c.Vote; v != nil {
		// The primary key (request, approver) refuses a second vote even
		// if two race past the domain's check.
		b.Queue(`INSERT INTO approvals (request_id, approver, decision, group_name, comment, payload_hash, created_at)
VALUES ($1,$2,$3,$4,$5,$6,$7)`, id, v.Approver, v.Decision, v.Group, v.Comment, v.PayloadHash[:], v.CreatedAt)
	}
	if c.To != "" {
		expect(b.Queue(`UPDATE requests SET status = $3, updated_at = $4 WHERE id = $1 AND status = $2`,
			id, string(c.From), string(c.To), c.At), func() error {
			return fmt.Errorf("request %s is no longer %s: %w", c.Request, c.From, request.ErrConflict)
		})
	}
	if c.CancelRest {
		b.Queue(`UPDATE requests SET rest_cancelled_at = $2 WHERE id = $1 AND rest_cancelled_at IS NULL`, id, c.At)
	}
	if c.Requeued {
		b.Queue(`UPDATE requests SET requeues = requeues + 1 WHERE id = $1`, id)
	}
	if a := c.Started; a != nil {
		b.Queue(`INSERT INTO execution_attempts (request_id, attempt, operation, started_at)
VALUES ($1, $2, $3, clock_timestamp())`, id, a.Attempt, a.Operation)
	}
	if a := c.Finished; a != nil && a.StartedAt.IsZero() {
		expect(b.Queue(`UPDATE execution_attempts SET finished_at = clock_timestamp(), outcome = $3,
    classification = $4, http_status = nullif($5, 0), error_code = $6, error_message = $7,
    alibaba_request_id = $8, retry_after_ms = $9
WHERE request_id = $1 AND attempt = $2 AND finished_at IS NULL`,
			id, a.Attempt, a.Outcome, a.Classification, a.HTTPStatus, a.ErrorCode, a.ErrorMessage,
			a.AlibabaRequestID, a.RetryAfterMS), func() error {
			return fmt.Errorf("attempt %d of request %s already has an outcome: %w", a.Attempt, c.Request, request.ErrConflict)
		})
	} else if a != nil {
		b.Queue(`INSERT INTO execution_attempts (request_id, attempt, operation, started_at, finished_at,
    outcome, classification, http_status, error_code, error_message, alibaba_request_id, retry_after_ms, found)
VALUES ($1, $2, $3, $4, clock_timestamp(), $5, $6, nullif($7, 0), $8, $9, $10, $11, nullif($12, ''))`,
			id, a.Attempt, a.Operation, a.StartedAt, a.Outcome, a.Classification, a.HTTPStatus, a.ErrorCode,
			a.ErrorMessage, a.AlibabaRequestID, a.RetryAfterMS, a.Found)
	}
	if c.CloseOpen {
		b.Queue(`UPDATE execution_attempts SET finished_at = clock_timestamp(), outcome = 'unknown',
    classification = 'unknown_outcome', error_message = 'no outcome recorded: the worker stopped during the call'
WHERE request_id = $1 AND finished_at IS NULL`, id)
	}
	queueTrail(&b, c)
	if len(c.Events) > 0 {
		if err := audit.Append(ctx, batchExecer{&b}, c.Events...); err != nil {
			return err
		}
	}
	if err := t.SendBatch(ctx, &b).Close(); err != nil {
		return domainErr(err, "apply change of request "+c.Request.String())
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	if len(c.Targets) > 0 {
		if err := t.insertTargets(ctx, c.Request, c.Targets); err != nil {
			return err
		}
	}
	if len(c.Children) > 0 {
		if err := t.insertChildren(ctx, c.Children, c.Trace); err != nil {
			return err
		}
	}
	if c.Enqueue {
		if err := t.enqueue(ctx, lifecycle.ReleaseJob{RequestID: c.Request, Trace: c.Trace}); err != nil {
			return err
		}
	}
	if len(c.Notify) > 0 {
		return t.notify(ctx, c)
	}
	return nil
}

// cursorOnly reports whether c only moves a trail cursor: bookkeeping of
// what was read, with no audit record to write.
func cursorOnly(c lifecycle.Change) bool {
	return c.TrailCursor != nil && c.New == nil && c.Vote == nil && c.To == "" && !c.Requeued && !c.CancelRest && c.Started == nil &&
		c.Finished == nil && !c.CloseOpen && !c.Enqueue && len(c.Targets) == 0 && len(c.Children) == 0 &&
		len(c.Trail) == 0 && len(c.Notify) == 0
}

// batchExecer queues audit.Append's statement on a batch.
type batchExecer struct{ b *pgx.Batch }

func (e batchExecer) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	e.b.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}

package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/request"
)

// ReleaseJob is the queue job that carries an approved request out. Vote
// enqueues it in the approving transaction; package executor works it.
type ReleaseJob struct {
	RequestID uuid.UUID `json:"request_id" river:"unique"`
	// Trace is the HTTP request id of the approval that enqueued the job
	// (WithTrace), for the executor's log lines and audit records. Only
	// RequestID makes a job unique: a second enqueue with another trace
	// is still a no-op while the first job lives.
	Trace string `json:"http_request_id,omitempty"`
}

// Kind names the job on the queue.
func (ReleaseJob) Kind() string { return "rdsgate.release" }

// ReleaseQueue is the queue of ReleaseJobs.
const ReleaseQueue = "rds_release"

// ErrChanged means the request changed state under the caller (another
// worker got there first): read it again before acting.
var ErrChanged = errors.New("request changed state")

// Releases counts the release calls made for the request.
func (d *Detail) Releases() int { return d.count(request.OpRelease) }

// Checks counts the reconciliation checks made for the request.
func (d *Detail) Checks() int { return d.count(request.OpDescribe) }

func (d *Detail) count(op string) int {
	n := 0
	for _, a := range d.Attempts {
		if a.Operation == op {
			n++
		}
	}
	return n
}

// Start is a release attempt about to be made.
type Start struct {
	Request *request.Request
	// Releases is how many release attempts the caller saw made: if
	// another worker has made one since, StartRelease gives ErrChanged.
	Releases    int
	MaxAttempts int
	// Parameters are the API call's, for the record.
	Parameters any
}

// StartRelease moves an approved request to executing and records the
// attempt (before its call) with execution.started, in one transaction,
// and returns the attempt's number. A request no longer approved, or with
// another attempt made since, gives ErrChanged.
func (s *Service) StartRelease(ctx context.Context, st Start) (int, error) {
	id := st.Request.ID
	var (
		n         int
		withdrawn bool
	)
	err := s.store.InTx(ctx, func(tx Tx) error {
		withdrawn = false
		cur, err := tx.LockRequest(ctx, id)
		if err != nil {
			return err
		}
		releases, _, err := tx.AttemptCounts(ctx, id)
		if err != nil {
			return err
		}
		if cur.Status != request.StatusApproved || releases != st.Releases {
			return ErrChanged
		}
		if withdrawn, err = s.withdrawIfRestCancelled(ctx, tx, cur); err != nil || withdrawn {
			return err // withdrawn: committed, and the caller told below
		}
		if n, err = tx.NextAttempt(ctx, id); err != nil {
			return err
		}
		now := s.clock()
		return tx.Apply(ctx, Change{Request: id, From: request.StatusApproved, To: request.StatusExecuting, At: now,
			Started: &request.Attempt{Attempt: n, Operation: request.OpRelease},
			Events: []audit.Record{{Kind: audit.KindExecutionStarted, Actor: System, RequestID: id,
				DBInstanceID: cur.DBInstanceID, At: now, Payload: map[string]any{
					"attempt": n, "release_attempt": st.Releases + 1, "max_attempts": st.MaxAttempts,
					"operation": request.OpRelease, "region_id": cur.RegionID, "parameters": st.Parameters,
					"account_id": s.callAccount(cur),
				}}}})
	})
	if err != nil {
		return 0, fmt.Errorf("start release of request %s: %w", id, err)
	}
	if withdrawn {
		// The caller reads the request again: cancelled, nothing to call.
		return 0, fmt.Errorf("start release of request %s: the rest of its bulk request was cancelled: %w", id, ErrChanged)
	}
	return n, nil
}

// Outcome is what a release attempt's call produced and the status it
// leads to: succeeded; failed (a permanent error, or the last attempt);
// approved again (the call did not happen: it is retried); or executing
// (the outcome is unknown and must be reconciled).
type Outcome struct {
	Request *request.Request
	// Attempt is the started attempt with its outcome filled in.
	Attempt request.Attempt
	Next    request.Status
	// Details are added to the audit payload (retry_in_ms, reason, …).
	Details map[string]any
}

// RecordRelease records a release attempt's outcome, execution.succeeded
// or execution.failed with the API's RequestId and error code, and moves
// the request to o.Next, in one transaction. The call happened, so its
// outcome goes on record whatever happened meanwhile: when the attempt was
// already reconciled, or the request left executing, the state is left as
// found. It returns the request's status after the change.
func (s *Service) RecordRelease(ctx context.Context, o Outcome) (request.Status, error) {
	id := o.Request.ID
	kind := audit.KindExecutionFailed
	if o.Attempt.Outcome == request.OutcomeSucceeded {
		kind = audit.KindExecutionSucceeded
	}
	payload := attemptPayload(o.Attempt, o.Next)
	payload["account_id"] = s.callAccount(o.Request)
	for k, v := range o.Details {
		payload[k] = v
	}
	var status request.Status
	err := s.store.InTx(ctx, func(tx Tx) error {
		cur, err := tx.LockRequest(ctx, id)
		if err != nil {
			return err
		}
		status = cur.Status
		open, err := tx.OpenAttempts(ctx, id)
		if err != nil {
			return err
		}
		c := Change{Request: id, At: s.clock(), Events: []audit.Record{{Kind: kind, Actor: System, RequestID: id,
			DBInstanceID: cur.DBInstanceID, ErrorCode: o.Attempt.ErrorCode,
			AlibabaRequestID: o.Attempt.AlibabaRequestID, Payload: payload}}}
		switch {
		case !slices.Contains(open, o.Attempt.Attempt):
			// Reconciled while this worker was stalled: the state is the
			// reconciliation's; the call's answer still goes on record.
			payload["status"], payload["late_outcome"] = cur.Status, true
		case cur.Status != request.StatusExecuting:
			// Nothing else moves an executing request; record what
			// happened and leave the state alone.
			c.Finished = &o.Attempt
			payload["status"] = cur.Status
		default:
			c.Finished = &o.Attempt
			if o.Next != request.StatusExecuting {
				c.From, c.To, status = request.StatusExecuting, o.Next, o.Next
				c.Notify = s.outcome(cur, o.Next, c.At, &o.Attempt, "")
			}
		}
		return s.applyEnding(ctx, tx, cur, c)
	})
	if err != nil {
		return "", fmt.Errorf("record attempt %d of request %s: %w", o.Attempt.Attempt, id, err)
	}
	return status, nil
}

// Check is what a reconciliation check (DescribeDBInstanceNetInfo after a
// release whose outcome is unknown) produced.
type Check struct {
	Request *request.Request
	// Result is the check as an attempt, with StartedAt (its number is
	// given here); a check that succeeded has Found set.
	Result request.Attempt
	// RetryIn, for a check that failed, is when to check again; zero
	// means the outcome can no longer be learnt and the request fails.
	RetryIn time.Duration
}

// RecordCheck records a reconciliation check as an attempt with
// execution.reconciled (or execution.reconcile_failed) and settles the
// request: the endpoint gone → succeeded; still there → approved, to be
// called again; a failed check → still executing (to check again after
// RetryIn) or failed. It returns the request's status after the change; a
// request that was settled meanwhile is left as found (the check goes on
// record with late:true) and its status returned.
func (s *Service) RecordCheck(ctx context.Context, ch Check) (request.Status, error) {
	id := ch.Request.ID
	failed := ch.Result.Outcome != request.OutcomeSucceeded
	var status request.Status
	err := s.store.InTx(ctx, func(tx Tx) error {
		cur, err := tx.LockRequest(ctx, id)
		if err != nil {
			return err
		}
		status = cur.Status
		if ch.Result.Attempt, err = tx.NextAttempt(ctx, id); err != nil {
			return err
		}
		now := s.clock()
		payload := attemptPayload(ch.Result, request.StatusExecuting)
		payload["account_id"] = s.callAccount(cur)
		rec := audit.Record{Kind: audit.KindExecutionReconciled, Actor: System, RequestID: id, DBInstanceID: cur.DBInstanceID,
			At: now, ErrorCode: ch.Result.ErrorCode, AlibabaRequestID: ch.Result.AlibabaRequestID, Payload: payload}
		if failed {
			rec.Kind = audit.KindExecutionReconcileFailed
		} else {
			payload["found"] = ch.Result.Found
		}
		c := Change{Request: id, At: now, Finished: &ch.Result, Events: []audit.Record{rec}}
		switch {
		case cur.Status != request.StatusExecuting:
			// Settled elsewhere while the check ran (another worker's
			// reconciliation, the sweep giving up). The call was made, so
			// it goes on record; the state is left as found.
			payload["status"], payload["late"] = cur.Status, true
		case failed && ch.RetryIn > 0:
			payload["retry_in_ms"] = ch.RetryIn.Milliseconds()
		case failed:
			// The outcome can no longer be learnt: the request ends failed,
			// and the audit trail says the release may have happened.
			payload["status"] = request.StatusFailed
			c.From, c.To, status = request.StatusExecuting, request.StatusFailed, request.StatusFailed
			c.Events = append(c.Events, audit.Record{Kind: audit.KindExecutionFailed, Actor: System, RequestID: id,
				DBInstanceID: cur.DBInstanceID, At: now, Payload: map[string]any{
					"status": request.StatusFailed, "classification": "unknown_outcome",
					"reason": "reconciliation failed: whether the endpoint was released is unknown",
				}})
			c.Notify = s.outcome(cur, request.StatusFailed, now, &ch.Result,
				"reconciliation failed: whether the endpoint was released is unknown")
		default:
			settled, err := tx.OpenAttempts(ctx, id)
			if err != nil {
				return err
			}
			payload["settled_attempts"] = settled
			next := request.StatusSucceeded
			if ch.Result.Found == request.FoundPresent {
				next = request.StatusApproved
			}
			payload["status"] = next
			c.CloseOpen = true
			c.From, c.To, status = request.StatusExecuting, next, next
			c.Notify = s.outcome(cur, next, now, &ch.Result, "")
		}
		return s.applyEnding(ctx, tx, cur, c)
	})
	if err != nil {
		return "", fmt.Errorf("record reconciliation of request %s: %w", id, err)
	}
	return status, nil
}

// GiveUp ends an approved or executing request as failed, with the reason
// on record. A request in any other state is left alone.
func (s *Service) GiveUp(ctx context.Context, id uuid.UUID, reason string) error {
	err := s.store.InTx(ctx, func(tx Tx) error {
		cur, err := tx.LockRequest(ctx, id)
		if err != nil {
			return err
		}
		if cur.Status != request.StatusApproved && cur.Status != request.StatusExecuting {
			return nil
		}
		return s.applyEnding(ctx, tx, cur, s.fail(cur, reason))
	})
	if err != nil {
		return fmt.Errorf("fail request %s: %w", id, err)
	}
	return nil
}

// fail is the change that ends an approved or executing request as failed.
func (s *Service) fail(r *request.Request, reason string) Change {
	now := s.clock()
	return Change{Request: r.ID, From: r.Status, To: request.StatusFailed, At: now,
		Events: []audit.Record{{Kind: audit.KindExecutionFailed, Actor: System, RequestID: r.ID, DBInstanceID: r.DBInstanceID,
			At: now, Payload: map[string]any{"from": r.Status, "status": request.StatusFailed, "reason": reason}}},
		Notify: s.outcome(r, request.StatusFailed, now, nil, reason)}
}

// ReconcileWait is how long until the outcome of the request's last
// release attempt may be checked: delay after it finished, or, when its
// worker died, after the latest moment its call could still have been
// running (its start + inflight). It reads the database's clock, the one
// every replica shares.
func (s *Service) ReconcileWait(ctx context.Context, id uuid.UUID, inflight, delay time.Duration) (time.Duration, error) {
	return s.store.ReconcileWait(ctx, id, inflight, delay)
}

// Orphans lists approved or executing requests unchanged for longer than
// olderThan whose execution job the queue no longer holds (it gave up after
// repeated crashes, or the request was approved while no executor ran).
func (s *Service) Orphans(ctx context.Context, olderThan time.Duration) ([]uuid.UUID, error) {
	return s.store.Orphans(ctx, olderThan, 500)
}

// Requeue enqueues a new execution job for an orphaned request, with
// execution.requeued; once it has been requeued maxRequeues times it fails
// the request instead. It reports whether it acted: not when the request
// has left approved and executing, or has a live job again.
func (s *Service) Requeue(ctx context.Context, id uuid.UUID, maxRequeues int) (bool, error) {
	acted := false
	err := s.store.InTx(ctx, func(tx Tx) error {
		r, err := tx.LockRequest(ctx, id)
		if err != nil {
			return err
		}
		if r.Status != request.StatusApproved && r.Status != request.StatusExecuting {
			return nil
		}
		// Another sweep (or an approval) may have enqueued one since.
		if live, err := tx.HasLiveJob(ctx, id); err != nil || live {
			return err
		}
		acted = true
		if r.Requeues >= maxRequeues {
			return s.applyEnding(ctx, tx, r, s.fail(r, fmt.Sprintf("the execution job was abandoned %d times", r.Requeues+1)))
		}
		now := s.clock()
		return tx.Apply(ctx, Change{Request: id, At: now, Enqueue: true, Requeued: true,
			Events: []audit.Record{{Kind: audit.KindExecutionRequeued, Actor: System, RequestID: id, DBInstanceID: r.DBInstanceID,
				At: now, Payload: map[string]any{"status": r.Status, "requeue": r.Requeues + 1}}}})
	})
	if err != nil {
		return false, fmt.Errorf("requeue request %s: %w", id, err)
	}
	return acted, nil
}

// callAccount is the Alibaba Cloud account r's calls are made in, for
// the audit trail: its own, or the configured default.
func (s *Service) callAccount(r *request.Request) string {
	if r.AccountID != "" || s.accounts == nil {
		return r.AccountID
	}
	return s.accounts.DefaultAccountID()
}

// attemptPayload is the audit payload of an attempt's outcome.
func attemptPayload(a request.Attempt, status request.Status) map[string]any {
	return map[string]any{
		"attempt": a.Attempt, "operation": a.Operation, "outcome": a.Outcome, "http_status": a.HTTPStatus,
		"error_code": a.ErrorCode, "error_message": a.ErrorMessage, "classification": a.Classification,
		"retry_after_ms": a.RetryAfterMS, "alibaba_request_id": a.AlibabaRequestID,
		"status": status,
	}
}

package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/store"
)

// errRestart means the request changed state under the worker: look again.
var errRestart = errors.New("request changed state")

// releaseWorker works ReleaseArgs jobs.
type releaseWorker struct {
	river.WorkerDefaults[ReleaseArgs]
	e *Executor
}

// Work runs one step of a request's execution: a release attempt when it is
// approved, a reconciliation when it is executing (an earlier attempt's
// outcome is unknown), nothing in any other state. API outcomes end the run
// with nil (done) or a snooze (retry later); only failures of the job itself
// return an error, for River's retry policy.
func (w *releaseWorker) Work(ctx context.Context, job *river.Job[ReleaseArgs]) error {
	e := w.e
	id := job.Args.RequestID
	log := e.log.With(slog.String("request_id", id.String()), slog.Int64("job_id", job.ID))
	for range 4 {
		r, err := store.GetRequest(ctx, e.cfg.Pool, id, false)
		if errors.Is(err, request.ErrNotFound) {
			log.ErrorContext(ctx, "execution job for an unknown request: dropped")
			return river.JobCancel(err)
		}
		if err != nil {
			return err
		}
		switch r.Status {
		case request.StatusApproved:
			err = e.release(ctx, log, r)
		case request.StatusExecuting:
			err = e.reconcile(ctx, log, r)
		default:
			log.InfoContext(ctx, "request is not executable: nothing called", slog.String("status", string(r.Status)))
			return nil
		}
		if !errors.Is(err, errRestart) {
			return err
		}
	}
	return river.JobSnooze(time.Second)
}

// release makes one ReleaseInstanceConnection attempt for an approved
// request.
func (e *Executor) release(ctx context.Context, log *slog.Logger, r *request.Request) error {
	releases, _, err := attemptCounts(ctx, e.cfg.Pool, r.ID)
	if err != nil {
		return err
	}
	if releases >= e.cfg.MaxAttempts {
		return e.giveUp(ctx, log, r, fmt.Sprintf("%d release attempts made, none succeeded", releases))
	}
	cl, err := e.client(r.RegionID)
	if err != nil {
		return err
	}
	// The slot first, so that the transaction below runs while we wait for
	// it and the call leaves as close to the slot's start as possible.
	slot, err := e.limiter.Reserve(ctx, OpRelease)
	if err != nil {
		return err
	}
	if !slot.OK {
		return river.JobSnooze(slot.Wait)
	}
	req := aliyun.ReleaseInstanceConnectionRequest{
		DBInstanceId:            r.DBInstanceID,
		CurrentConnectionString: r.ConnectionString,
		InstanceNetworkType:     r.NetworkType,
	}
	var attempt int
	err = e.commit(ctx, func(tx pgx.Tx) error {
		cur, err := store.GetRequest(ctx, tx, r.ID, true)
		if err != nil {
			return err
		}
		n, _, err := attemptCounts(ctx, tx, r.ID)
		if err != nil {
			return err
		}
		if cur.Status != request.StatusApproved || n != releases {
			return errRestart // another worker got here first; the slot goes unused
		}
		if attempt, err = nextAttempt(ctx, tx, r.ID); err != nil {
			return err
		}
		now := clock()
		if err := store.SetStatus(ctx, tx, r.ID, request.StatusApproved, request.StatusExecuting, now); err != nil {
			return err
		}
		if _, err := insertStarted(ctx, tx, r.ID, attempt, OpRelease); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Record{Kind: audit.KindExecutionStarted, Actor: Actor, RequestID: r.ID,
			DBInstanceID: r.DBInstanceID, At: now, Payload: map[string]any{
				"attempt": attempt, "release_attempt": releases + 1, "max_attempts": e.cfg.MaxAttempts,
				"operation": OpRelease, "region_id": r.RegionID, "parameters": req,
			}})
	})
	if err != nil {
		return err
	}
	log = log.With(slog.Int("attempt", attempt))
	// If the transaction outlasted the wait (cold connections, a slow
	// database), Await takes the next free slot instead.
	if err := e.limiter.Await(ctx, OpRelease, slot); err != nil {
		return e.notSent(ctx, log, r, attempt, err)
	}
	callCtx, cancel := context.WithTimeout(ctx, e.cfg.CallTimeout)
	resp, callErr := cl.ReleaseInstanceConnection(callCtx, req)
	cancel()
	var res result
	if callErr == nil {
		res = result{Outcome: OutcomeSucceeded, HTTPStatus: resp.HTTPStatus, AlibabaRequestID: resp.RequestId}
	} else {
		res = failure(callErr)
	}
	return e.recordRelease(ctx, log, r, attempt, releases+1, res)
}

// failure describes a failed call.
func failure(err error) result {
	res := result{Outcome: OutcomeFailed, Classification: string(aliyun.Classify(err)), ErrorMessage: err.Error()}
	var ae *aliyun.APIError
	if errors.As(err, &ae) {
		res.HTTPStatus, res.ErrorCode, res.ErrorMessage = ae.HTTPStatus, ae.Code, ae.Message
		res.AlibabaRequestID, res.RetryAfter = ae.RequestID, ae.RetryAfter
	}
	if res.Classification == string(aliyun.ClassUnknownOutcome) {
		res.Outcome = OutcomeUnknown
	}
	return res
}

// recordRelease writes a release attempt's outcome and the request's next
// state: succeeded; failed (permanent error, or the last attempt); approved
// again (retryable: the call did not happen); or still executing (unknown
// outcome: the next run reconciles).
func (e *Executor) recordRelease(ctx context.Context, log *slog.Logger, r *request.Request, attempt, releaseN int, res result) error {
	class := aliyun.Class(res.Classification)
	next, kind, reason := request.StatusExecuting, audit.KindExecutionFailed, ""
	var retryIn time.Duration
	var ret error
	switch {
	case res.Outcome == OutcomeSucceeded:
		next, kind = request.StatusSucceeded, audit.KindExecutionSucceeded
	case class == aliyun.ClassRetryable && releaseN < e.cfg.MaxAttempts:
		next = request.StatusApproved
		retryIn = backoff(releaseN, e.cfg.BackoffBase, e.cfg.BackoffMax, res.RetryAfter)
		ret = river.JobSnooze(retryIn)
	case class == aliyun.ClassUnknownOutcome:
		retryIn = e.cfg.ReconcileDelay
		ret = river.JobSnooze(retryIn)
	case class == aliyun.ClassRetryable:
		next, reason = request.StatusFailed, fmt.Sprintf("%d release attempts made, none succeeded", releaseN)
	default:
		next = request.StatusFailed
	}
	payload := attemptPayload(attempt, OpRelease, res, next)
	if retryIn > 0 {
		payload["retry_in_ms"] = retryIn.Milliseconds()
	}
	if reason != "" {
		payload["reason"] = reason
	}
	// The call happened: its outcome is recorded even when the job is being
	// cancelled.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	err := e.commit(ctx, func(tx pgx.Tx) error {
		cur, err := store.GetRequest(ctx, tx, r.ID, true)
		if err != nil {
			return err
		}
		err = finishAttempt(ctx, tx, r.ID, attempt, res)
		switch {
		case errors.Is(err, errAttemptClosed):
			// Reconciled while this worker was stalled: the state is the
			// reconciliation's; the call's answer still goes on record.
			log.ErrorContext(ctx, "outcome arrived after the attempt was reconciled", slog.String("outcome", res.Outcome))
			payload["status"], payload["late_outcome"] = cur.Status, true
		case err != nil:
			return err
		case cur.Status != request.StatusExecuting:
			// Nothing else moves an executing request; record what happened
			// and leave the state alone.
			log.ErrorContext(ctx, "request left executing during its call", slog.String("status", string(cur.Status)))
			payload["status"] = cur.Status
		case next != request.StatusExecuting:
			if err := store.SetStatus(ctx, tx, r.ID, request.StatusExecuting, next, clock()); err != nil {
				return err
			}
		}
		return audit.Append(ctx, tx, audit.Record{Kind: kind, Actor: Actor, RequestID: r.ID, DBInstanceID: r.DBInstanceID,
			ErrorCode: res.ErrorCode, AlibabaRequestID: res.AlibabaRequestID, Payload: payload})
	})
	if err != nil {
		return fmt.Errorf("record attempt %d of request %s: %w", attempt, r.ID, err)
	}
	level := slog.LevelInfo
	if res.Outcome != OutcomeSucceeded {
		level = slog.LevelWarn
	}
	log.Log(ctx, level, "release attempt", slog.String("outcome", res.Outcome), slog.String("classification", res.Classification),
		slog.String("error_code", res.ErrorCode), slog.String("alibaba_request_id", res.AlibabaRequestID),
		slog.String("status", string(next)))
	return ret
}

// notSent records that a started attempt's call was never sent (the job
// was cancelled while it waited for its slot): the request is approved
// again, which is safe because nothing left the process.
func (e *Executor) notSent(ctx context.Context, log *slog.Logger, r *request.Request, attempt int, cause error) error {
	res := result{Outcome: OutcomeFailed, Classification: string(aliyun.ClassRetryable), ErrorMessage: "not sent: " + cause.Error()}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	err := e.commit(ctx, func(tx pgx.Tx) error {
		if _, err := store.GetRequest(ctx, tx, r.ID, true); err != nil {
			return err
		}
		if err := finishAttempt(ctx, tx, r.ID, attempt, res); err != nil {
			return err
		}
		if err := store.SetStatus(ctx, tx, r.ID, request.StatusExecuting, request.StatusApproved, clock()); err != nil {
			return err
		}
		p := attemptPayload(attempt, OpRelease, res, request.StatusApproved)
		p["not_sent"] = true
		return audit.Append(ctx, tx, audit.Record{Kind: audit.KindExecutionFailed, Actor: Actor, RequestID: r.ID, DBInstanceID: r.DBInstanceID, Payload: p})
	})
	if err != nil {
		return fmt.Errorf("record unsent attempt %d of request %s: %w", attempt, r.ID, err)
	}
	log.InfoContext(ctx, "release attempt not sent", slog.Any("cause", cause))
	return river.JobSnooze(0)
}

// reconcile settles an executing request: an earlier attempt's outcome is
// unknown (or its worker died), so before anything is called again
// DescribeDBInstanceNetInfo tells whether the endpoint is still there.
func (e *Executor) reconcile(ctx context.Context, log *slog.Logger, r *request.Request) error {
	_, describes, err := attemptCounts(ctx, e.cfg.Pool, r.ID)
	if err != nil {
		return err
	}
	wait, err := reconcileWait(ctx, e.cfg.Pool, r.ID, e.cfg.LimiterHorizon+e.cfg.CallTimeout, e.cfg.ReconcileDelay)
	if err != nil {
		return err
	}
	if wait > 0 {
		return river.JobSnooze(wait)
	}
	if describes >= e.cfg.MaxAttempts {
		return e.giveUp(ctx, log, r, fmt.Sprintf("%d reconciliation checks failed: the outcome of the release is unknown", describes))
	}
	cl, err := e.client(r.RegionID)
	if err != nil {
		return err
	}
	slot, err := e.limiter.Reserve(ctx, OpDescribe)
	if err != nil {
		return err
	}
	if !slot.OK {
		return river.JobSnooze(slot.Wait)
	}
	if err := e.limiter.Await(ctx, OpDescribe, slot); err != nil {
		return river.JobSnooze(0)
	}
	started := time.Now()
	callCtx, cancel := context.WithTimeout(ctx, e.cfg.CallTimeout)
	resp, callErr := cl.DescribeDBInstanceNetInfo(callCtx, aliyun.DescribeDBInstanceNetInfoRequest{DBInstanceId: r.DBInstanceID})
	cancel()
	var res result
	if callErr == nil {
		res = result{Outcome: OutcomeSucceeded, HTTPStatus: resp.HTTPStatus, AlibabaRequestID: resp.RequestId, Found: FoundReleased}
		if endpointPresent(resp, r.ConnectionString) {
			res.Found = FoundPresent
		}
	} else {
		res = failure(callErr)
	}
	describeN := describes + 1
	var ret error
	ctx, cancelRec := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancelRec()
	err = e.commit(ctx, func(tx pgx.Tx) error {
		cur, err := store.GetRequest(ctx, tx, r.ID, true)
		if err != nil {
			return err
		}
		attempt, err := nextAttempt(ctx, tx, r.ID)
		if err != nil {
			return err
		}
		if err := insertFinished(ctx, tx, r.ID, attempt, OpDescribe, started, res); err != nil {
			return err
		}
		now := clock()
		payload := attemptPayload(attempt, OpDescribe, res, request.StatusExecuting)
		rec := audit.Record{Kind: audit.KindExecutionReconciled, Actor: Actor, RequestID: r.ID, DBInstanceID: r.DBInstanceID,
			At: now, ErrorCode: res.ErrorCode, AlibabaRequestID: res.AlibabaRequestID, Payload: payload}
		if callErr != nil {
			rec.Kind = audit.KindExecutionReconcileFailed
		} else {
			payload["found"] = res.Found
		}
		if cur.Status != request.StatusExecuting {
			// Settled elsewhere while the check ran (another worker's
			// reconciliation, the sweeper giving up). The call was made, so
			// it goes on record; the state is left as found.
			payload["status"], payload["late"] = cur.Status, true
			ret = errRestart
			return audit.Append(ctx, tx, rec)
		}
		if callErr != nil {
			class := aliyun.Class(res.Classification)
			if class != aliyun.ClassPermanent && describeN < e.cfg.MaxAttempts {
				retryIn := backoff(describeN, e.cfg.BackoffBase, e.cfg.BackoffMax, res.RetryAfter)
				payload["retry_in_ms"] = retryIn.Milliseconds()
				ret = river.JobSnooze(retryIn)
				return audit.Append(ctx, tx, rec)
			}
			// The outcome can no longer be learnt: the request ends failed,
			// and the audit trail says the release may have happened.
			payload["status"] = request.StatusFailed
			if err := store.SetStatus(ctx, tx, r.ID, request.StatusExecuting, request.StatusFailed, now); err != nil {
				return err
			}
			return audit.Append(ctx, tx, rec, audit.Record{Kind: audit.KindExecutionFailed, Actor: Actor, RequestID: r.ID,
				DBInstanceID: r.DBInstanceID, At: now, Payload: map[string]any{
					"status": request.StatusFailed, "classification": aliyun.ClassUnknownOutcome,
					"reason": "reconciliation failed: whether the endpoint was released is unknown",
				}})
		}
		settled, err := closeOpenAttempts(ctx, tx, r.ID)
		if err != nil {
			return err
		}
		payload["settled_attempts"] = settled
		next := request.StatusSucceeded
		if res.Found == FoundPresent {
			next = request.StatusApproved
			ret = errRestart // call again, in this run
		}
		payload["status"] = next
		if err := store.SetStatus(ctx, tx, r.ID, request.StatusExecuting, next, now); err != nil {
			return err
		}
		return audit.Append(ctx, tx, rec)
	})
	if err != nil {
		return fmt.Errorf("record reconciliation of request %s: %w", r.ID, err)
	}
	log.InfoContext(ctx, "reconciled", slog.String("found", res.Found), slog.String("error_code", res.ErrorCode),
		slog.String("classification", res.Classification), slog.String("alibaba_request_id", res.AlibabaRequestID))
	return ret
}

// endpointPresent reports whether the instance still has cs as a public
// endpoint. Host names compare case-insensitively.
func endpointPresent(resp *aliyun.DescribeDBInstanceNetInfoResponse, cs string) bool {
	for _, n := range resp.DBInstanceNetInfos.DBInstanceNetInfo {
		if n.IPType == "Public" && strings.EqualFold(n.ConnectionString, cs) {
			return true
		}
	}
	return false
}

// giveUp ends an approved or executing request as failed with the reason.
func (e *Executor) giveUp(ctx context.Context, log *slog.Logger, r *request.Request, reason string) error {
	err := e.commit(ctx, func(tx pgx.Tx) error {
		cur, err := store.GetRequest(ctx, tx, r.ID, true)
		if err != nil {
			return err
		}
		if cur.Status != request.StatusApproved && cur.Status != request.StatusExecuting {
			return nil
		}
		now := clock()
		if err := store.SetStatus(ctx, tx, r.ID, cur.Status, request.StatusFailed, now); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Record{Kind: audit.KindExecutionFailed, Actor: Actor, RequestID: r.ID, DBInstanceID: r.DBInstanceID,
			At: now, Payload: map[string]any{"from": cur.Status, "status": request.StatusFailed, "reason": reason}})
	})
	if err != nil {
		return fmt.Errorf("fail request %s: %w", r.ID, err)
	}
	log.WarnContext(ctx, "request failed", slog.String("reason", reason))
	return nil
}

// attemptPayload is the audit payload of an attempt's outcome.
func attemptPayload(attempt int, op string, res result, status request.Status) map[string]any {
	return map[string]any{
		"attempt": attempt, "operation": op, "outcome": res.Outcome, "http_status": res.HTTPStatus,
		"error_code": res.ErrorCode, "error_message": res.ErrorMessage, "classification": res.Classification,
		"retry_after_ms": res.RetryAfter.Milliseconds(), "alibaba_request_id": res.AlibabaRequestID,
		"status": status,
	}
}

// commit runs fn in one transaction and kicks the sealer after it.
func (e *Executor) commit(ctx context.Context, fn func(pgx.Tx) error) error {
	if err := store.InTx(ctx, e.cfg.Pool, fn); err != nil {
		return err
	}
	e.kick()
	return nil
}

// clock is the current time at the database's precision.
func clock() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// requestIDs is a helper for logging lists of request ids.
func requestIDs(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

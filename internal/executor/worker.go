package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/quota"
	"github.com/rdsgate/rdsgate/internal/request"
)

// releaseWorker works lifecycle.ReleaseJob jobs.
type releaseWorker struct {
	river.WorkerDefaults[lifecycle.ReleaseJob]
	e *Executor
}

// Work runs one step of a request's execution: a release attempt when it is
// approved, a reconciliation when it is executing (an earlier attempt's
// outcome is unknown), nothing in any other state. API outcomes end the run
// with nil (done) or a snooze (retry later); only failures of the job itself
// return an error, for River's retry policy. The HTTP request id of the
// approval that enqueued the job goes on every log line of the run and,
// through the context, into the audit records it causes.
func (w *releaseWorker) Work(ctx context.Context, job *river.Job[lifecycle.ReleaseJob]) error {
	e := w.e
	id := job.Args.RequestID
	log := e.log.With(slog.String("request_id", id.String()), slog.Int64("job_id", job.ID))
	if trace := job.Args.Trace; trace != "" {
		ctx = lifecycle.WithTrace(ctx, trace) // the logger adds it to the lines (lifecycle.TraceLogHandler)
	}
	for range 4 {
		d, err := e.requests.Detail(ctx, id)
		if errors.Is(err, request.ErrNotFound) {
			log.ErrorContext(ctx, "execution job for an unknown request: dropped")
			return river.JobCancel(err)
		}
		if err != nil {
			return err
		}
		switch d.Status {
		case request.StatusApproved:
			err = e.release(ctx, log, d)
		case request.StatusExecuting:
			err = e.reconcile(ctx, log, d)
		default:
			log.InfoContext(ctx, "request is not executable: nothing called", slog.String("status", string(d.Status)))
			return nil
		}
		if !errors.Is(err, lifecycle.ErrChanged) {
			return err
		}
	}
	return river.JobSnooze(time.Second)
}

// release makes one ReleaseInstanceConnection attempt for an approved
// request.
func (e *Executor) release(ctx context.Context, log *slog.Logger, d *lifecycle.Detail) error {
	releases := d.Releases()
	if releases >= e.cfg.MaxAttempts {
		return e.requests.GiveUp(ctx, d.ID, fmt.Sprintf("%d release attempts made, none succeeded", releases))
	}
	cl, err := e.client(ClientKey{AccountID: d.AccountID, RegionID: d.RegionID, Session: sessionName(d.Request)})
	if errors.Is(err, ErrUnknownAccount) {
		return e.requests.GiveUp(ctx, d.ID, err.Error())
	}
	if err != nil {
		return err
	}
	// The slot first, so that the transaction below runs while we wait for
	// it and the call leaves as close to the slot's start as possible. Each
	// account has its own quota, and so its own slots.
	lim := e.limiter.For(d.AccountID)
	slot, err := lim.Reserve(ctx, request.OpRelease)
	if err != nil {
		return err
	}
	if !slot.OK {
		return river.JobSnooze(slot.Wait)
	}
	req := aliyun.ReleaseInstanceConnectionRequest{
		DBInstanceId:            d.DBInstanceID,
		CurrentConnectionString: d.ConnectionString,
		InstanceNetworkType:     d.NetworkType,
	}
	n, err := e.requests.StartRelease(ctx, lifecycle.Start{Request: d.Request, Releases: releases,
		MaxAttempts: e.cfg.MaxAttempts, Parameters: req})
	if err != nil {
		return err // ErrChanged: another worker got here first; the slot goes unused
	}
	log = log.With(slog.Int("attempt", n))
	// If the transaction outlasted the wait (cold connections, a slow
	// database), Await takes the next free slot instead.
	if slot, err = lim.Await(ctx, request.OpRelease, slot); err != nil {
		return e.notSent(ctx, log, d.Request, n, err)
	}
	callCtx, cancel := context.WithTimeout(ctx, e.cfg.CallTimeout)
	resp, callErr := cl.ReleaseInstanceConnection(gated(callCtx, log, lim, request.OpRelease, slot), req)
	cancel()
	a := request.Attempt{Attempt: n, Operation: request.OpRelease}
	if callErr == nil {
		a.Outcome, a.HTTPStatus, a.AlibabaRequestID = request.OutcomeSucceeded, resp.HTTPStatus, resp.RequestId
	} else {
		failure(&a, callErr)
	}
	return e.recordRelease(ctx, log, d.Request, a, releases+1)
}

// gated guards the instant a call leaves, not only its slot's start: once
// the request is signed and has a connection, Await of the slot the caller
// holds returns at once if it is still on time, and takes a new slot if
// signing, a dial or a TLS handshake made it late (a quota counts
// arrivals).
func gated(ctx context.Context, log *slog.Logger, lim *quota.Limiter, op string, slot quota.Reservation) context.Context {
	return aliyun.WithSendGate(ctx, func(ctx context.Context) {
		if _, err := lim.Await(ctx, op, slot); err != nil {
			log.WarnContext(ctx, "send gate: the call leaves without a fresh slot", slog.String("operation", op), slog.Any("err", err))
		}
	})
}

// notSent records release attempt n as not sent (nothing left the
// process: the job is being stopped while it waited for its slot): the
// request is approved again and its job runs again at once.
func (e *Executor) notSent(ctx context.Context, log *slog.Logger, r *request.Request, n int, cause error) error {
	a := request.Attempt{Attempt: n, Operation: request.OpRelease, Outcome: request.OutcomeFailed,
		Classification: string(aliyun.ClassRetryable), ErrorMessage: "not sent: " + cause.Error()}
	if _, err := e.requests.RecordRelease(context.WithoutCancel(ctx), lifecycle.Outcome{Request: r, Attempt: a,
		Next: request.StatusApproved, Details: map[string]any{"not_sent": true}}); err != nil {
		return err
	}
	log.InfoContext(ctx, "release attempt not sent", slog.Any("cause", cause))
	return river.JobSnooze(0)
}

// failure fills in a's outcome from a failed call.
func failure(a *request.Attempt, err error) {
	a.Outcome, a.Classification, a.ErrorMessage = request.OutcomeFailed, string(aliyun.Classify(err)), err.Error()
	var ae *aliyun.APIError
	if errors.As(err, &ae) {
		a.HTTPStatus, a.ErrorCode, a.ErrorMessage = ae.HTTPStatus, ae.Code, ae.Message
		a.AlibabaRequestID, a.RetryAfterMS = ae.RequestID, ae.RetryAfter.Milliseconds()
	}
	if a.Classification == string(aliyun.ClassUnknownOutcome) {
		a.Outcome = request.OutcomeUnknown
	}
}

// recordRelease records a release attempt's outcome and the request's next
// state: succeeded; failed (permanent error, or the last attempt); approved
// again (retryable: the call did not happen); or still executing (unknown
// outcome: the next run reconciles).
func (e *Executor) recordRelease(ctx context.Context, log *slog.Logger, r *request.Request, a request.Attempt, releaseN int) error {
	class := aliyun.Class(a.Classification)
	o := lifecycle.Outcome{Request: r, Attempt: a, Next: request.StatusExecuting, Details: map[string]any{}}
	var retryIn time.Duration
	var ret error
	switch {
	case a.Outcome == request.OutcomeSucceeded:
		o.Next = request.StatusSucceeded
	case class == aliyun.ClassRetryable && releaseN < e.cfg.MaxAttempts:
		o.Next = request.StatusApproved
		retryIn = backoff(releaseN, e.cfg.BackoffBase, e.cfg.BackoffMax, time.Duration(a.RetryAfterMS)*time.Millisecond)
		ret = river.JobSnooze(retryIn)
	case class == aliyun.ClassUnknownOutcome:
		retryIn = e.cfg.ReconcileDelay
		ret = river.JobSnooze(retryIn)
	case class == aliyun.ClassRetryable:
		o.Next = request.StatusFailed
		o.Details["reason"] = fmt.Sprintf("%d release attempts made, none succeeded", releaseN)
	default:
		o.Next = request.StatusFailed
	}
	if retryIn > 0 {
		o.Details["retry_in_ms"] = retryIn.Milliseconds()
	}
	// The call happened: its outcome is recorded even when the job is being
	// cancelled.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	status, err := e.requests.RecordRelease(ctx, o)
	if err != nil {
		return err
	}
	if status != o.Next {
		log.ErrorContext(ctx, "the request changed during its call; its outcome is on record, its state left as found",
			slog.String("status", string(status)))
	}
	level := slog.LevelInfo
	if a.Outcome != request.OutcomeSucceeded {
		level = slog.LevelWarn
	}
	log.Log(ctx, level, "release attempt", slog.String("outcome", a.Outcome), slog.String("classification", a.Classification),
		slog.String("error_code", a.ErrorCode), slog.String("alibaba_request_id", a.AlibabaRequestID),
		slog.String("status", string(status)))
	return ret
}

// reconcile settles an executing request: an earlier attempt's outcome is
// unknown (or its worker died), so before anything is called again
// DescribeDBInstanceNetInfo tells whether the endpoint is still there.
func (e *Executor) reconcile(ctx context.Context, log *slog.Logger, d *lifecycle.Detail) error {
	wait, err := e.requests.ReconcileWait(ctx, d.ID, e.CallWindow(), e.cfg.ReconcileDelay)
	if err != nil {
		return err
	}
	if wait > 0 {
		return river.JobSnooze(wait)
	}
	checks := d.Checks()
	if checks >= e.cfg.MaxAttempts {
		return e.requests.GiveUp(ctx, d.ID, fmt.Sprintf("%d reconciliation checks failed: the outcome of the release is unknown", checks))
	}
	cl, err := e.client(ClientKey{AccountID: d.AccountID, RegionID: d.RegionID, Session: sessionName(d.Request)})
	if errors.Is(err, ErrUnknownAccount) {
		return e.requests.GiveUp(ctx, d.ID, err.Error())
	}
	if err != nil {
		return err
	}
	lim := e.limiter.For(d.AccountID)
	slot, err := lim.Reserve(ctx, request.OpDescribe)
	if err != nil {
		return err
	}
	if !slot.OK {
		return river.JobSnooze(slot.Wait)
	}
	if slot, err = lim.Await(ctx, request.OpDescribe, slot); err != nil {
		return river.JobSnooze(0)
	}
	a := request.Attempt{Operation: request.OpDescribe, StartedAt: time.Now().UTC()}
	callCtx, cancel := context.WithTimeout(ctx, e.cfg.CallTimeout)
	resp, callErr := cl.DescribeDBInstanceNetInfo(gated(callCtx, log, lim, request.OpDescribe, slot), aliyun.DescribeDBInstanceNetInfoRequest{DBInstanceId: d.DBInstanceID})
	cancel()
	ch := lifecycle.Check{Request: d.Request}
	if callErr == nil {
		a.Outcome, a.HTTPStatus, a.AlibabaRequestID, a.Found = request.OutcomeSucceeded, resp.HTTPStatus, resp.RequestId, request.FoundReleased
		if endpointPresent(resp, d.ConnectionString) {
			a.Found = request.FoundPresent
		}
	} else {
		failure(&a, callErr)
		if n := checks + 1; aliyun.Class(a.Classification) != aliyun.ClassPermanent && n < e.cfg.MaxAttempts {
			ch.RetryIn = backoff(n, e.cfg.BackoffBase, e.cfg.BackoffMax, time.Duration(a.RetryAfterMS)*time.Millisecond)
		}
	}
	ch.Result = a
	ctx, cancelRec := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancelRec()
	status, err := e.requests.RecordCheck(ctx, ch)
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "reconciled", slog.String("found", a.Found), slog.String("error_code", a.ErrorCode),
		slog.String("classification", a.Classification), slog.String("alibaba_request_id", a.AlibabaRequestID),
		slog.String("status", string(status)))
	switch status {
	case request.StatusExecuting:
		return river.JobSnooze(ch.RetryIn)
	case request.StatusSucceeded, request.StatusFailed:
		return nil
	default:
		return lifecycle.ErrChanged // approved: call again, in this run; or settled elsewhere: look again
	}
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

// sessionName is the STS role session of r's calls: the request it serves
// (its bulk request's, for a target of one), so that the account's
// ActionTrail names the rdsgate request behind each release.
func sessionName(r *request.Request) string {
	if r.ParentID != nil {
		return "rdsgate-" + r.ParentID.String()
	}
	return "rdsgate-" + r.ID.String()
}

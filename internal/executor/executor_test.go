package executor_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/rdssim"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/store"
)

// expectedClass is the classification a code must get, derived from the
// API's rules rather than from the catalog: throttling codes and 5xx are
// retryable, every other 4xx is permanent.
func expectedClass(e aliyun.CatalogEntry) aliyun.Class {
	switch {
	case e.Code == aliyun.CodeThrottling || e.Code == aliyun.CodeThrottlingUser || e.Code == aliyun.CodeThrottlingAPI:
		return aliyun.ClassRetryable
	case e.HTTPStatus >= 500:
		return aliyun.ClassRetryable
	default:
		return aliyun.ClassPermanent
	}
}

// TestCatalog injects every catalogued code (the 61 documented for
// ReleaseInstanceConnection, the throttling codes and the common ones) into
// one release each: a permanent code fails the request after one call, a
// retryable one is retried and the request succeeds; the audit trail holds
// the code and the RequestId the simulator answered with.
func TestCatalog(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	cat := aliyun.Catalog()
	documented := 0
	for _, e := range cat {
		if e.Source == aliyun.SourceDocumented {
			documented++
		}
	}
	if documented != 61 {
		t.Fatalf("catalog has %d documented codes, want 61", documented)
	}
	// Instances and faults first, then the requests.
	insts := make([]string, len(cat))
	for i, e := range cat {
		insts[i] = fmt.Sprintf("rm-cat%05d", i)
		if err := b.sim.UpsertInstances([]rdssim.Instance{instance(insts[i])}); err != nil {
			t.Fatal(err)
		}
		if err := b.sim.AddFault(rdssim.Fault{Instance: insts[i], Action: aliyun.ActionReleaseInstanceConnection, Code: e.Code, Times: 1}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []uuid.UUID
	for _, inst := range insts {
		ids = append(ids, newRequest(t, b.pool, b.exec, inst, request.StatusApproved, true))
	}
	final := waitTerminal(t, b.pool, ids, 60*time.Second)
	calls := b.sim.Calls()
	ctx := context.Background()
	for i, e := range cat {
		t.Run(e.Code, func(t *testing.T) {
			want := expectedClass(e)
			if e.Class != want {
				t.Errorf("catalog class %s, want %s", e.Class, want)
			}
			// Calls the simulator's own quota throttled (not injected) are
			// retried like any throttling; TestRateTwoExecutors is the test
			// that there are none.
			var rel []rdssim.Call
			quota := map[string]bool{}
			for _, c := range callsFor(calls, insts[i], aliyun.ActionReleaseInstanceConnection) {
				if c.Code == aliyun.CodeThrottlingUser && !c.Injected {
					quota[c.RequestID] = true
					continue
				}
				rel = append(rel, c)
			}
			if len(rel) == 0 || !rel[0].Injected || rel[0].Code != e.Code {
				t.Fatalf("simulator log %+v: want the injected %s first", rel, e.Code)
			}
			simRequestID := rel[0].RequestID
			wantStatus, wantCalls := request.StatusFailed, 1
			if want == aliyun.ClassRetryable {
				wantStatus, wantCalls = request.StatusSucceeded, 2
			}
			if final[ids[i]] != wantStatus || len(rel) != wantCalls {
				t.Errorf("status %s after %d calls, want %s after %d", final[ids[i]], len(rel), wantStatus, wantCalls)
			}
			evs := events(t, b.pool, ids[i])
			var failed []event
			for _, ev := range evs {
				if ev.Kind == audit.KindExecutionFailed && !quota[ev.AlibabaRequestID] {
					failed = append(failed, ev)
				}
			}
			if len(failed) != 1 {
				t.Fatalf("events %v: want one %s", kinds(evs), audit.KindExecutionFailed)
			}
			f := failed[0]
			if f.ErrorCode != e.Code || f.AlibabaRequestID != simRequestID || f.Payload["classification"] != string(want) ||
				f.Payload["http_status"] != float64(e.HTTPStatus) || f.Payload["error_message"] != e.Message {
				t.Errorf("audit %+v: want code %s, request id %s, class %s, status %d, message %q",
					f, e.Code, simRequestID, want, e.HTTPStatus, e.Message)
			}
			atts, err := executor.Attempts(ctx, b.pool, ids[i])
			if err != nil {
				t.Fatal(err)
			}
			var own []executor.Attempt
			for _, a := range atts {
				if !quota[a.AlibabaRequestID] {
					own = append(own, a)
				}
			}
			atts = own
			if len(atts) != wantCalls || atts[0].ErrorCode != e.Code || atts[0].AlibabaRequestID != simRequestID ||
				atts[0].Classification != string(want) || atts[0].HTTPStatus != e.HTTPStatus || atts[0].Outcome != executor.OutcomeFailed {
				t.Errorf("attempts %+v", atts)
			}
			if wantCalls == 2 && (atts[1].Outcome != executor.OutcomeSucceeded || atts[1].AlibabaRequestID != rel[1].RequestID) {
				t.Errorf("retry attempt %+v, simulator %+v", atts[1], rel[1])
			}
		})
	}
	if n := throttled(calls); n != 0 {
		t.Logf("%d calls throttled by the simulator's quota (retried)", n)
	}
	sealAndVerify(t, b.pool)
}

// TestRetryableUntilMaxAttempts: a retryable error that never clears fails
// the request after MaxAttempts calls, each audited.
func TestRetryableUntilMaxAttempts(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *executor.Config) { c.MaxAttempts = 3 })
	b.sim.UpsertInstances([]rdssim.Instance{instance("rm-maxattempts1")})
	if err := b.sim.AddFault(rdssim.Fault{Instance: "rm-maxattempts1", Action: aliyun.ActionReleaseInstanceConnection, Code: aliyun.CodeServiceUnavailable}); err != nil {
		t.Fatal(err)
	}
	id := newRequest(t, b.pool, b.exec, "rm-maxattempts1", request.StatusApproved, true)
	st := waitTerminal(t, b.pool, []uuid.UUID{id}, 20*time.Second)
	if st[id] != request.StatusFailed {
		t.Fatalf("status %s, want failed", st[id])
	}
	want := []string{"execution.started", "execution.failed", "execution.started", "execution.failed", "execution.started", "execution.failed"}
	evs := events(t, b.pool, id)
	if diff := cmp.Diff(want, kinds(evs)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	calls := callsFor(b.sim.Calls(), "rm-maxattempts1", aliyun.ActionReleaseInstanceConnection)
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3", len(calls))
	}
	for i := range 3 {
		ev := evs[2*i+1]
		if ev.ErrorCode != aliyun.CodeServiceUnavailable || ev.AlibabaRequestID != calls[i].RequestID {
			t.Errorf("event %d: %+v, want request id %s", i, ev, calls[i].RequestID)
		}
	}
	last := evs[len(evs)-1].Payload
	if last["status"] != "failed" || last["reason"] == nil || evs[1].Payload["status"] != "approved" || evs[1].Payload["retry_in_ms"] == nil {
		t.Errorf("payloads: first %v, last %v", evs[1].Payload, last)
	}
}

// TestRetryAfterHonoured: a throttled answer's TimeLeft hint delays the
// retry at least that long.
func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	// A quota of 1 call per second at the simulator while the executor
	// believes 10/s: the second call is throttled with a TimeLeft hint.
	pool := testdbNew(t)
	sim, err := rdssim.New(rdssim.Config{RatePerSecond: 1, Accounts: []rdssim.Account{{AccessKeyID: testKeyID, AccessKeySecret: testKeySecret, AccountID: testAccount}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(t, sim)
	cfg := fastConfig(pool, newClient(t, srv, 2*time.Second))
	cfg.MaxAttempts = 5
	e, err := executor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sim.UpsertInstances([]rdssim.Instance{instance("rm-retryafter1"), instance("rm-retryafter2")})
	// Both jobs wait before the executor starts, so that their slots are
	// 102 ms apart and the second lands inside the simulator's second.
	ids := []uuid.UUID{
		newRequest(t, pool, e, "rm-retryafter1", request.StatusApproved, true),
		newRequest(t, pool, e, "rm-retryafter2", request.StatusApproved, true),
	}
	start(t, e)
	st := waitTerminal(t, pool, ids, 20*time.Second)
	for _, id := range ids {
		if st[id] != request.StatusSucceeded {
			t.Fatalf("%s: %s", id, st[id])
		}
	}
	var throttledAt, retriedAt time.Time
	var hint time.Duration
	for _, c := range sim.Calls() {
		if c.Action != aliyun.ActionReleaseInstanceConnection {
			continue
		}
		if c.Code == aliyun.CodeThrottlingUser && throttledAt.IsZero() {
			throttledAt = c.Time
			for _, id := range ids {
				for _, a := range mustAttempts(t, pool, id) {
					if a.AlibabaRequestID == c.RequestID {
						hint = time.Duration(a.RetryAfterMS) * time.Millisecond
					}
				}
			}
			continue
		}
		if !throttledAt.IsZero() && c.Instance != "" && c.Code == "" {
			retriedAt = c.Time
		}
	}
	if throttledAt.IsZero() || hint <= 0 {
		t.Fatalf("no throttled call with a RetryAfter hint recorded (hint %s)", hint)
	}
	if retriedAt.Sub(throttledAt) < hint {
		t.Errorf("retried %s after the throttled call; the hint was %s", retriedAt.Sub(throttledAt), hint)
	}
}

// TestUnknownOutcomeReleased: the connection drops after the simulator
// released the endpoint; reconciliation finds it gone, the request
// succeeds, and the endpoint was released exactly once.
func TestUnknownOutcomeReleased(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.sim.UpsertInstances([]rdssim.Instance{instance("rm-dropped0001")})
	if err := b.sim.AddFault(rdssim.Fault{Instance: "rm-dropped0001", Action: aliyun.ActionReleaseInstanceConnection, DropAfterRelease: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	id := newRequest(t, b.pool, b.exec, "rm-dropped0001", request.StatusApproved, true)
	st := waitTerminal(t, b.pool, []uuid.UUID{id}, 20*time.Second)
	if st[id] != request.StatusSucceeded {
		t.Fatalf("status %s, want succeeded", st[id])
	}
	calls := b.sim.Calls()
	if n := len(callsFor(calls, "rm-dropped0001", aliyun.ActionReleaseInstanceConnection)); n != 1 {
		t.Fatalf("%d release calls, want exactly 1", n)
	}
	desc := callsFor(calls, "rm-dropped0001", aliyun.ActionDescribeDBInstanceNetInfo)
	if len(desc) != 1 {
		t.Fatalf("%d reconciliation calls, want 1", len(desc))
	}
	evs := events(t, b.pool, id)
	if diff := cmp.Diff([]string{"execution.started", "execution.failed", "execution.reconciled"}, kinds(evs)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	if evs[1].Payload["classification"] != string(aliyun.ClassUnknownOutcome) || evs[1].Payload["status"] != "executing" {
		t.Errorf("unknown outcome event %+v", evs[1])
	}
	if rec := evs[2]; rec.Payload["found"] != executor.FoundReleased || rec.AlibabaRequestID != desc[0].RequestID || rec.Payload["status"] != "succeeded" {
		t.Errorf("reconciled event %+v, want found released with request id %s", rec, desc[0].RequestID)
	}
	atts := mustAttempts(t, b.pool, id)
	got := []string{}
	for _, a := range atts {
		got = append(got, a.Operation+":"+a.Outcome+":"+a.Found)
	}
	want := []string{"ReleaseInstanceConnection:unknown:", "DescribeDBInstanceNetInfo:succeeded:released"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
}

// TestUnknownOutcomeNotReleased: the call times out while the simulator
// still waits, so nothing is released; reconciliation finds the endpoint
// present and the release is called again, once.
func TestUnknownOutcomeNotReleased(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *executor.Config) { c.CallTimeout = 500 * time.Millisecond })
	b.sim.UpsertInstances([]rdssim.Instance{instance("rm-timeout0001")})
	if err := b.sim.AddFault(rdssim.Fault{Instance: "rm-timeout0001", Action: aliyun.ActionReleaseInstanceConnection, DelayMS: 3000, Times: 1}); err != nil {
		t.Fatal(err)
	}
	id := newRequest(t, b.pool, b.exec, "rm-timeout0001", request.StatusApproved, true)
	st := waitTerminal(t, b.pool, []uuid.UUID{id}, 20*time.Second)
	if st[id] != request.StatusSucceeded {
		t.Fatalf("status %s, want succeeded", st[id])
	}
	waitFor(t, 5*time.Second, "the abandoned call in the log", func() (bool, error) {
		return len(callsFor(b.sim.Calls(), "rm-timeout0001", aliyun.ActionReleaseInstanceConnection)) == 2, nil
	})
	calls := b.sim.Calls()
	if n := performedReleases(calls, "rm-timeout0001"); n != 1 {
		t.Fatalf("%d performed releases, want 1", n)
	}
	want := []string{"execution.started", "execution.failed", "execution.reconciled", "execution.started", "execution.succeeded"}
	evs := events(t, b.pool, id)
	if diff := cmp.Diff(want, kinds(evs)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	if evs[2].Payload["found"] != executor.FoundPresent || evs[2].Payload["status"] != "approved" {
		t.Errorf("reconciled event %+v", evs[2])
	}
}

// TestNotExecutable: requests that are not approved are never called, even
// with a job on the queue.
func TestNotExecutable(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	sts := []request.Status{request.StatusPending, request.StatusRejected, request.StatusCancelled, request.StatusExpired,
		request.StatusSucceeded, request.StatusFailed, request.StatusDenied}
	var ids []uuid.UUID
	for i, st := range sts {
		inst := fmt.Sprintf("rm-notexec%04d", i)
		b.sim.UpsertInstances([]rdssim.Instance{instance(inst)})
		ids = append(ids, newRequest(t, b.pool, b.exec, inst, st, true))
	}
	waitFor(t, 20*time.Second, "every job to complete", func() (bool, error) {
		var live int
		err := b.pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = $1 AND state <> 'completed'`, executor.KindRelease).Scan(&live)
		return live == 0, err
	})
	if calls := b.sim.Calls(); len(calls) != 0 {
		t.Fatalf("simulator called: %+v", calls)
	}
	got, err := statuses(context.Background(), b.pool, ids)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if got[id] != sts[i] {
			t.Errorf("%s became %s", sts[i], got[id])
		}
	}
}

// TestDoubleEnqueue: enqueueing a request twice makes one job and one call.
func TestDoubleEnqueue(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.sim.UpsertInstances([]rdssim.Instance{instance("rm-twice000001")})
	id := newRequest(t, b.pool, b.exec, "rm-twice000001", request.StatusApproved, true)
	ctx := context.Background()
	if err := store.InTx(ctx, b.pool, func(tx pgx.Tx) error { return b.exec.EnqueueRelease(ctx, tx, id) }); err != nil {
		t.Fatal(err)
	}
	waitTerminal(t, b.pool, []uuid.UUID{id}, 20*time.Second)
	var jobs int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1`, executor.KindRelease).Scan(&jobs); err != nil {
		t.Fatal(err)
	}
	if jobs != 1 || len(b.sim.Calls()) != 1 {
		t.Fatalf("%d jobs, %d calls; want 1 and 1", jobs, len(b.sim.Calls()))
	}
	// After success, a late enqueue is harmless: the request is not called again.
	if err := store.InTx(ctx, b.pool, func(tx pgx.Tx) error { return b.exec.EnqueueRelease(ctx, tx, id) }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the late job to complete", func() (bool, error) {
		var live int
		err := b.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND state <> 'completed'`, executor.KindRelease).Scan(&live)
		return live == 0, err
	})
	if n := len(b.sim.Calls()); n != 1 {
		t.Fatalf("%d calls after a late enqueue, want 1", n)
	}
}

// TestSweepRequeuesOrphans: an approved request without a job (River gave
// up on it, or it was approved with no executor wired) is put back on the
// queue and executed.
func TestSweepRequeuesOrphans(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *executor.Config) { c.RescueAfter = c.JobTimeout })
	b.sim.UpsertInstances([]rdssim.Instance{instance("rm-orphan00001")})
	id := newRequest(t, b.pool, b.exec, "rm-orphan00001", request.StatusApproved, false)
	ctx := context.Background()
	if _, err := b.pool.Exec(ctx, `UPDATE requests SET updated_at = now() - interval '1 hour' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := b.exec.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	st := waitTerminal(t, b.pool, []uuid.UUID{id}, 20*time.Second)
	if st[id] != request.StatusSucceeded {
		t.Fatalf("status %s", st[id])
	}
	want := []string{"execution.requeued", "execution.started", "execution.succeeded"}
	if diff := cmp.Diff(want, kinds(events(t, b.pool, id))); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	if n, err := b.exec.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("second sweep: %d, %v", n, err)
	}
}

// TestAttemptsEmpty: a request without attempts lists none (not nil).
func TestAttemptsEmpty(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id := newRequest(t, b.pool, b.exec, "rm-noattempts1", request.StatusPending, false)
	atts, err := executor.Attempts(context.Background(), b.pool, id)
	if err != nil || atts == nil || len(atts) != 0 {
		t.Fatalf("attempts %v, %v", atts, err)
	}
}

// TestRejectsBadConfig covers the configuration checks.
func TestRejectsBadConfig(t *testing.T) {
	t.Parallel()
	pool := testdbNew(t)
	cl := newClient(t, "127.0.0.1:1", time.Second)
	for name, mod := range map[string]func(*executor.Config){
		"no pool":            func(c *executor.Config) { c.Pool = nil },
		"no client":          func(c *executor.Config) { c.Client = nil },
		"rescue < timeout":   func(c *executor.Config) { c.RescueAfter = time.Second },
		"zero rate":          func(c *executor.Config) { c.Limits = map[string]executor.Limit{executor.OpRelease: {}} },
		"backoff max < base": func(c *executor.Config) { c.BackoffMax = time.Millisecond },
	} {
		cfg := fastConfig(pool, cl)
		mod(&cfg)
		if _, err := executor.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

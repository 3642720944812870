package executor_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/quota"
	"github.com/rdsgate/rdsgate/internal/rdssim"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// ownEvents drops what the simulator's own quota caused (its throttled
// calls are retried like any throttling; TestRateThreeReplicas is the test
// that there are none): the failure event with a quota-throttled RequestId
// and the execution.started just before it.
func ownEvents(evs []event, quota map[string]bool) []event {
	var out []event
	for _, ev := range evs {
		if ev.AlibabaRequestID != "" && quota[ev.AlibabaRequestID] {
			if ev.Kind == audit.KindExecutionFailed && len(out) > 0 && out[len(out)-1].Kind == audit.KindExecutionStarted {
				out = out[:len(out)-1]
			}
			continue
		}
		out = append(out, ev)
	}
	return out
}

// TestCatalog injects every catalogued code (the 61 documented for
// ReleaseInstanceConnection, the throttling codes and the common ones) into
// one release each and checks the request's end and its audit trail
// against the code's class:
//
//   - permanent: one call, the request fails;
//   - retryable: the call is made again and the request succeeds;
//   - unknown outcome: DescribeDBInstanceNetInfo finds the endpoint still
//     there, the release is called again and the request succeeds.
//
// Each failure event holds the code and the RequestId the simulator
// answered with.
func TestCatalog(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	cat := aliyun.Catalog()
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
		ids = append(ids, newRequest(t, b.pool, inst, request.StatusApproved, true))
	}
	final := waitTerminal(t, b.pool, ids, 90*time.Second)
	calls := b.sim.Calls()
	ctx := context.Background()
	known := map[string]bool{}
	for _, k := range audit.Kinds() {
		known[k] = true
	}
	perClass := map[aliyun.Class]int{}
	for i, e := range cat {
		// The catalog's class, which the aliyun package's tests check
		// against a table written out by hand.
		want := e.Class
		perClass[want]++
		t.Run(e.Code, func(t *testing.T) {
			quota := map[string]bool{}
			for _, c := range calls {
				if c.Instance == insts[i] && c.Code == aliyun.CodeThrottlingUser && !c.Injected {
					quota[c.RequestID] = true
				}
			}
			var rel, desc []rdssim.Call
			for _, c := range callsFor(calls, insts[i], aliyun.ActionReleaseInstanceConnection) {
				if !quota[c.RequestID] {
					rel = append(rel, c)
				}
			}
			for _, c := range callsFor(calls, insts[i], aliyun.ActionDescribeDBInstanceNetInfo) {
				if !quota[c.RequestID] {
					desc = append(desc, c)
				}
			}
			if len(rel) == 0 || !rel[0].Injected || rel[0].Code != e.Code {
				t.Fatalf("simulator log %+v: want the injected %s first", rel, e.Code)
			}
			simRequestID := rel[0].RequestID
			var wantStatus request.Status
			var wantKinds []string
			wantRel, wantDesc, statusAfter := 1, 0, ""
			switch want {
			case aliyun.ClassPermanent:
				wantStatus, statusAfter = request.StatusFailed, "failed"
				wantKinds = []string{audit.KindExecutionStarted, audit.KindExecutionFailed}
			case aliyun.ClassRetryable:
				wantStatus, wantRel, statusAfter = request.StatusSucceeded, 2, "approved"
				wantKinds = []string{audit.KindExecutionStarted, audit.KindExecutionFailed, audit.KindExecutionStarted, audit.KindExecutionSucceeded}
			case aliyun.ClassUnknownOutcome:
				wantStatus, wantRel, wantDesc, statusAfter = request.StatusSucceeded, 2, 1, "executing"
				wantKinds = []string{audit.KindExecutionStarted, audit.KindExecutionFailed, audit.KindExecutionReconciled,
					audit.KindExecutionStarted, audit.KindExecutionSucceeded}
			default:
				t.Fatalf("class %q", want)
			}
			if final[ids[i]] != wantStatus || len(rel) != wantRel || len(desc) != wantDesc {
				t.Errorf("status %s after %d release and %d describe calls, want %s after %d and %d",
					final[ids[i]], len(rel), len(desc), wantStatus, wantRel, wantDesc)
			}
			all := events(t, b.pool, ids[i])
			for _, ev := range all {
				if !known[ev.Kind] {
					t.Errorf("event kind %q is not in audit.Kinds()", ev.Kind)
				}
			}
			evs := ownEvents(all, quota)
			if diff := cmp.Diff(wantKinds, kinds(evs)); diff != "" {
				t.Fatalf("events (-want +got):\n%s", diff)
			}
			f := evs[1]
			if f.ErrorCode != e.Code || f.AlibabaRequestID != simRequestID || f.Payload["classification"] != string(want) ||
				f.Payload["http_status"] != float64(e.HTTPStatus) || f.Payload["error_message"] != e.Message ||
				f.Payload["status"] != statusAfter {
				t.Errorf("audit %+v: want code %s, request id %s, class %s, status %d, message %q, request status %s",
					f, e.Code, simRequestID, want, e.HTTPStatus, e.Message, statusAfter)
			}
			if want == aliyun.ClassUnknownOutcome {
				if rec := evs[2]; rec.Payload["found"] != request.FoundPresent || rec.Payload["status"] != "approved" ||
					rec.AlibabaRequestID != desc[0].RequestID {
					t.Errorf("reconciled %+v, want found present, approved, request id %s", rec, desc[0].RequestID)
				}
			}
			if wantRel == 2 && evs[len(evs)-1].AlibabaRequestID != rel[1].RequestID {
				t.Errorf("success event %+v, simulator %+v", evs[len(evs)-1], rel[1])
			}
			atts, err := attemptsOf(ctx, b.pool, ids[i])
			if err != nil {
				t.Fatal(err)
			}
			var own []request.Attempt
			for _, a := range atts {
				if !quota[a.AlibabaRequestID] {
					own = append(own, a)
				}
			}
			wantOutcome := request.OutcomeFailed
			if want == aliyun.ClassUnknownOutcome {
				wantOutcome = request.OutcomeUnknown
			}
			if len(own) != wantRel+wantDesc || own[0].ErrorCode != e.Code || own[0].AlibabaRequestID != simRequestID ||
				own[0].Classification != string(want) || own[0].HTTPStatus != e.HTTPStatus || own[0].Outcome != wantOutcome {
				t.Fatalf("attempts %+v", own)
			}
			if wantDesc == 1 && (own[1].Operation != request.OpDescribe || own[1].Found != request.FoundPresent) {
				t.Errorf("reconciliation attempt %+v", own[1])
			}
			if last := own[len(own)-1]; wantRel == 2 && (last.Outcome != request.OutcomeSucceeded || last.AlibabaRequestID != rel[1].RequestID) {
				t.Errorf("retry attempt %+v, simulator %+v", last, rel[1])
			}
		})
	}
	// The catalog has codes of all three classes, so every branch above ran.
	if perClass[aliyun.ClassPermanent] == 0 || perClass[aliyun.ClassRetryable] == 0 || perClass[aliyun.ClassUnknownOutcome] != 4 {
		t.Errorf("codes per class %v, want some of each and 4 unknown outcomes", perClass)
	}
	if n := throttled(calls); n != 0 {
		t.Logf("%d calls throttled by the simulator's quota (retried)", n)
	}
	testdb.SealAndVerify(t, b.pool)
}

// TestServerErrorAfterRelease: a 5xx answer may come after the backend
// released the endpoint. The request must not be failed by a blind retry
// (which would get Endpoint.NotFound): reconciliation decides, and the 5xx
// answer's RequestId stays on record.
func TestServerErrorAfterRelease(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// fault is added to the simulator; proxy, when set, answers the
		// first release in front of it: "after" passes it to the simulator
		// and answers 502, "before" answers 504 without passing it on.
		fault      *rdssim.Fault
		proxy      string
		wantStatus int
		wantCode   string
		released   bool // the failed call released the endpoint
	}{
		{name: "500 InternalError after the release", wantStatus: 500, wantCode: aliyun.CodeInternalError, released: true,
			fault: &rdssim.Fault{Action: aliyun.ActionReleaseInstanceConnection, Code: aliyun.CodeInternalError, CodeAfterRelease: true, Times: 1}},
		{name: "500 ExternalFailure after the release", wantStatus: 500, wantCode: "ExternalFailure", released: true,
			fault: &rdssim.Fault{Action: aliyun.ActionReleaseInstanceConnection, Code: "ExternalFailure", CodeAfterRelease: true, Times: 1}},
		{name: "502 from a proxy after the release", proxy: "after", wantStatus: 502, released: true},
		{name: "504 from a proxy before the release", proxy: "before", wantStatus: 504},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pool := testdbNew(t)
			sim, simAddr := newSim(t)
			inst := fmt.Sprintf("rm-fivexx%05d", i)
			if err := sim.UpsertInstances([]rdssim.Instance{instance(inst)}); err != nil {
				t.Fatal(err)
			}
			if tt.fault != nil {
				if err := sim.AddFault(*tt.fault); err != nil {
					t.Fatal(err)
				}
			}
			addr := simAddr
			if tt.proxy != "" {
				var first atomic.Bool
				addr = newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Header.Get("x-acs-action") != aliyun.ActionReleaseInstanceConnection || !first.CompareAndSwap(false, true) {
						sim.ServeHTTP(w, r)
						return
					}
					if tt.proxy == "after" {
						sim.ServeHTTP(httptest.NewRecorder(), r)
					}
					w.Header().Set("Content-Type", "text/html")
					w.WriteHeader(tt.wantStatus)
					fmt.Fprint(w, "<html>gateway error</html>")
				}))
			}
			startExecutor(t, fastConfig(pool, newClient(t, addr, 5*time.Second)))
			id := newRequest(t, pool, inst, request.StatusApproved, true)
			st := waitTerminal(t, pool, []uuid.UUID{id}, 30*time.Second)
			if st[id] != request.StatusSucceeded {
				t.Fatalf("status %s, want succeeded", st[id])
			}
			calls := sim.Calls()
			rel := callsFor(calls, inst, aliyun.ActionReleaseInstanceConnection)
			desc := callsFor(calls, inst, aliyun.ActionDescribeDBInstanceNetInfo)
			wantKinds := []string{audit.KindExecutionStarted, audit.KindExecutionFailed, audit.KindExecutionReconciled}
			found, after := request.FoundReleased, "succeeded"
			if !tt.released {
				wantKinds = append(wantKinds, audit.KindExecutionStarted, audit.KindExecutionSucceeded)
				found, after = request.FoundPresent, "approved"
			}
			// One release reached the simulator either way: the failed one
			// when it released, the repeated one when it did not.
			if len(rel) != 1 || len(desc) != 1 || hasPublicEndpoint(t, sim, inst) {
				t.Fatalf("simulator saw %d releases and %d describes; public endpoint left: %v", len(rel), len(desc), hasPublicEndpoint(t, sim, inst))
			}
			evs := events(t, pool, id)
			if diff := cmp.Diff(wantKinds, kinds(evs)); diff != "" {
				t.Fatalf("events (-want +got):\n%s", diff)
			}
			f := evs[1]
			wantRequestID := ""
			if tt.fault != nil {
				wantRequestID = rel[0].RequestID // the 5xx answer's
				if !rel[0].Performed || rel[0].Status != tt.wantStatus {
					t.Errorf("simulator call %+v, want a performed release answered %d", rel[0], tt.wantStatus)
				}
			}
			if f.Payload["classification"] != string(aliyun.ClassUnknownOutcome) || f.Payload["status"] != "executing" ||
				f.Payload["http_status"] != float64(tt.wantStatus) || f.ErrorCode != tt.wantCode || f.AlibabaRequestID != wantRequestID {
				t.Errorf("failure event %+v, want unknown_outcome, executing, HTTP %d, code %q, request id %q",
					f, tt.wantStatus, tt.wantCode, wantRequestID)
			}
			if rec := evs[2]; rec.Payload["found"] != found || rec.Payload["status"] != after || rec.AlibabaRequestID != desc[0].RequestID {
				t.Errorf("reconciled event %+v, want found %s, status %s, request id %s", rec, found, after, desc[0].RequestID)
			}
			atts := mustAttempts(t, pool, id)
			if atts[0].Outcome != request.OutcomeUnknown || atts[0].HTTPStatus != tt.wantStatus || atts[0].AlibabaRequestID != wantRequestID {
				t.Errorf("first attempt %+v", atts[0])
			}
			testdb.SealAndVerify(t, pool)
		})
	}
}

// hasPublicEndpoint reports whether the simulated instance still has a
// public endpoint.
func hasPublicEndpoint(t *testing.T, sim *rdssim.Server, id string) bool {
	t.Helper()
	for _, inst := range sim.Instances() {
		if inst.ID != id {
			continue
		}
		for _, ep := range inst.Endpoints {
			if ep.IPType == rdssim.IPTypePublic {
				return true
			}
		}
	}
	return false
}

// hookClient runs beforeDescribe before every DescribeDBInstanceNetInfo
// call it passes on.
type hookClient struct {
	executor.Client
	beforeDescribe func()
}

func (c hookClient) DescribeDBInstanceNetInfo(ctx context.Context, req aliyun.DescribeDBInstanceNetInfoRequest) (*aliyun.DescribeDBInstanceNetInfoResponse, error) {
	c.beforeDescribe()
	return c.Client.DescribeDBInstanceNetInfo(ctx, req)
}

// TestLateReconciliation: the request leaves executing while its
// reconciliation check is in flight (here: something else fails it). The
// check's call is still audited, as execution.reconciled or
// execution.reconcile_failed with late:true, and the state is left alone.
func TestLateReconciliation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fault    *rdssim.Fault
		wantKind string
		wantCode string
	}{
		{name: "check answered", wantKind: audit.KindExecutionReconciled},
		{name: "check failed", wantKind: audit.KindExecutionReconcileFailed, wantCode: aliyun.CodeInternalError,
			fault: &rdssim.Fault{Action: aliyun.ActionDescribeDBInstanceNetInfo, Code: aliyun.CodeInternalError, Times: 1}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pool := testdbNew(t)
			sim, addr := newSim(t)
			inst := fmt.Sprintf("rm-late%05d", i)
			if err := sim.UpsertInstances([]rdssim.Instance{instance(inst)}); err != nil {
				t.Fatal(err)
			}
			if tt.fault != nil {
				if err := sim.AddFault(*tt.fault); err != nil {
					t.Fatal(err)
				}
			}
			var id uuid.UUID
			var hooked atomic.Int32
			cl := hookClient{Client: newClient(t, addr, 5*time.Second), beforeDescribe: func() {
				hooked.Add(1)
				if _, err := pool.Exec(context.Background(), `UPDATE requests SET status = 'failed' WHERE id = $1`, id); err != nil {
					t.Error(err)
				}
			}}
			e, err := executor.New(fastConfig(pool, cl))
			if err != nil {
				t.Fatal(err)
			}
			// Executing with no attempt: the reconciliation runs at once.
			id = newRequest(t, pool, inst, request.StatusExecuting, true)
			start(t, e)
			waitFor(t, 30*time.Second, "the job to complete", func() (bool, error) {
				var live int
				err := pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = $1 AND state <> 'completed'`,
					lifecycle.ReleaseJob{}.Kind()).Scan(&live)
				return live == 0, err
			})
			desc := callsFor(sim.Calls(), inst, aliyun.ActionDescribeDBInstanceNetInfo)
			if hooked.Load() != 1 || len(desc) != 1 || len(callsFor(sim.Calls(), inst, aliyun.ActionReleaseInstanceConnection)) != 0 {
				t.Fatalf("%d hooked, %d describe calls, want 1 and no release: %+v", hooked.Load(), len(desc), sim.Calls())
			}
			st, err := statuses(context.Background(), pool, []uuid.UUID{id})
			if err != nil || st[id] != request.StatusFailed {
				t.Fatalf("status %s (%v), want failed, left alone", st[id], err)
			}
			evs := events(t, pool, id)
			if diff := cmp.Diff([]string{tt.wantKind}, kinds(evs)); diff != "" {
				t.Fatalf("events (-want +got):\n%s", diff)
			}
			ev := evs[0]
			if ev.Payload["late"] != true || ev.Payload["status"] != "failed" || ev.AlibabaRequestID != desc[0].RequestID ||
				ev.ErrorCode != tt.wantCode || ev.Payload["operation"] != request.OpDescribe {
				t.Errorf("event %+v, want late, status failed, request id %s, code %q", ev, desc[0].RequestID, tt.wantCode)
			}
			if tt.fault == nil && ev.Payload["found"] != request.FoundPresent {
				t.Errorf("event %+v, want found present", ev)
			}
			atts := mustAttempts(t, pool, id)
			if len(atts) != 1 || atts[0].Operation != request.OpDescribe || atts[0].AlibabaRequestID != desc[0].RequestID {
				t.Errorf("attempts %+v", atts)
			}
			testdb.SealAndVerify(t, pool)
		})
	}
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
	id := newRequest(t, b.pool, "rm-maxattempts1", request.StatusApproved, true)
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
	// A quota of 1 call per 3 seconds at the simulator while the executor
	// believes 10/s: the second call is throttled with a TimeLeft hint (the
	// window is long enough that a loaded machine cannot space the two
	// calls out of it).
	pool := testdbNew(t)
	sim, err := rdssim.New(rdssim.Config{RatePerSecond: 1, QuotaWindow: 3 * time.Second, Accounts: []rdssim.Account{{AccessKeyID: testKeyID, AccessKeySecret: testKeySecret, AccountID: testAccount}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(t, sim)
	cfg := fastConfig(pool, newClient(t, srv, 5*time.Second))
	cfg.MaxAttempts = 5
	e, err := executor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sim.UpsertInstances([]rdssim.Instance{instance("rm-retryafter1"), instance("rm-retryafter2")})
	// Both jobs wait before the executor starts, so that their slots are
	// 102 ms apart and the second lands inside the simulator's window.
	ids := []uuid.UUID{
		newRequest(t, pool, "rm-retryafter1", request.StatusApproved, true),
		newRequest(t, pool, "rm-retryafter2", request.StatusApproved, true),
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
	id := newRequest(t, b.pool, "rm-dropped0001", request.StatusApproved, true)
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
	if rec := evs[2]; rec.Payload["found"] != request.FoundReleased || rec.AlibabaRequestID != desc[0].RequestID || rec.Payload["status"] != "succeeded" {
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
// present and the release is called again, once. The delay is far beyond
// the 2 s call timeout, and the simulator abandons the call when the client
// leaves; the other calls have the whole 2 s, however loaded the machine.
func TestUnknownOutcomeNotReleased(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *executor.Config) { c.CallTimeout = 2 * time.Second })
	b.sim.UpsertInstances([]rdssim.Instance{instance("rm-timeout0001")})
	if err := b.sim.AddFault(rdssim.Fault{Instance: "rm-timeout0001", Action: aliyun.ActionReleaseInstanceConnection, DelayMS: 60_000, Times: 1}); err != nil {
		t.Fatal(err)
	}
	id := newRequest(t, b.pool, "rm-timeout0001", request.StatusApproved, true)
	st := waitTerminal(t, b.pool, []uuid.UUID{id}, 20*time.Second)
	if st[id] != request.StatusSucceeded {
		t.Fatalf("status %s, want succeeded", st[id])
	}
	waitFor(t, 15*time.Second, "the abandoned call in the log", func() (bool, error) {
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
	if evs[2].Payload["found"] != request.FoundPresent || evs[2].Payload["status"] != "approved" {
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
		ids = append(ids, newRequest(t, b.pool, inst, st, true))
	}
	waitFor(t, 20*time.Second, "every job to complete", func() (bool, error) {
		var live int
		err := b.pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = $1 AND state <> 'completed'`, lifecycle.ReleaseJob{}.Kind()).Scan(&live)
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
	id := newRequest(t, b.pool, "rm-twice000001", request.StatusApproved, true)
	ctx := context.Background()
	enqueueAgain(t, b.pool, id)
	waitTerminal(t, b.pool, []uuid.UUID{id}, 20*time.Second)
	var jobs int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1`, lifecycle.ReleaseJob{}.Kind()).Scan(&jobs); err != nil {
		t.Fatal(err)
	}
	if jobs != 1 || len(b.sim.Calls()) != 1 {
		t.Fatalf("%d jobs, %d calls; want 1 and 1", jobs, len(b.sim.Calls()))
	}
	// After success, a late enqueue is harmless: the request is not called again.
	enqueueAgain(t, b.pool, id)
	waitFor(t, 10*time.Second, "the late job to complete", func() (bool, error) {
		var live int
		err := b.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND state <> 'completed'`, lifecycle.ReleaseJob{}.Kind()).Scan(&live)
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
	id := newRequest(t, b.pool, "rm-orphan00001", request.StatusApproved, false)
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
	id := newRequest(t, b.pool, "rm-noattempts1", request.StatusPending, false)
	atts, err := attemptsOf(context.Background(), b.pool, id)
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
		"zero rate":          func(c *executor.Config) { c.Limits = map[string]quota.Limit{request.OpRelease: {}} },
		"backoff max < base": func(c *executor.Config) { c.BackoffMax = time.Millisecond },
	} {
		cfg := fastConfig(pool, cl)
		mod(&cfg)
		if _, err := executor.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

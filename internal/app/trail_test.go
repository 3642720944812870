package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/apptest"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/notify"
	"github.com/rdsgate/rdsgate/internal/rdssim"
	"github.com/rdsgate/rdsgate/internal/request"
)

// receiver records the events of the webhook deliveries it gets.
type receiver struct {
	mu     sync.Mutex
	events []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	_, _ = io.Copy(io.Discard, req.Body)
	r.mu.Lock()
	r.events = append(r.events, req.Header.Get(notify.HeaderEvent))
	r.mu.Unlock()
}

func (r *receiver) count(event string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e == event {
			n++
		}
	}
	return n
}

// TestTrailCatchesReleasesAroundTheGate: with the simulator's trail a
// second late and the trail read every two seconds, a release "from the
// console" is detected within one interval plus the delay plus one read
// (two LookupEvents calls at the API's 2 per second, with room for a loaded
// machine), exactly once however often the overlapping windows read it
// again, audited and notified; rdsgate's own release is confirmed, never
// taken for a bypass.
func TestTrailCatchesReleasesAroundTheGate(t *testing.T) {
	t.Parallel()
	rcv := &receiver{}
	hook := httptest.NewServer(rcv)
	t.Cleanup(hook.Close)
	// The read itself takes two LookupEvents calls at the API's 2 per
	// second; an interval above it keeps runs from being skipped.
	const interval, delay, read = 2 * time.Second, time.Second, 2 * time.Second
	a := apptest.Start(t, func(c *app.Config) {
		c.Trail = app.TrailConfig{Interval: interval, Lookback: time.Minute}
		c.Notify = notify.Config{Webhook: notify.Endpoint{URL: hook.URL, Secret: "s3cret"}, RetryMin: 50 * time.Millisecond}
	})
	if err := a.Sim.SetTrailDelay(delay); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// rdsgate's own release.
	alice := lifecycle.Actor{Subject: "alice", Groups: []string{"developers"}}
	r, err := a.Requests.File(ctx, alice, request.Spec{RegionID: "cn-hangzhou", DBInstanceID: "rm-bp1demo00000001",
		ConnectionString: "rm-bp1demo00000001.mysql.rds.aliyuncs.com", NetworkType: "0",
		Justification: "retiring the public endpoint", Ticket: "OPS-1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Requests.Vote(ctx, lifecycle.Actor{Subject: "bob", Groups: []string{"dba"}}, r.ID,
		lifecycle.VoteInput{Decision: request.Approve}); err != nil {
		t.Fatal(err)
	}
	// A release around the gate.
	start := time.Now()
	res, err := a.Sim.ConsoleRelease(rdssim.ConsoleRelease{AccountID: app.SimAccountID, RegionID: "cn-hangzhou",
		DBInstanceID: "rm-bp1demo00000002", ConnectionString: "rm-bp1demo00000002.mysql.rds.aliyuncs.com",
		API: aliyun.ActionReleaseInstancePublicConnection, User: "dave-console", SourceIP: "198.51.100.23"})
	if err != nil {
		t.Fatal(err)
	}

	count := func(kind string) int {
		var n int
		if err := a.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE kind = $1`, kind).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor := func(what string, limit time.Duration, ok func() bool) time.Duration {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s", what, limit)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(start)
	}
	took := waitFor("bypass detected", interval+delay+read, func() bool { return count("bypass.detected") > 0 })
	t.Logf("bypass detected %s after the console release (interval %s + delay %s)", took, interval, delay)

	var rid, user, ip, api, instance string
	if err := a.Pool.QueryRow(ctx, `SELECT alibaba_request_id, payload->'user_identity'->>'user_name', payload->>'source_ip',
    payload->>'event_name', db_instance_id FROM audit_events WHERE kind = 'bypass.detected'`).Scan(&rid, &user, &ip, &api, &instance); err != nil {
		t.Fatal(err)
	}
	if rid != res.RequestID || user != "dave-console" || ip != "198.51.100.23" || instance != "rm-bp1demo00000002" ||
		api != aliyun.ActionReleaseInstancePublicConnection {
		t.Errorf("bypass.detected: %s %s %s %s %s", rid, user, ip, api, instance)
	}
	// rdsgate's own release is confirmed by the trail.
	waitFor("own release confirmed", 10*time.Second, func() bool { return count("execution.confirmed") > 0 })
	d, err := a.Requests.Detail(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != request.StatusSucceeded || len(d.Attempts) != 1 || d.Attempts[0].TrailConfirmedAt == nil {
		t.Fatalf("own request %s, attempts %+v: want succeeded and confirmed", d.Status, d.Attempts)
	}
	// Several more reads of overlapping windows: still one bypass, and the
	// own release never one.
	var reads int
	before := time.Now()
	waitFor("three more trail reads", 10*time.Second, func() bool {
		cur, err := a.Requests.TrailCursor(ctx, app.SimAccountID, "cn-hangzhou")
		if err != nil {
			t.Fatal(err)
		}
		if cur.After(before.Add(3 * interval)) {
			reads++
		}
		return reads > 0
	})
	if n, c := count("bypass.detected"), count("execution.confirmed"); n != 1 || c != 1 {
		t.Errorf("%d bypass.detected, %d execution.confirmed after more reads; want 1 each", n, c)
	}
	waitFor("bypass notified", 10*time.Second, func() bool { return rcv.count(lifecycle.EventBypass) == 1 })
}

package trail_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/store"
	"github.com/rdsgate/rdsgate/internal/testdb"
	"github.com/rdsgate/rdsgate/internal/trail"
)

// source is a trail whose events the test sets: the API stand-in, not a
// stand-in for the database (the lifecycle below writes to PostgreSQL).
type source struct {
	mu     sync.Mutex
	events map[string][]lifecycle.TrailEvent // by account/region
	fail   map[string]bool
	reads  []window
}

type window struct {
	scope    string
	from, to time.Time
}

func (s *source) Events(_ context.Context, account, region, name string, from, to time.Time) ([]lifecycle.TrailEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := account + "/" + region
	if s.fail[key] {
		return nil, errors.New("ActionTrail is unreachable")
	}
	s.reads = append(s.reads, window{key, from, to})
	var out []lifecycle.TrailEvent
	for _, e := range s.events[key] {
		if e.EventName == name && !e.EventTime.Before(from) && !e.EventTime.After(to) {
			out = append(out, e)
		}
	}
	return out, nil
}

func setup(t *testing.T) (*lifecycle.Service, *pgxpool.Pool) {
	t.Helper()
	pool := testdb.New(t)
	eng, err := policy.New(context.Background(), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.New(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	return lifecycle.New(lifecycle.Options{Store: db, Policy: eng}), pool
}

// released files, approves and releases a request through the lifecycle,
// its call answered with RequestId rid.
func released(t *testing.T, svc *lifecycle.Service, rid string) *request.Request {
	t.Helper()
	ctx := context.Background()
	r, err := svc.File(ctx, lifecycle.Actor{Subject: "alice", Groups: []string{"developers"}}, request.Spec{
		RegionID: "cn-hangzhou", DBInstanceID: "rm-bp1devexample01", ConnectionString: "rm-bp1devexample01.mysql.rds.aliyuncs.com",
		NetworkType: "0", Justification: "retiring the public endpoint", Ticket: "OPS-1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if r, err = svc.Vote(ctx, lifecycle.Actor{Subject: "bob", Groups: []string{"dba"}}, r.ID,
		lifecycle.VoteInput{Decision: request.Approve}); err != nil || r.Status != request.StatusApproved {
		t.Fatalf("approve: %v %v", r, err)
	}
	n, err := svc.StartRelease(ctx, lifecycle.Start{Request: r, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RecordRelease(ctx, lifecycle.Outcome{Request: r, Next: request.StatusSucceeded,
		Attempt: request.Attempt{Attempt: n, Operation: request.OpRelease, Outcome: request.OutcomeSucceeded, AlibabaRequestID: rid}}); err != nil {
		t.Fatal(err)
	}
	return r
}

func count(t *testing.T, pool *pgxpool.Pool, kind string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE kind = $1`, kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestReconcileTellsBypassesFromOwnCalls(t *testing.T) {
	t.Parallel()
	svc, pool := setup(t)
	ctx := context.Background()
	own := released(t, svc, "OWN-REQ-1")
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	clock := now
	src := &source{events: map[string][]lifecycle.TrailEvent{}, fail: map[string]bool{}}
	src.events["111/cn-hangzhou"] = []lifecycle.TrailEvent{
		{AccountID: "111", RegionID: "cn-hangzhou", EventID: "ev-own", EventName: trail.EventReleaseInstanceConnection,
			EventTime: now.Add(-2 * time.Minute), AlibabaRequestID: "OWN-REQ-1", DBInstanceID: own.DBInstanceID},
		{AccountID: "111", RegionID: "cn-hangzhou", EventID: "ev-console", EventName: trail.EventReleaseInstancePublicConnection,
			EventTime: now.Add(-time.Minute), AlibabaRequestID: "CONSOLE-REQ-1", DBInstanceID: "rm-bp1other0001",
			ConnectionString: "rm-bp1other0001.mysql.rds.aliyuncs.com", UserType: "ram-user", UserName: "dave-console",
			SourceIP: "198.51.100.23"},
	}
	r, err := trail.New(trail.Config{Requests: svc, Source: src, Lookback: 30 * time.Minute, Now: func() time.Time { return clock },
		Scopes: func() []trail.Scope {
			return []trail.Scope{{AccountID: "111", Regions: []string{"cn-hangzhou"}}, {AccountID: "222", Regions: []string{"cn-beijing"}}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(ctx)
	if err != nil || res.Bypasses != 1 || res.Confirmed != 1 || res.Windows != 2 {
		t.Fatalf("first run: %+v, %v", res, err)
	}
	var actor, instance, rid, user, ip, api string
	if err := pool.QueryRow(ctx, `SELECT actor, db_instance_id, alibaba_request_id, payload->'user_identity'->>'user_name',
    payload->>'source_ip', payload->>'event_name' FROM audit_events WHERE kind = 'bypass.detected'`).Scan(
		&actor, &instance, &rid, &user, &ip, &api); err != nil {
		t.Fatal(err)
	}
	if actor != lifecycle.System || instance != "rm-bp1other0001" || rid != "CONSOLE-REQ-1" || user != "dave-console" ||
		ip != "198.51.100.23" || api != trail.EventReleaseInstancePublicConnection {
		t.Errorf("bypass.detected: %s %s %s %s %s %s", actor, instance, rid, user, ip, api)
	}
	conf, err := svc.Confirmations(ctx, own.ID)
	if err != nil || conf["OWN-REQ-1"].IsZero() {
		t.Errorf("own release not confirmed: %v %v", conf, err)
	}

	// Five minutes later the window overlaps the first: the same events are
	// read again and counted once.
	clock = now.Add(5 * time.Minute)
	src.fail["222/cn-beijing"] = true
	res, err = r.Run(ctx)
	if err == nil || res.Windows != 1 || res.Bypasses != 0 || res.Confirmed != 0 {
		t.Fatalf("second run: %+v, %v; want the failed scope reported and nothing new", res, err)
	}
	if b, c := count(t, pool, "bypass.detected"), count(t, pool, "execution.confirmed"); b != 1 || c != 1 {
		t.Errorf("%d bypass.detected and %d execution.confirmed events, want one each", b, c)
	}
	last := src.reads[len(src.reads)-1]
	if want := now.Add(-30 * time.Minute); !last.from.Equal(want) || !last.to.Equal(clock) {
		t.Errorf("second window %s..%s, want from the first read's end less the lookback (%s) to now", last.from, last.to, want)
	}
	// The failed scope keeps its cursor: never read, it starts a lookback
	// before now.
	src.fail["222/cn-beijing"] = false
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	for _, w := range src.reads {
		if w.scope == "222/cn-beijing" && w.to.Equal(clock) && !w.from.Equal(now.Add(-30*time.Minute)) {
			t.Errorf("the scope that failed was read from %s", w.from)
		}
	}
}

// TestReconcileRecognisesCallsWithoutAnAnswer: a release of rdsgate's whose
// answer never came (a timeout: no RequestId on the attempt) is recognised
// in the trail by its instance and time, confirmed, never a bypass; the
// same API on another instance at that time is one.
func TestReconcileRecognisesCallsWithoutAnAnswer(t *testing.T) {
	t.Parallel()
	svc, pool := setup(t)
	ctx := context.Background()
	r, err := svc.File(ctx, lifecycle.Actor{Subject: "alice", Groups: []string{"developers"}}, request.Spec{
		RegionID: "cn-hangzhou", DBInstanceID: "rm-bp1devexample01", ConnectionString: "rm-bp1devexample01.mysql.rds.aliyuncs.com",
		NetworkType: "0", Justification: "retiring the public endpoint", Ticket: "OPS-1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if r, err = svc.Vote(ctx, lifecycle.Actor{Subject: "bob", Groups: []string{"dba"}}, r.ID,
		lifecycle.VoteInput{Decision: request.Approve}); err != nil {
		t.Fatal(err)
	}
	n, err := svc.StartRelease(ctx, lifecycle.Start{Request: r, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RecordRelease(ctx, lifecycle.Outcome{Request: r, Next: request.StatusExecuting, Attempt: request.Attempt{
		Attempt: n, Operation: request.OpRelease, Outcome: request.OutcomeUnknown, Classification: "unknown_outcome"}}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(-2 * time.Second) // within the window, which ends at a whole second
	src := &source{events: map[string][]lifecycle.TrailEvent{"111/cn-hangzhou": {
		{AccountID: "111", RegionID: "cn-hangzhou", EventID: "ev-timeout", EventName: trail.EventReleaseInstanceConnection,
			EventTime: at, AlibabaRequestID: "NEVER-SEEN-1", DBInstanceID: r.DBInstanceID, UserType: "assumed-role",
			UserName: "rdsgate-gateway:rdsgate-" + r.ID.String()},
		{AccountID: "111", RegionID: "cn-hangzhou", EventID: "ev-other", EventName: trail.EventReleaseInstanceConnection,
			EventTime: at, AlibabaRequestID: "NEVER-SEEN-2", DBInstanceID: "rm-bp1demo00000009", UserType: "ram-user", UserName: "dave"},
	}}, fail: map[string]bool{}}
	rec, err := trail.New(trail.Config{Requests: svc, Source: src, Lookback: time.Hour,
		Scopes: func() []trail.Scope { return []trail.Scope{{AccountID: "111", Regions: []string{"cn-hangzhou"}}} }})
	if err != nil {
		t.Fatal(err)
	}
	res, err := rec.Run(ctx)
	if err != nil || res.Confirmed != 1 || res.Bypasses != 1 {
		t.Fatalf("run: %+v, %v; want the timed-out call confirmed and the other release a bypass", res, err)
	}
	var instance string
	if err := pool.QueryRow(ctx, `SELECT db_instance_id FROM audit_events WHERE kind = 'bypass.detected'`).Scan(&instance); err != nil ||
		instance != "rm-bp1demo00000009" {
		t.Errorf("bypass on %q (%v), want rm-bp1demo00000009 only", instance, err)
	}
}

package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/store"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

type bundle struct {
	pool *pgxpool.Pool
	svc  *lifecycle.Service
}

func setup(t *testing.T) bundle {
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
	return bundle{pool: pool, svc: lifecycle.New(lifecycle.Options{Store: db, Policy: eng})}
}

// jobs counts the execution jobs on the queue.
func (b bundle) jobs(t *testing.T) int {
	t.Helper()
	var n int
	if err := b.pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = $1`,
		lifecycle.ReleaseJob{}.Kind()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

var (
	alice   = lifecycle.Actor{Subject: "alice", Groups: []string{"developers"}, SourceIP: "10.0.0.1"}
	bob     = lifecycle.Actor{Subject: "bob", Groups: []string{"dba"}}
	carol   = lifecycle.Actor{Subject: "carol", Groups: []string{"security"}}
	erin    = lifecycle.Actor{Subject: "erin", Groups: []string{"dba", "admins"}}
	mallory = lifecycle.Actor{Subject: "mallory", Groups: []string{"developers"}}
)

func spec(instance, host string) request.Spec {
	return request.Spec{RegionID: "cn-hangzhou", DBInstanceID: instance, ConnectionString: host,
		NetworkType: "0", Justification: "retiring the public endpoint after VPC migration", Ticket: "OPS-42"}
}

var (
	devSpec  = spec("rm-bp1devexample01", "rm-bp1devexample01.mysql.rds.aliyuncs.com")
	prodSpec = spec("rm-bp1prodexample1", "rm-bp1prodexample1.mysql.rds.aliyuncs.com")
)

func kinds(t *testing.T, pool *pgxpool.Pool, id uuid.UUID) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT kind FROM audit_events WHERE request_id = $1 ORDER BY id`, id)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestLifecycleDev(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	r, err := b.svc.File(ctx, alice, devSpec, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != request.StatusPending || r.RequiredApprovals != 1 || r.Environment != "dev" {
		t.Fatalf("created %+v", r)
	}
	if _, err := b.svc.Vote(ctx, alice, r.ID, lifecycle.VoteInput{Decision: request.Approve}); !errors.Is(err, request.ErrForbidden) {
		t.Fatalf("self approval: %v", err)
	}
	if _, err := b.svc.Vote(ctx, carol, r.ID, lifecycle.VoteInput{Decision: request.Approve}); !errors.Is(err, request.ErrForbidden) {
		t.Fatalf("security member approving a dev request needing dba: %v", err)
	}
	if _, err := b.svc.Vote(ctx, bob, r.ID, lifecycle.VoteInput{Decision: request.Approve, PayloadHash: "00"}); !errors.Is(err, request.ErrInvalid) {
		t.Fatalf("malformed payload hash: %v", err)
	}
	stale := strings.Repeat("ab", 32)
	if _, err := b.svc.Vote(ctx, bob, r.ID, lifecycle.VoteInput{Decision: request.Approve, PayloadHash: stale}); !errors.Is(err, request.ErrConflict) {
		t.Fatalf("a vote covering another payload: %v", err)
	}
	got, err := b.svc.Vote(ctx, bob, r.ID, lifecycle.VoteInput{Decision: request.Approve, Comment: "ok", PayloadHash: r.PayloadHash.String()})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != request.StatusApproved || len(got.Votes) != 1 || got.Votes[0].Group != "dba" {
		t.Fatalf("after vote %+v", got)
	}
	if _, err := b.svc.Vote(ctx, erin, r.ID, lifecycle.VoteInput{Decision: request.Approve}); !errors.Is(err, request.ErrConflict) {
		t.Fatalf("vote on approved: %v", err)
	}
	if _, err := b.svc.Cancel(ctx, alice, r.ID, ""); !errors.Is(err, request.ErrConflict) {
		t.Fatalf("cancel approved: %v", err)
	}
	if n := b.jobs(t); n != 1 {
		t.Fatalf("enqueued %d times", n)
	}
	want := []string{"policy.decided", "request.created", "approval.granted", "request.approved"}
	if got := kinds(t, b.pool, r.ID); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("audit kinds %v, want %v", got, want)
	}
	testdb.SealAndVerify(t, b.pool)
}

func TestDeniedIsRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r, err := b.svc.File(context.Background(), mallory, prodSpec, false)
	d, ok := lifecycle.IsDenied(err)
	if !ok || len(d.Reasons) == 0 || r == nil || r.Status != request.StatusDenied {
		t.Fatalf("create = %+v, %v", r, err)
	}
	stored, err := b.svc.Get(context.Background(), r.ID)
	if err != nil || stored.Status != request.StatusDenied {
		t.Fatalf("stored = %+v, %v", stored, err)
	}
	if got := kinds(t, b.pool, r.ID); fmt.Sprint(got) != "[policy.decided request.denied]" {
		t.Fatalf("audit kinds %v", got)
	}
}

func TestRejectAndCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	r1, err := b.svc.File(ctx, alice, devSpec, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.svc.Vote(ctx, bob, r1.ID, lifecycle.VoteInput{Decision: request.Reject, Comment: "not now"}); err != nil || got.Status != request.StatusRejected {
		t.Fatalf("reject: %+v %v", got, err)
	}
	r2, err := b.svc.File(ctx, alice, devSpec, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Cancel(ctx, bob, r2.ID, ""); !errors.Is(err, request.ErrForbidden) {
		t.Fatalf("cancel by other: %v", err)
	}
	if got, err := b.svc.Cancel(ctx, alice, r2.ID, "wrong instance"); err != nil || got.Status != request.StatusCancelled {
		t.Fatalf("cancel: %+v %v", got, err)
	}
	if _, err := b.svc.Cancel(ctx, alice, r2.ID, ""); !errors.Is(err, request.ErrConflict) {
		t.Fatalf("second cancel: %v", err)
	}
	if _, err := b.svc.Get(ctx, uuid.New()); !errors.Is(err, request.ErrNotFound) {
		t.Fatalf("get unknown: %v", err)
	}
	if b.jobs(t) != 0 {
		t.Fatal("nothing should be enqueued")
	}
	testdb.SealAndVerify(t, b.pool)
}

func TestExpire(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	r, err := b.svc.File(ctx, alice, devSpec, false)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := b.svc.ExpireOlderThan(ctx, -1); err != nil || n != 1 {
		t.Fatalf("expire: %d %v", n, err)
	}
	got, _ := b.svc.Get(ctx, r.ID)
	if got.Status != request.StatusExpired {
		t.Fatalf("status %s", got.Status)
	}
	if n, _ := b.svc.ExpireOlderThan(ctx, -1); n != 0 {
		t.Fatalf("expired twice: %d", n)
	}
}

// Two approvers at the same instant on a request that needs both: exactly
// one of them completes the quorum, and the job is enqueued once.
func TestConcurrentApprovalsReachQuorumOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for round := 0; round < 5; round++ {
		r, err := b.svc.File(ctx, alice, prodSpec, false)
		if err != nil {
			t.Fatal(err)
		}
		if r.RequiredApprovals != 2 {
			t.Fatalf("production needs 2 approvals, got %d", r.RequiredApprovals)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		results := make([]*request.Request, 2)
		errs := make([]error, 2)
		for i, a := range []lifecycle.Actor{bob, carol} {
			wg.Add(1)
			go func(i int, a lifecycle.Actor) {
				defer wg.Done()
				<-start
				results[i], errs[i] = b.svc.Vote(ctx, a, r.ID, lifecycle.VoteInput{Decision: request.Approve})
			}(i, a)
		}
		close(start)
		wg.Wait()
		approved := 0
		for i := range errs {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if results[i].Status == request.StatusApproved {
				approved++
			}
		}
		if approved != 1 {
			t.Fatalf("round %d: quorum reached %d times", round, approved)
		}
	}
	var n int
	if n := b.jobs(t); n != 5 {
		t.Fatalf("enqueued jobs %d, want 5", n)
	}
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE kind = 'request.approved'`).Scan(&n); err != nil || n != 5 {
		t.Fatalf("request.approved events %d (%v), want 5", n, err)
	}
}

func TestFiftyConcurrentCreatesAndApprovals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Distinct requesters keep the pending limit out of the way.
			req := lifecycle.Actor{Subject: "alice", Groups: []string{"developers"}}
			s := spec(fmt.Sprintf("rm-bp1demo0000%04d", i%20+1), fmt.Sprintf("rm-bp1demo0000%04d.mysql.rds.aliyuncs.com", i%20+1))
			r, err := b.svc.File(ctx, req, s, false)
			if errors.Is(err, request.ErrDenied) {
				return // pending limit: still recorded and audited
			}
			if err != nil {
				errs <- err
				return
			}
			if _, err := b.svc.Vote(ctx, []lifecycle.Actor{bob, erin}[i%2], r.ID, lifecycle.VoteInput{Decision: request.Approve}); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep := testdb.SealAndVerify(t, b.pool)
	if rep.Checked < 100 {
		t.Fatalf("only %d events chained", rep.Checked)
	}
}

// The pending-requests limit (5 in the example data) holds under concurrent
// filings by one requester: the count and the insert happen under the
// requester's lock.
func TestPendingLimitHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, _ = b.svc.File(ctx, alice, devSpec, false)
		}()
	}
	close(start)
	wg.Wait()
	var pending, denied int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'denied') FROM requests`).Scan(&pending, &denied); err != nil {
		t.Fatal(err)
	}
	if pending != 5 || denied != 7 {
		t.Fatalf("pending %d, denied %d; want 5 and 7", pending, denied)
	}
}

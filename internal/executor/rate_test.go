package executor_test

import (
	"context"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/request"
)

// TestRateTwoExecutors: 100 approved requests, two executors (two River
// clients, as two replicas would run) on one database: every request
// succeeds, no call is throttled, and the simulator never sees more than
// 10 releases inside any one-second window. It does not run in parallel
// with the package's other tests: arrival jitter is what the margin absorbs,
// and a starved CPU is what makes it.
//
// The margin is 5% here rather than the default 2%: `make test` runs this
// next to other packages' tests (browsers included) on small CI machines,
// where a starved process delays an arrival by tens of milliseconds.
// BenchmarkDrain1000 measures the default margin on a quiet machine.
func TestRateTwoExecutors(t *testing.T) {
	b := setup(t, func(c *executor.Config) { c.RateMargin = 0.05 })
	second := b.cfg
	second.ID = "replica-2"
	startExecutor(t, second)
	start := time.Now()
	ids, _ := approvedRequests(t, b, "rate", 100)
	st := waitTerminal(t, b.pool, ids, 60*time.Second)
	elapsed := time.Since(start)
	for _, id := range ids {
		if st[id] != request.StatusSucceeded {
			t.Fatalf("request %s ended %s", id, st[id])
		}
	}
	calls := b.sim.Calls()
	if n, at := maxInWindow(calls, aliyun.ActionReleaseInstanceConnection); n > 10 {
		t.Errorf("%d releases in the second ending %s, want at most 10", n, at.Format(time.RFC3339Nano))
	}
	if n := throttled(calls); n != 0 {
		t.Errorf("%d calls throttled", n)
	}
	releases := 0
	for _, c := range calls {
		if c.Action == aliyun.ActionReleaseInstanceConnection {
			releases++
		}
	}
	if releases != 100 {
		t.Errorf("%d release calls, want 100", releases)
	}
	// Both replicas worked: each executor's River client id is on the jobs.
	var workers int
	if err := b.pool.QueryRow(context.Background(), `SELECT count(DISTINCT attempted_by[1]) FROM river_job WHERE kind = $1`,
		executor.KindRelease).Scan(&workers); err != nil {
		t.Fatal(err)
	}
	if workers != 2 {
		t.Errorf("jobs worked by %d clients, want 2", workers)
	}
	t.Logf("100 releases in %s (floor 9.9 s, 10.4 s with the margin)", elapsed.Round(time.Millisecond))
}

// TestLimiterReservations: slots handed out by two limiters on one row are
// spaced, and none is handed out beyond the horizon.
func TestLimiterReservations(t *testing.T) {
	t.Parallel()
	pool := testdbNew(t)
	ctx := context.Background()
	limits := map[string]executor.Limit{executor.OpRelease: {PerSecond: 10}}
	a, err := executor.NewLimiter(pool, "acct", limits, 0, 450*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	b, err := executor.NewLimiter(pool, "acct", limits, 0, 450*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if a.Spacing(executor.OpRelease) != 100*time.Millisecond {
		t.Fatalf("spacing %s", a.Spacing(executor.OpRelease))
	}
	var got []time.Time
	refused := 0
	for i := range 8 {
		l := a
		if i%2 == 1 {
			l = b
		}
		r, err := l.Reserve(ctx, executor.OpRelease)
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK {
			refused++
			if r.Wait <= 0 {
				t.Errorf("refusal without a wait")
			}
			continue
		}
		got = append(got, time.Now().Add(r.Wait))
	}
	// The first slot is now, then one every 100 ms up to the 450 ms
	// horizon: 5 slots, the rest refused.
	if len(got) != 5 || refused != 3 {
		t.Fatalf("%d slots, %d refused", len(got), refused)
	}
	for i := 1; i < len(got); i++ {
		if gap := got[i].Sub(got[i-1]); gap < 95*time.Millisecond {
			t.Errorf("slots %d and %d only %s apart", i-1, i, gap)
		}
	}
	// Another account and another operation have rows of their own.
	other, err := executor.NewLimiter(pool, "other", limits, 0, 450*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := other.Reserve(ctx, executor.OpRelease); err != nil || !r.OK || r.Wait > 50*time.Millisecond {
		t.Fatalf("other account: %+v, %v", r, err)
	}
	if _, err := a.Reserve(ctx, "DeleteEverything"); err == nil {
		t.Fatal("an operation without a limit was accepted")
	}
	if err := a.Wait(ctx, executor.OpRelease); err != nil {
		t.Fatal(err)
	}
}

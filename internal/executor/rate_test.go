package executor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/request"
)

// TestRateTwoExecutors: 100 approved requests, two executors (two River
// clients, as two replicas would run) on one database: every request
// succeeds, and the simulator never sees more than 10 releases inside any
// one-second window, so none is throttled. It does not run in parallel with
// the package's other tests: arrival jitter is what the margin absorbs, and a
// starved CPU is what makes it.
//
// The margin is 75% here, not the default 2%. The limiter spaces slot
// starts; the API counts arrivals, and an arrival is its slot plus a delay d
// (timer wake-up, up to Limiter.Tolerance late, then signing and loopback
// HTTP) that the limiter does not control. Eleven consecutive slots span
// 10·175 ms = 1.75 s, so eleven arrivals fit in one second only if the first
// of them was delayed 750 ms more than the eleventh. `make test` runs this
// beside other packages' tests and Chromium on 2-core CI machines; with the
// race detector and a `go build -a` loop beside it, the worst seen was 9
// releases in a second (8 slot spacings, 1.4 s, squeezed into one second:
// under 350 ms of relative delay). The test can still fail: two executors
// that did not share the limiter would send 2 × 5.7 = 11.4 releases a
// second. BenchmarkDrain1000 measures the default margin on a quiet machine.
func TestRateTwoExecutors(t *testing.T) {
	b := setup(t, func(c *executor.Config) { c.RateMargin = 0.75 })
	second := b.cfg
	second.ID = "replica-2"
	startExecutor(t, second)
	spacing := b.exec.Limiter().Spacing(executor.OpRelease)
	if spacing != 175*time.Millisecond {
		t.Fatalf("release spacing %s, want 175ms", spacing)
	}
	start := time.Now()
	ids, _ := approvedRequests(t, b, "rate", 100)
	st := waitTerminal(t, b.pool, ids, 120*time.Second)
	elapsed := time.Since(start)
	for _, id := range ids {
		if st[id] != request.StatusSucceeded {
			t.Fatalf("request %s ended %s", id, st[id])
		}
	}
	calls := b.sim.Calls()
	most, at := maxInWindow(calls, aliyun.ActionReleaseInstanceConnection)
	if most > 10 {
		t.Errorf("%d releases in the second ending %s, want at most 10", most, at.Format(time.RFC3339Nano))
	}
	// Implied by the window check (a throttled call is an eleventh arrival
	// in its second), and said separately for a clearer failure.
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
	t.Logf("100 releases in %s (floor %s with the margin); at most %d in one second", elapsed.Round(time.Millisecond), 99*spacing, most)
}

// TestLimiterReservations: slots handed out by two limiters on one row are
// at least one spacing apart on the database's clock, none starts beyond the
// horizon, and other accounts and operations have rows of their own. The
// assertions hold however long the reservation loop takes.
func TestLimiterReservations(t *testing.T) {
	t.Parallel()
	pool := testdbNew(t)
	ctx := context.Background()
	const horizon = 4500 * time.Millisecond
	limits := map[string]executor.Limit{executor.OpRelease: {PerSecond: 1}, executor.OpDescribe: {PerSecond: 1}}
	a, err := executor.NewLimiter(pool, "acct", limits, 0, horizon)
	if err != nil {
		t.Fatal(err)
	}
	b, err := executor.NewLimiter(pool, "acct", limits, 0, horizon)
	if err != nil {
		t.Fatal(err)
	}
	spacing := a.Spacing(executor.OpRelease)
	if spacing != time.Second {
		t.Fatalf("spacing %s", spacing)
	}
	const tries = 8
	var slots []executor.Reservation
	refused := 0
	begin := time.Now()
	for i := range tries {
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
			if r.Wait < spacing {
				t.Errorf("refusal %d with a wait of %s, want at least one spacing", i, r.Wait)
			}
			continue
		}
		if r.Start.IsZero() || r.Wait < 0 || r.Wait > horizon+time.Millisecond {
			t.Errorf("reservation %d: %+v, want a start and a wait within the %s horizon", i, r, horizon)
		}
		slots = append(slots, r)
	}
	loop := time.Since(begin)
	// The row starts in the past, so slot 0 starts at the first
	// reservation (t0, database clock) and slot k no earlier than t0 + k s.
	// Slot k is handed out only if it starts within the horizon of its
	// reservation, made at most `loop` after t0: k ≤ 4.5 s + loop. So slots
	// 0-4 always are, and more only as far as the loop was slow.
	n := len(slots)
	if n < 5 || float64(n-1) > (horizon+loop).Seconds() || refused != tries-n {
		t.Fatalf("%d slots, %d refused in a loop of %s; want at least 5, at most 1 + (4.5 s + loop)/1 s", n, refused, loop)
	}
	for i := 1; i < n; i++ {
		if gap := slots[i].Start.Sub(slots[i-1].Start); gap < spacing {
			t.Errorf("slots %d and %d start only %s apart on the database's clock", i-1, i, gap)
		}
		if ahead := slots[i].Start.Sub(slots[0].Start); ahead > horizon+loop {
			t.Errorf("slot %d starts %s after the first, beyond the horizon (loop %s)", i, ahead, loop)
		}
	}
	// Another operation of the same account, and another account, have
	// rows of their own: their first slot starts at once.
	if r, err := a.Reserve(ctx, executor.OpDescribe); err != nil || !r.OK || r.Wait >= spacing {
		t.Fatalf("other operation: %+v, %v", r, err)
	}
	// A 50% margin gives Await a tolerance of 250 ms, so that a late
	// wake-up on a loaded machine does not make Wait below retake slots.
	other, err := executor.NewLimiter(pool, "other", limits, 0.5, horizon)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := other.Reserve(ctx, executor.OpRelease); err != nil || !r.OK || r.Wait >= spacing {
		t.Fatalf("other account: %+v, %v", r, err)
	}
	if _, err := a.Reserve(ctx, "DeleteEverything"); !errors.Is(err, executor.ErrUnknownOperation) {
		t.Fatalf("an operation without a limit: %v", err)
	}
	// Wait reserves the next slot of "other" (one spacing, 1.5 s, ahead)
	// and sleeps until it.
	if err := other.Wait(ctx, executor.OpRelease); err != nil {
		t.Fatal(err)
	}
}

package executor_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// TestRateThreeReplicas: 100 approved requests, three executors (three
// River clients with a pool each, as three replicas run) on one database,
// with the production defaults (10 releases/s, margin, tolerance) and a
// goroutine spinning on the CPU beside them: every request succeeds, and
// the simulator, the quota's judge, never sees more than 10 releases arrive
// inside any sliding one-second window, so none is throttled. The limiter
// spaces the slots on the database's clock, maps them onto each process's
// clock never early, and checks again at the instant each request leaves
// (aliyun.WithSendGate). It does not run in parallel with the package's
// other tests: arrival jitter is what the margin absorbs.
func TestRateThreeReplicas(t *testing.T) {
	b := setup(t, func(c *executor.Config) {
		c.Limits, c.RateMargin, c.LimiterHorizon = nil, 0, 0 // the defaults
	})
	for i := 2; i <= 3; i++ {
		cfg := b.cfg
		cfg.ID = fmt.Sprintf("replica-%d", i)
		cfg.Pool = openPool(t, b.pool.Config().ConnString(), false)
		startExecutor(t, cfg)
	}
	stop := spin()
	defer stop()
	spacing := b.exec.Limiter().Spacing(request.OpRelease)
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
	// Every replica worked: each executor's River client id is on the jobs.
	var workers int
	if err := b.pool.QueryRow(context.Background(), `SELECT count(DISTINCT attempted_by[1]) FROM river_job WHERE kind = $1`,
		lifecycle.ReleaseJob{}.Kind()).Scan(&workers); err != nil {
		t.Fatal(err)
	}
	if workers != 3 {
		t.Errorf("jobs worked by %d clients, want 3", workers)
	}
	t.Logf("100 releases in %s (floor %s with the margin); at most %d in one second", elapsed.Round(time.Millisecond), 99*spacing, most)
}

// spin keeps one goroutine busy on the CPU until the returned func is
// called: the starved process the limiter must still keep within the quota.
func spin() (stop func()) {
	done := make(chan struct{})
	go func() {
		for n := 0; ; n++ {
			if n%1_000_000 == 0 {
				select {
				case <-done:
					return
				default:
				}
			}
		}
	}()
	return func() { close(done) }
}

package executor_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/request"
)

// BenchmarkDrain1000 approves 1,000 requests (each enqueued in its own
// approving transaction), then drains them through an in-process simulator
// with one executor at the default quota (10 releases/s) and margin. It
// reports the wall time against the 100 s floor, the calls the simulator
// throttled, and the process CPU time spent while draining (executor,
// River, the aliyun client and the simulator: they share the process).
//
//	go test ./internal/executor -run '^$' -bench Drain1000 -benchtime 1x -timeout 10m
func BenchmarkDrain1000(b *testing.B) {
	for range b.N {
		drain(b, 1000)
	}
}

func drain(b *testing.B, n int) {
	b.StopTimer()
	bd := setup(b, func(c *executor.Config) {
		c.Limits, c.RateMargin, c.LimiterHorizon = nil, 0, 0 // the defaults
		c.Workers = executor.DefaultWorkers
	})
	// Enqueueing starts the executor on the first jobs: count from the
	// first release, not from setup.
	cpu0, start := cpuTime(b), time.Now()
	ids, _ := approvedRequests(b, bd, "bench", n)
	b.StartTimer()
	st := waitTerminal(b, bd.pool, ids, 10*time.Minute)
	b.StopTimer()
	cpu, total := cpuTime(b)-cpu0, time.Since(start)
	calls := bd.sim.Calls()
	var first, last time.Time
	releases := 0
	for _, c := range calls {
		if c.Action != aliyun.ActionReleaseInstanceConnection {
			continue
		}
		releases++
		if first.IsZero() || c.Time.Before(first) {
			first = c.Time
		}
		if c.Time.After(last) {
			last = c.Time
		}
	}
	for _, id := range ids {
		if st[id] != request.StatusSucceeded {
			b.Fatalf("request %s ended %s", id, st[id])
		}
	}
	// n calls at 10/s: the first at 0 s, the last at (n-1)/10 s; the floor
	// of the whole drain is n/10 s.
	floor := time.Duration(n) * time.Second / 10
	wall := last.Sub(first) + 100*time.Millisecond
	maxWin, _ := maxInWindow(calls, aliyun.ActionReleaseInstanceConnection)
	fmt.Printf("drain %d: wall %.2f s (first to last release + one slot) vs floor %.0f s = +%.2f%%; release calls %d; throttled %d; max in 1 s %d; process CPU %.2f s; enqueue to last terminal %.2f s\n",
		n, wall.Seconds(), floor.Seconds(), 100*(wall.Seconds()/floor.Seconds()-1), releases, throttled(calls), maxWin, cpu.Seconds(), total.Seconds())
	b.ReportMetric(wall.Seconds(), "wall_s")
	b.ReportMetric(float64(throttled(calls)), "throttled")
	b.ReportMetric(cpu.Seconds(), "cpu_s")
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

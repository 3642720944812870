package executor_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/rdssim"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// Environment of the crash test's child process.
const (
	childEnv    = "RDSGATE_EXECUTOR_CHILD"
	childDBEnv  = "RDSGATE_EXECUTOR_CHILD_DB"
	childSimEnv = "RDSGATE_EXECUTOR_CHILD_SIM"
)

// crashConfig is the executor configuration of the child processes: short
// timeouts so that River's leader rescues a dead process's jobs quickly.
func crashConfig(cfg *executor.Config) {
	cfg.CallTimeout = 3 * time.Second
	cfg.LimiterHorizon = time.Second
	cfg.JobTimeout = 6 * time.Second
	cfg.RescueAfter = 7 * time.Second
	cfg.ReconcileDelay = 300 * time.Millisecond
	cfg.BackoffBase = 100 * time.Millisecond
	cfg.MaxAttempts = 8
	// The test checks that no second holds more than 10 releases; a 75%
	// margin absorbs the arrival jitter of a loaded machine (see
	// TestRateThreeReplicas).
	cfg.RateMargin = 0.75
}

// TestExecutorChildProcess is not a test of its own: it is the body of the
// child process TestCrashRecovery starts (the os/exec helper-process
// pattern). Without the child environment it returns at once.
func TestExecutorChildProcess(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	pool := openPool(t, os.Getenv(childDBEnv), false)
	client := newClient(t, os.Getenv(childSimEnv), 5*time.Second)
	cfg := fastConfig(pool, client)
	crashConfig(&cfg)
	cfg.Logger = testLoggerTo(os.Stderr)
	e, err := executor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(os.Stderr, "child: executor started")
	<-ctx.Done() // until killed; SIGTERM stops gracefully
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Stop(sctx, 7*time.Second); err != nil {
		t.Fatal(err)
	}
}

// child is one executor process.
type child struct {
	cmd *exec.Cmd
	out *syncBuffer
}

func startChild(t *testing.T, dbURL, simAddr string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestExecutorChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1", childDBEnv+"="+dbURL, childSimEnv+"="+simAddr)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, out: out}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("child %d output:\n%s", cmd.Process.Pid, out.String())
		}
	})
	return c
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()
}

// TestCrashRecovery kills an executor process (SIGKILL) while releases are
// in flight, starts another, and checks that every request ends terminal,
// that no endpoint is released twice, and that the audit chain verifies.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	url := testdb.NewURL(t)
	pool := openPool(t, url, true)
	sim, addr := newSim(t)
	// Every release waits 600 ms at the simulator, so that calls are in
	// flight when the process dies; those calls are abandoned (nothing
	// released) and must be reconciled, not repeated blindly.
	if err := sim.AddFault(rdssim.Fault{Action: aliyun.ActionReleaseInstanceConnection, DelayMS: 600}); err != nil {
		t.Fatal(err)
	}
	const n = 40
	b := &bundle{pool: pool, sim: sim}
	ids, insts := approvedRequests(t, b, "crash", n)

	first := startChild(t, url, addr)
	ctx := context.Background()
	waitFor(t, 30*time.Second, "releases in flight", func() (bool, error) {
		var inflight int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM execution_attempts WHERE finished_at IS NULL`).Scan(&inflight)
		return inflight >= 3, err
	})
	// Let a few finish too, so that both kinds are there at the kill.
	waitFor(t, 30*time.Second, "some releases done", func() (bool, error) {
		var done int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM requests WHERE status = 'succeeded'`).Scan(&done)
		return done >= 5, err
	})
	first.kill(t)
	var inflight int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM execution_attempts WHERE finished_at IS NULL`).Scan(&inflight); err != nil {
		t.Fatal(err)
	}
	if inflight == 0 {
		t.Fatal("no call was in flight at the kill")
	}
	t.Logf("killed with %d calls in flight", inflight)

	second := startChild(t, url, addr)
	st := waitTerminal(t, pool, ids, 150*time.Second)
	second.kill(t)

	calls := sim.Calls()
	for i, id := range ids {
		if st[id] != request.StatusSucceeded {
			t.Errorf("request %s (%s) ended %s", id, insts[i], st[id])
		}
		if got := performedReleases(calls, insts[i]); got != 1 {
			t.Errorf("%s released %d times", insts[i], got)
		}
		for _, c := range callsFor(calls, insts[i], aliyun.ActionReleaseInstanceConnection) {
			if c.Code == aliyun.CodeEndpointNotFound {
				t.Errorf("%s called again after its release: %+v", insts[i], c)
			}
		}
	}
	var reconciled int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE kind = $1`, audit.KindExecutionReconciled).Scan(&reconciled); err != nil {
		t.Fatal(err)
	}
	if reconciled < inflight {
		t.Errorf("%d reconciliations for %d calls in flight at the kill", reconciled, inflight)
	}
	if n, at := maxInWindow(calls, aliyun.ActionReleaseInstanceConnection); n > 10 {
		t.Errorf("%d releases in the second ending %s", n, at)
	}
	rep := testdb.SealAndVerify(t, pool)
	t.Logf("audit chain verified: %d events; %d reconciliations", rep.Checked, reconciled)
	var open int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM execution_attempts WHERE finished_at IS NULL`).Scan(&open); err != nil || open != 0 {
		t.Errorf("%d attempts without an outcome (%v)", open, err)
	}
}

// syncBuffer is a bytes.Buffer safe for the child's two output streams.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

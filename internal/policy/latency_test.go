package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/logging"
	oparuntime "github.com/open-policy-agent/opa/v1/runtime"
)

// latencyDecisions is the number of decisions measured on each side.
const latencyDecisions = 20000

// BenchmarkDecisionLatency measures decision latency over 10,000 users with
// 10 statements each: p50 and p99 embedded (Engine.Decide), then the same
// policy modules and data served by a standalone OPA server (`opa run
// --server`, the OPA of go.mod, in its own process) queried over loopback
// HTTP, and the ratio of the two. Run it once:
//
//	go test ./internal/policy -run '^$' -bench BenchmarkDecisionLatency -benchtime 1x
//
// The opa binary is $OPA_BIN, or built with `go build` from the module
// cache. OPA_SERVER=inprocess runs OPA's server runtime inside the test
// process instead (no separate process: same heap and scheduler as the
// client).
func BenchmarkDecisionLatency(b *testing.B) {
	ctx := context.Background()
	e := newBenchEngine(b)
	inputs := benchInputs(latencyDecisions)
	for range b.N {
		// Warm up both sides over the same inputs first, so that both
		// measure steady state (compiled patterns cached); neither side
		// caches decisions.
		for _, in := range inputs {
			if _, err := e.Decide(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		embedded := latencies(b, inputs, func(in Input) error {
			_, err := e.Decide(ctx, in)
			return err
		})

		srv := startOPAServer(b, e)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		for i, in := range inputs {
			got, err := queryServer(client, srv.url, in)
			if err != nil {
				b.Fatal(err)
			}
			if i < 2000 { // the server decides as the engine does
				want, err := e.Decide(ctx, in)
				if err != nil {
					b.Fatal(err)
				}
				if got.Allow != want.Allow || got.RAM.Effect != want.RAM.Effect || got.RAM.Statement != want.RAM.Statement ||
					got.Environment != want.Environment || strings.Join(got.Reasons, "\n") != strings.Join(want.Reasons, "\n") {
					b.Fatalf("decision %d: server %+v, engine %+v", i, got, want)
				}
			}
		}
		server := latencies(b, inputs, func(in Input) error {
			_, err := queryServer(client, srv.url, in)
			return err
		})
		srv.stop()

		ep50, ep99 := percentile(embedded, 0.50), percentile(embedded, 0.99)
		sp50, sp99 := percentile(server, 0.50), percentile(server, 0.99)
		b.ReportMetric(float64(ep50.Nanoseconds())/1e3, "embedded-p50-µs")
		b.ReportMetric(float64(ep99.Nanoseconds())/1e3, "embedded-p99-µs")
		b.ReportMetric(float64(sp50.Nanoseconds())/1e3, "server-p50-µs")
		b.ReportMetric(float64(sp99.Nanoseconds())/1e3, "server-p99-µs")
		b.ReportMetric(float64(sp50)/float64(ep50), "p50-ratio")
		b.Logf("decision latency, %d users x %d statements, %d decisions each side:\n"+
			"  embedded (Engine.Decide)          p50 %9v  p99 %9v\n"+
			"  %-33s p50 %9v  p99 %9v\n"+
			"  server / embedded                 p50 %8.1fx  p99 %8.1fx",
			benchUsers, benchStatements, len(inputs),
			ep50.Round(100*time.Nanosecond), ep99.Round(100*time.Nanosecond),
			srv.kind, sp50.Round(100*time.Nanosecond), sp99.Round(100*time.Nanosecond),
			float64(sp50)/float64(ep50), float64(sp99)/float64(ep99))
	}
}

// opaServer is a running OPA server loaded with an engine's modules and data.
type opaServer struct {
	kind string // how it runs, for the report
	url  string // of the release decision
	stop func()
}

// startOPAServer starts an OPA server on a loopback port with e's policy
// modules and compiled data (Engine.Data): a standalone `opa run --server`
// unless OPA_SERVER=inprocess.
func startOPAServer(tb testing.TB, e *Engine) opaServer {
	tb.Helper()
	dir := tb.TempDir()
	for name, src := range e.Modules() {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, src, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	data, err := e.Data()
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.json"), raw, 0o600); err != nil {
		tb.Fatal(err)
	}
	if os.Getenv("OPA_SERVER") == "inprocess" {
		return startInProcessServer(tb, dir)
	}
	return startStandaloneServer(tb, dir)
}

const decisionPath = "/v1/data/rdsgate/release/decision"

// startStandaloneServer runs `opa run --server` on policyDir.
func startStandaloneServer(tb testing.TB, policyDir string) opaServer {
	tb.Helper()
	bin := os.Getenv("OPA_BIN")
	if bin == "" {
		bin = filepath.Join(tb.TempDir(), "opa")
		build := exec.Command("go", "build", "-o", bin, "github.com/open-policy-agent/opa")
		if out, err := build.CombinedOutput(); err != nil {
			tb.Fatalf("build opa (set OPA_BIN, or OPA_SERVER=inprocess): %v\n%s", err, out)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	// The server gets the same advantages as the engine: AST values in its
	// store and a cache large enough for every compiled pattern.
	cmd := exec.Command(bin, "run", "--server", "--addr", addr, "--disable-telemetry",
		"--log-level", "error", "--optimize-store-for-read-speed",
		"--set", "caching.inter_query_builtin_value_cache.max_num_entries=0", policyDir)
	var out bytes.Buffer // only the copying goroutine writes; read after Wait
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	deadline := time.Now().Add(120 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			tb.Fatalf("opa server not healthy within 120s:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return opaServer{kind: "standalone opa server (loopback)", url: "http://" + addr + decisionPath, stop: stop}
}

// startInProcessServer runs OPA's server runtime, as `opa run --server` would,
// inside this process.
func startInProcessServer(tb testing.TB, policyDir string) opaServer {
	tb.Helper()
	params := oparuntime.NewParams()
	params.Addrs = &[]string{"127.0.0.1:0"}
	params.Paths = []string{policyDir}
	params.Logger = logging.NewNoOpLogger()
	params.ConsoleLogger = logging.NewNoOpLogger()
	params.EnableVersionCheck = false
	params.GracefulShutdownPeriod = 1
	params.ReadAstValuesFromStore = true
	params.ConfigOverrides = []string{"caching.inter_query_builtin_value_cache.max_num_entries=0"}
	ctx, cancel := context.WithCancel(context.Background())
	rt, err := oparuntime.NewRuntime(ctx, params)
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rt.Serve(ctx) }()
	select {
	case <-rt.Manager.ServerInitializedChannel():
	case err := <-done:
		tb.Fatalf("OPA server stopped: %v", err)
	case <-time.After(60 * time.Second):
		tb.Fatal("OPA server did not start within 60s")
	}
	// The listeners bind in their own goroutines after the server reports
	// itself initialised; OPA offers no event for that, so poll its address.
	var addrs []string
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for len(addrs) == 0 {
		select {
		case <-tick.C:
			addrs = rt.Addrs()
		case <-deadline:
			tb.Fatal("OPA server has no address after 10s")
		}
	}
	return opaServer{kind: "in-process opa server (loopback)", url: "http://" + addrs[0] + decisionPath, stop: func() {
		cancel()
		<-done
	}}
}

// queryServer asks the OPA server for a decision on in, with the input the
// engine would build, and decodes the result.
func queryServer(client *http.Client, url string, in Input) (decisionResult, error) {
	var out struct {
		Result *decisionResult `json:"result"`
	}
	body, err := json.Marshal(map[string]any{"input": in})
	if err != nil {
		return decisionResult{}, err
	}
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return decisionResult{}, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return decisionResult{}, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK || out.Result == nil {
		return decisionResult{}, fmt.Errorf("OPA server: status %d, no result", resp.StatusCode)
	}
	return *out.Result, nil
}

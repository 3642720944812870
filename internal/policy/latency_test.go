package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/logging"
	"github.com/open-policy-agent/opa/v1/runtime"
)

// latencyDecisions is the number of decisions measured on each side.
const latencyDecisions = 20000

// BenchmarkDecisionLatency measures decision latency over 10,000 users with
// 10 statements each: p50 and p99 embedded (Engine.Decide), then the same
// policy and data served by a standalone OPA server started in this process
// on 127.0.0.1 and queried over loopback HTTP, and the ratio of the two.
// Run it once:
//
//	go test ./internal/policy -run '^$' -bench BenchmarkDecisionLatency -benchtime 1x
func BenchmarkDecisionLatency(b *testing.B) {
	ctx := context.Background()
	e := newBenchEngine(b)
	inputs := benchInputs(latencyDecisions)
	for range b.N {
		// Warm up both sides over the same inputs first, so that both
		// measure steady state (compiled patterns cached).
		for _, in := range inputs {
			if _, err := e.Decide(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
		embedded := latencies(b, inputs, func(in Input) error {
			_, err := e.Decide(ctx, in)
			return err
		})

		url, stop := startOPAServer(b, e)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		query := func(in Input) error { return queryServer(client, url, in) }
		for _, in := range inputs {
			if err := query(in); err != nil {
				b.Fatal(err)
			}
		}
		server := latencies(b, inputs, query)
		stop()

		ep50, ep99 := percentile(embedded, 0.50), percentile(embedded, 0.99)
		sp50, sp99 := percentile(server, 0.50), percentile(server, 0.99)
		b.ReportMetric(float64(ep50.Microseconds()), "embedded-p50-µs")
		b.ReportMetric(float64(ep99.Microseconds()), "embedded-p99-µs")
		b.ReportMetric(float64(sp50.Microseconds()), "server-p50-µs")
		b.ReportMetric(float64(sp99.Microseconds()), "server-p99-µs")
		b.ReportMetric(float64(sp50)/float64(ep50), "p50-ratio")
		fmt.Fprintf(os.Stderr, "decision latency, %d users x %d statements, %d decisions each:\n", benchUsers, benchStatements, len(inputs))
		fmt.Fprintf(os.Stderr, "  embedded    p50 %8v  p99 %8v\n", ep50, ep99)
		fmt.Fprintf(os.Stderr, "  OPA server  p50 %8v  p99 %8v\n", sp50, sp99)
		fmt.Fprintf(os.Stderr, "  server/embedded: p50 %.1fx, p99 %.1fx\n", float64(sp50)/float64(ep50), float64(sp99)/float64(ep99))
	}
}

// startOPAServer starts an OPA server (OPA's own runtime, as `opa run
// --server` would) on a loopback port, loaded with e's policy modules and
// compiled data, and returns the URL of the release decision.
func startOPAServer(tb testing.TB, e *Engine) (string, func()) {
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

	params := runtime.NewParams()
	params.Addrs = &[]string{"127.0.0.1:0"}
	params.Paths = []string{dir}
	params.Logger = logging.NewNoOpLogger()
	params.ConsoleLogger = logging.NewNoOpLogger()
	params.EnableVersionCheck = false
	params.GracefulShutdownPeriod = 1
	// Give the server the same advantages as the engine: AST data in the
	// store and a cache large enough for every compiled pattern.
	params.ReadAstValuesFromStore = true
	params.ConfigOverrides = []string{"caching.inter_query_builtin_value_cache.max_num_entries=0"}
	ctx, cancel := context.WithCancel(context.Background())
	rt, err := runtime.NewRuntime(ctx, params)
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
	return "http://" + addrs[0] + "/v1/data/rdsgate/release/decision", func() {
		cancel()
		<-done
	}
}

// queryServer asks the OPA server for a decision on in, with the input the
// engine would build, and decodes the result.
func queryServer(client *http.Client, url string, in Input) error {
	body, err := json.Marshal(map[string]any{"input": in})
	if err != nil {
		return err
	}
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Result *struct {
			Allow bool `json:"allow"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK || out.Result == nil {
		return fmt.Errorf("OPA server: status %d, no result", resp.StatusCode)
	}
	return nil
}

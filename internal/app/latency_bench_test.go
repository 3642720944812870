package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/apptest"
	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/rdssim"
	"github.com/rdsgate/rdsgate/policies"
)

// BenchmarkApproveToCall measures how long after the answer to the deciding
// approval the RDS endpoint (the simulator, over loopback HTTP, through the
// real client) receives the ReleaseInstanceConnection call, with the quota
// free: requests are approved one at a time, each after the previous call
// arrived and at least 120 ms after the previous approval, so that no call
// waits for a rate-limit slot. It reports p50, p90, p99 and the maximum, and
// fails when p50 exceeds 20 ms or p99 150 ms (the guards of
// docs/BENCHMARKS.md). One iteration is one approval; run it with
// -benchtime 200x.
func BenchmarkApproveToCall(b *testing.B) {
	ctx := context.Background()
	a := apptest.Start(b, func(c *app.Config) { c.PolicyData = devPolicyData(b) })
	alice := token(b, a, "alice", "developers")
	bob := token(b, a, "bob", "dba")
	insts := publicInstances(b, a, "rm-latency", b.N)
	lat := make([]time.Duration, 0, b.N)
	pace := time.NewTicker(120 * time.Millisecond)
	defer pace.Stop()
	b.ResetTimer()
	for i := range b.N {
		<-pace.C
		inst := insts[i].ID
		var filed struct {
			ID string `json:"id"`
		}
		post(b, a.URL+"/api/v1/requests", alice, map[string]any{"region_id": "cn-hangzhou", "db_instance_id": inst,
			"connection_string": inst + ".mysql.rds.aliyuncs.com", "network_type": "0",
			"justification": "latency benchmark", "ticket": "OPS-1"}, http.StatusCreated, &filed)
		post(b, a.URL+"/api/v1/requests/"+filed.ID+"/approvals", bob, map[string]any{"decision": "approve"}, http.StatusOK, nil)
		answered := time.Now()
		arrived := waitForCall(ctx, b, a.Sim, inst)
		// The call may arrive before the client has read the answer.
		lat = append(lat, max(0, arrived.Sub(answered)))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[int(float64(len(lat)-1)*p)] }
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(pct(0.50)), "p50-ms")
	b.ReportMetric(ms(pct(0.90)), "p90-ms")
	b.ReportMetric(ms(pct(0.99)), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	if b.N >= 100 && (pct(0.50) > 20*time.Millisecond || pct(0.99) > 150*time.Millisecond) {
		b.Errorf("approve-to-call p50 %s, p99 %s: the guards are 20 ms and 150 ms", pct(0.50), pct(0.99))
	}
}

// waitForCall returns when the simulator received the release of inst.
func waitForCall(ctx context.Context, b *testing.B, sim *rdssim.Server, inst string) time.Time {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range slices.Backward(sim.Calls()) {
			if c.Instance == inst && c.Action == aliyun.ActionReleaseInstanceConnection {
				return c.Time
			}
		}
		select {
		case <-ctx.Done():
			b.Fatal(ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	b.Fatalf("no release of %s arrived within 10 s", inst)
	return time.Time{}
}

// publicInstances adds n instances named prefix000000… to a's simulator,
// each with a public endpoint, and returns them.
func publicInstances(tb testing.TB, a *app.App, prefix string, n int) []rdssim.Instance {
	tb.Helper()
	insts := make([]rdssim.Instance, n)
	for i := range insts {
		id := fmt.Sprintf("%s%06d", prefix, i)
		insts[i] = rdssim.Instance{ID: id, RegionID: "cn-hangzhou", Engine: "MySQL", NetworkType: "VPC",
			Endpoints: []rdssim.Endpoint{{ConnectionString: id + ".mysql.rds.aliyuncs.com", IPType: "Public", IPAddress: "47.98.1.1"}}}
	}
	if err := a.Sim.UpsertInstances(insts); err != nil {
		tb.Fatal(err)
	}
	return insts
}

func token(b testing.TB, a *app.App, subject string, groups ...string) string {
	t, err := auth.CreateToken(context.Background(), a.Pool, auth.Identity{Subject: subject, Groups: groups}, "bench", 0)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// postJSON is post for other goroutines than the test's: it returns what
// went wrong instead of ending the test.
func postJSON(url, token string, body any, want int, out any) error {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("POST %s: %d %s, want %d", url, resp.StatusCode, msg, want)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// post sends body as JSON with the bearer token and decodes the answer
// into out; any other status than want fails.
func post(b testing.TB, url, token string, body any, want int, out any) {
	b.Helper()
	if err := postJSON(url, token, body, want, out); err != nil {
		b.Fatal(err)
	}
}

// devPolicyData is the example policy data with every instance in the dev
// environment (one approval, by the dba group), and no limit on pending
// requests: the benchmarks and load tests file as one requester.
func devPolicyData(b testing.TB) string {
	dir := b.TempDir()
	for _, name := range []string{"ram.json", "org.json"} {
		raw, err := policies.FS.ReadFile("examples/" + name)
		if err != nil {
			b.Fatal(err)
		}
		if name == "org.json" {
			var doc map[string]any
			if err := json.Unmarshal(raw, &doc); err != nil {
				b.Fatal(err)
			}
			doc["default_environment"] = "dev"
			doc["max_pending_requests"] = 1 << 30
			raw, _ = json.Marshal(doc)
		}
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

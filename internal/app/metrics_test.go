package app_test

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/apptest"
	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/rdssim"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/policies"
)

// TestMetrics drives the application through a filing, a vote, a throttled
// and then successful release, a release whose outcome is unknown and a
// refused policy reload, scrapes RDSGATE_METRICS_ADDR's /metrics and checks
// the counts; then that every metric docs/monitoring's alert rules and
// dashboard name is in the scrape.
func TestMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	key := filepath.Join(dir, "audit-signing.key")
	if _, err := audit.GenerateKeyFile(key); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "policy")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ram.json", "org.json"} {
		raw, err := policies.FS.ReadFile("examples/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, name), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a := apptest.Start(t, func(c *app.Config) {
		c.MetricsAddr, c.Version = "127.0.0.1:0", "v-metrics-test"
		c.AuditSigningKey, c.PolicyData = key, data
		c.Executor.BackoffBase, c.Executor.BackoffMax = 10*time.Millisecond, 50*time.Millisecond
		// An unknown outcome stays unknown for the test's life.
		c.Executor.ReconcileDelay = time.Hour
	})
	if a.MetricsURL == "" {
		t.Fatal("MetricsURL is empty with MetricsAddr set")
	}
	const (
		throttled = "rm-bp1devexample01" // answered Throttling.User once, then released
		unknown   = "rm-bp1demo00000001" // released, then answered 500 InternalError: outcome unknown
		pending   = "rm-bp1demo00000002" // filed, not voted on
	)
	for _, f := range []rdssim.Fault{
		{Instance: throttled, Action: aliyun.ActionReleaseInstanceConnection, Code: aliyun.CodeThrottlingUser, Times: 1},
		{Instance: unknown, Action: aliyun.ActionReleaseInstanceConnection, Code: aliyun.CodeInternalError, CodeAfterRelease: true, Times: 1},
	} {
		if err := a.Sim.AddFault(f); err != nil {
			t.Fatal(err)
		}
	}
	alice := lifecycle.Actor{Subject: "alice", Groups: []string{"developers"}}
	bob := lifecycle.Actor{Subject: "bob", Groups: []string{"dba"}}
	file := func(instance string) *request.Request {
		t.Helper()
		r, err := a.Requests.File(ctx, alice, request.Spec{RegionID: "cn-hangzhou", DBInstanceID: instance,
			ConnectionString: instance + ".mysql.rds.aliyuncs.com", NetworkType: "0",
			Justification: "retiring the public endpoint", Ticket: "OPS-16"}, false)
		if err != nil {
			t.Fatalf("file %s: %v", instance, err)
		}
		return r
	}
	approve := func(r *request.Request) {
		t.Helper()
		if _, err := a.Requests.Vote(ctx, bob, r.ID, lifecycle.VoteInput{Decision: request.Approve}); err != nil {
			t.Fatalf("approve %s: %v", r.DBInstanceID, err)
		}
	}
	r1, r2 := file(throttled), file(unknown)
	file(pending)
	approve(r1)
	approve(r2)

	// A policy edit that does not load.
	if err := os.WriteFile(filepath.Join(data, "ram.json"), []byte(`{"account_id": `), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.Policy.Reload(ctx); err == nil {
		t.Fatal("a broken ram.json was accepted")
	}

	// The executor works in the background: poll the scrape until both
	// releases have been recorded.
	release := map[string]string{"operation": request.OpRelease}
	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(30 * time.Second)
	for {
		fams = scrape(t, a.MetricsURL)
		// River records r2's snooze after the outcome is on record.
		done := value(fams, "rdsgate_request_transitions_total", map[string]string{"from": "executing", "to": "succeeded"}) == 1 &&
			value(fams, "rdsgate_requests_outcome_unknown", nil) == 1 &&
			value(fams, "rdsgate_queue_jobs", map[string]string{"state": "scheduled"}) >= 1
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the releases were not recorded within 30 s; last scrape:\n%s", dump(fams))
		}
		time.Sleep(50 * time.Millisecond)
	}

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
		// atLeast: want is a lower bound.
		atLeast bool
	}{
		{"rdsgate_build_info", map[string]string{"version": "v-metrics-test"}, 1, false},
		{"rdsgate_requests_filed_total", map[string]string{"decision": "allowed", "environment": "dev"}, 3, false},
		{"rdsgate_requests_filed_total", map[string]string{"decision": "denied"}, 0, false},
		{"rdsgate_votes_total", map[string]string{"decision": "approve"}, 2, false},
		{"rdsgate_request_transitions_total", map[string]string{"from": "pending", "to": "approved"}, 2, false},
		// r1 twice (throttled, then again), r2 once.
		{"rdsgate_request_transitions_total", map[string]string{"from": "approved", "to": "executing"}, 3, false},
		{"rdsgate_request_transitions_total", map[string]string{"from": "executing", "to": "approved"}, 1, false},
		{"rdsgate_executor_calls_total", map[string]string{"operation": request.OpRelease, "code": "Throttling.User", "class": "retryable"}, 1, false},
		{"rdsgate_executor_calls_total", map[string]string{"operation": request.OpRelease, "code": "", "class": "succeeded"}, 1, false},
		{"rdsgate_executor_calls_total", map[string]string{"operation": request.OpRelease, "code": "InternalError", "class": "unknown_outcome"}, 1, false},
		{"rdsgate_executor_call_duration_seconds", release, 3, false},
		{"rdsgate_rate_limiter_wait_seconds", release, 3, false},
		{"rdsgate_rate_limiter_deferrals_total", map[string]string{"operation": request.OpDescribe}, 0, false},
		{"rdsgate_requests_active", map[string]string{"status": "pending"}, 1, false},
		{"rdsgate_requests_active", map[string]string{"status": "executing"}, 1, false},
		{"rdsgate_requests_outcome_unknown", nil, 1, false},
		{"rdsgate_policy_revision_info", map[string]string{"revision": a.Policy.Revision()}, 1, false},
		// The policy watcher may have refused the edit too.
		{"rdsgate_policy_reload_failures_total", nil, 1, true},
		{"rdsgate_policy_reloads_total", nil, 0, false},
		{"rdsgate_database_up", nil, 1, false},
		// r2's job snoozes for the reconcile delay.
		{"rdsgate_queue_jobs", map[string]string{"state": "scheduled"}, 1, true},
	} {
		got := value(fams, c.name, c.labels)
		if c.atLeast && got < c.want || !c.atLeast && got != c.want {
			t.Errorf("%s%v = %v, want %v (at least: %t)", c.name, c.labels, got, c.want, c.atLeast)
		}
	}
	// Nothing is left waiting for a worker (a periodic sweep may be about
	// to start).
	if age := value(fams, "rdsgate_queue_oldest_job_age_seconds", nil); age < 0 || age > 5 {
		t.Errorf("rdsgate_queue_oldest_job_age_seconds = %v, want about 0", age)
	}
	if age := value(fams, "rdsgate_audit_checkpoint_age_seconds", nil); !math.IsInf(age, 1) && (age < 0 || age > 60) {
		t.Errorf("rdsgate_audit_checkpoint_age_seconds = %v: want +Inf (none yet) or a fresh one", age)
	}
	for _, name := range []string{"rdsgate_audit_unsealed_events", "rdsgate_audit_unsigned_events", "go_goroutines", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("%s is not in the scrape", name)
		}
	}

	// Every metric the shipped alert rules and dashboard name exists.
	names := monitoringNames(t)
	if len(names) < 10 {
		t.Fatalf("only %d metric names found in docs/monitoring: %v", len(names), names)
	}
	for _, n := range names {
		if !exported(fams, n) {
			t.Errorf("docs/monitoring names %s, which /metrics does not export", n)
		}
	}
}

// The metrics listener is off unless configured.
func TestMetricsOffByDefault(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, nil)
	if a.MetricsURL != "" {
		t.Fatalf("MetricsURL %q without MetricsAddr", a.MetricsURL)
	}
	resp, err := http.Get(a.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatal("the application's own listener serves /metrics")
	}
}

// scrape gets url and parses the text exposition format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// value is the sum over the series of name whose labels include want: a
// counter's or gauge's value, a histogram's count. Missing: 0.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	var sum float64
	for _, m := range f.GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// exported reports whether the scrape has the series name: a family, or a
// histogram's _bucket, _sum or _count.
func exported(fams map[string]*dto.MetricFamily, name string) bool {
	if f := fams[name]; f != nil && len(f.GetMetric()) > 0 {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if f := fams[base]; ok && f != nil && f.GetType() == dto.MetricType_HISTOGRAM && len(f.GetMetric()) > 0 {
			return true
		}
	}
	return false
}

var metricName = regexp.MustCompile(`\brdsgate_[a-z_]+`)

// monitoringNames lists the rdsgate_ metrics named in the expressions of
// docs/monitoring/alerts.yml and the queries of grafana-dashboard.json.
func monitoringNames(t *testing.T) []string {
	t.Helper()
	docs := filepath.Join("..", "..", "docs", "monitoring")
	raw, err := os.ReadFile(filepath.Join(docs, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	var exprs, alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("alerts.yml: a rule without alert or expr: %+v", r)
			}
			alerts = append(alerts, r.Alert)
			exprs = append(exprs, r.Expr)
		}
	}
	for _, want := range []string{"RdsgateAuditCheckpointStale", "RdsgateOutcomeUnknownRequests", "RdsgateThrottlingSeen",
		"RdsgatePolicyReloadFailed", "RdsgateQueueStalled"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alerts.yml has no %s rule", want)
		}
	}

	raw, err = os.ReadFile(filepath.Join(docs, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	queries := 0
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "query" || k == "definition") {
					exprs = append(exprs, s)
					queries++
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(dash)
	if queries < 10 {
		t.Errorf("grafana-dashboard.json: only %d queries found", queries)
	}

	var names []string
	for _, e := range exprs {
		for _, n := range metricName.FindAllString(e, -1) {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return names
}

// dump lists the rdsgate_ series of a scrape, for failure messages.
func dump(fams map[string]*dto.MetricFamily) string {
	var b strings.Builder
	for name, f := range fams {
		if !strings.HasPrefix(name, "rdsgate_") {
			continue
		}
		for _, m := range f.GetMetric() {
			b.WriteString(name)
			for _, l := range m.GetLabel() {
				b.WriteString(" " + l.GetName() + "=" + l.GetValue())
			}
			b.WriteString(" " + strings.TrimSpace(strings.ReplaceAll(m.String(), "\n", " ")) + "\n")
		}
	}
	return b.String()
}

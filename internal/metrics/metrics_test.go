package metrics_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/rdsgate/rdsgate/internal/metrics"
)

// A nil *Metrics is what a part without metrics holds: every method is a
// no-op.
func TestNilMetricsCountNothing(t *testing.T) {
	t.Parallel()
	var m *metrics.Metrics
	m.RequestFiled("dev", true)
	m.VoteCast("approve")
	m.StatusChanged("pending", "approved")
	m.APICall("ReleaseInstanceConnection", "", "succeeded", time.Millisecond)
	m.LimiterWaited("ReleaseInstanceConnection", time.Millisecond)
	m.LimiterDeferred("ReleaseInstanceConnection")
	m.PolicyReloaded(errors.New("refused"))
}

// Two applications in one process have registries of their own.
func TestRegistriesAreSeparate(t *testing.T) {
	t.Parallel()
	a, b := metrics.New(metrics.Options{Version: "a"}), metrics.New(metrics.Options{Version: "b"})
	a.RequestFiled("", false)
	if got := gauge(t, a, "rdsgate_requests_filed_total", "environment", "unknown"); got != 1 {
		t.Errorf("a: filed %v, want 1", got)
	}
	if got := gauge(t, b, "rdsgate_requests_filed_total", "environment", "unknown"); got != 0 {
		t.Errorf("b: filed %v, want 0 (a's count leaked)", got)
	}
	if got := gauge(t, b, "rdsgate_build_info", "version", "b"); got != 1 {
		t.Errorf("b: build info %v", got)
	}
}

// The database gauges: a failed read says so in rdsgate_database_up and
// exports no stale values; the checkpoint age is +Inf when signing is on
// and no checkpoint exists, and absent when signing is off.
func TestFacts(t *testing.T) {
	t.Parallel()
	failing := metrics.New(metrics.Options{Signing: true,
		Facts: func(context.Context) (metrics.Facts, error) { return metrics.Facts{}, errors.New("database down") }})
	if got := gauge(t, failing, "rdsgate_database_up"); got != 0 {
		t.Errorf("database_up %v after a failed read, want 0", got)
	}
	if fam := family(t, failing, "rdsgate_queue_jobs"); fam != nil {
		t.Errorf("queue gauges exported after a failed read: %v", fam)
	}

	facts := metrics.Facts{QueueJobs: map[string]int64{"available": 2}, OldestAvailable: 1500 * time.Millisecond,
		Requests: map[string]int64{"executing": 3}, OutcomeUnknown: 1, Unsealed: 4, Unsigned: 5}
	read := func(context.Context) (metrics.Facts, error) { return facts, nil }
	signing := metrics.New(metrics.Options{Signing: true, Facts: read})
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"rdsgate_database_up", nil, 1},
		{"rdsgate_queue_jobs", []string{"state", "available"}, 2},
		{"rdsgate_queue_jobs", []string{"state", "running"}, 0},
		{"rdsgate_queue_oldest_job_age_seconds", nil, 1.5},
		{"rdsgate_requests_active", []string{"status", "executing"}, 3},
		{"rdsgate_requests_active", []string{"status", "pending"}, 0},
		{"rdsgate_requests_outcome_unknown", nil, 1},
		{"rdsgate_audit_unsealed_events", nil, 4},
		{"rdsgate_audit_unsigned_events", nil, 5},
		{"rdsgate_audit_checkpoint_age_seconds", nil, math.Inf(1)},
	} {
		if got := gauge(t, signing, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if fam := family(t, metrics.New(metrics.Options{Facts: read}), "rdsgate_audit_checkpoint_age_seconds"); fam != nil {
		t.Errorf("checkpoint age exported with signing off and no checkpoint: %v", fam)
	}
	facts.Checkpointed, facts.CheckpointAge = true, 30*time.Second
	if got := gauge(t, signing, "rdsgate_audit_checkpoint_age_seconds"); got != 30 {
		t.Errorf("checkpoint age %v, want 30", got)
	}
}

// Operations' limiter series exist from the start, at zero, so that rate()
// and the dashboard see them before the first call.
func TestOperationsStartAtZero(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{Operations: []string{"ReleaseInstanceConnection"}})
	if fam := family(t, m, "rdsgate_rate_limiter_deferrals_total"); fam == nil || len(fam.GetMetric()) != 1 {
		t.Fatalf("deferrals: %v", fam)
	}
	if fam := family(t, m, "rdsgate_rate_limiter_wait_seconds"); fam == nil || len(fam.GetMetric()) != 1 {
		t.Fatalf("limiter wait: %v", fam)
	}
	m.LimiterDeferred("ReleaseInstanceConnection")
	if got := gauge(t, m, "rdsgate_rate_limiter_deferrals_total", "operation", "ReleaseInstanceConnection"); got != 1 {
		t.Errorf("deferrals %v, want 1", got)
	}
}

func family(t *testing.T, m *metrics.Metrics, name string) *dto.MetricFamily {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f
		}
	}
	return nil
}

// gauge is the value of the series of name with the label pairs kv (a
// counter's or a gauge's); 0 when there is none.
func gauge(t *testing.T, m *metrics.Metrics, name string, kv ...string) float64 {
	t.Helper()
	f := family(t, m, name)
	if f == nil {
		return 0
	}
	for _, s := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range s.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(kv); i += 2 {
			match = match && labels[kv[i]] == kv[i+1]
		}
		if !match {
			continue
		}
		if s.Counter != nil {
			return s.Counter.GetValue()
		}
		return s.Gauge.GetValue()
	}
	return 0
}

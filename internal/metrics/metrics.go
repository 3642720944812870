package metrics

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric of rdsgate's own.
const Namespace = "rdsgate"

// DefaultFactsTimeout bounds the database read of one scrape.
const DefaultFactsTimeout = 2 * time.Second

// Facts are the gauges the database knows, read once per scrape. They are
// the same on every replica sharing the database.
type Facts struct {
	// QueueJobs counts the execution queue's jobs that will still run, by
	// River state (available, scheduled, retryable, running, pending).
	QueueJobs map[string]int64
	// OldestAvailable is how long the oldest available job has been due
	// without a worker taking it; 0 when none is waiting.
	OldestAvailable time.Duration
	// Requests counts the requests still in progress by status (pending,
	// approved, executing).
	Requests map[string]int64
	// OutcomeUnknown counts executing requests whose last release call's
	// outcome is unknown (or whose worker died during the call): they wait
	// for reconciliation, and the endpoint may or may not be gone.
	OutcomeUnknown int64
	// Unsealed counts committed audit events not yet chained by the sealer.
	Unsealed int64
	// Unsigned counts sealed events after the newest checkpoint's head (all
	// of them when there is no checkpoint).
	Unsigned int64
	// Checkpointed says whether a signed checkpoint exists; CheckpointAge is
	// the time since the newest one was made, on the database's clock.
	Checkpointed  bool
	CheckpointAge time.Duration
}

// Options configure the metrics of one application.
type Options struct {
	// Version and Commit label rdsgate_build_info (cmd/rdsgate passes what
	// `rdsgate version` prints).
	Version, Commit string
	// PolicyRevision returns the policy revision serving now; read at
	// scrape time. Nil: no rdsgate_policy_revision_info.
	PolicyRevision func() string
	// Facts reads the database's gauges at scrape time (bounded by
	// FactsTimeout). Nil: none.
	Facts        func(context.Context) (Facts, error)
	FactsTimeout time.Duration
	// Operations are the RDS API operations called: their limiter series
	// are exported from the start, at zero.
	Operations []string
	// Signing says checkpoints are signed here: with none yet,
	// rdsgate_audit_checkpoint_age_seconds is then +Inf rather than absent.
	Signing bool
	// Logger receives failures to read the facts or to serve a scrape; nil
	// discards.
	Logger *slog.Logger
}

// Metrics are one application's metrics and their registry. Its methods
// are safe for concurrent use, and do nothing on a nil *Metrics.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger

	filed           *prometheus.CounterVec
	votes           *prometheus.CounterVec
	transitions     *prometheus.CounterVec
	calls           *prometheus.CounterVec
	callSeconds     *prometheus.HistogramVec
	limiterWait     *prometheus.HistogramVec
	limiterDeferred *prometheus.CounterVec
	reloads         prometheus.Counter
	reloadFailures  prometheus.Counter
}

// New registers every metric in a registry of its own, with the Go runtime
// and process collectors.
func New(o Options) *Metrics {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FactsTimeout <= 0 {
		o.FactsTimeout = DefaultFactsTimeout
	}
	m := &Metrics{reg: prometheus.NewRegistry(), log: o.Logger}
	f := builder{m.reg}
	m.filed = f.counterVec("requests_filed_total",
		"Requests filed, by the environment the policy placed them in and its decision (allowed: pending; denied).",
		"environment", "decision")
	m.votes = f.counterVec("votes_total", "Votes cast, by decision (approve, reject).", "decision")
	m.transitions = f.counterVec("request_transitions_total",
		"Changes of a request's status, from one status to another, counted after their transaction committed.",
		"from", "to")
	m.calls = f.counterVec("executor_calls_total",
		"RDS API calls the executor made, by operation, Alibaba error code (empty for a success or an error without one) "+
			"and class (succeeded, retryable, permanent, unknown_outcome).",
		"operation", "code", "class")
	m.callSeconds = f.histogramVec("executor_call_duration_seconds",
		"How long the executor's RDS API calls took, by operation and class.",
		[]float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}, "operation", "class")
	m.limiterWait = f.histogramVec("rate_limiter_wait_seconds",
		"Time from asking the shared rate limiter for a slot to the slot's start, by operation.",
		[]float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "operation")
	m.limiterDeferred = f.counterVec("rate_limiter_deferrals_total",
		"Slot requests refused because the next free slot was beyond the limiter's horizon (the job snoozes), by operation.",
		"operation")
	m.reloads = f.counter("policy_reloads_total", "Policy reloads that loaded (the revision may be unchanged).")
	m.reloadFailures = f.counter("policy_reload_failures_total",
		"Policy reloads refused (the previous revision keeps serving).")

	for _, op := range o.Operations {
		m.limiterWait.WithLabelValues(op)
		m.limiterDeferred.WithLabelValues(op)
	}

	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "build_info",
		Help: "Always 1: the version, commit and Go version this binary was built from."},
		[]string{"version", "commit", "goversion"})
	buildInfo.WithLabelValues(o.Version, o.Commit, runtime.Version()).Set(1)
	m.reg.MustRegister(buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.PolicyRevision != nil {
		m.reg.MustRegister(revisionCollector{rev: o.PolicyRevision})
	}
	if o.Facts != nil {
		m.reg.MustRegister(newFactsCollector(o, m.log))
	}
	return m
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelError),
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          m.reg, // promhttp_metric_handler_errors_total
		Timeout:           10 * time.Second,
		EnableOpenMetrics: true,
		// Each scrape reads the database: a flood of scrapes must not take
		// the API's connections.
		MaxRequestsInFlight: 2,
	})
}

// Registry is the registry, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// RequestFiled counts a filed request: allowed (pending) or denied.
func (m *Metrics) RequestFiled(environment string, allowed bool) {
	if m == nil {
		return
	}
	if environment == "" {
		environment = "unknown"
	}
	decision := "denied"
	if allowed {
		decision = "allowed"
	}
	m.filed.WithLabelValues(environment, decision).Inc()
}

// VoteCast counts a vote.
func (m *Metrics) VoteCast(decision string) {
	if m == nil {
		return
	}
	m.votes.WithLabelValues(decision).Inc()
}

// StatusChanged counts a request moving from one status to another.
func (m *Metrics) StatusChanged(from, to string) {
	if m == nil {
		return
	}
	m.transitions.WithLabelValues(from, to).Inc()
}

// APICall counts one RDS API call of the executor and observes its
// duration. code is Alibaba's error code ("" for none), class "succeeded"
// or the error's classification.
func (m *Metrics) APICall(operation, code, class string, d time.Duration) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(operation, code, class).Inc()
	m.callSeconds.WithLabelValues(operation, class).Observe(d.Seconds())
}

// LimiterWaited observes the time from asking for a slot of operation to
// the slot's start.
func (m *Metrics) LimiterWaited(operation string, d time.Duration) {
	if m == nil {
		return
	}
	m.limiterWait.WithLabelValues(operation).Observe(d.Seconds())
}

// LimiterDeferred counts a slot request refused for the horizon.
func (m *Metrics) LimiterDeferred(operation string) {
	if m == nil {
		return
	}
	m.limiterDeferred.WithLabelValues(operation).Inc()
}

// PolicyReloaded counts a reload attempt: loaded when err is nil, refused
// otherwise.
func (m *Metrics) PolicyReloaded(err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.reloadFailures.Inc()
		return
	}
	m.reloads.Inc()
}

// builder registers the metrics it makes in reg, under Namespace.
type builder struct{ reg *prometheus.Registry }

func (p builder) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	p.reg.MustRegister(c)
	return c
}

func (p builder) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	p.reg.MustRegister(c)
	return c
}

func (p builder) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	p.reg.MustRegister(h)
	return h
}

// revisionCollector exports the serving policy revision as an info metric.
type revisionCollector struct{ rev func() string }

var revisionDesc = prometheus.NewDesc(Namespace+"_policy_revision_info",
	"Always 1: the policy revision serving now (a hash of the Rego modules and data files).", []string{"revision"}, nil)

func (c revisionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- revisionDesc }

func (c revisionCollector) Collect(ch chan<- prometheus.Metric) {
	if rev := c.rev(); rev != "" {
		ch <- prometheus.MustNewConstMetric(revisionDesc, prometheus.GaugeValue, 1, rev)
	}
}

// factsCollector reads Facts at each scrape.
type factsCollector struct {
	read    func(context.Context) (Facts, error)
	timeout time.Duration
	signing bool
	log     *slog.Logger
}

func newFactsCollector(o Options, log *slog.Logger) factsCollector {
	return factsCollector{read: o.Facts, timeout: o.FactsTimeout, signing: o.Signing, log: log}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(Namespace+"_"+name, help, labels, nil)
}

var (
	dbUpDesc = desc("database_up",
		"1 when this scrape read the database's gauges (queue, requests, audit), 0 when the read failed or timed out.")
	queueJobsDesc = desc("queue_jobs",
		"Execution queue jobs that will still run, by state (available, scheduled, retryable, running, pending).", "state")
	queueAgeDesc = desc("queue_oldest_job_age_seconds",
		"How long the oldest available execution job has been due without a worker taking it; 0 when none waits.")
	requestsDesc = desc("requests_active",
		"Requests still in progress, by status (pending, approved, executing).", "status")
	unknownDesc = desc("requests_outcome_unknown",
		"Executing requests whose last release call's outcome is unknown: waiting for reconciliation, the endpoint may be gone or not.")
	unsealedDesc = desc("audit_unsealed_events",
		"Committed audit events the sealer has not chained yet.")
	unsignedDesc = desc("audit_unsigned_events",
		"Sealed audit events after the newest signed checkpoint's head.")
	checkpointAgeDesc = desc("audit_checkpoint_age_seconds",
		"Seconds since the newest signed audit checkpoint was made (+Inf when signing is on and none exists yet).")
)

func (c factsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dbUpDesc, queueJobsDesc, queueAgeDesc, requestsDesc, unknownDesc,
		unsealedDesc, unsignedDesc, checkpointAgeDesc} {
		ch <- d
	}
}

// queueStates and activeStatuses are always exported, 0 when none, so that
// a series does not vanish when its count drops to zero.
var (
	queueStates    = []string{"available", "pending", "retryable", "running", "scheduled"}
	activeStatuses = []string{"pending", "approved", "executing"}
)

func (c factsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	f, err := c.read(ctx)
	if err != nil {
		c.log.WarnContext(ctx, "metrics: read the database's gauges", slog.Any("err", err))
		ch <- prometheus.MustNewConstMetric(dbUpDesc, prometheus.GaugeValue, 0)
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(dbUpDesc, 1)
	for _, s := range queueStates {
		gauge(queueJobsDesc, float64(f.QueueJobs[s]), s)
	}
	gauge(queueAgeDesc, f.OldestAvailable.Seconds())
	for _, s := range activeStatuses {
		gauge(requestsDesc, float64(f.Requests[s]), s)
	}
	gauge(unknownDesc, float64(f.OutcomeUnknown))
	gauge(unsealedDesc, float64(f.Unsealed))
	gauge(unsignedDesc, float64(f.Unsigned))
	switch {
	case f.Checkpointed:
		gauge(checkpointAgeDesc, f.CheckpointAge.Seconds())
	case c.signing:
		gauge(checkpointAgeDesc, math.Inf(1))
	}
}

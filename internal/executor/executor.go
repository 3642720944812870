package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/rdsgate/rdsgate/internal/aliyun"
)

// Client is the part of *aliyun.Client the executor calls.
type Client interface {
	ReleaseInstanceConnection(ctx context.Context, req aliyun.ReleaseInstanceConnectionRequest) (*aliyun.ReleaseInstanceConnectionResponse, error)
	DescribeDBInstanceNetInfo(ctx context.Context, req aliyun.DescribeDBInstanceNetInfoRequest) (*aliyun.DescribeDBInstanceNetInfoResponse, error)
}

// Defaults of Config.
const (
	DefaultMaxAttempts    = 8
	DefaultWorkers        = 20
	DefaultCallTimeout    = 10 * time.Second
	DefaultBackoffBase    = time.Second
	DefaultBackoffMax     = 5 * time.Minute
	DefaultReconcileDelay = 5 * time.Second
	DefaultRescueAfter    = time.Minute
	DefaultSweepInterval  = time.Minute
	DefaultQueue          = "rds_release"
	// DefaultAccountID keys the rate limiter when Config.AccountID is empty:
	// every replica sharing the database is then assumed to use one account.
	DefaultAccountID = "default"
	// jobMaxAttempts bounds River's own attempts of one job: failures of
	// the job itself (database errors, panics, a worker killed mid-job),
	// not API errors, which are counted in execution_attempts.
	jobMaxAttempts = 25
	// maxRequeues bounds how often the sweeper re-enqueues a request whose
	// job River gave up on, before it fails the request.
	maxRequeues = 3
	// Actor is the audit actor of every executor event.
	Actor = "rdsgate"
)

// Config configures an Executor. Zero values take the defaults above.
type Config struct {
	// Pool is the database; it must have rdsgate's and River's migrations.
	Pool *pgxpool.Pool
	// Client calls RDS; *aliyun.Client satisfies it.
	Client Client
	// ClientFor, when set, returns the client for a request's region and
	// takes precedence over Client (regions without the central endpoint
	// need their own).
	ClientFor func(regionID string) (Client, error)
	// AccountID is the Alibaba Cloud account (UID) the credentials belong
	// to: quotas are per account, so it keys the shared rate limiter.
	AccountID string
	// Logger receives the executor's and River's logs; nil discards.
	Logger *slog.Logger
	// Sealer, when set, is kicked after every audited commit.
	Sealer interface{ Kick() }
	// MaxAttempts bounds the ReleaseInstanceConnection calls per request,
	// and separately the DescribeDBInstanceNetInfo reconciliation checks.
	MaxAttempts int
	// Workers is how many jobs this process works at once.
	Workers int
	// Limits is the quota per operation (OpRelease, OpDescribe); missing
	// operations take DefaultLimits.
	Limits map[string]Limit
	// RateMargin widens the spacing between slots (DefaultRateMargin).
	RateMargin float64
	// LimiterHorizon bounds how far ahead a slot may be reserved; a job
	// whose slot would be later snoozes instead of holding a worker.
	LimiterHorizon time.Duration
	// CallTimeout bounds one API call.
	CallTimeout time.Duration
	// BackoffBase and BackoffMax shape the exponential backoff of retries.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// ReconcileDelay is how long after an attempt with an unknown outcome
	// the reconciliation check runs, so that a call still being processed
	// by the API is not mistaken for one that did not happen.
	ReconcileDelay time.Duration
	// JobTimeout bounds one run of a job; default
	// 2·(LimiterHorizon+CallTimeout)+10s (a reconciliation and a release).
	JobTimeout time.Duration
	// RescueAfter is when River hands a job whose worker vanished to
	// another worker; at least JobTimeout.
	RescueAfter time.Duration
	// SweepInterval is how often the leader looks for approved or
	// executing requests without a live job (see Sweep).
	SweepInterval time.Duration
	// Queue is the River queue of the executor's jobs.
	Queue string
	// ID names this River client (optional; River generates one).
	ID string
}

func (c *Config) setDefaults() error {
	if c.Pool == nil {
		return errors.New("executor config: Pool is required")
	}
	if c.Client == nil && c.ClientFor == nil {
		return errors.New("executor config: Client or ClientFor is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.AccountID == "" {
		c.AccountID = DefaultAccountID
	}
	limits := DefaultLimits()
	for op, l := range c.Limits {
		limits[op] = l
	}
	c.Limits = limits
	setDefault(&c.MaxAttempts, DefaultMaxAttempts)
	setDefault(&c.Workers, DefaultWorkers)
	setDefault(&c.RateMargin, DefaultRateMargin)
	setDefault(&c.LimiterHorizon, DefaultLimiterHorizon)
	setDefault(&c.CallTimeout, DefaultCallTimeout)
	setDefault(&c.BackoffBase, DefaultBackoffBase)
	setDefault(&c.BackoffMax, DefaultBackoffMax)
	setDefault(&c.ReconcileDelay, DefaultReconcileDelay)
	setDefault(&c.JobTimeout, 2*(c.LimiterHorizon+c.CallTimeout)+10*time.Second)
	setDefault(&c.RescueAfter, max(DefaultRescueAfter, c.JobTimeout+10*time.Second))
	setDefault(&c.SweepInterval, DefaultSweepInterval)
	setDefault(&c.Queue, DefaultQueue)
	switch {
	case c.MaxAttempts < 1 || c.Workers < 1:
		return fmt.Errorf("executor config: MaxAttempts %d and Workers %d must be at least 1", c.MaxAttempts, c.Workers)
	case c.BackoffBase <= 0 || c.BackoffMax < c.BackoffBase:
		return fmt.Errorf("executor config: backoff base %s, max %s: want 0 < base <= max", c.BackoffBase, c.BackoffMax)
	case c.RescueAfter < c.JobTimeout:
		return fmt.Errorf("executor config: RescueAfter %s is shorter than JobTimeout %s", c.RescueAfter, c.JobTimeout)
	}
	return nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Executor runs approved requests: it owns the River client, its workers
// and the shared rate limiter.
type Executor struct {
	cfg     Config
	log     *slog.Logger
	limiter *Limiter
	river   *river.Client[pgx.Tx]
}

// New validates cfg and builds an Executor. It does not start working;
// EnqueueRelease works at once (River inserts need no running client).
func New(cfg Config) (*Executor, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	lim, err := NewLimiter(cfg.Pool, cfg.AccountID, cfg.Limits, cfg.RateMargin, cfg.LimiterHorizon)
	if err != nil {
		return nil, fmt.Errorf("executor config: %w", err)
	}
	e := &Executor{cfg: cfg, log: cfg.Logger, limiter: lim}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &releaseWorker{e: e}); err != nil {
		return nil, fmt.Errorf("register release worker: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &sweepWorker{e: e}); err != nil {
		return nil, fmt.Errorf("register sweep worker: %w", err)
	}
	e.river, err = river.NewClient(riverpgxv5.New(cfg.Pool), &river.Config{
		ID:                   cfg.ID,
		Logger:               cfg.Logger.With(slog.String("component", "river")),
		Queues:               map[string]river.QueueConfig{cfg.Queue: {MaxWorkers: cfg.Workers}},
		Workers:              workers,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		RetryPolicy:          retryPolicy{base: cfg.BackoffBase, limit: cfg.BackoffMax},
		MaxAttempts:          jobMaxAttempts,
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(cfg.SweepInterval),
			func() (river.JobArgs, *river.InsertOpts) { return sweepArgs{}, &river.InsertOpts{Queue: cfg.Queue} },
			&river.PeriodicJobOpts{RunOnStart: true})},
	})
	if err != nil {
		return nil, fmt.Errorf("create job queue client: %w", err)
	}
	return e, nil
}

// Limiter returns the shared rate limiter, for other callers of the same
// API account (they must take their slots from it too).
func (e *Executor) Limiter() *Limiter { return e.limiter }

// ReleaseArgs is the job of one approved request.
type ReleaseArgs struct {
	RequestID uuid.UUID `json:"request_id" river:"unique"`
}

// KindRelease is the River job kind of ReleaseArgs.
const KindRelease = "rdsgate.release"

// Kind implements river.JobArgs.
func (ReleaseArgs) Kind() string { return KindRelease }

// liveStates are the job states in which a job will still run; a request
// has at most one job in them (unique insert), while a discarded or
// cancelled job does not block a new one.
var liveStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// EnqueueRelease puts the execution job of an approved request on the queue,
// inside tx (the approving transaction), so that the job exists if and only
// if the approval commits. A second enqueue of the same request while its
// job is live is a no-op. It implements workflow.Enqueuer.
func (e *Executor) EnqueueRelease(ctx context.Context, tx pgx.Tx, requestID uuid.UUID) error {
	_, err := e.river.InsertTx(ctx, tx, ReleaseArgs{RequestID: requestID}, &river.InsertOpts{
		Queue:       e.cfg.Queue,
		MaxAttempts: jobMaxAttempts,
		UniqueOpts:  river.UniqueOpts{ByArgs: true, ByState: liveStates},
	})
	if err != nil {
		return fmt.Errorf("enqueue release of request %s: %w", requestID, err)
	}
	return nil
}

// Start starts working jobs in the background. Its context only bounds the
// start: stop with Stop, which lets calls in flight finish and record their
// outcome.
func (e *Executor) Start(ctx context.Context) error {
	if err := e.river.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start executor: %w", err)
	}
	e.log.InfoContext(ctx, "executor started", slog.String("account_id", e.cfg.AccountID),
		slog.Int("workers", e.cfg.Workers), slog.Duration("release_spacing", e.limiter.Spacing(OpRelease)))
	return nil
}

// Stop stops fetching jobs and waits for the running ones until ctx is
// done; then it cancels them (a call cut short is recorded as an unknown
// outcome and reconciled by the next run) and waits a few more seconds for
// them to record that.
func (e *Executor) Stop(ctx context.Context) error {
	err := e.river.Stop(ctx)
	if err == nil {
		return nil
	}
	hard, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err2 := e.river.StopAndCancel(hard); err2 != nil {
		return fmt.Errorf("stop executor: %w", errors.Join(err, err2))
	}
	return nil
}

// client returns the RDS client for a region.
func (e *Executor) client(regionID string) (Client, error) {
	if e.cfg.ClientFor != nil {
		c, err := e.cfg.ClientFor(regionID)
		if err != nil {
			return nil, fmt.Errorf("rds client for region %s: %w", regionID, err)
		}
		return c, nil
	}
	return e.cfg.Client, nil
}

func (e *Executor) kick() {
	if e.cfg.Sealer != nil {
		e.cfg.Sealer.Kick()
	}
}

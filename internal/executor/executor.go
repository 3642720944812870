package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/quota"
	"github.com/rdsgate/rdsgate/internal/request"
)

// Client is the part of *aliyun.Client the executor calls.
type Client interface {
	ReleaseInstanceConnection(ctx context.Context, req aliyun.ReleaseInstanceConnectionRequest) (*aliyun.ReleaseInstanceConnectionResponse, error)
	DescribeDBInstanceNetInfo(ctx context.Context, req aliyun.DescribeDBInstanceNetInfoRequest) (*aliyun.DescribeDBInstanceNetInfoResponse, error)
}

// ClientKey says which client a call needs: the account whose role it
// assumes ("" for the configured credential's own account), the region, and
// the STS session name that names the rdsgate request in the account's
// ActionTrail.
type ClientKey struct {
	AccountID string
	RegionID  string
	Session   string
}

// ErrUnknownAccount is what Config.ClientFor wraps when the request's
// account is no longer configured (accounts.json changed since it was
// filed): no credential can reach it, so the request fails rather than
// being retried.
var ErrUnknownAccount = errors.New("the request's account is not configured")

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
	// DefaultFetchPoll is how often an idle worker looks for jobs whose
	// insert notification it missed; notified jobs start at once.
	DefaultFetchPoll = 200 * time.Millisecond
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
)

// Config configures an Executor. Zero values take the defaults above.
type Config struct {
	// Pool is the database of the queue and the rate limiter; it must have
	// rdsgate's and River's migrations.
	Pool *pgxpool.Pool
	// Requests makes every change of a request's state.
	Requests *lifecycle.Service
	// Client calls RDS; *aliyun.Client satisfies it.
	Client Client
	// ClientFor, when set, returns the client for a request's region and
	// takes precedence over Client (regions without the central endpoint
	// need their own).
	ClientFor func(k ClientKey) (Client, error)
	// AccountID is the Alibaba Cloud account (UID) the credentials belong
	// to: quotas are per account, so it keys the shared rate limiter.
	AccountID string
	// Logger receives the executor's and River's logs; nil discards.
	Logger *slog.Logger
	// MaxAttempts bounds the ReleaseInstanceConnection calls per request,
	// and separately the DescribeDBInstanceNetInfo reconciliation checks.
	MaxAttempts int
	// Workers is how many jobs this process works at once.
	Workers int
	// Limits is the quota per operation (OpRelease, OpDescribe); missing
	// operations take DefaultLimits.
	Limits map[string]quota.Limit
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
	// FetchPoll is how often an idle worker looks for jobs it was not
	// told of (DefaultFetchPoll).
	FetchPoll time.Duration
	// ID names this River client (optional; River generates one).
	ID string
	// Extra registers other workers on the executor's queue client, and
	// ExtraQueues are the queues they work (package notify's deliveries).
	Extra       func(*river.Workers) error
	ExtraQueues map[string]river.QueueConfig
	// ExtraPeriodic are periodic jobs of other packages (their workers
	// registered by Extra), run by the queue's leader.
	ExtraPeriodic []*river.PeriodicJob
}

func (c *Config) setDefaults() error {
	if c.Pool == nil || c.Requests == nil {
		return errors.New("executor config: Pool and Requests are required")
	}
	if c.Client == nil && c.ClientFor == nil {
		return errors.New("executor config: Client or ClientFor is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	// A job's lines carry the HTTP request id of the approval that queued it.
	c.Logger = slog.New(lifecycle.TraceLogHandler(c.Logger.Handler()))
	if c.AccountID == "" {
		c.AccountID = DefaultAccountID
	}
	limits := quota.DefaultLimits()
	for op, l := range c.Limits {
		limits[op] = l
	}
	c.Limits = limits
	setDefault(&c.MaxAttempts, DefaultMaxAttempts)
	setDefault(&c.Workers, DefaultWorkers)
	setDefault(&c.RateMargin, quota.DefaultRateMargin)
	setDefault(&c.LimiterHorizon, quota.DefaultLimiterHorizon)
	setDefault(&c.CallTimeout, DefaultCallTimeout)
	setDefault(&c.BackoffBase, DefaultBackoffBase)
	setDefault(&c.BackoffMax, DefaultBackoffMax)
	setDefault(&c.ReconcileDelay, DefaultReconcileDelay)
	setDefault(&c.JobTimeout, 2*(c.LimiterHorizon+c.CallTimeout)+10*time.Second)
	setDefault(&c.RescueAfter, max(DefaultRescueAfter, c.JobTimeout+10*time.Second))
	setDefault(&c.SweepInterval, DefaultSweepInterval)
	setDefault(&c.FetchPoll, DefaultFetchPoll)
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
	cfg      Config
	log      *slog.Logger
	requests *lifecycle.Service
	limiter  *quota.Limiter
	river    *river.Client[pgx.Tx]
}

// New validates cfg and builds an Executor. It does not start working.
func New(cfg Config) (*Executor, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	lim, err := quota.NewLimiter(cfg.Pool, cfg.AccountID, cfg.Limits, cfg.RateMargin, cfg.LimiterHorizon)
	if err != nil {
		return nil, fmt.Errorf("executor config: %w", err)
	}
	e := &Executor{cfg: cfg, log: cfg.Logger, requests: cfg.Requests, limiter: lim}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &releaseWorker{e: e}); err != nil {
		return nil, fmt.Errorf("register release worker: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &sweepWorker{e: e}); err != nil {
		return nil, fmt.Errorf("register sweep worker: %w", err)
	}
	queues := map[string]river.QueueConfig{lifecycle.ReleaseQueue: {MaxWorkers: cfg.Workers}}
	if cfg.Extra != nil {
		if err := cfg.Extra(workers); err != nil {
			return nil, err
		}
		maps.Copy(queues, cfg.ExtraQueues)
	}
	e.river, err = river.NewClient(riverpgxv5.New(cfg.Pool), &river.Config{
		ID:     cfg.ID,
		Logger: cfg.Logger.With(slog.String("subsystem", "river")), // the executor's queue: component stays "executor"
		Queues: queues,
		// A notified job is fetched at once; FetchPoll bounds the wait for
		// one whose notification was missed.
		FetchCooldown:        min(cfg.FetchPoll, 5*time.Millisecond),
		FetchPollInterval:    cfg.FetchPoll,
		Workers:              workers,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		RetryPolicy:          retryPolicy{base: cfg.BackoffBase, limit: cfg.BackoffMax},
		MaxAttempts:          jobMaxAttempts,
		PeriodicJobs: append([]*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(cfg.SweepInterval),
			func() (river.JobArgs, *river.InsertOpts) {
				return sweepArgs{}, &river.InsertOpts{Queue: lifecycle.ReleaseQueue}
			},
			&river.PeriodicJobOpts{RunOnStart: true})}, cfg.ExtraPeriodic...),
	})
	if err != nil {
		return nil, fmt.Errorf("create job queue client: %w", err)
	}
	return e, nil
}

// Limiter returns the shared rate limiter, for other callers of the same
// API account (they must take their slots from it too).
func (e *Executor) Limiter() *quota.Limiter { return e.limiter }

// Start starts working jobs in the background. Its context only bounds the
// start: stop with Stop, which lets calls in flight finish and record their
// outcome.
func (e *Executor) Start(ctx context.Context) error {
	if err := e.river.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start executor: %w", err)
	}
	e.log.InfoContext(ctx, "executor started", slog.String("account_id", e.cfg.AccountID),
		slog.Int("workers", e.cfg.Workers), slog.Duration("release_spacing", e.limiter.Spacing(request.OpRelease)))
	return nil
}

// Stop stops fetching jobs, bounded as a whole by ctx: the running jobs get
// grace to finish, then they are cancelled (a call cut short records an
// unknown outcome, which the next run reconciles), and Stop returns when
// they have stopped or ctx is done, whichever comes first. A job still
// running then is left to River's rescue on another replica or the next
// start.
func (e *Executor) Stop(ctx context.Context, grace time.Duration) error {
	soft, cancel := context.WithTimeout(ctx, grace)
	err := e.river.Stop(soft)
	cancel()
	if err == nil {
		return nil
	}
	if err2 := e.river.StopAndCancel(ctx); err2 != nil {
		return fmt.Errorf("stop executor: jobs still running after %s and then cancelled: %w", grace, err2)
	}
	return nil
}

// CallWindow is how long after its start a call may still be running: the
// wait for a slot (the limiter's horizon) and the call itself.
func (e *Executor) CallWindow() time.Duration { return e.cfg.LimiterHorizon + e.cfg.CallTimeout }

// client returns the RDS client for a region.
func (e *Executor) client(k ClientKey) (Client, error) {
	if e.cfg.ClientFor != nil {
		c, err := e.cfg.ClientFor(k)
		if err != nil {
			return nil, fmt.Errorf("rds client for account %s region %s: %w", k.AccountID, k.RegionID, err)
		}
		return c, nil
	}
	return e.cfg.Client, nil
}

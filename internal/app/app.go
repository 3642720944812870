package app

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aliyun/credentials-go/credentials"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/fleet"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/metrics"
	"github.com/rdsgate/rdsgate/internal/notify"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/quota"
	"github.com/rdsgate/rdsgate/internal/rdssim"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/store"
	"github.com/rdsgate/rdsgate/internal/trail"
	"github.com/rdsgate/rdsgate/internal/web"
)

// Config is every setting of the application, parsed once by cmd/rdsgate.
type Config struct {
	DatabaseURL string
	// DBMaxConns bounds this replica's PostgreSQL connections, the job
	// queue's included (DefaultDBMaxConns when 0); see SplitConns.
	DBMaxConns int
	// Addr is the listen address; port 0 picks a free one (App.URL says).
	Addr string
	// AccountID is the Alibaba Cloud account of the credentials: resource
	// ARNs and the rate limiter's key. Empty: the policy data's account.
	AccountID string
	// PolicyData is the directory of ram.json and org.json; empty: the
	// embedded examples.
	PolicyData string
	// PolicyDir is the directory of the organisation's own Rego modules,
	// loaded beside the shipped ones; empty: none.
	PolicyDir string
	// DecisionLog, when set, also writes every policy decision in OPA's
	// decision-log format: "stdout", or a file appended to.
	DecisionLog string
	// RequestTTL expires pending requests (default 72 h).
	RequestTTL time.Duration
	// Trail configures the ActionTrail reconciliation (docs/BYPASS.md).
	Trail TrailConfig

	// AuditSigningKey is the Ed25519 key file checkpoints are signed with
	// (none: no checkpoints); CheckpointDir receives a copy of each.
	AuditSigningKey    string
	CheckpointDir      string
	CheckpointInterval time.Duration

	Web WebConfig
	RDS RDSConfig
	// Simulate serves an in-process RDS simulator with the example
	// instances and calls it instead of the API (`rdsgate dev` without
	// credentials, and the tests).
	Simulate bool
	// Executor holds the executor's tunables; Start sets its Pool,
	// Requests, ClientFor, AccountID and Logger.
	Executor executor.Config

	// MetricsAddr, when set, serves the Prometheus metrics at /metrics on a
	// listener of its own (RDSGATE_METRICS_ADDR); port 0 picks a free one
	// (App.MetricsURL says). Unset: no listener.
	MetricsAddr string
	// Version and Commit are what the binary was built from, for
	// rdsgate_build_info (an empty Commit: the binary's VCS stamp).
	Version, Commit string

	// ShutdownTimeout bounds Close as a whole (DefaultShutdownTimeout);
	// shutdown.go splits it between the phases.
	ShutdownTimeout time.Duration

	// Notify configures notifications (RDSGATE_NOTIFY_*, RDSGATE_SMTP_*,
	// RDSGATE_PUBLIC_URL); routes come from the policy data's org.json.
	// Nothing configured: nothing is enqueued.
	Notify notify.Config
	// ReminderLead is how long before expiry request.expiring is sent
	// (notify.DefaultReminderLead; RDSGATE_NOTIFY_REMINDER_LEAD).
	ReminderLead time.Duration

	// Logger receives every log line; nil discards.
	Logger *slog.Logger
}

// App is rdsgate running: the HTTP server with the API and the pages, the
// executor, the audit sealer and checkpointer, the policy engine and its
// watcher, and request expiry.
type App struct {
	// URL is the base URL the server listens on.
	URL string
	// Pool is the application's database pool.
	Pool *pgxpool.Pool
	// Requests is the lifecycle of requests: every state change.
	Requests *lifecycle.Service
	Policy   *policy.Engine
	Executor *executor.Executor
	Server   *web.Server
	// Sim is the in-process simulator when Config.Simulate, else nil.
	Sim *rdssim.Server
	// Target says where RDS calls go, for the start-up log.
	Target string
	// Metrics are the application's metrics, counted whether or not they
	// are served; MetricsURL is where they are served ("" when
	// Config.MetricsAddr is unset).
	Metrics    *metrics.Metrics
	MetricsURL string
	// Notifier routes and delivers notifications.
	Notifier *notify.Notifier
	// Fleet lists the public endpoints of every configured account and
	// region, within each account's shared quota (FleetScanner).
	Fleet *fleet.Scanner

	log       *slog.Logger
	http      *http.Server
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	served    chan error
	closers   []func()
	closeOnce sync.Once
	// shutdownTimeout is Config.ShutdownTimeout with its default.
	shutdownTimeout time.Duration
	// finalCheckpoint seals and signs at shutdown (with a signing key).
	finalCheckpoint func(context.Context)
}

// Start builds the application from cfg, applies the migrations, starts
// every background part and listens. Stop it with Close.
func Start(ctx context.Context, cfg Config) (a *App, err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Every line logged with a request's context carries its id.
	log = slog.New(lifecycle.TraceLogHandler(log.Handler()))
	if cfg.RequestTTL == 0 {
		cfg.RequestTTL = 72 * time.Hour
	}
	if cfg.CheckpointInterval == 0 {
		cfg.CheckpointInterval = time.Minute
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.Web.Roles == nil {
		cfg.Web.Roles = auth.MustParseRoleMap(auth.DefaultRoleGroups)
	}
	if err := cfg.Web.Check(cfg.Addr); err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a = &App{log: log, cancel: cancel, served: make(chan error, 1), shutdownTimeout: cfg.ShutdownTimeout}
	// The error paths return a nil *App: stop what was started through
	// another name.
	started := a
	defer func() {
		if err != nil {
			_ = started.shutdown(newShutdownPlan(time.Now(), started.shutdownTimeout))
		}
	}()

	mainConns, execConns, err := SplitConns(cmp.Or(cfg.DBMaxConns, DefaultDBMaxConns))
	if err != nil {
		return nil, err
	}
	pool, err := store.OpenMax(ctx, cfg.DatabaseURL, mainConns)
	if err != nil {
		return nil, err
	}
	a.Pool = pool
	a.closers = append(a.closers, pool.Close)
	if err := store.Migrate(ctx, pool, log); err != nil {
		return nil, err
	}

	sealer := audit.NewSealer(pool, log, 100*time.Millisecond)
	a.goRun(bg, "audit sealer", sealer.Run)
	db, err := store.New(pool, sealer.Kick)
	if err != nil {
		return nil, err
	}
	if cfg.AuditSigningKey != "" && cfg.CheckpointDir == "" {
		// The copies outside the database are what catches a trail re-hashed
		// with its checkpoints deleted: kept by default beside the key.
		cfg.CheckpointDir = filepath.Join(filepath.Dir(cfg.AuditSigningKey), "checkpoints")
	}
	verifyOpts := audit.VerifyOptions{CheckpointDir: cfg.CheckpointDir, MaxUnsigned: audit.MaxUnsignedFor(cfg.CheckpointInterval)}
	if cfg.AuditSigningKey != "" {
		key, err := audit.LoadSigningKey(cfg.AuditSigningKey)
		if err != nil {
			return nil, err
		}
		verifyOpts.Keys = []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}
		cp := audit.NewCheckpointer(pool, log, key, cfg.CheckpointDir, cfg.CheckpointInterval)
		a.goRun(bg, "audit checkpointer", cp.Run)
		a.finalCheckpoint = func(ctx context.Context) {
			if _, err := sealer.Flush(ctx); err != nil {
				log.ErrorContext(ctx, "seal at shutdown", slog.Any("err", err))
				return
			}
			if cp, created, err := cp.Checkpoint(ctx); err != nil && !errors.Is(err, audit.ErrNoEvents) {
				log.ErrorContext(ctx, "audit checkpoint at shutdown", slog.Any("err", err))
			} else if created {
				log.InfoContext(ctx, "audit checkpoint signed at shutdown", slog.Int64("checkpoint", cp.Seq), slog.Int64("head_seq", cp.HeadSeq))
			}
		}
		log.InfoContext(ctx, "audit checkpoints signed", slog.String("key_id", audit.KeyID(verifyOpts.Keys[0])),
			slog.String("dir", cfg.CheckpointDir), slog.Duration("interval", cfg.CheckpointInterval))
	} else {
		log.WarnContext(ctx, "RDSGATE_AUDIT_SIGNING_KEY is not set: the audit chain is kept but no signed checkpoints are made")
	}
	monitor := audit.NewMonitor(pool, verifyOpts, 0)

	decisionLog, err := openDecisionLog(cfg.DecisionLog)
	if err != nil {
		return nil, err
	}
	if c, ok := decisionLog.(io.Closer); ok && decisionLog != os.Stdout {
		a.closers = append(a.closers, func() { c.Close() })
	}
	a.Metrics = metrics.New(metrics.Options{Version: cfg.Version, Commit: cfg.Commit, Logger: log,
		Facts:          dbFacts(pool, db, a.callWindow),
		Signing:        cfg.AuditSigningKey != "",
		Operations:     rdsOperations,
		PolicyRevision: a.policyRevision})
	a.Policy, err = policy.New(ctx, policy.Options{Dir: cfg.PolicyData, PolicyDir: cfg.PolicyDir, AccountID: cfg.AccountID, Logger: log,
		DecisionLog: decisionLog,
		OnReload: func(rev string, rerr error) {
			a.Metrics.PolicyReloaded(rerr)
			auditPolicyReload(db, log, rev, rerr)
		}})
	if err != nil {
		return nil, fmt.Errorf("load policies: %w", err)
	}
	a.goRun(bg, "policy watcher", a.Policy.Watch)

	accountID := a.Policy.AccountID()
	if cfg.Simulate {
		sim, endpoint, stop, err := startSimulator(log)
		if err != nil {
			return nil, err
		}
		a.Sim = sim
		a.closers = append(a.closers, stop)
		cred, err := credentials.NewCredential(&credentials.Config{Type: strPtr("access_key"),
			AccessKeyId: strPtr(SimAccessKeyID), AccessKeySecret: strPtr(SimAccessKeySecret)})
		if err != nil {
			return nil, fmt.Errorf("simulator credential: %w", err)
		}
		cfg.RDS.Endpoint, cfg.RDS.Protocol, cfg.RDS.Credential = endpoint, "http", cred
		if cfg.RDS.STSEndpoint == "" {
			cfg.RDS.STSEndpoint = endpoint // accounts.json's roles are assumed at the simulator
		}
		if cfg.Trail.Endpoint == "" {
			cfg.Trail.Endpoint = endpoint // and its trail read there
		}
		if _, roots, err := simTrust(); err == nil && cfg.RDS.RootCAs == nil {
			cfg.RDS.RootCAs = roots
		}
		if cfg.AccountID == "" {
			accountID = SimAccountID
		}
		a.Target = "simulator http://" + endpoint
	} else {
		a.Target = "Alibaba Cloud RDS API"
		if cfg.RDS.Endpoint != "" {
			a.Target += " at " + cfg.RDS.Endpoint
		}
	}
	if cfg.Executor.CallTimeout == 0 {
		cfg.Executor.CallTimeout = cfg.RDS.CallTimeout
	}
	cfg.RDS.TrailEndpoint = cmp.Or(cfg.RDS.TrailEndpoint, cfg.Trail.Endpoint)
	clients, err := newRDSClients(cfg.RDS, log)
	if err != nil {
		return nil, err
	}
	clients.accounts = a.Policy
	// The executor's own pool, so that a burst of HTTP requests does not
	// hold up calls that the quota already paces.
	execPool, err := store.OpenMax(ctx, cfg.DatabaseURL, execConns)
	if err != nil {
		return nil, fmt.Errorf("executor database pool: %w", err)
	}
	a.closers = append(a.closers, execPool.Close)
	execDB, err := store.New(execPool, sealer.Kick)
	if err != nil {
		return nil, err
	}
	notifier := notify.New(cfg.Notify, a.Policy, log)
	a.Notifier = notifier
	reminder := cmp.Or(cfg.ReminderLead, notify.DefaultReminderLead)
	ec := cfg.Executor
	ec.Pool, ec.ClientFor, ec.AccountID = execPool, meteredClients(clients.clientFor, a.Metrics), accountID
	ec.Limits = WithFleetLimits(ec.Limits)
	ec.Limits = withTrailLimits(ec.Limits)
	releaseRate := lifecycle.DefaultReleaseRate // a bulk request's estimate: the release quota less the margin
	if l, ok := ec.Limits[request.OpRelease]; ok && l.PerSecond > 0 {
		releaseRate = l.PerSecond / (1 + cmp.Or(ec.RateMargin, quota.DefaultRateMargin))
	}
	ec.Requests = lifecycle.New(lifecycle.Options{Store: execDB, Observer: a.Metrics,
		Notify: notifier, RequestTTL: cfg.RequestTTL, ReminderLead: reminder, Accounts: accountRegistry{a.Policy},
		Environments: a.Policy, ReleaseRate: releaseRate})
	ec.Extra = func(w *river.Workers) error { return notifier.Register(w, ec.Requests) }
	ec.ExtraQueues = notifier.Queues()
	if err := newTrail(cfg.Trail, ec.Requests, clients, func() *quota.Limiter { return a.Executor.Limiter() },
		trailScopes(a.Policy, accountID, cmp.Or(cfg.RDS.RegionID, DefaultRegionID)), &ec, log); err != nil {
		return nil, fmt.Errorf("trail reconciliation: %w", err)
	}
	ec.Logger = log.With(slog.String("component", "executor"))
	if a.Executor, err = executor.New(ec); err != nil {
		return nil, fmt.Errorf("executor: %w", err)
	}
	a.Executor.Limiter().SetObserver(a.Metrics)
	if err := a.Executor.Start(ctx); err != nil {
		return nil, err
	}
	log.InfoContext(ctx, "executor calling", slog.String("target", a.Target))

	a.Requests = lifecycle.New(lifecycle.Options{Store: db, Policy: a.Policy, Observer: a.Metrics,
		Instances: instanceLookup{clients: clients, limiter: a.Executor.Limiter().On(pool)},
		Notify:    notifier, RequestTTL: cfg.RequestTTL, ReminderLead: reminder, Accounts: accountRegistry{a.Policy},
		ReleaseRate: releaseRate})
	a.goRun(bg, "request expiry", func(ctx context.Context) error { return expireLoop(ctx, a.Requests, cfg.RequestTTL, log) })
	if a.Fleet, err = newFleetScanner(clients, a.Policy, fleet.QuotaLimiter{L: a.Executor.Limiter().On(pool)}, cfg.RDS.RegionID, log); err != nil {
		return nil, err
	}

	if cfg.MetricsAddr != "" {
		url, stop, err := serveMetrics(cfg.MetricsAddr, a.Metrics, log)
		if err != nil {
			return nil, err
		}
		a.MetricsURL = url
		a.closers = append(a.closers, stop)
		log.InfoContext(ctx, "metrics serving", slog.String("url", url))
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	a.URL = "http://" + ln.Addr().String()
	if cfg.Web.TLSCertFile != "" {
		a.URL = "https://" + ln.Addr().String()
	}
	notifier.SetPublicURL(a.URL)
	if chans := notifier.CatchAll(); len(chans) > 0 || len(a.Policy.Notifications().Routes) > 0 {
		log.InfoContext(ctx, "notifications on", slog.Any("catch_all", chans),
			slog.Int("routes", len(a.Policy.Notifications().Routes)), slog.String("links", notifier.Link(lifecycle.Notice{})))
	}
	pages, closePages, err := newPages(ctx, cfg.Web, cfg.Addr, a.URL, pool, a.Policy, monitor, log)
	if err != nil {
		ln.Close()
		return nil, err
	}
	pages.RequestTTL = cfg.RequestTTL
	pages.Accounts, pages.Fleet = a.Policy, webFleet{a.Fleet}
	pages.TrailInterval, pages.TrailOff = cmp.Or(cfg.Trail.Interval, trail.DefaultInterval), cfg.Trail.Off
	a.closers = append(a.closers, closePages)
	a.Server = web.New(web.Deps{
		Service: a.Requests, Tokens: auth.NewTokens(pool, time.Second), Policy: a.Policy, Logger: log,
		Pages: pages, Roles: cfg.Web.Roles, AllowedHosts: cfg.Web.AllowedHosts, TrustedProxies: cfg.Web.TrustedProxies,
		Ready: func(ctx context.Context) error {
			if err := pool.Ping(ctx); err != nil {
				return fmt.Errorf("database: %w", err)
			}
			if a.Policy.Revision() == "" {
				return errors.New("policies not loaded")
			}
			return nil
		},
	})
	a.Server.EnableAudit(web.AuditDeps{DB: pool, Integrity: monitor})
	a.http = &http.Server{Handler: a.Server, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if cfg.Web.TLSCertFile != "" {
			a.served <- a.http.ServeTLS(ln, cfg.Web.TLSCertFile, cfg.Web.TLSKeyFile)
			return
		}
		a.served <- a.http.Serve(ln)
	}()
	log.InfoContext(ctx, "rdsgate serving", slog.String("url", a.URL), slog.String("policy_revision", a.Policy.Revision()))
	return a, nil
}

// Wait blocks until ctx is done or the HTTP server fails.
func (a *App) Wait(ctx context.Context) error {
	select {
	case err := <-a.served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// goRun runs fn in the background until Close.
func (a *App) goRun(ctx context.Context, name string, fn func(context.Context) error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			a.log.ErrorContext(ctx, name+" stopped", slog.Any("err", err))
		}
	}()
}

// openDecisionLog opens the decision log: nil for "", standard output for
// "stdout", else the file, appended to and readable by its owner only (it
// holds every input).
func openDecisionLog(name string) (io.Writer, error) {
	switch name {
	case "":
		return nil, nil
	case "stdout":
		return os.Stdout, nil
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("decision log: %w", err)
	}
	return f, nil
}

// DefaultDBMaxConns is how many PostgreSQL connections one replica holds
// at most by default: three replicas then take 30 of a default server's 100.
const DefaultDBMaxConns = 10

// MinDBMaxConns is the fewest connections a replica runs with: two for
// the HTTP side, three for the executor.
const MinDBMaxConns = 5

// SplitConns divides a replica's total connections between its two pools:
// the executor's gets two in five, at least three (River's LISTEN holds
// one; its producer, completer and leader and the workers' short
// transactions share the rest: the quota, not the pool, paces the calls),
// and the main pool the rest (HTTP requests, the audit sealer and
// checkpointer, request expiry).
func SplitConns(total int) (main, exec int32, err error) {
	if total < MinDBMaxConns {
		return 0, 0, fmt.Errorf("RDSGATE_DB_MAX_CONNS (--db-max-conns) %d: want at least %d", total, MinDBMaxConns)
	}
	exec = int32(max(3, total*2/5))
	return int32(total) - exec, exec, nil
}

// auditPolicyReload records every reload, successful or refused, in the trail.
func auditPolicyReload(db *store.DB, log *slog.Logger, rev string, rerr error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec := audit.Record{Kind: audit.KindPolicyReloaded, Actor: lifecycle.System, Payload: map[string]any{"revision": rev}}
	if rerr != nil {
		log.ErrorContext(ctx, "policy reload refused; the previous revision keeps serving", slog.Any("err", rerr), slog.String("revision", rev))
		rec = audit.Record{Kind: audit.KindPolicyReloadFailed, Actor: lifecycle.System, ErrorCode: "PolicyLoadFailed",
			Payload: map[string]any{"refused_revision": rev, "error": rerr.Error()}}
	} else {
		log.InfoContext(ctx, "policy loaded", slog.String("revision", rev))
	}
	if err := db.Append(ctx, rec); err != nil {
		log.ErrorContext(ctx, "audit policy reload", slog.Any("err", err))
	}
}

// expireLoop expires pending requests older than ttl, every minute.
func expireLoop(ctx context.Context, svc *lifecycle.Service, ttl time.Duration, log *slog.Logger) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		n, err := svc.ExpireOlderThan(ctx, ttl)
		if err != nil && ctx.Err() == nil {
			log.ErrorContext(ctx, "expire requests", slog.Any("err", err))
		} else if n > 0 {
			log.InfoContext(ctx, "requests expired", slog.Int("count", n))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func strPtr(s string) *string { return &s }

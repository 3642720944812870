package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aliyun/credentials-go/credentials"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/rdssim"
)

// Environment variables of the executor and its RDS client. Credentials are
// not among them: they come from the credentials-go default chain
// (ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / _SECURITY_TOKEN, OIDC role, CLI
// profile, ~/.alibabacloud/credentials, ECS RAM role, credentials URI).
const (
	envRDSEndpoint     = "RDSGATE_RDS_ENDPOINT"      // host[:port]; default: the region's endpoint
	envRDSProtocol     = "RDSGATE_RDS_PROTOCOL"      // https (default) or http
	envRegionID        = "RDSGATE_REGION_ID"         // default region, cn-hangzhou
	envRDSRate         = "RDSGATE_RDS_RATE"          // ReleaseInstanceConnection calls/s, default 10
	envRDSDescribeRate = "RDSGATE_RDS_DESCRIBE_RATE" // DescribeDBInstanceNetInfo calls/s, default 10
	envRDSRateMargin   = "RDSGATE_RDS_RATE_MARGIN"   // slot spacing margin, default 0.02
	envRDSCallTimeout  = "RDSGATE_RDS_CALL_TIMEOUT"  // one call, default 10s
	envExecWorkers     = "RDSGATE_EXECUTOR_WORKERS"  // jobs at once per process, default 20
	envExecAttempts    = "RDSGATE_EXECUTOR_MAX_ATTEMPTS"
	envExecRescue      = "RDSGATE_EXECUTOR_RESCUE_AFTER" // default 1m
)

// defaultRegionID is the region used when RDSGATE_REGION_ID is not set.
const defaultRegionID = "cn-hangzhou"

// credentialEnv are the variables that make the default chain find
// credentials without files; dev uses the simulator when none is set.
var credentialEnv = []string{
	"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_CREDENTIALS_URI",
	"ALIBABA_CLOUD_PROFILE", "ALIBABA_CLOUD_CREDENTIALS_FILE", "ALIBABA_CLOUD_ECS_METADATA",
}

// hasAlibabaCredentials reports whether the environment points the
// credentials chain at real credentials.
func hasAlibabaCredentials(getenv func(string) string) bool {
	for _, k := range credentialEnv {
		if getenv(k) != "" {
			return true
		}
	}
	return false
}

// rdsClients builds the RDS client(s) from the environment. With
// RDSGATE_RDS_ENDPOINT set, every request goes to that endpoint; otherwise
// each request's region gets the endpoint the official SDK resolves for it
// (aliyun.DefaultEndpoint), one client per region, created on first use and
// sharing one credential. The credential is resolved once here, so that a
// deployment without usable credentials fails at start, not at its first
// approved request.
type rdsClients struct {
	base aliyun.Config

	mu      sync.Mutex
	clients map[string]*aliyun.Client
}

// newRDSClients reads the client settings from getenv. cred nil means the
// credentials-go default chain.
func newRDSClients(getenv func(string) string, cred credentials.Credential, log *slog.Logger) (*rdsClients, error) {
	timeout, err := envDuration(getenv, envRDSCallTimeout, executor.DefaultCallTimeout)
	if err != nil {
		return nil, err
	}
	base := aliyun.Config{
		Endpoint: getenv(envRDSEndpoint),
		Protocol: envOrFunc(getenv, envRDSProtocol, "https"),
		RegionID: envOrFunc(getenv, envRegionID, defaultRegionID),
		Timeout:  timeout,
		Logger:   log,
	}
	if cred == nil {
		cred, err = credentials.NewCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("alibaba cloud credentials: %w", err)
		}
	}
	if _, err := cred.GetCredential(); err != nil {
		return nil, fmt.Errorf("alibaba cloud credentials: none usable (set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or another source of the default chain): %w", err)
	}
	base.Credential = cred
	c := &rdsClients{base: base, clients: map[string]*aliyun.Client{}}
	if _, err := c.client(base.RegionID); err != nil { // validates the settings
		return nil, err
	}
	return c, nil
}

// client returns the client for a region.
func (c *rdsClients) client(regionID string) (*aliyun.Client, error) {
	key := regionID
	if c.base.Endpoint != "" {
		key = "" // one endpoint for all regions
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[key]; ok {
		return cl, nil
	}
	cfg := c.base
	if regionID != "" {
		cfg.RegionID = regionID
	}
	cl, err := aliyun.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("rds client: %w", err)
	}
	c.clients[key] = cl
	return cl, nil
}

// clientFor is executor.Config.ClientFor.
func (c *rdsClients) clientFor(regionID string) (executor.Client, error) {
	cl, err := c.client(regionID)
	if err != nil {
		return nil, err
	}
	return cl, nil
}

// executorRun is a configured executor and what to release after its Stop.
type executorRun struct {
	Exec *executor.Executor
	// Target says where calls go, for the start-up log.
	Target string
	// clients builds the RDS clients; the pages' instance look-up uses it.
	clients *rdsClients
	close   []func()
}

// Close releases the executor's pool and the development simulator, if
// any. Call it after Exec.Stop.
func (r *executorRun) Close() {
	for i := len(r.close) - 1; i >= 0; i-- {
		r.close[i]()
	}
}

// newExecutor builds the executor serve runs: its own connection pool on
// databaseURL (sized for its workers and River's connections, apart from
// the web's), the RDS client from the environment, and, when simulate is
// set and the environment names no Alibaba Cloud credentials, an in-process
// simulator on loopback instead of the real API (that is `make run`).
// sealer is kicked after each audited commit; accountID keys the shared
// rate limiter (RDSGATE_ACCOUNT_ID).
func newExecutor(ctx context.Context, databaseURL, accountID string, simulate bool, getenv func(string) string,
	log *slog.Logger, sealer interface{ Kick() }) (*executorRun, error) {
	run := &executorRun{}
	ok := false
	defer func() {
		if !ok {
			run.Close()
		}
	}()
	cfg, err := executorConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	var cred credentials.Credential
	if simulate && !hasAlibabaCredentials(getenv) && getenv(envRDSEndpoint) == "" {
		endpoint, stop, err := startDevSimulator(log)
		if err != nil {
			return nil, err
		}
		run.close = append(run.close, stop)
		cred, err = credentials.NewCredential(&credentials.Config{Type: strPtr("access_key"),
			AccessKeyId: strPtr(simDefaultAccessKeyID), AccessKeySecret: strPtr(simDefaultAccessKeySecret)})
		if err != nil {
			return nil, fmt.Errorf("simulator credential: %w", err)
		}
		getenv = overlay(getenv, map[string]string{envRDSEndpoint: endpoint, envRDSProtocol: "http"})
		if accountID == "" {
			accountID = simDefaultAccountID
		}
		run.Target = "simulator http://" + endpoint
	}
	clients, err := newRDSClients(getenv, cred, log)
	if err != nil {
		return nil, err
	}
	if run.Target == "" {
		run.Target = "Alibaba Cloud RDS API"
		if e := getenv(envRDSEndpoint); e != "" {
			run.Target += " at " + e
		}
	}
	pcfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	// Every worker holds a connection for its transactions; River adds a
	// listener, a producer, the leader's maintenance and the completer.
	pcfg.MaxConns = max(pcfg.MaxConns, int32(cfg.Workers)+8)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("executor database pool: %w", err)
	}
	run.close = append(run.close, pool.Close)
	run.clients = clients
	cfg.Pool, cfg.ClientFor, cfg.AccountID = pool, clients.clientFor, accountID
	cfg.Logger, cfg.Sealer = log.With(slog.String("component", "executor")), sealer
	run.Exec, err = executor.New(cfg)
	if err != nil {
		return nil, err
	}
	ok = true
	return run, nil
}

// executorConfigFromEnv reads the executor's tunables; zero values take
// the package defaults.
func executorConfigFromEnv(getenv func(string) string) (executor.Config, error) {
	var cfg executor.Config
	var err error
	limits := map[string]executor.Limit{}
	for env, op := range map[string]string{envRDSRate: executor.OpRelease, envRDSDescribeRate: executor.OpDescribe} {
		if v := getenv(env); v != "" {
			rate, perr := strconv.ParseFloat(v, 64)
			if perr != nil || rate <= 0 {
				return cfg, fmt.Errorf("%s=%q: want calls per second > 0", env, v)
			}
			limits[op] = executor.Limit{PerSecond: rate}
		}
	}
	cfg.Limits = limits
	if v := getenv(envRDSRateMargin); v != "" {
		if cfg.RateMargin, err = strconv.ParseFloat(v, 64); err != nil || cfg.RateMargin < 0 || cfg.RateMargin > 1 {
			return cfg, fmt.Errorf("%s=%q: want a fraction between 0 and 1", envRDSRateMargin, v)
		}
	}
	for env, dst := range map[string]*int{envExecWorkers: &cfg.Workers, envExecAttempts: &cfg.MaxAttempts} {
		if v := getenv(env); v != "" {
			if *dst, err = strconv.Atoi(v); err != nil || *dst < 1 {
				return cfg, fmt.Errorf("%s=%q: want a whole number >= 1", env, v)
			}
		}
	}
	if cfg.Workers == 0 {
		cfg.Workers = executor.DefaultWorkers
	}
	if cfg.CallTimeout, err = envDuration(getenv, envRDSCallTimeout, 0); err != nil {
		return cfg, err
	}
	if cfg.RescueAfter, err = envDuration(getenv, envExecRescue, 0); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// startDevSimulator serves the simulator, with the example instances and
// the development key, on a free loopback port, and returns its host:port.
func startDevSimulator(log *slog.Logger) (string, func(), error) {
	instances, err := rdssim.ExampleInstances()
	if err != nil {
		return "", nil, err
	}
	sim, err := rdssim.New(rdssim.Config{
		Accounts: []rdssim.Account{{AccessKeyID: simDefaultAccessKeyID, AccessKeySecret: simDefaultAccessKeySecret,
			AccountID: simDefaultAccountID}},
		Instances: instances,
		Logger:    log.With(slog.String("component", "rdssim")),
	})
	if err != nil {
		return "", nil, fmt.Errorf("simulator: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("simulator: listen: %w", err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("simulator stopped", slog.Any("err", err))
		}
	}()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return ln.Addr().String(), stop, nil
}

// overlay returns getenv with some variables replaced.
func overlay(getenv func(string) string, over map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := over[k]; ok {
			return v
		}
		return getenv(k)
	}
}

func strPtr(s string) *string { return &s }

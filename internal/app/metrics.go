package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/fleet"
	"github.com/rdsgate/rdsgate/internal/metrics"
	"github.com/rdsgate/rdsgate/internal/quota"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/store"
)

// rdsOperations are the RDS API operations rdsgate calls.
var rdsOperations = []string{request.OpRelease, request.OpDescribe, fleet.OpDescribeInstances}

// dbFacts reads the gauges of package metrics from the store and the audit
// trail. inflight is the longest a release call may run after its attempt
// started: an attempt without an outcome for longer lost its worker.
func dbFacts(pool *pgxpool.Pool, db *store.DB, inflight func() time.Duration) func(context.Context) (metrics.Facts, error) {
	return func(ctx context.Context) (metrics.Facts, error) {
		g, err := db.Gauges(ctx, inflight())
		if err != nil {
			return metrics.Facts{}, err
		}
		b, err := audit.ReadBacklog(ctx, pool)
		if err != nil {
			return metrics.Facts{}, err
		}
		return metrics.Facts{QueueJobs: g.QueueJobs, OldestAvailable: g.OldestAvailable, Requests: g.Requests,
			OutcomeUnknown: g.OutcomeUnknown, Unsealed: b.Unsealed, Unsigned: b.Unsigned,
			Checkpointed: b.Checkpointed, CheckpointAge: b.CheckpointAge}, nil
	}
}

// policyRevision is the revision serving, "" before the policies loaded.
func (a *App) policyRevision() string {
	if a.Policy == nil {
		return ""
	}
	return a.Policy.Revision()
}

// callWindow is how long after its start a release call may still be
// running (executor.CallWindow); the default before the executor exists.
func (a *App) callWindow() time.Duration {
	if a.Executor == nil {
		return quota.DefaultLimiterHorizon + executor.DefaultCallTimeout
	}
	return a.Executor.CallWindow()
}

// meteredClients counts every call of the executor's RDS clients.
func meteredClients(clientFor func(executor.ClientKey) (executor.Client, error), m *metrics.Metrics) func(executor.ClientKey) (executor.Client, error) {
	return func(k executor.ClientKey) (executor.Client, error) {
		c, err := clientFor(k)
		if err != nil {
			return nil, err
		}
		return meteredClient{c: c, m: m}, nil
	}
}

// meteredClient is an executor.Client that counts and times its calls.
type meteredClient struct {
	c executor.Client
	m *metrics.Metrics
}

func (c meteredClient) ReleaseInstanceConnection(ctx context.Context, req aliyun.ReleaseInstanceConnectionRequest) (*aliyun.ReleaseInstanceConnectionResponse, error) {
	start := time.Now()
	resp, err := c.c.ReleaseInstanceConnection(ctx, req)
	c.observe(request.OpRelease, start, err)
	return resp, err
}

func (c meteredClient) DescribeDBInstanceNetInfo(ctx context.Context, req aliyun.DescribeDBInstanceNetInfoRequest) (*aliyun.DescribeDBInstanceNetInfoResponse, error) {
	start := time.Now()
	resp, err := c.c.DescribeDBInstanceNetInfo(ctx, req)
	c.observe(request.OpDescribe, start, err)
	return resp, err
}

func (c meteredClient) observe(op string, start time.Time, err error) {
	d := time.Since(start)
	if err == nil {
		c.m.APICall(op, "", "succeeded", d)
		return
	}
	var code string
	var ae *aliyun.APIError
	if errors.As(err, &ae) {
		code = ae.Code
	}
	// The code comes from the wire: a label value only when documented, so
	// an endpoint (or a proxy before it) cannot grow the series without end.
	if _, ok := aliyun.LookupError(code); code != "" && !ok {
		code = "other"
	}
	c.m.APICall(op, code, string(aliyun.Classify(err)), d)
}

// serveMetrics serves m on addr (GET /metrics) until stop is called, and
// returns its URL.
func serveMetrics(addr string, m *metrics.Metrics, log *slog.Logger) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("metrics: listen on %s (RDSGATE_METRICS_ADDR): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", slog.Any("err", err))
		}
	}()
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return "http://" + ln.Addr().String() + "/metrics", stop, nil
}

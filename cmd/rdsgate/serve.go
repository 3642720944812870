package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/store"
	"github.com/rdsgate/rdsgate/internal/web"
	"github.com/rdsgate/rdsgate/internal/workflow"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	serveFlags(fs, &c)
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	if err := c.validate(); err != nil {
		return err
	}
	var err error
	if c.Web, err = loadWebConfig(os.Getenv); err != nil {
		return err
	}
	tuneGC(os.Getenv)
	return serve(ctx, c, stdout, stderr, nil)
}

// serveGCPercent is the collector's target for serve unless GOGC says
// otherwise. Each API call allocates a few hundred short-lived objects
// (JSON, the policy evaluation, pgx) on a live heap of a few tens of MB:
// at Go's default of 100, the collector took about a sixth of the server's
// CPU under load, and 400 gave 12 % more filings per second for a heap
// that stays small (docs/BENCHMARKS.md). GOMEMLIMIT still caps it.
const serveGCPercent = 400

func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
}

// serve runs the service until ctx is done: migrations, the audit sealer and
// checkpointer, the policy engine and its watcher, the executor, request
// expiry, and the HTTP server (API and pages). ready, when not nil, is
// called with the base URL once the listener is up. Shutdown runs in
// reverse order.
func serve(ctx context.Context, c config, stdout, stderr io.Writer, ready func(baseURL string)) error {
	log := newLogger(stderr, c.LogLevel)
	if err := c.Web.check(c.Addr); err != nil {
		return err
	}
	pool, err := store.Open(ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool, log); err != nil {
		return err
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	goRun := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				log.ErrorContext(ctx, name+" stopped", slog.Any("err", err))
			}
		}()
	}

	sealer := audit.NewSealer(pool, log, 100*time.Millisecond)
	goRun("audit sealer", sealer.Run)
	verifyOpts := audit.VerifyOptions{CheckpointDir: c.CheckpointDir}
	if c.AuditSigningKey != "" {
		key, err := audit.LoadSigningKey(c.AuditSigningKey)
		if err != nil {
			return err
		}
		verifyOpts.Keys = []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}
		cp := audit.NewCheckpointer(pool, log, key, c.CheckpointDir, c.CheckpointInterval)
		goRun("audit checkpointer", cp.Run)
		log.InfoContext(ctx, "audit checkpoints signed", slog.String("key_id", audit.KeyID(verifyOpts.Keys[0])),
			slog.String("dir", c.CheckpointDir), slog.Duration("interval", c.CheckpointInterval))
	} else {
		log.WarnContext(ctx, "RDSGATE_AUDIT_SIGNING_KEY is not set: the audit chain is kept but no signed checkpoints are made")
	}
	monitor := audit.NewMonitor(pool, verifyOpts, 0)

	eng, err := policy.New(ctx, policy.Options{Dir: c.PolicyData, AccountID: c.AccountID, Logger: log,
		OnReload: func(rev string, rerr error) { auditPolicyReload(pool, log, sealer, rev, rerr) }})
	if err != nil {
		return fmt.Errorf("load policies: %w", err)
	}
	goRun("policy watcher", eng.Watch)

	// The account keys the shared rate limiter: RDSGATE_ACCOUNT_ID, else
	// the policy data's account.
	run, err := newExecutor(ctx, c.DatabaseURL, eng.AccountID(), c.Simulate, os.Getenv, log, sealer)
	if err != nil {
		return fmt.Errorf("executor: %w", err)
	}
	defer run.Close() // after Stop: defers run last-in first-out
	if err := run.Exec.Start(ctx); err != nil {
		return fmt.Errorf("start executor: %w", err)
	}
	defer func() {
		sctx, done := context.WithTimeout(context.Background(), 30*time.Second)
		defer done()
		if err := run.Exec.Stop(sctx); err != nil {
			log.Error("stop executor", slog.Any("err", err))
		}
	}()
	log.InfoContext(ctx, "executor calling", slog.String("target", run.Target))

	svc := workflow.New(workflow.Options{Pool: pool, Policy: eng, Enqueue: run.Exec, Sealer: sealer})
	goRun("request expiry", func(ctx context.Context) error { return expireLoop(ctx, svc, c.RequestTTL, log) })

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	base := "http://" + ln.Addr().String()
	browser, closeBrowser, err := newBrowser(ctx, c.Web, c.Addr, base, pool, eng, web.AliyunLookup{
		ClientFor: func(region string) (web.NetInfoClient, error) { return run.clients.client(region) },
		Wait:      func(ctx context.Context) error { return run.Exec.Limiter().Wait(ctx, executor.OpDescribe) },
	}, monitor, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer closeBrowser()
	srv := web.New(web.Deps{
		Service: svc, Tokens: auth.NewTokens(pool, 10*time.Second), Policy: eng, Logger: log, Browser: browser, Roles: c.Web.Roles,
		Ready: func(ctx context.Context) error {
			if err := pool.Ping(ctx); err != nil {
				return fmt.Errorf("database: %w", err)
			}
			if eng.Revision() == "" {
				return errors.New("policies not loaded")
			}
			return nil
		},
	})
	srv.EnableAudit(web.AuditDeps{DB: pool, Integrity: monitor})
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	log.InfoContext(ctx, "rdsgate serving", slog.String("url", base), slog.String("policy_revision", eng.Revision()))
	if ready != nil {
		ready(base)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	cancel()
	return hs.Shutdown(shutdownCtx)
}

// auditPolicyReload records every reload, successful or refused, in the trail.
func auditPolicyReload(pool *pgxpool.Pool, log *slog.Logger, sealer *audit.Sealer, rev string, rerr error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec := audit.Record{Kind: audit.KindPolicyReloaded, Actor: "rdsgate", Payload: map[string]any{"revision": rev}}
	if rerr != nil {
		log.ErrorContext(ctx, "policy reload refused; the previous revision keeps serving", slog.Any("err", rerr), slog.String("revision", rev))
		rec = audit.Record{Kind: audit.KindPolicyReloadFailed, Actor: "rdsgate", ErrorCode: "PolicyLoadFailed",
			Payload: map[string]any{"refused_revision": rev, "error": rerr.Error()}}
	} else {
		log.InfoContext(ctx, "policy loaded", slog.String("revision", rev))
	}
	err := store.InTx(ctx, pool, func(tx pgx.Tx) error { return audit.Append(ctx, tx, rec) })
	if err != nil {
		log.ErrorContext(ctx, "audit policy reload", slog.Any("err", err))
	}
	sealer.Kick()
}

func expireLoop(ctx context.Context, svc *workflow.Service, ttl time.Duration, log *slog.Logger) error {
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

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/auth"
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
	return serve(ctx, c, stdout, stderr, nil)
}

// serve runs the service until ctx is done. ready, when not nil, is called
// with the base URL once the listener is up (dev uses it to print hints).
func serve(ctx context.Context, c config, stdout, stderr io.Writer, ready func(baseURL string)) error {
	log := newLogger(stderr, c.LogLevel)
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

	eng, err := policy.New(ctx, policy.Options{Dir: c.PolicyData, Logger: log,
		OnReload: func(rev string, rerr error) { auditPolicyReload(pool, log, sealer, rev, rerr) }})
	if err != nil {
		return fmt.Errorf("load policies: %w", err)
	}
	_ = eng

	svc := workflow.New(workflow.Options{Pool: pool, Policy: eng, Sealer: sealer, Logger: log})
	goRun("request expiry", func(ctx context.Context) error { return expireLoop(ctx, svc, c.RequestTTL, log) })

	srv := web.New(web.Deps{
		Service: svc, Tokens: auth.Tokens{Pool: pool}, Policy: eng, Logger: log,
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
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	base := "http://" + ln.Addr().String()
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
	rec := audit.Record{Kind: "policy.reloaded", Actor: "rdsgate", Payload: map[string]any{"revision": rev}}
	if rerr != nil {
		log.ErrorContext(ctx, "policy reload refused; the previous revision keeps serving", slog.Any("err", rerr), slog.String("revision", rev))
		rec = audit.Record{Kind: "policy.reload_failed", Actor: "rdsgate", ErrorCode: "PolicyLoadFailed",
			Payload: map[string]any{"serving_revision": rev, "error": rerr.Error()}}
	} else {
		log.InfoContext(ctx, "policy reloaded", slog.String("revision", rev))
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

// Command auditload is the audit trail's load generator, a benchmark tool
// kept out of the rdsgate binary: it migrates the database, then appends
// realistic events of every kind through audit.Append, exactly as the
// service does, with the service's sealer running beside the writers, and
// reports the append rate. scripts/bench_audit.sh runs it.
//
//	go run ./cmd/auditload --database-url "$DATABASE_URL" --count 1000000
//	go run ./cmd/auditload --duration 10s --batch 1 --json
//
// Run it with --help for its flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/store"
)

const usage = `Usage: auditload [flags]

Appends realistic audit events through the service's append path
(audit.Append), with the audit sealer running, and reports the rate; for
benchmarks (scripts/bench_audit.sh). --count or --duration is required.

Flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var ee exitError
	switch {
	case errors.As(err, &ee):
		os.Exit(int(ee))
	case err != nil:
		fmt.Fprintln(os.Stderr, "auditload:", err)
		os.Exit(1)
	}
}

// exitError ends the process with that code after the command has already
// said why.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// secretFlag is a string flag whose value is never printed: flag's help
// shows a flag's default, and the default of --database-url comes from
// DATABASE_URL, which may hold a password.
type secretFlag struct{ p *string }

func (f secretFlag) String() string     { return "" }
func (f secretFlag) Set(v string) error { *f.p = v; return nil }

// output is the --json output.
type output struct {
	GenerateResult
	Writers      int     `json:"writers"`
	Batch        int     `json:"batch"`
	ExplicitTx   bool    `json:"explicit_tx"`
	EventsPerSec float64 `json:"events_per_sec"`
	TookMS       int64   `json:"took_ms"`
	// SealRestMS is how long sealing what the concurrent sealer had not
	// reached yet took after the writers stopped.
	SealRestMS int64 `json:"seal_rest_ms"`
	Sealed     int64 `json:"sealed_after"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("auditload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	databaseURL := os.Getenv("DATABASE_URL")
	fs.Var(secretFlag{&databaseURL}, "database-url", "PostgreSQL URL (env DATABASE_URL)")
	logLevel := strings.TrimSpace(os.Getenv("RDSGATE_LOG_LEVEL"))
	if logLevel == "" {
		logLevel = "info"
	}
	fs.StringVar(&logLevel, "log-level", logLevel, "debug, info, warn or error (env RDSGATE_LOG_LEVEL)")
	var o GenerateOptions
	fs.Int64Var(&o.Count, "count", 0, "events to append")
	fs.DurationVar(&o.Duration, "duration", 0, "append for this long (with or instead of --count)")
	fs.IntVar(&o.Writers, "writers", 16, "concurrent writers, each with its own connection")
	fs.IntVar(&o.Batch, "batch", 50, "events per transaction")
	fs.BoolVar(&o.ExplicitTx, "explicit-tx", false, "wrap each append in BEGIN … COMMIT instead of one implicit-transaction statement")
	fs.DurationVar(&o.Span, "span", 90*24*time.Hour, "with --count: spread occurred_at over this much past time")
	fs.Uint64Var(&o.Seed, "seed", 1, "content seed")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil
		}
		return exitError(2)
	}
	if databaseURL == "" {
		return errors.New("DATABASE_URL is not set (flag --database-url)")
	}
	if o.Count <= 0 && o.Duration <= 0 {
		return errors.New("--count or --duration is required")
	}
	log := newLogger(stderr, logLevel)
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	// One connection per writer, one for the sealer, one spare.
	cfg.MaxConns = max(cfg.MaxConns, int32(o.Writers)+2)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool, newLogger(io.Discard, "error")); err != nil {
		return err
	}

	// The service's sealer runs beside the writers, as in rdsgate serve.
	sealer := audit.NewSealer(pool, log, 100*time.Millisecond)
	sctx, stopSealer := context.WithCancel(ctx)
	sealerDone := make(chan struct{})
	go func() {
		defer close(sealerDone)
		_ = sealer.Run(sctx)
	}()
	res, genErr := Generate(ctx, pool, o)
	stopSealer()
	<-sealerDone
	if genErr != nil {
		return genErr
	}
	start := time.Now()
	sealed, err := sealer.Flush(ctx)
	if err != nil {
		return err
	}
	out := output{GenerateResult: res, Writers: o.Writers, Batch: o.Batch, ExplicitTx: o.ExplicitTx,
		TookMS: res.Took.Milliseconds(), SealRestMS: time.Since(start).Milliseconds(), Sealed: int64(sealed)}
	if s := res.Took.Seconds(); s > 0 {
		out.EventsPerSec = float64(res.Events) / s
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	fmt.Fprintf(stdout, "appended %d events in %d transactions in %s (%.0f events/s, %d writers, %d per transaction); sealed the last %d in %s\n",
		res.Events, res.Transactions, res.Took.Round(time.Millisecond), out.EventsPerSec, o.Writers, o.Batch,
		sealed, time.Duration(out.SealRestMS)*time.Millisecond)
	return nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/migrations"
)

// Open connects a pool to url and checks that the database answers.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) { return OpenMax(ctx, url, 0) }

// OpenMax is Open with the pool bounded to maxConns connections; 0 leaves
// the bound to url's pool_max_conns or pgx's default.
func OpenMax(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
		cfg.MinConns = min(cfg.MinConns, maxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %s@%s/%s: %w", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	return pool, nil
}

// migrateLockKey is the advisory lock that serialises migrations
// ("migrate" in ASCII): replicas starting at once migrate one at a time,
// and the later ones find nothing left to do.
const migrateLockKey = 0x6d696772617465

// Migrate applies rdsgate's migrations (goose, from the embedded
// migrations/ directory) and then the job queue's own (River's migrator),
// under a session advisory lock, so that replicas starting at once on an
// empty database do not race. Both are idempotent.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLockKey)); err != nil {
		return fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	defer func() {
		// On a connection that broke, the lock went with the session.
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrateLockKey))
	}()
	return migrate(ctx, pool, log)
}

func migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range res {
		log.InfoContext(ctx, "migration applied", slog.String("source", r.Source.Path), slog.Duration("took", r.Duration))
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("migrate job queue: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate job queue: %w", err)
	}
	return nil
}

// DB is rdsgate's database as the use cases see it: it implements
// lifecycle.Store. It is safe for concurrent use.
type DB struct {
	pool     *pgxpool.Pool
	queue    *river.Client[pgx.Tx]
	onCommit func()
}

// New returns the DB over pool. onCommit, when not nil, is called after
// every commit that wrote audit events (the audit sealer's Kick).
func New(pool *pgxpool.Pool, onCommit func()) (*DB, error) {
	// An insert-only client: it enqueues jobs in the caller's transaction
	// and notifies the workers, which run in package executor. Its
	// FetchCooldown also spaces its insert notifications, so it is short:
	// a job approved right after another is then announced at once.
	queue, err := river.NewClient(riverpgxv5.New(pool), &river.Config{FetchCooldown: notifyCooldown})
	if err != nil {
		return nil, fmt.Errorf("job queue client: %w", err)
	}
	if onCommit == nil {
		onCommit = func() {}
	}
	return &DB{pool: pool, queue: queue, onCommit: onCommit}, nil
}

// InTx runs fn in one transaction, committed when fn returns nil and rolled
// back otherwise, then calls onCommit. It implements lifecycle.Store.
func (db *DB) InTx(ctx context.Context, fn func(lifecycle.Tx) error) error {
	return db.commit(ctx, func(ptx pgx.Tx) error { return fn(&tx{Tx: ptx, db: db}) })
}

// Append records events that change no request (a policy reload) in a
// transaction of their own.
func (db *DB) Append(ctx context.Context, recs ...audit.Record) error {
	return db.commit(ctx, func(tx pgx.Tx) error { return audit.Append(ctx, tx, recs...) })
}

// commit runs fn in a transaction and, once it committed, tells the sealer:
// the one place that commits audit events.
func (db *DB) commit(ctx context.Context, fn func(pgx.Tx) error) error {
	if err := pgx.BeginFunc(ctx, db.pool, fn); err != nil {
		return err
	}
	db.onCommit()
	return nil
}

// domainErr maps driver errors to the domain's sentinels.
func domainErr(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, request.ErrNotFound)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%s: already exists: %w", what, request.ErrConflict)
	}
	return fmt.Errorf("%s: %w", what, err)
}

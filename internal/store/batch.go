package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Execer runs a statement: a pgx.Tx, or a *Batch that queues it.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Batch queues statements and sends them in one round trip, where
// PostgreSQL runs them as one implicit transaction: all commit or none do.
// It satisfies Execer (and audit.Execer), so the same insert functions serve
// a transaction and a batch. Use it for writes that need no reads between
// them, such as filing a request with its audit events.
type Batch struct{ b pgx.Batch }

// Exec queues the statement; its error, if any, comes from Send.
func (b *Batch) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	b.b.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}

// Send runs the queued statements atomically and returns the first error.
func (b *Batch) Send(ctx context.Context, pool *pgxpool.Pool) error {
	if err := pool.SendBatch(ctx, &b.b).Close(); err != nil {
		return domainErr(err, "batch")
	}
	return nil
}

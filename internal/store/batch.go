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

// Batch queues statements to send in one round trip. It satisfies Execer
// (and audit.Execer), so the same insert functions serve a transaction and
// a batch.
type Batch struct{ b pgx.Batch }

// Exec queues the statement; its error, if any, comes when the batch is sent.
func (b *Batch) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	b.b.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}

// requesterLockSeed keeps the per-requester advisory locks apart from other
// advisory locks (hashtextextended's seed).
const requesterLockSeed = 0x7265717565737465 // "requeste"

// FileForRequester runs one transaction on one connection in two round
// trips: first it takes a transaction-scoped lock on requester and counts
// their pending requests; then it sends the writes fn queues on w, and
// commits. The lock makes concurrent filings of one requester take turns, so
// a limit on pending requests decided from the count holds; filings of
// different requesters do not wait for each other.
func FileForRequester(ctx context.Context, pool *pgxpool.Pool, requester string, fn func(pending int, w Execer) error) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return domainErr(err, "file request")
	}
	defer conn.Release()
	rollback := func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK") }

	var first pgx.Batch
	first.Queue("BEGIN")
	first.Queue("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))", requester, int64(requesterLockSeed))
	first.Queue("SELECT count(*) FROM requests WHERE requester = $1 AND status = 'pending'", requester)
	br := conn.SendBatch(ctx, &first)
	var pending int
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		err = br.QueryRow().Scan(&pending)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		rollback()
		return domainErr(err, "count pending requests")
	}
	var w Batch
	if err := fn(pending, &w); err != nil {
		rollback()
		return err
	}
	w.b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, &w.b).Close(); err != nil {
		rollback()
		return domainErr(err, "file request")
	}
	return nil
}

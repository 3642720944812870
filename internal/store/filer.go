package store

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// FileFunc decides one filing from its requester's count of pending
// requests and queues the filing's writes on w. It runs under the
// requester's lock. It may be called more than once for one filing (a
// shared transaction that fails is retried one filing at a time); only the
// writes of the call that commits are kept, so it must not have effects
// outside w that a second call would repeat.
type FileFunc func(pending int, w Execer) error

// FilerOptions tune a Filer; zero values take the defaults.
type FilerOptions struct {
	// MaxBatch bounds how many filings share one transaction (default 64).
	MaxBatch int
	// MaxConcurrent bounds the transactions filing at once, each on its own
	// connection (default 2).
	MaxConcurrent int
	// OverlapAt is how many filings must wait before a transaction starts
	// beside one already running (default 8). Fewer wait for the running
	// one, which takes them next: a transaction costs nearly as much for one
	// filing as for eight, and two started eagerly split the waiting filings
	// into small batches (docs/BENCHMARKS.md, 13:25Z). The count is of
	// waiting filings, including a requester's second, which the next batch
	// cannot take. A transaction retrying its filings one by one, which may
	// take long, holds no one back.
	OverlapAt int
	// Timeout bounds one transaction, and each retry of its filings alone
	// (default 30 s). It does not follow a caller's context: the
	// transaction serves other callers too.
	Timeout time.Duration
}

// Filer files new requests with group commit. Filings that arrive while
// earlier ones are being written wait and then go together: one transaction
// takes every requester's lock and counts their pending requests in one
// round trip, runs each filing's FileFunc, and sends all writes and the
// COMMIT in a second. Each filing is still all-or-nothing with its audit
// events, and the caller returns only after its commit; what is shared is
// the round trips, the transaction and the WAL flush, which dominate the
// cost of a small transaction (docs/BENCHMARKS.md).
//
// Two filings of one requester never share a transaction: the later one
// waits for the next, so it counts the earlier one as pending, exactly as if
// they had been filed one after the other. A shared transaction that fails
// and surely wrote nothing is retried one filing at a time, so a failure
// stays with the filing that caused it; one that failed with its COMMIT on
// the way is not retried, and its filings get ErrOutcomeUnknown. A panic in
// a FileFunc fails that filing only.
//
// Each new number of rows in a multi-row INSERT is a new statement for
// pgx's per-connection cache: the first of each costs one more round trip.
//
// There is no background goroutine to start or stop: a caller that finds no
// transaction running, or OverlapAt filings waiting and a slot free, starts
// a goroutine that writes batches until none is waiting, or until fewer than
// OverlapAt wait and another transaction is running.
type Filer struct {
	pool *pgxpool.Pool
	opt  FilerOptions

	mu      sync.Mutex
	queue   []*filing
	running int // goroutines writing batches
	alone   int // of those, the ones retrying a failed batch's filings one by one

	// queued, when set (tests), is told the queue's length after each File
	// call adds to it; left, that a goroutine left waiting filings to
	// another transaction.
	queued func(n int)
	left   func()
}

type filing struct {
	ctx       context.Context
	requester string
	fn        FileFunc
	done      chan error
}

// NewFiler returns a Filer that files on pool.
func NewFiler(pool *pgxpool.Pool, o FilerOptions) *Filer {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 64
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 2
	}
	if o.OverlapAt <= 0 {
		o.OverlapAt = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	return &Filer{pool: pool, opt: o}
}

// requesterLockSeed keeps the per-requester advisory locks apart from other
// advisory locks (hashtextextended's seed).
const requesterLockSeed = 0x7265717565737465 // "requeste"

// File files one request for requester: fn decides it from the requester's
// pending count and queues its writes, which commit in one transaction,
// maybe shared with other requesters' filings. It returns fn's error, or the
// transaction's, once the writes are committed or have failed. A caller
// whose ctx ends while its filing waits gets ctx.Err() at once and nothing
// is written; one whose filing is already in a transaction gets that
// transaction's outcome.
func (f *Filer) File(ctx context.Context, requester string, fn FileFunc) error {
	fl := &filing{ctx: ctx, requester: requester, fn: fn, done: make(chan error, 1)}
	f.mu.Lock()
	f.queue = append(f.queue, fl)
	n := len(f.queue)
	start := f.startLocked()
	if start {
		f.running++
	}
	f.mu.Unlock()
	if f.queued != nil {
		f.queued(n)
	}
	if start {
		go f.drain()
	}
	select {
	case err := <-fl.done:
		return err
	case <-ctx.Done():
		f.mu.Lock()
		if i := slices.Index(f.queue, fl); i >= 0 {
			f.queue = slices.Delete(f.queue, i, i+1)
			f.mu.Unlock()
			return ctx.Err()
		}
		f.mu.Unlock()
		return <-fl.done // already in a transaction: its outcome
	}
}

// drain writes batches until take returns none, then gives its slot back.
func (f *Filer) drain() {
	for {
		batch := f.take()
		if batch == nil {
			return
		}
		f.fileBatch(batch)
	}
}

// take removes the next batch from the queue: the oldest filings, one per
// requester, at most MaxBatch. It returns nil, and frees the caller's slot,
// when nothing waits, or when fewer than OverlapAt wait and another
// transaction is running, which takes them when it is done.
func (f *Filer) take() []*filing {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running-f.alone > 1 && len(f.queue) < f.opt.OverlapAt {
		f.running--
		if f.left != nil {
			f.left()
		}
		return nil
	}
	var (
		batch []*filing
		rest  = f.queue[:0]
		seen  = make(map[string]bool)
	)
	for _, fl := range f.queue {
		switch {
		case fl.ctx.Err() != nil:
			fl.done <- fl.ctx.Err()
		case len(batch) < f.opt.MaxBatch && !seen[fl.requester]:
			seen[fl.requester] = true
			batch = append(batch, fl)
		default:
			rest = append(rest, fl)
		}
	}
	clear(f.queue[len(rest):])
	f.queue = rest
	if len(batch) == 0 {
		f.running--
	}
	return batch
}

// ErrOutcomeUnknown is wrapped in the error of a filing whose transaction
// failed while its COMMIT was on the way: it may have committed. The
// filing is not retried, so it cannot be filed twice.
var ErrOutcomeUnknown = errors.New("the filing may or may not have been committed")

// fileBatch files batch in one transaction and answers every filing. If the
// transaction failed and surely wrote nothing, it files each alone (each
// with a timeout of its own), so that the failure stays with its cause;
// a filing whose FileFunc failed keeps that error, and one whose caller
// has given up gets its context's error, without a second attempt.
func (f *Filer) fileBatch(batch []*filing) {
	errs, err, safe := f.attempt(batch)
	if err != nil && safe && len(batch) > 1 {
		f.fileAlone(+1)
		defer f.fileAlone(-1)
		for i, fl := range batch {
			switch {
			case errs[i] != nil:
				fl.done <- errs[i]
			case fl.ctx.Err() != nil:
				fl.done <- fl.ctx.Err()
			default:
				f.fileBatch([]*filing{fl})
			}
		}
		return
	}
	if err != nil && !safe {
		err = fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	for i, fl := range batch {
		fl.done <- firstErr(err, errs[i])
	}
}

// startLocked reports whether a new goroutine should take the waiting
// filings: some wait, a slot is free, and either every running transaction
// is retrying alone (none will take them) or OverlapAt wait. f.mu is held.
func (f *Filer) startLocked() bool {
	return len(f.queue) > 0 && f.running < f.opt.MaxConcurrent &&
		(f.running == f.alone || len(f.queue) >= f.opt.OverlapAt)
}

// fileAlone counts the calling goroutine in (+1) or out (-1) of those
// retrying a batch's filings one by one. Going in, it starts a goroutine
// for the filings waiting when startLocked says so.
func (f *Filer) fileAlone(delta int) {
	f.mu.Lock()
	f.alone += delta
	start := delta > 0 && f.startLocked()
	if start {
		f.running++
	}
	f.mu.Unlock()
	if start {
		go f.drain()
	}
}

// attempt runs fileTogether under the Filer's timeout.
func (f *Filer) attempt(batch []*filing) (errs []error, err error, safe bool) {
	ctx, cancel := context.WithTimeout(context.Background(), f.opt.Timeout)
	defer cancel()
	return f.fileTogether(ctx, batch)
}

// call runs fl's FileFunc; a panic becomes that filing's error (the
// FileFunc runs on the Filer's goroutine, where no HTTP middleware would
// recover it).
func call(fl *filing, pending int, w Execer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("file request for %s: panic: %v\n%s", fl.requester, r, debug.Stack())
		}
	}()
	return fl.fn(pending, w)
}

// fileTogether runs batch (distinct requesters) as one transaction in two
// round trips. errs holds each FileFunc's error (those filings write
// nothing); err is the transaction's. safe reports that a failed
// transaction surely wrote nothing: it failed before the writes were sent
// (pgx could not encode them, for one), or the server refused them (and so
// rolled back), or pgx knows that nothing reached the server.
func (f *Filer) fileTogether(ctx context.Context, batch []*filing) (errs []error, err error, safe bool) {
	errs = make([]error, len(batch))
	conn, err := f.pool.Acquire(ctx)
	if err != nil {
		return errs, domainErr(err, "file request"), true
	}
	defer conn.Release()
	rollback := func() {
		// Bounded even when ctx has expired; a connection left in a
		// transaction is closed by the pool on release anyway.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(rctx, "ROLLBACK")
	}

	// Locks in one order everywhere, so two batches cannot deadlock.
	requesters := make([]string, len(batch))
	for i, fl := range batch {
		requesters[i] = fl.requester
	}
	slices.Sort(requesters)
	// A statement per requester and step: one count for all of them, with
	// ANY($1) or a correlated subquery, gets a generic plan that costs
	// PostgreSQL more (measured). Each count comes after every lock and, in
	// READ COMMITTED whatever the database's default, takes its snapshot
	// then, so it sees the filings committed before it.
	var first pgx.Batch
	first.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	for _, r := range requesters {
		first.Queue("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))", r, int64(requesterLockSeed))
	}
	for _, r := range requesters {
		first.Queue("SELECT count(*) FROM requests WHERE requester = $1 AND status = 'pending'", r)
	}
	pending := make(map[string]int, len(batch))
	br := conn.SendBatch(ctx, &first)
	for range 1 + len(requesters) {
		if _, err = br.Exec(); err != nil {
			break
		}
	}
	for i := 0; err == nil && i < len(requesters); i++ {
		var n int
		err = br.QueryRow().Scan(&n)
		pending[requesters[i]] = n
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		rollback()
		return errs, domainErr(err, "count pending requests"), true
	}

	var w Batch
	for i, fl := range batch {
		var own Batch
		if errs[i] = call(fl, pending[fl.requester], &own); errs[i] == nil {
			w.add(&own)
		}
	}
	send := w.batch()
	send.Queue("COMMIT")
	if err := conn.SendBatch(ctx, send).Close(); err != nil {
		rollback()
		var (
			pgErr  *pgconn.PgError
			encode pgx.ErrPreprocessingBatch
		)
		return errs, domainErr(err, "file request"), errors.As(err, &pgErr) || errors.As(err, &encode) || pgconn.SafeToRetry(err)
	}
	return errs, nil, true
}

// firstErr is the transaction's error if there is one, else the filing's.
func firstErr(tx, own error) error {
	if tx != nil {
		return tx
	}
	return own
}

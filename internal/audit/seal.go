package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// sealLockKey is the advisory lock that makes one sealer at a time, across
// every replica sharing the database, extend the chain.
const sealLockKey int64 = 0x7264736761746531 // "rdsgate1"

// DefaultSealBatch is how many events one sealing transaction chains.
const DefaultSealBatch = 2000

// DefaultSealSpacing is the least time between the starts of two rounds of
// Run. Under load every commit kicks the sealer; rounds back to back would
// each find a few events, a transaction and a WAL flush for every few.
// Spaced apart, one round seals hundreds. A kick after a quiet spell is
// still served at once.
const DefaultSealSpacing = 50 * time.Millisecond

// Sealer chains committed events. Run one per process; replicas coordinate
// through the advisory lock.
type Sealer struct {
	pool     *pgxpool.Pool
	log      *slog.Logger
	batch    int
	interval time.Duration
	spacing  time.Duration
	kick     chan struct{}

	// rounds, when set (tests), is told how many events each round of Run
	// sealed.
	rounds func(n int)
}

// NewSealer returns a Sealer that polls every interval (for events committed
// by other replicas) and whenever Kick is called. log may be nil.
func NewSealer(pool *pgxpool.Pool, log *slog.Logger, interval time.Duration) *Sealer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if interval <= 0 {
		interval = 50 * time.Millisecond
	}
	return &Sealer{pool: pool, log: log, batch: DefaultSealBatch, interval: interval, spacing: DefaultSealSpacing,
		kick: make(chan struct{}, 1)}
}

// Kick asks the sealer to run soon; it never blocks.
func (s *Sealer) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run seals until ctx is done: a round at once, then one after each Kick or
// interval, each starting at least the spacing (DefaultSealSpacing) after
// the one before. Kicks that come during a round or the wait after it are
// served together by the next round.
func (s *Sealer) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		started := time.Now()
		// This round sees every event committed before a kick it takes
		// here: kicks come after their commits.
		select {
		case <-s.kick:
		default:
		}
		n, err := s.SealAll(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "seal audit events", slog.Any("err", err))
		}
		if s.rounds != nil {
			s.rounds(n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.kick:
		}
		if wait := s.spacing - time.Since(started); wait > 0 {
			gap := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				gap.Stop()
				return nil
			case <-gap.C:
			}
		}
	}
}

// SealAll seals batches until no unsealed event is left, or another sealer
// holds the lock. It returns how many events it sealed.
func (s *Sealer) SealAll(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := Seal(ctx, s.pool, s.batch)
		total += n
		if err != nil || n < s.batch {
			return total, err
		}
	}
}

// Flush seals until no event committed before the call is left unsealed,
// waiting for the lock when another sealer holds it. Commands that must see
// everything chained (verify, export, checkpoint) call it first.
func (s *Sealer) Flush(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := seal(ctx, s.pool, s.batch, true)
		total += n
		if err != nil || n < s.batch {
			return total, err
		}
	}
}

// Seal chains up to limit unsealed events in one transaction, in id order,
// after the current head. It returns 0 when another sealer holds the lock.
func Seal(ctx context.Context, pool *pgxpool.Pool, limit int) (int, error) {
	return seal(ctx, pool, limit, false)
}

func seal(ctx context.Context, pool *pgxpool.Pool, limit int, wait bool) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if wait {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, sealLockKey); err != nil {
				return err
			}
		} else {
			var locked bool
			if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, sealLockKey).Scan(&locked); err != nil {
				return err
			}
			if !locked {
				return nil
			}
		}
		var headSeq int64
		var headHash []byte
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1`).
			Scan(&headSeq, &headHash)
		if errors.Is(err, pgx.ErrNoRows) {
			headSeq, headHash = 0, genesis
		} else if err != nil {
			return fmt.Errorf("read chain head: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT `+selectColumns+` FROM audit_events WHERE seq IS NULL ORDER BY id LIMIT $1`, limit)
		if err != nil {
			return err
		}
		var (
			ids, seqs    []int64
			prevs, hashs [][]byte
			e            Event
			sc           eventScanner
			h            = NewHasher()
		)
		prev := headHash
		for rows.Next() {
			if err := sc.scan(rows, &e); err != nil {
				rows.Close()
				return err
			}
			headSeq++
			e.Seq = headSeq
			sum := h.Sum(prev, &e)
			ids, seqs, prevs, hashs = append(ids, e.ID), append(seqs, e.Seq), append(prevs, prev), append(hashs, sum)
			prev = sum
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `
UPDATE audit_events a SET seq = u.seq, prev_hash = u.prev, hash = u.hash
FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[]) AS u(id, seq, prev, hash)
WHERE a.id = u.id`, ids, seqs, prevs, hashs); err != nil {
			return fmt.Errorf("seal: %w", err)
		}
		n = len(ids)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("seal audit events: %w", err)
	}
	return n, nil
}

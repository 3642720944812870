package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Integrity is the state the integrity page and GET /api/v1/audit/integrity
// show: the last full verification and the newest checkpoint.
type Integrity struct {
	// OK is true when the verification found no problem; Complete when, in
	// addition, every checkpoint signature was checked with a trusted key.
	OK       bool `json:"ok"`
	Complete bool `json:"complete"`
	// VerifiedAt is when the verification started; TookMS its duration.
	VerifiedAt time.Time `json:"verified_at"`
	TookMS     int64     `json:"took_ms"`
	Report     Report    `json:"report"`
	// LastCheckpoint is read fresh on every call; nil before the first.
	LastCheckpoint *Checkpoint `json:"last_checkpoint,omitempty"`
}

// DefaultIntegrityMaxAge is how long Monitor reuses a verification.
const DefaultIntegrityMaxAge = 30 * time.Second

// Monitor verifies the trail on demand and caches the result for maxAge, so
// a page that shows it stays cheap however often it is loaded. Concurrent
// callers of a stale Monitor share one verification.
type Monitor struct {
	db     Querier
	opts   VerifyOptions
	maxAge time.Duration

	mu      sync.Mutex
	last    *Integrity
	running chan struct{} // closed when the running verification ends
	lastErr error
}

// NewMonitor returns a Monitor verifying db with o; maxAge <= 0 means
// DefaultIntegrityMaxAge.
func NewMonitor(db Querier, o VerifyOptions, maxAge time.Duration) *Monitor {
	if maxAge <= 0 {
		maxAge = DefaultIntegrityMaxAge
	}
	return &Monitor{db: db, opts: o, maxAge: maxAge}
}

// Status returns the cached verification when younger than maxAge, else a
// fresh one, with the newest checkpoint.
func (m *Monitor) Status(ctx context.Context) (Integrity, error) {
	for {
		m.mu.Lock()
		if m.last != nil && time.Since(m.last.VerifiedAt) < m.maxAge {
			st := *m.last
			m.mu.Unlock()
			return m.withCheckpoint(ctx, st)
		}
		if wait := m.running; wait != nil {
			m.mu.Unlock()
			select {
			case <-wait:
			case <-ctx.Done():
				return Integrity{}, ctx.Err()
			}
			m.mu.Lock()
			err := m.lastErr
			m.mu.Unlock()
			if err != nil {
				return Integrity{}, err
			}
			continue
		}
		done := make(chan struct{})
		m.running = done
		m.mu.Unlock()

		// Detached from the caller: a client that goes away must not
		// waste the run the others wait for.
		st, err := m.verify(context.WithoutCancel(ctx))
		m.mu.Lock()
		m.running, m.lastErr = nil, err
		if err == nil {
			m.last = &st
		}
		m.mu.Unlock()
		close(done)
		if err != nil {
			return Integrity{}, err
		}
		return m.withCheckpoint(ctx, st)
	}
}

func (m *Monitor) verify(ctx context.Context) (Integrity, error) {
	start := time.Now()
	rep, err := VerifyWith(ctx, m.db, m.opts)
	if err != nil {
		return Integrity{}, fmt.Errorf("audit integrity: %w", err)
	}
	return Integrity{OK: rep.OK(), Complete: rep.Complete(), VerifiedAt: start.UTC(),
		TookMS: time.Since(start).Milliseconds(), Report: rep}, nil
}

func (m *Monitor) withCheckpoint(ctx context.Context, st Integrity) (Integrity, error) {
	cp, err := LastCheckpoint(ctx, m.db)
	switch {
	case errors.Is(err, ErrNoCheckpoint):
	case err != nil:
		return Integrity{}, fmt.Errorf("audit integrity: %w", err)
	default:
		st.LastCheckpoint = cp
	}
	return st, nil
}

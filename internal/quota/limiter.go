package quota

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/request"
)

// Limit is the quota of one API operation for one Alibaba Cloud account.
type Limit struct {
	// PerSecond is how many calls may start in any one-second window.
	PerSecond float64
}

// DefaultLimits are the quotas of the operations rdsgate calls. ReleaseInstanceConnection's is documented as 10/1(s); no
// quota is documented for DescribeDBInstanceNetInfo, so it gets the same
// conservative 10/s (the simulator enforces 10/s per action too).
func DefaultLimits() map[string]Limit {
	return map[string]Limit{request.OpRelease: {PerSecond: 10}, request.OpDescribe: {PerSecond: 10}}
}

// DefaultRateMargin widens the spacing between call slots by 4%: 40 ms of
// slack in any run of eleven slots, half of it the Tolerance, the other
// half for what happens after the send gate (the way to the endpoint, a
// starved receiver); see docs/ARCHITECTURE.md ("Rate limit").
const DefaultRateMargin = 0.04

// DefaultLimiterHorizon is how far ahead of now a slot may be reserved.
const DefaultLimiterHorizon = 5 * time.Second

// Limiter is the rate limiter shared by every replica through PostgreSQL:
// one rate_limits row per (account, operation) holds next_at, the start of
// the next free slot on the database's clock. Reserve advances it by one
// slot spacing (1s/PerSecond, widened by the margin) in a single UPDATE, so
// slots handed out by all replicas together are at least one spacing apart.
// It is safe for concurrent use.
type Limiter struct {
	pool    *pgxpool.Pool
	account string
	spacing map[string]time.Duration
	margin  float64
	horizon time.Duration
	// obs, when set (SetObserver), is told of waits and deferrals.
	obs Observer
}

// NewLimiter returns a Limiter for account. margin widens every spacing
// (0.04 = 4%); horizon bounds how far ahead a slot may be reserved.
func NewLimiter(pool *pgxpool.Pool, account string, limits map[string]Limit, margin float64, horizon time.Duration) (*Limiter, error) {
	if margin < 0 || margin > 1 {
		return nil, fmt.Errorf("rate limiter: margin %v: want 0..1", margin)
	}
	if horizon <= 0 {
		return nil, fmt.Errorf("rate limiter: horizon %s: want > 0", horizon)
	}
	l := &Limiter{pool: pool, account: account, spacing: map[string]time.Duration{}, margin: margin, horizon: horizon}
	for op, lim := range limits {
		if lim.PerSecond <= 0 {
			return nil, fmt.Errorf("rate limiter: %s: rate %v per second: want > 0", op, lim.PerSecond)
		}
		l.spacing[op] = time.Duration(float64(time.Second) / lim.PerSecond * (1 + margin))
	}
	return l, nil
}

// On returns a Limiter that shares l's slots (the same rows, spacings and
// observer) through another pool: callers outside the executor take their
// slots without holding the executor's connections.
func (l *Limiter) On(pool *pgxpool.Pool) *Limiter {
	c := *l
	c.pool = pool
	return &c
}

// For returns a Limiter that shares l's spacings, pool and observer but
// takes the slots of another account: each Alibaba Cloud account has its
// own quota, so accounts drain in parallel. "" keeps l's account.
func (l *Limiter) For(account string) *Limiter {
	if account == "" || account == l.account {
		return l
	}
	c := *l
	c.account = account
	return &c
}

// Account is the account whose slots l takes.
func (l *Limiter) Account() string { return l.account }

// Spacing returns the minimum time between two slots of op.
func (l *Limiter) Spacing(op string) time.Duration { return l.spacing[op] }

// Tolerance is how late after its slot a call may still start: half the
// slack the margin adds to a one-second window. Ten gaps of 1s/rate·(1+m)
// span 1 s + m·1 s, so the slack is m·1 s whatever the rate (40 ms at 4%),
// and the tolerance 20 ms. A caller running later than that must take a new
// slot, or it would crowd the calls of the following slots into one window.
// It is at least a millisecond, for a margin of zero.
func (l *Limiter) Tolerance() time.Duration {
	return max(time.Millisecond, time.Duration(l.margin*float64(time.Second)/2))
}

// maxRetakes bounds how often Await gives up a slot it reached late: a
// process starved that often calls anyway (a throttled call is retried).
const maxRetakes = 5

// Reservation is a slot. When OK, the call may start at At (this
// process's clock), Wait after Reserve returned; Start is the same moment
// on the database's clock, the one clock all replicas share (slots of one
// account and operation are at least one spacing apart in Start). When OK
// is false no slot was taken, because the next free one is beyond the
// horizon; Wait then says how long until one may be.
type Reservation struct {
	OK    bool
	At    time.Time
	Start time.Time
	Wait  time.Duration
	// asked is when Reserve was called: the wait Await reports starts here.
	asked time.Time
}

// ErrUnknownOperation is returned for an operation without a Limit.
var ErrUnknownOperation = errors.New("no rate limit configured for operation")

// reserveSQL takes the next slot when it is within the horizon and returns
// the slot's start on the database's clock (one clock for all replicas)
// and how long after the statement's last moment it begins.
const reserveSQL = `
UPDATE rate_limits
SET next_at = greatest(next_at, clock_timestamp()) + $3 * interval '1 microsecond'
WHERE account_id = $1 AND operation = $2
  AND next_at <= clock_timestamp() + $4 * interval '1 microsecond'
RETURNING next_at - $3 * interval '1 microsecond',
  (extract(epoch FROM (next_at - $3 * interval '1 microsecond' - clock_timestamp())) * 1000000)::bigint`

// take runs a slot statement (reserveSQL, slideSQL) and maps the slot onto
// this process's clock. The mapping must never make a slot early, or two
// replicas' calls could leave closer than a spacing: the statement's end,
// where the slot's distance is measured, lies before the answer arrives, so
// the slot is placed that distance after the answer. It is then late by
// the answer's way back; the commit is asynchronous (the statement's own
// transaction, sent in one round trip) so that a WAL flush does not add to
// it. A crash of the database can forget the slots of its last few
// hundred milliseconds, and hand them out again: calls that are throttled,
// and retried.
func (l *Limiter) take(ctx context.Context, conn *pgxpool.Conn, sql string, args ...any) (Reservation, error) {
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(`SET LOCAL synchronous_commit = off`)
	var start time.Time
	var untilUS int64
	var at time.Time
	b.Queue(sql, args...).QueryRow(func(row pgx.Row) error {
		if err := row.Scan(&start, &untilUS); err != nil {
			return err
		}
		at = time.Now().Add(time.Duration(untilUS) * time.Microsecond)
		return nil
	})
	b.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return Reservation{}, err
	}
	return Reservation{OK: true, At: at, Start: start.UTC(), Wait: max(0, time.Until(at))}, nil
}

// Reserve takes the next slot of op if it starts within the horizon.
func (l *Limiter) Reserve(ctx context.Context, op string) (Reservation, error) {
	spacing, ok := l.spacing[op]
	if !ok {
		return Reservation{}, fmt.Errorf("reserve %s: %w", op, ErrUnknownOperation)
	}
	asked := time.Now()
	// One connection for the reservation and, when it is refused, the look
	// at the row.
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return Reservation{}, fmt.Errorf("reserve %s slot: %w", op, err)
	}
	defer conn.Release()
	for range 2 {
		r, err := l.take(ctx, conn, reserveSQL, l.account, op, spacing.Microseconds(), l.horizon.Microseconds())
		if err == nil {
			r.asked = asked
			return r, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return Reservation{}, fmt.Errorf("reserve %s slot: %w", op, err)
		}
		// No row, or the next slot is beyond the horizon.
		var beyondUS *int64
		err = conn.QueryRow(ctx, `SELECT (extract(epoch FROM (next_at - clock_timestamp())) * 1000000)::bigint
FROM rate_limits WHERE account_id = $1 AND operation = $2`, l.account, op).Scan(&beyondUS)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if _, err := conn.Exec(ctx, `INSERT INTO rate_limits (account_id, operation, next_at)
VALUES ($1, $2, clock_timestamp() - interval '1 second') ON CONFLICT DO NOTHING`, l.account, op); err != nil {
				return Reservation{}, fmt.Errorf("create %s rate limit: %w", op, err)
			}
			continue
		case err != nil:
			return Reservation{}, fmt.Errorf("read %s rate limit: %w", op, err)
		}
		wait := time.Duration(*beyondUS)*time.Microsecond - l.horizon
		l.deferred(op)
		return Reservation{Wait: max(wait, spacing), asked: asked}, nil
	}
	return Reservation{}, fmt.Errorf("reserve %s slot: rate limit row vanished", op)
}

// Wait blocks until a slot of op starts: Await of a fresh reservation.
func (l *Limiter) Wait(ctx context.Context, op string) error {
	r, err := l.Reserve(ctx, op)
	if err != nil {
		return err
	}
	_, err = l.Await(ctx, op, r)
	return err
}

// Await blocks until r's slot starts and returns the slot the caller now
// holds; the observer hears once per reservation how long it waited.
//
// A slot reached more than Tolerance late (a slow transaction, a starved
// process) is moved to now when nobody reserved after it, and otherwise
// given up for a new one; a reservation refused for the horizon is made
// again after its wait. Called again with the slot it returned, at the
// instant the call leaves, it returns at once when the caller is on time.
func (l *Limiter) Await(ctx context.Context, op string, r Reservation) (Reservation, error) {
	asked := r.asked
	r, err := l.await(ctx, op, r)
	if err != nil {
		return r, err
	}
	if !asked.IsZero() {
		l.waited(op, time.Since(asked))
	}
	r.asked = time.Time{}
	return r, nil
}

func (l *Limiter) await(ctx context.Context, op string, r Reservation) (Reservation, error) {
	for retakes := 0; ; {
		if r.OK && (time.Since(r.At) <= l.Tolerance() || retakes >= maxRetakes) {
			if err := sleep(ctx, time.Until(r.At)); err != nil {
				return r, err
			}
			if time.Since(r.At) <= l.Tolerance() || retakes >= maxRetakes {
				return r, nil
			}
			retakes++
		} else if r.OK {
			retakes++
		} else {
			if err := sleep(ctx, r.Wait); err != nil {
				return r, err
			}
		}
		var err error
		if r.OK {
			r, err = l.retake(ctx, op, r)
		} else {
			r, err = l.Reserve(ctx, op)
		}
		if err != nil {
			return r, err
		}
	}
}

// slideSQL moves a slot its holder reached late to now, provided it is
// still the last one handed out (next_at is its end): the slot only moves
// later and none follows it, so slots stay at least one spacing apart.
const slideSQL = `
UPDATE rate_limits
SET next_at = clock_timestamp() + $3 * interval '1 microsecond'
WHERE account_id = $1 AND operation = $2
  AND next_at = $4::timestamptz + $3 * interval '1 microsecond'
RETURNING next_at - $3 * interval '1 microsecond',
  (extract(epoch FROM (next_at - $3 * interval '1 microsecond' - clock_timestamp())) * 1000000)::bigint`

// retake replaces a slot reached too late: by the same slot moved to now
// when nobody has reserved after it (the quota is free, so the call need
// not wait a whole spacing for the next slot), else by a new reservation.
// Without it a worker whose transaction outlasted the tolerance waited a
// whole spacing with the quota free: the tail of approve-to-call latency.
func (l *Limiter) retake(ctx context.Context, op string, r Reservation) (Reservation, error) {
	spacing := l.spacing[op]
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return Reservation{}, fmt.Errorf("move %s slot: %w", op, err)
	}
	moved, err := l.take(ctx, conn, slideSQL, l.account, op, spacing.Microseconds(), r.Start)
	conn.Release()
	switch {
	case err == nil:
		return moved, nil
	case errors.Is(err, pgx.ErrNoRows):
		return l.Reserve(ctx, op)
	default:
		return Reservation{}, fmt.Errorf("move %s slot: %w", op, err)
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

package fleet

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rdsgate/rdsgate/internal/quota"
)

// Limiter hands out call slots: Wait returns when a call of op on behalf of
// account may start.
type Limiter interface {
	Wait(ctx context.Context, account, op string) error
}

// QuotaLimiter is a Limiter over the rate limiter every replica shares
// through PostgreSQL: a scan's calls and the executor's draw from the same
// slots of each account's quota. The limiter must know both operations a
// scan makes (OpDescribeInstances and request.OpDescribe: Limits of the
// executor's configuration).
type QuotaLimiter struct {
	L *quota.Limiter
}

// Wait waits for a slot of op in account's quota.
func (q QuotaLimiter) Wait(ctx context.Context, account, op string) error {
	return q.L.For(account).Wait(ctx, op)
}

// LocalLimiter is a Limiter for one process: the slots of each account and
// operation are 1 s / PerSecond × (1 + margin) apart, as quota.Limiter
// spaces them, but counted in memory. For the CLI without a database; it
// knows nothing of other processes calling with the same accounts. It is
// safe for concurrent use.
type LocalLimiter struct {
	spacing map[string]time.Duration

	mu   sync.Mutex
	next map[[2]string]time.Time
}

// NewLocalLimiter returns a LocalLimiter with limits per operation and the
// spacing margin (quota.DefaultRateMargin is the server's).
func NewLocalLimiter(limits map[string]quota.Limit, margin float64) (*LocalLimiter, error) {
	if margin < 0 || margin > 1 {
		return nil, fmt.Errorf("local limiter: margin %v: want 0..1", margin)
	}
	l := &LocalLimiter{spacing: map[string]time.Duration{}, next: map[[2]string]time.Time{}}
	for op, lim := range limits {
		if lim.PerSecond <= 0 {
			return nil, fmt.Errorf("local limiter: %s: rate %v per second: want > 0", op, lim.PerSecond)
		}
		l.spacing[op] = time.Duration(float64(time.Second) / lim.PerSecond * (1 + margin))
	}
	return l, nil
}

// Wait takes the next slot of op for account and sleeps until it starts.
func (l *LocalLimiter) Wait(ctx context.Context, account, op string) error {
	spacing, ok := l.spacing[op]
	if !ok {
		return fmt.Errorf("wait for %s: %w", op, quota.ErrUnknownOperation)
	}
	k := [2]string{account, op}
	l.mu.Lock()
	now := time.Now()
	at := l.next[k]
	if at.Before(now) {
		at = now
	}
	l.next[k] = at.Add(spacing)
	l.mu.Unlock()
	d := time.Until(at)
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

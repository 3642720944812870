package quota_test

import (
	"context"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/quota"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// TestLimiterAwaitLateSlot: a slot reached more than Tolerance late is moved
// to now when no one has reserved after it (the quota is free: no need to
// wait a spacing for the next slot), and given up for the next free slot
// when someone has.
func TestLimiterAwaitLateSlot(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	limits := map[string]quota.Limit{request.OpRelease: {PerSecond: 2}} // spacing 520 ms at 4%
	l, err := quota.NewLimiter(pool, "acct", limits, quota.DefaultRateMargin, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	spacing := l.Spacing(request.OpRelease)
	nextAt := func() time.Time {
		var at time.Time
		if err := pool.QueryRow(ctx, `SELECT next_at FROM rate_limits WHERE account_id = 'acct' AND operation = $1`,
			request.OpRelease).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}

	// Alone: the late slot moves, Await returns at once.
	r, err := l.Reserve(ctx, request.OpRelease)
	if err != nil || !r.OK || r.Wait > l.Tolerance() {
		t.Fatalf("first reservation: %+v, %v", r, err)
	}
	time.Sleep(l.Tolerance() + 40*time.Millisecond)
	begin := time.Now()
	if _, err := l.Await(ctx, request.OpRelease, r); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took > spacing/2 {
		t.Errorf("Await of a late slot with the quota free took %s, want well under a spacing (%s)", took, spacing)
	}
	moved := nextAt().Add(-spacing)
	if gap := moved.Sub(r.Start); gap < l.Tolerance() || gap > spacing {
		t.Errorf("slot moved from %s by %s, want later by more than the tolerance and less than a spacing", r.Start, gap)
	}

	// Someone reserved after the late slot: it is given up for the next
	// free one, a spacing after the other's.
	time.Sleep(spacing)
	mine, err := l.Reserve(ctx, request.OpRelease)
	if err != nil || !mine.OK {
		t.Fatalf("reservation: %+v, %v", mine, err)
	}
	theirs, err := l.Reserve(ctx, request.OpRelease)
	if err != nil || !theirs.OK {
		t.Fatalf("reservation: %+v, %v", theirs, err)
	}
	time.Sleep(l.Tolerance() + 40*time.Millisecond)
	if _, err := l.Await(ctx, request.OpRelease, mine); err != nil {
		t.Fatal(err)
	}
	if got, want := nextAt(), theirs.Start.Add(2*spacing); !got.Equal(want) {
		t.Errorf("next_at %s after giving up a slot someone reserved after, want %s (the slot after theirs, taken)", got, want)
	}
	if late := time.Since(theirs.Start.Add(spacing)); late < -l.Tolerance() {
		t.Errorf("Await returned %s before the slot after theirs", -late)
	}
}

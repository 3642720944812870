package quota_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/quota"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// TestLimiterReservations: slots handed out by two limiters on one row are
// at least one spacing apart on the database's clock, none starts beyond the
// horizon, and other accounts and operations have rows of their own. The
// assertions hold however long the reservation loop takes.
func TestLimiterReservations(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	const horizon = 4500 * time.Millisecond
	limits := map[string]quota.Limit{request.OpRelease: {PerSecond: 1}, request.OpDescribe: {PerSecond: 1}}
	a, err := quota.NewLimiter(pool, "acct", limits, 0, horizon)
	if err != nil {
		t.Fatal(err)
	}
	b, err := quota.NewLimiter(pool, "acct", limits, 0, horizon)
	if err != nil {
		t.Fatal(err)
	}
	spacing := a.Spacing(request.OpRelease)
	if spacing != time.Second {
		t.Fatalf("spacing %s", spacing)
	}
	const tries = 8
	var slots []quota.Reservation
	refused := 0
	begin := time.Now()
	for i := range tries {
		l := a
		if i%2 == 1 {
			l = b
		}
		r, err := l.Reserve(ctx, request.OpRelease)
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK {
			refused++
			if r.Wait < spacing {
				t.Errorf("refusal %d with a wait of %s, want at least one spacing", i, r.Wait)
			}
			continue
		}
		if r.Start.IsZero() || r.Wait < 0 || r.Wait > horizon+time.Millisecond {
			t.Errorf("reservation %d: %+v, want a start and a wait within the %s horizon", i, r, horizon)
		}
		slots = append(slots, r)
	}
	loop := time.Since(begin)
	// The row starts in the past, so slot 0 starts at the first
	// reservation (t0, database clock) and slot k no earlier than t0 + k s.
	// Slot k is handed out only if it starts within the horizon of its
	// reservation, made at most `loop` after t0: k ≤ 4.5 s + loop. So slots
	// 0-4 always are, and more only as far as the loop was slow.
	n := len(slots)
	if n < 5 || float64(n-1) > (horizon+loop).Seconds() || refused != tries-n {
		t.Fatalf("%d slots, %d refused in a loop of %s; want at least 5, at most 1 + (4.5 s + loop)/1 s", n, refused, loop)
	}
	for i := 1; i < n; i++ {
		if gap := slots[i].Start.Sub(slots[i-1].Start); gap < spacing {
			t.Errorf("slots %d and %d start only %s apart on the database's clock", i-1, i, gap)
		}
		if ahead := slots[i].Start.Sub(slots[0].Start); ahead > horizon+loop {
			t.Errorf("slot %d starts %s after the first, beyond the horizon (loop %s)", i, ahead, loop)
		}
	}
	// Another operation of the same account, and another account, have
	// rows of their own: their first slot starts at once.
	if r, err := a.Reserve(ctx, request.OpDescribe); err != nil || !r.OK || r.Wait >= spacing {
		t.Fatalf("other operation: %+v, %v", r, err)
	}
	// A 50% margin gives Await a tolerance of 250 ms, so that a late
	// wake-up on a loaded machine does not make Wait below retake slots.
	other, err := quota.NewLimiter(pool, "other", limits, 0.5, horizon)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := other.Reserve(ctx, request.OpRelease); err != nil || !r.OK || r.Wait >= spacing {
		t.Fatalf("other account: %+v, %v", r, err)
	}
	if _, err := a.Reserve(ctx, "DeleteEverything"); !errors.Is(err, quota.ErrUnknownOperation) {
		t.Fatalf("an operation without a limit: %v", err)
	}
	// Wait reserves the next slot of "other" (one spacing, 1.5 s, ahead)
	// and sleeps until it.
	if err := other.Wait(ctx, request.OpRelease); err != nil {
		t.Fatal(err)
	}
}

// TestReservationNeverEarly: on one host (one clock for the database and
// the process) a slot is never placed before its start on the database's
// clock, however long the statement's way there took. A slot placed early
// lets two replicas' calls leave closer than a spacing.
func TestReservationNeverEarly(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	l, err := quota.NewLimiter(pool, "acct", map[string]quota.Limit{request.OpRelease: {PerSecond: 1000}}, 0, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		r, err := l.Reserve(ctx, request.OpRelease)
		if err != nil || !r.OK {
			t.Fatalf("reservation %d: %+v, %v", i, r, err)
		}
		if r.At.Before(r.Start) {
			t.Fatalf("reservation %d placed %s before its start on the database's clock", i, r.Start.Sub(r.At))
		}
	}
}

// TestLimiterForAccount: For gives each account slots of its own, so that
// two accounts' first slots start together, while a second slot of one
// account waits a spacing behind its first.
func TestLimiterForAccount(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	l, err := quota.NewLimiter(pool, "default", map[string]quota.Limit{request.OpRelease: {PerSecond: 1}}, 0, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if l.For("") != l || l.For("default") != l || l.For("1000000000000001").Account() != "1000000000000001" {
		t.Fatal("For: \"\" and the limiter's own account keep it; another account gets its own")
	}
	a1, err := l.For("1000000000000001").Reserve(ctx, request.OpRelease)
	if err != nil {
		t.Fatal(err)
	}
	b1, err := l.For("1000000000000002").Reserve(ctx, request.OpRelease)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := l.For("1000000000000001").Reserve(ctx, request.OpRelease)
	if err != nil {
		t.Fatal(err)
	}
	if !a1.OK || !b1.OK || !a2.OK {
		t.Fatalf("reservations %+v %+v %+v", a1, b1, a2)
	}
	if d := b1.Start.Sub(a1.Start); d >= time.Second/2 || d <= -time.Second/2 {
		t.Errorf("the second account's first slot is %s from the first's: accounts should not share slots", d)
	}
	if d := a2.Start.Sub(a1.Start); d < time.Second {
		t.Errorf("one account's second slot %s after its first, want at least the spacing", d)
	}
}

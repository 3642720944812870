package quota_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/quota"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// observer keeps what the limiter told it.
type observer struct {
	mu       sync.Mutex
	waits    []time.Duration
	deferred int
}

func (o *observer) LimiterWaited(op string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.waits = append(o.waits, d)
}

func (o *observer) LimiterDeferred(op string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.deferred++
}

// The observer hears how long each caller waited from its reservation to
// its slot, and of every reservation refused for the horizon.
func TestLimiterObserver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// 5 calls/s: slots 200 ms apart; a horizon of 300 ms.
	l, err := quota.NewLimiter(testdb.New(t), "acct", map[string]quota.Limit{request.OpRelease: {PerSecond: 5}}, 0, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	obs := &observer{}
	l.SetObserver(obs)
	for range 2 {
		r, err := l.Reserve(ctx, request.OpRelease)
		if err != nil || !r.OK {
			t.Fatalf("reservation: %+v %v", r, err)
		}
		if _, err := l.Await(ctx, request.OpRelease, r); err != nil {
			t.Fatal(err)
		}
	}
	// The next slot is within the horizon, the ones after it beyond.
	refused := 0
	for range 3 {
		r, err := l.Reserve(ctx, request.OpRelease)
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK {
			refused++
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if refused == 0 || obs.deferred < refused {
		t.Errorf("deferred %d, %d reservations refused", obs.deferred, refused)
	}
	if len(obs.waits) != 2 {
		t.Fatalf("waits %v, want 2", obs.waits)
	}
	// The second slot starts a spacing (200 ms) after the first: its
	// caller waited at least most of that since it asked.
	if obs.waits[1] < 100*time.Millisecond || obs.waits[1] > 5*time.Second {
		t.Errorf("second wait %s, want about 200 ms", obs.waits[1])
	}
}

package notify_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/notify"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/store"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// bundle is a database, the lifecycle with notifications routed by a
// Notifier, and a queue client working the deliveries.
type bundle struct {
	pool  *pgxpool.Pool
	svc   *lifecycle.Service
	n     *notify.Notifier
	done  <-chan *river.Event
	river *river.Client[pgx.Tx]
}

type options struct {
	cfg    notify.Config
	routes notify.RoutingSource
	ttl    time.Duration
	lead   time.Duration
}

func setup(t *testing.T, o options) bundle {
	t.Helper()
	pool := testdb.New(t)
	eng, err := policy.New(context.Background(), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.New(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.cfg.PublicURL = "https://rdsgate.example.com/"
	o.cfg.RetryMin, o.cfg.RetryMax = 5*time.Millisecond, 40*time.Millisecond
	o.cfg.Timeout = 5 * time.Second
	var routes notify.RoutingSource = eng
	if o.routes != nil {
		routes = o.routes
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n := notify.New(o.cfg, routes, log)
	svc := lifecycle.New(lifecycle.Options{Store: db, Policy: eng, Notify: n, RequestTTL: o.ttl, ReminderLead: o.lead})
	workers := river.NewWorkers()
	if err := n.Register(workers, svc); err != nil {
		t.Fatal(err)
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Queues: n.Queues(), Workers: workers,
		FetchCooldown: 5 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	done, cancel := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobCancelled, river.EventKindJobFailed)
	if err := client.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		ctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
		defer stop()
		_ = client.Stop(ctx)
	})
	return bundle{pool: pool, svc: svc, n: n, done: done, river: client}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// settle waits until want delivery jobs have finished for good (sent, or
// given up), however many failed attempts came before, and returns the
// number of failed attempts seen.
func (b bundle) settle(t *testing.T, want int) (failedAttempts int) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for finished := 0; finished < want; {
		select {
		case ev := <-b.done:
			switch {
			case ev.Kind == river.EventKindJobFailed && ev.Job.State != rivertype.JobStateDiscarded:
				failedAttempts++
			case ev.Kind == river.EventKindJobFailed:
				failedAttempts++
				finished++
			default:
				finished++
			}
		case <-timeout:
			t.Fatalf("%d of %d deliveries finished after 30s", finished, want)
		}
	}
	return failedAttempts
}

// count runs a counting query.
func (b bundle) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := b.pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

var (
	alice = lifecycle.Actor{Subject: "alice", Groups: []string{"developers"}}
	bob   = lifecycle.Actor{Subject: "bob", Groups: []string{"dba"}}
	carol = lifecycle.Actor{Subject: "carol", Groups: []string{"security"}}
)

func spec(instance string) request.Spec {
	return request.Spec{RegionID: "cn-hangzhou", DBInstanceID: instance, ConnectionString: instance + ".mysql.rds.aliyuncs.com",
		NetworkType: "0", Justification: "retiring the public endpoint after VPC migration", Ticket: "OPS-42"}
}

// release records an attempt of an approved request with its outcome.
func release(t *testing.T, svc *lifecycle.Service, r *request.Request, a request.Attempt, next request.Status) {
	t.Helper()
	ctx := context.Background()
	n, err := svc.StartRelease(ctx, lifecycle.Start{Request: r, MaxAttempts: 8})
	if err != nil {
		t.Fatal(err)
	}
	a.Attempt, a.Operation = n, request.OpRelease
	if _, err := svc.RecordRelease(ctx, lifecycle.Outcome{Request: r, Attempt: a, Next: next}); err != nil {
		t.Fatal(err)
	}
}

// hit is one delivery a test receiver took.
type hit struct {
	channel, event, request, delivery string
	body                              []byte
	r                                 *http.Request
}

// receivers collect what test channels got; down makes a channel fail its
// next deliveries (alternately 503 and a dropped connection).
type receivers struct {
	mu   sync.Mutex
	hits []hit
	down map[string]int
	got  chan hit
}

func newReceivers() *receivers {
	return &receivers{down: map[string]int{}, got: make(chan hit, 1000)}
}

// server returns a receiver of channel; parse reads the event, request id
// and delivery id of a body, or fails it (400).
func (rs *receivers) server(t *testing.T, channel string, parse func(*http.Request, []byte) (event, req, delivery string, err error), answer string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rs.mu.Lock()
		down := rs.down[channel]
		if down > 0 {
			rs.down[channel]--
		}
		rs.mu.Unlock()
		if down > 0 {
			if down%2 == 0 {
				hj, _ := w.(http.Hijacker)
				conn, _, _ := hj.Hijack()
				conn.Close()
				return
			}
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		ev, req, del, err := parse(r, body)
		if err != nil {
			t.Errorf("%s receiver: %v", channel, err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h := hit{channel: channel, event: ev, request: req, delivery: del, body: body, r: r}
		rs.mu.Lock()
		rs.hits = append(rs.hits, h)
		rs.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (rs *receivers) all() []hit {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]hit(nil), rs.hits...)
}

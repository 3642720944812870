package executor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/rdssim"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/store"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// Simulator credentials of the tests (not secrets: the simulator's own).
const (
	testKeyID     = "LTAI5tExecutorTest01"
	testKeySecret = "executor-test-secret"
	testAccount   = "1234567890123456"
)

// bundle is what a test needs: a database, a simulator behind a loopback
// HTTP server, the real aliyun client pointed at it, and an executor.
type bundle struct {
	pool   *pgxpool.Pool
	sim    *rdssim.Server
	client *aliyun.Client
	exec   *executor.Executor
	cfg    executor.Config
}

// testLogger discards unless RDSGATE_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("RDSGATE_TEST_LOG") != "" {
		return testLoggerTo(os.Stderr)
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func testLoggerTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// fastConfig is an executor configuration with short delays for tests.
// The call timeout stays generous (the client's own 5 s): on a loaded CI
// machine a loopback call can stall for a second or more, and a call cut
// short is an unknown outcome that changes the audit trail the tests expect.
// Tests that want a timeout set a short one themselves.
func fastConfig(pool *pgxpool.Pool, client executor.Client) executor.Config {
	return executor.Config{
		Pool: pool, Requests: lifecycle.New(lifecycle.Options{Store: storeOn(pool)}), Client: client, AccountID: testAccount, Logger: testLogger(),
		Workers: 10, MaxAttempts: 4,
		CallTimeout: 5 * time.Second, LimiterHorizon: 2 * time.Second,
		BackoffBase: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
		ReconcileDelay: 200 * time.Millisecond,
		JobTimeout:     25 * time.Second, RescueAfter: 30 * time.Second,
	}
}

// newSim starts a simulator on a loopback listener.
func newSim(t testing.TB) (*rdssim.Server, string) {
	t.Helper()
	sim, err := rdssim.New(rdssim.Config{Accounts: []rdssim.Account{{AccessKeyID: testKeyID, AccessKeySecret: testKeySecret, AccountID: testAccount}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv.Listener.Addr().String()
}

func newClient(t testing.TB, endpoint string, timeout time.Duration) *aliyun.Client {
	t.Helper()
	c, err := aliyun.New(aliyun.Config{Endpoint: endpoint, Protocol: "http", RegionID: "cn-hangzhou",
		Timeout: timeout, AccessKeyID: testKeyID, AccessKeySecret: testKeySecret})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// setup returns a started executor; mod may change its configuration.
func setup(t testing.TB, mod func(*executor.Config)) *bundle {
	t.Helper()
	pool := testdbNew(t)
	sim, addr := newSim(t)
	b := &bundle{pool: pool, sim: sim, client: newClient(t, addr, 5*time.Second)}
	b.cfg = fastConfig(pool, b.client)
	if mod != nil {
		mod(&b.cfg)
	}
	b.exec = startExecutor(t, b.cfg)
	return b
}

func startExecutor(t testing.TB, cfg executor.Config) *executor.Executor {
	t.Helper()
	e, err := executor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	return e
}

// start starts e and stops it when the test ends.
func start(t testing.TB, e *executor.Executor) {
	t.Helper()
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := e.Stop(ctx, 15*time.Second); err != nil {
			t.Errorf("stop executor: %v", err)
		}
	})
}

// instance returns a simulated VPC instance with a public and a private
// endpoint.
func instance(id string) rdssim.Instance {
	return rdssim.Instance{ID: id, RegionID: "cn-hangzhou", Engine: "MySQL", NetworkType: "VPC",
		Endpoints: []rdssim.Endpoint{
			{ConnectionString: id + ".mysql.rds.aliyuncs.com", IPType: "Public", IPAddress: "47.98.1.1"},
			{ConnectionString: id + "-priv.mysql.rds.aliyuncs.com", IPType: "Private", IPAddress: "172.16.1.1"},
		}}
}

// storeOn is the store over pool.
func storeOn(pool *pgxpool.Pool) *store.DB {
	db, err := store.New(pool, nil)
	if err != nil {
		panic(err)
	}
	return db
}

// newRequest stores a request for instance instID in status st; when
// enqueue is set, its job is enqueued in the same transaction, as the
// approving transaction does.
func newRequest(t testing.TB, pool *pgxpool.Pool, instID string, st request.Status, enqueue bool) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	spec := request.Spec{RegionID: "cn-hangzhou", DBInstanceID: instID, ConnectionString: instID + ".mysql.rds.aliyuncs.com",
		NetworkType: request.NetworkVPC, Justification: "executor test", Ticket: "T-1"}
	r := &request.Request{ID: id, Requester: "alice", Spec: spec, Status: st, PayloadHash: request.PayloadHash(id, "alice", spec),
		RequiredApprovals: 1, ApproverRequirements: []request.Requirement{}, Decision: json.RawMessage(`{}`),
		CreatedAt: now, UpdatedAt: now}
	ctx := context.Background()
	err = storeOn(pool).InTx(ctx, func(tx lifecycle.Tx) error {
		return tx.Apply(ctx, lifecycle.Change{Request: id, New: r, At: now, Enqueue: enqueue,
			Events: []audit.Record{{Kind: audit.KindRequestApproved, Actor: "bob", RequestID: id,
				DBInstanceID: instID, Payload: map[string]any{"to": st}}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// approvedRequests adds n instances to the simulator and an approved,
// enqueued request for each.
func approvedRequests(t testing.TB, b *bundle, prefix string, n int) ([]uuid.UUID, []string) {
	t.Helper()
	ids := make([]uuid.UUID, n)
	insts := make([]string, n)
	sims := make([]rdssim.Instance, n)
	for i := range n {
		insts[i] = fmt.Sprintf("rm-%s%05d", prefix, i)
		sims[i] = instance(insts[i])
	}
	if err := b.sim.UpsertInstances(sims); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		ids[i] = newRequest(t, b.pool, insts[i], request.StatusApproved, true)
	}
	return ids, insts
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// statuses returns the status of each request.
func statuses(ctx context.Context, pool *pgxpool.Pool, ids []uuid.UUID) (map[uuid.UUID]request.Status, error) {
	rows, err := pool.Query(ctx, `SELECT id, status FROM requests WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	out := map[uuid.UUID]request.Status{}
	for rows.Next() {
		var id uuid.UUID
		var st string
		if err := rows.Scan(&id, &st); err != nil {
			return nil, err
		}
		out[id] = request.Status(st)
	}
	return out, rows.Err()
}

// waitTerminal waits until every request is in a terminal state.
func waitTerminal(t testing.TB, pool *pgxpool.Pool, ids []uuid.UUID, timeout time.Duration) map[uuid.UUID]request.Status {
	t.Helper()
	var last map[uuid.UUID]request.Status
	waitFor(t, timeout, fmt.Sprintf("%d requests to end", len(ids)), func() (bool, error) {
		st, err := statuses(context.Background(), pool, ids)
		if err != nil {
			return false, err
		}
		last = st
		for _, id := range ids {
			if !st[id].Terminal() {
				return false, nil
			}
		}
		return true, nil
	})
	return last
}

// event is an executor audit event as the tests read it.
type event struct {
	Kind             string
	ErrorCode        string
	AlibabaRequestID string
	Payload          map[string]any
}

func events(t testing.TB, pool *pgxpool.Pool, id uuid.UUID) []event {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT kind, coalesce(error_code, ''), coalesce(alibaba_request_id, ''), payload
FROM audit_events WHERE request_id = $1 AND kind LIKE 'execution.%' ORDER BY id`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []event
	for rows.Next() {
		var e event
		var p []byte
		if err := rows.Scan(&e.Kind, &e.ErrorCode, &e.AlibabaRequestID, &p); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(p, &e.Payload); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func kinds(evs []event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Kind
	}
	return out
}

// callsFor returns the simulator's log entries of one instance and action.
func callsFor(calls []rdssim.Call, inst, action string) []rdssim.Call {
	var out []rdssim.Call
	for _, c := range calls {
		if c.Instance == inst && c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

// performedReleases counts the releases the simulator carried out for an
// instance: answered with 200, or dropped after releasing.
func performedReleases(calls []rdssim.Call, inst string) int {
	n := 0
	for _, c := range callsFor(calls, inst, aliyun.ActionReleaseInstanceConnection) {
		if c.Status == 200 && (c.Outcome == rdssim.OutcomeAnswered || c.Outcome == rdssim.OutcomeDropped) {
			n++
		}
	}
	return n
}

// maxInWindow returns the largest number of calls of action that arrived
// within one sliding second (t-1s, t], counting every call, throttled or
// not.
func maxInWindow(calls []rdssim.Call, action string) (int, time.Time) {
	var ts []time.Time
	for _, c := range calls {
		if c.Action == action {
			ts = append(ts, c.Time)
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	best, at, lo := 0, time.Time{}, 0
	for hi := range ts {
		for !ts[lo].After(ts[hi].Add(-time.Second)) {
			lo++
		}
		if n := hi - lo + 1; n > best {
			best, at = n, ts[hi]
		}
	}
	return best, at
}

func throttled(calls []rdssim.Call) int {
	n := 0
	for _, c := range calls {
		if c.Code == aliyun.CodeThrottlingUser && !c.Injected {
			n++
		}
	}
	return n
}

// testdbNew returns a pool on a fresh, migrated database, sized for an
// executor's workers plus River's own connections (pgxpool's default of
// max(4, CPUs) would make workers queue for connections).
func testdbNew(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return openPool(t, testdb.NewURL(t), true)
}

func openPool(t testing.TB, url string, migrate bool) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 40
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if migrate {
		if err := store.Migrate(ctx, pool, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
	}
	return pool
}

// newHTTPServer serves h on a loopback listener and returns its address.
func newHTTPServer(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func mustAttempts(t testing.TB, pool *pgxpool.Pool, id uuid.UUID) []request.Attempt {
	t.Helper()
	atts, err := attemptsOf(context.Background(), pool, id)
	if err != nil {
		t.Fatal(err)
	}
	return atts
}

// attemptsOf lists the request's attempts.
func attemptsOf(ctx context.Context, pool *pgxpool.Pool, id uuid.UUID) ([]request.Attempt, error) {
	return storeOn(pool).Attempts(ctx, id)
}

// enqueueAgain enqueues the request's job once more, as a second approval
// or a sweep would.
func enqueueAgain(t testing.TB, pool *pgxpool.Pool, id uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	err := storeOn(pool).InTx(ctx, func(tx lifecycle.Tx) error {
		return tx.Apply(ctx, lifecycle.Change{Request: id, Enqueue: true,
			Events: []audit.Record{{Kind: "test.enqueued", Actor: "test", RequestID: id}}})
	})
	if err != nil {
		t.Fatal(err)
	}
}

package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/store"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// insertPending queues a pending request of requester on w.
func insertPending(ctx context.Context, w store.Execer, requester string) {
	_, _ = w.Exec(ctx, `INSERT INTO requests (id, requester, region_id, db_instance_id, connection_string, network_type,
    justification, status, payload_hash, required_approvals, decision, created_at, updated_at)
VALUES (gen_random_uuid(), $1, 'cn-hangzhou', 'rm-x1234', 'a.example.com', '0', 'j', 'pending',
    decode(repeat('00', 32), 'hex'), 1, '{}', now(), now())`, requester)
}

func countRows(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// held starts a filing that holds the Filer's only slot until release is
// called, so that the filings started meanwhile queue up and go together.
func held(t *testing.T, f *store.Filer) (release func(), wait func()) {
	t.Helper()
	entered, hold := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- f.File(context.Background(), "holder", func(pending int, w store.Execer) error {
			close(entered)
			<-hold
			return nil
		})
	}()
	<-entered
	var once sync.Once
	release = func() { once.Do(func() { close(hold) }) }
	t.Cleanup(release) // a test that fails early must not leave it held
	return release, func() {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// queueUp makes the Filer signal on the returned channel when its queue
// holds n filings.
func queueUp(f *store.Filer, n int) <-chan struct{} {
	ready := make(chan struct{})
	var once sync.Once
	store.SetQueuedHook(f, func(q int) {
		if q == n {
			once.Do(func() { close(ready) })
		}
	})
	return ready
}

// fileQueued files for each of who at once while the Filer's only slot is
// held, so that all of them wait and then go together as far as the Filer
// lets them; fn(i, …) is filing i's FileFunc. It returns each File's error,
// in who's order.
func fileQueued(t *testing.T, f *store.Filer, who []string, fn func(i, pending int, w store.Execer) error) []error {
	t.Helper()
	release, waitHolder := held(t, f)
	ready := queueUp(f, len(who))
	errs := make([]error, len(who))
	var wg sync.WaitGroup
	for i := range who {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.File(context.Background(), who[i], func(pending int, w store.Execer) error {
				return fn(i, pending, w)
			})
		}()
	}
	<-ready
	release()
	waitHolder()
	wg.Wait()
	return errs
}

// users returns user0 … user(n-1).
func users(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("user%d", i)
	}
	return out
}

// A filing is one transaction: when its last write fails, its earlier ones
// are rolled back too (a request never lands without its audit events),
// and later filings go through.
func TestFilerFilingIsAtomic(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE t (v int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	f := store.NewFiler(pool, store.FilerOptions{})
	err := f.File(ctx, "alice", func(pending int, w store.Execer) error {
		_, _ = w.Exec(ctx, `INSERT INTO t VALUES (1)`)
		_, _ = w.Exec(ctx, `INSERT INTO t VALUES (1)`) // duplicate key
		return nil
	})
	if err == nil {
		t.Fatal("want the duplicate key error")
	}
	if n := countRows(t, pool, `SELECT count(*) FROM t`); n != 0 {
		t.Fatalf("rows after a failed filing: %d, want 0", n)
	}
	for i := 0; i < 3; i++ { // and the Filer files again
		err := f.File(ctx, "alice", func(pending int, w store.Execer) error {
			_, _ = w.Exec(ctx, `INSERT INTO t VALUES ($1)`, 10+i)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := countRows(t, pool, `SELECT count(*) FROM t`); n != 3 {
		t.Fatalf("rows: %d, want 3", n)
	}
}

// Filings of one requester take turns: each sees the others' committed
// rows, so a count-based limit cannot be passed by racing, whether the
// filings go alone or in shared transactions.
func TestFilerSerialisesOneRequester(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	f := store.NewFiler(pool, store.FilerOptions{MaxConcurrent: 4})
	var wg sync.WaitGroup
	seen := make(chan int, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Two requesters, so that batches mix them.
			who := []string{"alice", "bob"}[i%2]
			err := f.File(ctx, who, func(pending int, w store.Execer) error {
				if who == "alice" {
					seen <- pending
				}
				insertPending(ctx, w, who)
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	close(seen)
	got := map[int]bool{}
	for p := range seen {
		if got[p] {
			t.Fatalf("two filings saw the same pending count %d", p)
		}
		got[p] = true
	}
	if len(got) != 10 {
		t.Fatalf("counts seen: %v", got)
	}
}

// Filings that arrive while a transaction is being written share the next
// one, except a second filing of a requester already in it, which waits for
// the one after and counts the first as pending.
func TestFilerGroupsWaitingFilings(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	f := store.NewFiler(pool, store.FilerOptions{MaxConcurrent: 1})
	who := append(users(20), "user7") // a second filing of one requester
	var (
		mu          sync.Mutex
		pendingSeen = map[string][]int{}
	)
	errs := fileQueued(t, f, who, func(i, pending int, w store.Execer) error {
		mu.Lock()
		pendingSeen[who[i]] = append(pendingSeen[who[i]], pending)
		mu.Unlock()
		insertPending(ctx, w, who[i])
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	// Rows written by one transaction share its id (xmin). The holder wrote
	// none: the 20 distinct requesters went in one, user7's second in another.
	if n := countRows(t, pool, `SELECT count(DISTINCT xmin::text) FROM requests`); n != 2 {
		t.Fatalf("the 21 requests were written by %d transactions, want 2", n)
	}
	if got := pendingSeen["user7"]; len(got) != 2 || got[0] != 0 || got[1] != 1 {
		t.Fatalf("user7's filings saw pending counts %v, want [0 1]", got)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM requests WHERE status = 'pending'`); n != 21 {
		t.Fatalf("pending requests: %d, want 21", n)
	}
}

// When one filing's writes fail in a shared transaction, the server's
// refusal or pgx's failure to encode them, the others are filed all the
// same and only that filing gets the error; a filing whose FileFunc fails
// writes nothing, does not disturb the rest and is not run again.
func TestFilerIsolatesFailures(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE t (v int PRIMARY KEY); INSERT INTO t VALUES (0)`); err != nil {
		t.Fatal(err)
	}
	f := store.NewFiler(pool, store.FilerOptions{MaxConcurrent: 1})
	errNo := errors.New("policy says no")
	var calls [6]atomic.Int32
	errs := fileQueued(t, f, users(6), func(i, pending int, w store.Execer) error {
		calls[i].Add(1)
		switch i {
		case 2:
			_, _ = w.Exec(ctx, `INSERT INTO t VALUES (0)`) // duplicate key
		case 3:
			_, _ = w.Exec(ctx, `INSERT INTO t VALUES ($1)`, make(chan int)) // pgx cannot encode it
			return nil
		case 4:
			_, _ = w.Exec(ctx, `INSERT INTO t VALUES (14)`)
			return errNo
		}
		_, _ = w.Exec(ctx, `INSERT INTO t VALUES ($1)`, 10+i)
		return nil
	})
	for i, err := range errs {
		switch {
		case i == 2 && err == nil:
			t.Error("filing 2 (duplicate key): no error")
		case i == 3 && (err == nil || errors.Is(err, store.ErrOutcomeUnknown)):
			t.Errorf("filing 3 (not encodable): %v, want the encoding error", err)
		case i == 4 && !errors.Is(err, errNo):
			t.Errorf("filing 4: %v, want its FileFunc's error", err)
		case i != 2 && i != 3 && i != 4 && err != nil:
			t.Errorf("filing %d: %v", i, err)
		}
	}
	if n := calls[4].Load(); n != 1 {
		t.Errorf("filing 4's FileFunc ran %d times, want 1", n)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM t WHERE v >= 10`); n != 3 {
		t.Fatalf("rows filed: %d, want 3 (all but 2, 3 and 4)", n)
	}
}

// A caller that gives up while its filing waits gets its context's error at
// once, not when a slot frees up, and its FileFunc never runs.
func TestFilerReleasesCancelledCallers(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	f := store.NewFiler(pool, store.FilerOptions{MaxConcurrent: 1})
	release, waitHolder := held(t, f)
	ready := queueUp(f, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- f.File(ctx, "alice", func(pending int, w store.Execer) error {
			t.Error("a cancelled filing's FileFunc ran")
			return nil
		})
	}()
	<-ready
	cancel()
	err := <-done // the slot is still held: only the cancellation can answer
	release()
	waitHolder()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if err := f.File(context.Background(), "alice", func(int, store.Execer) error { return nil }); err != nil {
		t.Fatalf("a filing after the cancelled one: %v", err)
	}
}

// A FileFunc that panics fails its own filing; the others in its
// transaction commit, and the Filer goes on working.
func TestFilerContainsPanics(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	f := store.NewFiler(pool, store.FilerOptions{MaxConcurrent: 1})
	who := users(3)
	errs := fileQueued(t, f, who, func(i, pending int, w store.Execer) error {
		insertPending(ctx, w, who[i])
		if i == 1 {
			panic("policy engine bug")
		}
		return nil
	})
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("the other filings: %v, %v", errs[0], errs[2])
	}
	if errs[1] == nil || !strings.Contains(errs[1].Error(), "panic: policy engine bug") {
		t.Fatalf("the panicking filing: %v", errs[1])
	}
	if n := countRows(t, pool, `SELECT count(*) FROM requests`); n != 2 {
		t.Fatalf("requests filed: %d, want 2", n)
	}
	if err := f.File(ctx, "user1", func(int, store.Execer) error { return nil }); err != nil {
		t.Fatalf("a filing after the panic: %v", err)
	}
}

// When a shared transaction runs out of time (here on a requester's lock
// that another session holds), the filings are retried one by one, each
// with its own time: only the blocked requester's filing fails.
func TestFilerRetriesAloneWithTimeOfTheirOwn(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	other, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	if _, err := other.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended('bob', $1))`, int64(store.RequesterLockSeed)); err != nil {
		t.Fatal(err)
	}
	defer other.Exec(ctx, `SELECT pg_advisory_unlock_all()`) //nolint:errcheck
	f := store.NewFiler(pool, store.FilerOptions{MaxConcurrent: 1, Timeout: time.Second})
	who := []string{"alice", "bob", "carol"}
	errs := fileQueued(t, f, who, func(i, pending int, w store.Execer) error {
		insertPending(ctx, w, who[i])
		return nil
	})
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("alice: %v; carol: %v; want both filed", errs[0], errs[2])
	}
	if !errors.Is(errs[1], context.DeadlineExceeded) {
		t.Fatalf("bob: %v, want the deadline", errs[1])
	}
	if n := countRows(t, pool, `SELECT count(*) FROM requests`); n != 2 {
		t.Fatalf("requests filed: %d, want 2", n)
	}
}

// A filing may queue more rows of a table than one statement can bind
// (65,535 parameters): they go as several INSERTs.
func TestFilerSplitsRowsPastTheParameterLimit(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE t (a int NOT NULL, b int NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	const rows = 40000 // 80,000 parameters
	err := store.NewFiler(pool, store.FilerOptions{}).File(ctx, "alice", func(pending int, w store.Execer) error {
		for i := 0; i < rows; i++ {
			w.(store.RowQueuer).QueueRow("t", "a, b", i, -i)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, pool, `SELECT count(DISTINCT a) FROM t WHERE b = -a`); n != rows {
		t.Fatalf("rows: %d, want %d", n, rows)
	}
}

// Rows queued with QueueRow by the filings of one transaction go as one
// INSERT per table, in the order queued, before the statements queued with
// Exec; no filing's values are lost or overwritten by another's.
func TestFilerSendsRowsOfATableTogether(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE t (id bigserial PRIMARY KEY, who text NOT NULL, k int NOT NULL);
CREATE TABLE u (who text PRIMARY KEY, first_id bigint NOT NULL);
CREATE TABLE inserts_into_t (n int NOT NULL);
CREATE FUNCTION count_insert() RETURNS trigger LANGUAGE plpgsql AS
    $$BEGIN INSERT INTO inserts_into_t VALUES (1); RETURN NULL; END$$;
CREATE TRIGGER t_statements AFTER INSERT ON t FOR EACH STATEMENT EXECUTE FUNCTION count_insert()`); err != nil {
		t.Fatal(err)
	}
	f := store.NewFiler(pool, store.FilerOptions{MaxConcurrent: 1})
	const filings = 10
	who := users(filings)
	errs := fileQueued(t, f, who, func(i, pending int, w store.Execer) error {
		q := w.(store.RowQueuer)
		q.QueueRow("t", "who, k", who[i], 0)
		// Exec'd statements see every queued row.
		_, _ = w.Exec(ctx, `INSERT INTO u SELECT who, min(id) FROM t WHERE who = $1 GROUP BY who`, who[i])
		q.QueueRow("t", "who, k", who[i], 1)
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `SELECT who, k FROM t ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	byWho := map[string][]int{}
	var (
		name string
		k    int
	)
	if _, err := pgx.ForEachRow(rows, []any{&name, &k}, func() error {
		byWho[name] = append(byWho[name], k)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(byWho) != filings {
		t.Fatalf("rows by filing %v, want two for each of %d filings", byWho, filings)
	}
	for name, ks := range byWho {
		if len(ks) != 2 || ks[0] != 0 || ks[1] != 1 {
			t.Fatalf("%s's rows in id order: %v, want [0 1]", name, ks)
		}
	}
	if n := countRows(t, pool, `SELECT count(*) FROM u`); n != filings {
		t.Fatalf("statements after the rows saw %d filings' rows, want %d", n, filings)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM inserts_into_t`); n != 1 {
		t.Fatalf("INSERT statements into t: %d, want 1 for the %d rows", n, 2*filings)
	}
}

// fileEach files a pending request for each of who at once and returns a
// channel that gets each File's error.
func fileEach(f *store.Filer, who []string, fn store.FileFunc) <-chan error {
	done := make(chan error, len(who))
	for _, r := range who {
		go func() {
			done <- f.File(context.Background(), r, func(pending int, w store.Execer) error {
				if fn != nil {
					if err := fn(pending, w); err != nil {
						return err
					}
				}
				insertPending(context.Background(), w, r)
				return nil
			})
		}()
	}
	return done
}

// collect waits for n results from done, failing the test on an error or
// when they do not all come within 30 s (a filing left waiting).
func collect(t *testing.T, done <-chan error, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for range n {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatal("filings still waiting after 30 s")
		}
	}
}

// While a transaction runs, filings wait for it until OverlapAt of them
// wait; then a second transaction takes them all at once, without waiting
// for the first.
func TestFilerOverlapsOnlyWhenEnoughWait(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	f := store.NewFiler(pool, store.FilerOptions{MaxConcurrent: 2, OverlapAt: 4})
	release, waitHolder := held(t, f)

	ready := queueUp(f, 3)
	done := fileEach(f, []string{"a", "b", "c"}, nil)
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("3 filings never waited together: a second transaction took them while the first ran")
	}
	if n := store.Running(f); n != 1 {
		t.Fatalf("3 filings waiting started a second transaction: %d running, want 1", n)
	}
	done4 := fileEach(f, []string{"d"}, nil)
	collect(t, done, 3)
	collect(t, done4, 1) // the holder still holds the first transaction
	if n := countRows(t, pool, `SELECT count(DISTINCT xmin::text) FROM requests`); n != 1 {
		t.Fatalf("the 4 waiting filings were written by %d transactions, want 1", n)
	}
	release()
	waitHolder()
}

// A transaction that ends while another runs and fewer than OverlapAt
// filings wait leaves them to the other, which files them when it is done.
func TestFilerLeavesFewWaitingToTheRunningTransaction(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	f := store.NewFiler(pool, store.FilerOptions{MaxConcurrent: 2, OverlapAt: 2})
	queued := make(chan int, 8) // one value per File call
	store.SetQueuedHook(f, func(n int) { queued <- n })
	left := make(chan struct{}, 8)
	store.SetLeftHook(f, func() { left <- struct{}{} })
	release, waitHolder := held(t, f)
	<-queued

	// Two filings start the second transaction, which holds on in the first
	// FileFunc it runs until one more filing waits behind both transactions.
	entered, hold := make(chan struct{}, 2), make(chan struct{})
	letGo := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(letGo)
	second := fileEach(f, []string{"a", "b"}, func(int, store.Execer) error {
		entered <- struct{}{}
		<-hold
		return nil
	})
	<-entered
	last := fileEach(f, []string{"c"}, nil)
	for range 3 { // a's, b's and c's
		<-queued
	}
	letGo()
	collect(t, second, 2)
	select {
	case <-left:
	case err := <-last:
		t.Fatalf("c was filed (err %v) by the transaction that ended, not left to the one still running", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the second transaction neither left c nor filed it within 30 s")
	}

	release()
	waitHolder()
	collect(t, last, 1)
	if n := countRows(t, pool, `SELECT count(*) FROM requests`); n != 3 {
		t.Fatalf("%d requests filed, want 3", n)
	}
}

// A transaction retrying its failed batch's filings one by one holds no
// filing back: a new one is filed beside it, although fewer than OverlapAt
// wait.
func TestFilerFilesBesideARetry(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	f := store.NewFiler(pool, store.FilerOptions{MaxConcurrent: 2, OverlapAt: 8})
	release, waitHolder := held(t, f)

	// x's writes fail, so the batch of x and y is retried one filing at a
	// time; y's retry holds on until the new filing z is in.
	ready := queueUp(f, 2)
	var yCalls atomic.Int32
	retrying, hold := make(chan struct{}), make(chan struct{})
	letGo := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(letGo) // a test that fails early must not leave y's retry held
	x := fileEach(f, []string{"x"}, func(_ int, w store.Execer) error {
		_, _ = w.Exec(ctx, `SELECT 1/0`)
		return nil
	})
	y := fileEach(f, []string{"y"}, func(int, store.Execer) error {
		if yCalls.Add(1) == 2 {
			close(retrying)
			<-hold
		}
		return nil
	})
	<-ready
	release()
	waitHolder()
	<-retrying

	z := fileEach(f, []string{"z"}, nil)
	collect(t, z, 1) // y's retry still holds on
	letGo()
	collect(t, y, 1)
	if err := <-x; err == nil || !strings.Contains(err.Error(), "division by zero") {
		t.Fatalf("x: %v, want its division by zero", err)
	}
}

package store_test

import (
	"context"
	"sync"
	"testing"

	"github.com/rdsgate/rdsgate/internal/store"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// The writes of FileForRequester are one transaction: when the last fails,
// the earlier ones are rolled back too (a request never lands without its
// audit events), and the connection is usable again afterwards.
func TestFileForRequesterIsAtomic(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE t (v int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	err := store.FileForRequester(ctx, pool, "alice", func(pending int, w store.Execer) error {
		_, _ = w.Exec(ctx, `INSERT INTO t VALUES (1)`)
		_, _ = w.Exec(ctx, `INSERT INTO t VALUES (1)`) // duplicate key
		return nil
	})
	if err == nil {
		t.Fatal("want the duplicate key error")
	}
	count := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("rows after a failed filing: %d, want 0", n)
	}
	for i := 0; i < 3; i++ { // every pooled connection still works
		err := store.FileForRequester(ctx, pool, "alice", func(pending int, w store.Execer) error {
			_, _ = w.Exec(ctx, `INSERT INTO t VALUES ($1)`, 10+i)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != 3 {
		t.Fatalf("rows: %d, want 3", n)
	}
}

// Filings of one requester take turns: each sees the others' committed
// rows, so a count-based limit cannot be passed by racing.
func TestFileForRequesterSerialisesOneRequester(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	insert := `INSERT INTO requests (id, requester, region_id, db_instance_id, connection_string, network_type,
    justification, status, payload_hash, required_approvals, decision, created_at, updated_at)
VALUES (gen_random_uuid(), 'alice', 'cn-hangzhou', 'rm-x1234', 'a.example.com', '0', 'j', 'pending',
    decode(repeat('00', 32), 'hex'), 1, '{}', now(), now())`
	var wg sync.WaitGroup
	seen := make(chan int, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := store.FileForRequester(ctx, pool, "alice", func(pending int, w store.Execer) error {
				seen <- pending
				_, _ = w.Exec(ctx, insert)
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

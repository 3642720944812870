package store_test

import (
	"context"
	"testing"

	"github.com/rdsgate/rdsgate/internal/store"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// A batch is one implicit transaction: when its last statement fails, the
// earlier ones are rolled back too (a request never lands without its
// audit events).
func TestBatchIsAtomic(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE t (v int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	var b store.Batch
	_, _ = b.Exec(ctx, `INSERT INTO t VALUES (1)`)
	_, _ = b.Exec(ctx, `INSERT INTO t VALUES (1)`) // duplicate key
	if err := b.Send(ctx, pool); err == nil {
		t.Fatal("want the duplicate key error")
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows after a failed batch: %d (%v), want 0", n, err)
	}
	var ok store.Batch
	_, _ = ok.Exec(ctx, `INSERT INTO t VALUES (1)`)
	_, _ = ok.Exec(ctx, `INSERT INTO t VALUES (2)`)
	if err := ok.Send(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows: %d (%v), want 2", n, err)
	}
}

package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/store"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// counts returns how many requests, approvals and audit events exist.
func counts(t *testing.T, pool *pgxpool.Pool) [3]int {
	t.Helper()
	var n [3]int
	err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM requests), (SELECT count(*) FROM approvals),
    (SELECT count(*) FROM audit_events)`).Scan(&n[0], &n[1], &n[2])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func newPending(t *testing.T) *request.Request {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	now := time.Now().UTC().Truncate(time.Microsecond)
	spec := request.Spec{RegionID: "cn-hangzhou", DBInstanceID: "rm-bp1devexample01",
		ConnectionString: "rm-bp1devexample01.mysql.rds.aliyuncs.com", NetworkType: "0", Justification: "store test"}
	return &request.Request{ID: id, Requester: "alice", Spec: spec, Status: request.StatusPending,
		PayloadHash: request.PayloadHash(id, "alice", spec), ApproverRequirements: []request.Requirement{},
		Decision: json.RawMessage(`{}`), CreatedAt: now, UpdatedAt: now}
}

// A change cannot be written without its audit records, and a change whose
// transition is stale writes nothing at all: not its vote, not its events.
func TestApplyIsWholeOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	db, err := store.New(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := newPending(t)
	created := audit.Record{Kind: audit.KindRequestCreated, Actor: "alice", RequestID: r.ID}
	err = db.InTx(ctx, func(tx lifecycle.Tx) error {
		return tx.Apply(ctx, lifecycle.Change{Request: r.ID, New: r, At: r.CreatedAt})
	})
	if err == nil || counts(t, pool) != [3]int{} {
		t.Fatalf("a change without audit records: %v, rows %v", err, counts(t, pool))
	}
	if err := db.InTx(ctx, func(tx lifecycle.Tx) error {
		return tx.Apply(ctx, lifecycle.Change{Request: r.ID, New: r, At: r.CreatedAt, Events: []audit.Record{created}})
	}); err != nil {
		t.Fatal(err)
	}
	before := counts(t, pool)
	if before != [3]int{1, 0, 1} {
		t.Fatalf("after filing: %v", before)
	}
	// A vote that approves, but from a state the row is not in.
	vote := request.Vote{Approver: "bob", Decision: request.Approve, PayloadHash: r.PayloadHash, CreatedAt: r.CreatedAt}
	err = db.InTx(ctx, func(tx lifecycle.Tx) error {
		return tx.Apply(ctx, lifecycle.Change{Request: r.ID, Vote: &vote, From: request.StatusExecuting, To: request.StatusSucceeded,
			At: r.CreatedAt, Events: []audit.Record{{Kind: audit.KindApprovalGranted, Actor: "bob", RequestID: r.ID}}})
	})
	if !errors.Is(err, request.ErrConflict) || counts(t, pool) != before {
		t.Fatalf("a stale transition: %v, rows %v, want ErrConflict and %v", err, counts(t, pool), before)
	}
	// An illegal transition is refused by the domain's table.
	err = db.InTx(ctx, func(tx lifecycle.Tx) error {
		return tx.Apply(ctx, lifecycle.Change{Request: r.ID, From: request.StatusPending, To: request.StatusSucceeded,
			At: r.CreatedAt, Events: []audit.Record{{Kind: "test", Actor: "test", RequestID: r.ID}}})
	})
	if !errors.Is(err, request.ErrConflict) || counts(t, pool) != before {
		t.Fatalf("pending → succeeded: %v, rows %v", err, counts(t, pool))
	}
}

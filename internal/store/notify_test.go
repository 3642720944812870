package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/store"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// A change's notifications are one delivery job per notice and channel,
// inserted in its transaction: a change rolled back leaves none, a change
// committed leaves them all, holding channel names only; a reminder is
// scheduled for its SendAt.
func TestApplyEnqueuesNotificationsWithTheChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	db, err := store.New(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := newPending(t)
	later := r.CreatedAt.Add(50 * time.Minute)
	change := lifecycle.Change{Request: r.ID, New: r, At: r.CreatedAt,
		Events: []audit.Record{{Kind: audit.KindRequestCreated, Actor: "alice", RequestID: r.ID}},
		Notify: []lifecycle.Notice{
			{Event: lifecycle.EventPending, RequestID: r.ID, Channels: []string{"webhook", "dba-dingtalk"}},
			{Event: lifecycle.EventExpiring, RequestID: r.ID, Channels: []string{"webhook"}, SendAt: later},
		}}
	jobs := func() (n, scheduled int) {
		t.Helper()
		err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE state = 'scheduled' AND abs(extract(epoch FROM scheduled_at - $2)) < 0.001)
FROM river_job WHERE kind = $1`, lifecycle.NotifyJob{}.Kind(), later).Scan(&n, &scheduled)
		if err != nil {
			t.Fatal(err)
		}
		return n, scheduled
	}
	rollback := errors.New("roll back")
	err = db.InTx(ctx, func(tx lifecycle.Tx) error {
		if err := tx.Apply(ctx, change); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	if n, _ := jobs(); n != 0 {
		t.Fatalf("a rolled-back change left %d notification jobs", n)
	}
	if err := db.InTx(ctx, func(tx lifecycle.Tx) error { return tx.Apply(ctx, change) }); err != nil {
		t.Fatal(err)
	}
	if n, scheduled := jobs(); n != 3 || scheduled != 1 {
		t.Fatalf("committed change: %d jobs (%d scheduled for the reminder), want 3 (1)", n, scheduled)
	}
	var distinct int
	if err := pool.QueryRow(ctx, `SELECT count(DISTINCT args->>'delivery_id') FROM river_job WHERE kind = $1 AND queue = $2
    AND args->>'channel' IN ('webhook', 'dba-dingtalk')`, lifecycle.NotifyJob{}.Kind(), lifecycle.NotifyQueue).Scan(&distinct); err != nil {
		t.Fatal(err)
	}
	if distinct != 3 {
		t.Errorf("%d distinct delivery ids on the notify queue, want 3", distinct)
	}
}

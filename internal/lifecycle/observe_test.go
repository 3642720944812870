package lifecycle_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/store"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// recorder is an Observer that keeps what it was told.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(s string) { r.mu.Lock(); r.events = append(r.events, s); r.mu.Unlock() }
func (r *recorder) RequestFiled(env string, allowed bool) {
	r.add("filed " + env + map[bool]string{true: " allowed", false: " denied"}[allowed])
}
func (r *recorder) VoteCast(decision string)      { r.add("vote " + decision) }
func (r *recorder) StatusChanged(from, to string) { r.add(from + "->" + to) }
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// failCommit is a Store whose transactions fail after their writes: they
// roll back.
type failCommit struct{ lifecycle.Store }

func (s failCommit) InTx(ctx context.Context, fn func(lifecycle.Tx) error) error {
	return s.Store.InTx(ctx, func(tx lifecycle.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errors.New("commit refused")
	})
}

// The Observer hears of a change once its transaction committed, and never
// of one rolled back.
func TestObserverHearsCommittedChangesOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	eng, err := policy.New(ctx, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.New(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	obs := &recorder{}
	broken := lifecycle.New(lifecycle.Options{Store: failCommit{db}, Policy: eng, Observer: obs})
	if _, err := broken.File(ctx, alice, devSpec, false); err == nil {
		t.Fatal("the filing committed through a store that refuses commits")
	}
	if got := obs.take(); len(got) != 0 {
		t.Fatalf("a rolled-back filing was reported: %v", got)
	}

	svc := lifecycle.New(lifecycle.Options{Store: db, Policy: eng, Observer: obs})
	r, err := svc.File(ctx, alice, devSpec, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := broken.Vote(ctx, bob, r.ID, lifecycle.VoteInput{Decision: request.Approve}); err == nil {
		t.Fatal("the vote committed through a store that refuses commits")
	}
	if _, err := svc.Vote(ctx, bob, r.ID, lifecycle.VoteInput{Decision: request.Approve}); err != nil {
		t.Fatal(err)
	}
	want := []string{"filed dev allowed", "vote approve", "pending->approved"}
	if got := obs.take(); !slices.Equal(got, want) {
		t.Fatalf("observed %q, want %q", got, want)
	}
}

package lifecycle

import (
	"context"

	"github.com/rdsgate/rdsgate/internal/request"
)

// Observer is told of the changes a Service made, once their transaction
// has committed: a change rolled back is never reported. Package metrics
// counts them. Its methods must be quick and must not block.
type Observer interface {
	// RequestFiled: a new request, allowed (pending) or denied.
	RequestFiled(environment string, allowed bool)
	// VoteCast: a vote, approve or reject.
	VoteCast(decision string)
	// StatusChanged: a request moved from one status to another.
	StatusChanged(from, to string)
}

// observedStore is a Store whose transactions report the changes they
// applied to an Observer after they commit.
type observedStore struct {
	Store
	obs Observer
}

func (s observedStore) InTx(ctx context.Context, fn func(Tx) error) error {
	var applied []Change
	err := s.Store.InTx(ctx, func(tx Tx) error {
		applied = applied[:0] // fn may be run again
		return fn(observedTx{Tx: tx, applied: &applied})
	})
	if err != nil {
		return err
	}
	for _, c := range applied {
		report(s.obs, c)
	}
	return nil
}

// observedTx remembers the changes Apply wrote.
type observedTx struct {
	Tx
	applied *[]Change
}

func (t observedTx) Apply(ctx context.Context, c Change) error {
	if err := t.Tx.Apply(ctx, c); err != nil {
		return err
	}
	*t.applied = append(*t.applied, c)
	return nil
}

// report tells o what c changed.
func report(o Observer, c Change) {
	if c.New != nil {
		o.RequestFiled(c.New.Environment, c.New.Status != request.StatusDenied)
	}
	if c.Vote != nil {
		o.VoteCast(c.Vote.Decision)
	}
	if c.To != "" && c.To != c.From {
		o.StatusChanged(string(c.From), string(c.To))
	}
}

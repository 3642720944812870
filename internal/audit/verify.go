package audit

import (
	"bytes"
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Problem describes the first event at which the chain does not check.
type Problem struct {
	Seq     int64  `json:"seq"`
	EventID int64  `json:"event_id"`
	Reason  string `json:"reason"`
}

func (p *Problem) Error() string {
	return fmt.Sprintf("audit chain broken at seq %d (event id %d): %s", p.Seq, p.EventID, p.Reason)
}

// Report is the result of a verification.
type Report struct {
	Checked  int64    `json:"checked"`
	HeadSeq  int64    `json:"head_seq"`
	HeadHash HexBytes `json:"head_hash,omitempty"`
	Unsealed int64    `json:"unsealed"`
	Problem  *Problem `json:"problem,omitempty"`
}

// OK reports whether every sealed event checked.
func (r Report) OK() bool { return r.Problem == nil }

// Chain checks a sequence of sealed events fed in seq order. It is the one
// implementation of the chain rules, used online and offline.
type Chain struct {
	h       *Hasher
	prev    []byte
	wantSeq int64
	Report  Report
}

// NewChain starts a verification at the genesis.
func NewChain() *Chain {
	return &Chain{h: NewHasher(), prev: Genesis, wantSeq: 1}
}

// Next checks e against the chain so far. After the first problem it
// returns that problem for every later call.
func (c *Chain) Next(e *Event) *Problem {
	if c.Report.Problem != nil {
		return c.Report.Problem
	}
	var reason string
	switch {
	case e.Seq != c.wantSeq:
		reason = fmt.Sprintf("expected seq %d: an event is missing, inserted or out of order", c.wantSeq)
	case !bytes.Equal(e.PrevHash, c.prev):
		reason = "prev_hash does not match the previous event's hash: an event before it was removed, inserted or reordered"
	case !bytes.Equal(c.h.Sum(c.prev, e), e.Hash):
		reason = "content does not match its hash: the event was modified"
	}
	if reason != "" {
		c.Report.Problem = &Problem{Seq: e.Seq, EventID: e.ID, Reason: reason}
		return c.Report.Problem
	}
	c.prev = append(c.prev[:0:0], e.Hash...)
	c.wantSeq++
	c.Report.Checked++
	c.Report.HeadSeq = e.Seq
	c.Report.HeadHash = c.prev
	return nil
}

// Querier is what online verification reads through.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Verify streams every sealed event in seq order and checks the chain.
func Verify(ctx context.Context, db Querier) (Report, error) {
	c := NewChain()
	rows, err := db.Query(ctx, `SELECT `+selectColumns+` FROM audit_events WHERE seq IS NOT NULL ORDER BY seq`)
	if err != nil {
		return Report{}, fmt.Errorf("verify: %w", err)
	}
	defer rows.Close()
	var e Event
	for rows.Next() {
		if err := scanEvent(rows, &e); err != nil {
			return Report{}, fmt.Errorf("verify: %w", err)
		}
		if c.Next(&e) != nil {
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Report{}, fmt.Errorf("verify: %w", err)
	}
	if err := db.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE seq IS NULL`).Scan(&c.Report.Unsealed); err != nil {
		return Report{}, fmt.Errorf("verify: count unsealed: %w", err)
	}
	return c.Report, nil
}

package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Problem describes the first point at which the trail does not check.
type Problem struct {
	// Seq is the first bad event: the one that is modified or out of place,
	// or, for a truncated tail, the first missing one.
	Seq     int64 `json:"seq"`
	EventID int64 `json:"event_id"`
	// Checkpoint is the signed checkpoint the problem contradicts: the first
	// one whose head covers Seq. 0 when no checkpoint covers it yet (the
	// problem lies in the unsigned tail).
	Checkpoint int64  `json:"checkpoint,omitempty"`
	Reason     string `json:"reason"`
}

func (p *Problem) Error() string {
	s := fmt.Sprintf("audit chain broken at seq %d", p.Seq)
	if p.EventID != 0 {
		s += fmt.Sprintf(" (event id %d)", p.EventID)
	}
	s += ": " + p.Reason
	if p.Checkpoint != 0 {
		s += fmt.Sprintf("; contradicts signed checkpoint %d", p.Checkpoint)
	}
	return s
}

// Report is the result of a verification.
type Report struct {
	Checked  int64    `json:"checked"`
	HeadSeq  int64    `json:"head_seq"`
	HeadHash HexBytes `json:"head_hash,omitempty"`
	Unsealed int64    `json:"unsealed"`
	// Checkpoints is how many checkpoints were checked; LastCheckpoint is
	// the newest of them.
	Checkpoints    int64       `json:"checkpoints"`
	LastCheckpoint *Checkpoint `json:"last_checkpoint,omitempty"`
	// Unsigned is how many checked events lie after the last checkpoint's
	// head: chained, but not yet covered by a signature.
	Unsigned int64 `json:"unsigned"`
	// SignaturesUnchecked counts checkpoints whose signature could not be
	// checked because no trusted key was given. Such a report is not a
	// proof: see Complete.
	SignaturesUnchecked int64    `json:"signatures_unchecked,omitempty"`
	Problem             *Problem `json:"problem,omitempty"`
}

// OK reports whether everything that was checked checks: no problem found.
func (r Report) OK() bool { return r.Problem == nil }

// Complete reports whether the verification is a proof: OK, and every
// checkpoint's signature was checked against a trusted key.
func (r Report) Complete() bool { return r.OK() && r.SignaturesUnchecked == 0 }

// Chain checks a trail fed in export order: sealed events in seq order, each
// checkpoint right after the event at its head. It is the one
// implementation of the rules, used online (Verify) and offline
// (VerifyStream), and is not safe for concurrent use.
//
// Events must link: seq 1, 2, 3…, each prev_hash the previous hash, each
// hash the Hasher's sum of its content. Checkpoints must link (seq 1, 2, 3…,
// prev_signature the previous signature), carry a valid signature of a
// trusted key, and sign the hash the chain has at their head: a checkpoint
// whose head lies beyond the end of the trail reveals a truncated tail.
type Chain struct {
	h       *Hasher
	prev    []byte
	sum     []byte
	wantSeq int64
	keys    map[string]ed25519.PublicKey
	lastCP  *Checkpoint
	// anchorEvent, anchorCP: the next event or checkpoint is taken as
	// given (a partial trail, see Partial).
	anchorEvent, anchorCP bool
	ext                   *externalCheckpoints
	// signedBefore, when set, is the time before which every event must be
	// covered by a checkpoint (RequireSignedBefore); unsigned is the span
	// since the last checkpoint: its first seq and its oldest event's time.
	signedBefore   time.Time
	unsignedFrom   int64
	unsignedOldest time.Time
	// Report is the verification so far. Its HeadHash aliases an internal
	// buffer until Finish.
	Report Report
}

// NewChain starts a verification at the genesis.
func NewChain() *Chain {
	return newChainAt(0, genesis)
}

// newChainAt starts a verification after the event at seq whose hash is
// hash (a trusted point, such as a verified checkpoint).
func newChainAt(seq int64, hash []byte) *Chain {
	return &Chain{h: NewHasher(), prev: bytes.Clone(hash), sum: make([]byte, 0, 32), wantSeq: seq + 1,
		Report: Report{HeadSeq: seq}}
}

// Trust adds a public key that checkpoint signatures are checked against.
// Without any, signatures are counted in Report.SignaturesUnchecked.
func (c *Chain) Trust(keys ...ed25519.PublicKey) {
	if c.keys == nil {
		c.keys = map[string]ed25519.PublicKey{}
	}
	for _, k := range keys {
		c.keys[KeyID(k)] = k
	}
}

// RequireSignedBefore makes Finish fail when an event that occurred before
// t is covered by no checkpoint. A checkpointer signs the chain's head
// every interval; events older than that (with a margin) and still unsigned
// mean checkpoints were deleted, or never made: a superuser could then
// re-hash the whole trail unnoticed.
func (c *Chain) RequireSignedBefore(t time.Time) { c.signedBefore = t }

// Partial accepts a trail that starts after the genesis (an export resumed
// from a sequence number): the first event's seq and prev_hash, and the
// first checkpoint's seq and prev_signature, are taken as given. What
// follows is checked as usual, so the first checkpoint after the start
// still authenticates every event before its head.
func (c *Chain) Partial() {
	c.anchorEvent, c.anchorCP = true, true
}

// Next checks e against the chain so far. After the first problem it
// returns that problem for every later call.
func (c *Chain) Next(e *Event) *Problem {
	if c.Report.Problem != nil {
		return c.Report.Problem
	}
	if c.anchorEvent {
		c.anchorEvent = false
		c.wantSeq, c.prev = e.Seq, append(c.prev[:0], e.PrevHash...)
	}
	var reason string
	switch {
	case e.Seq != c.wantSeq:
		reason = fmt.Sprintf("expected seq %d: an event is missing, inserted or out of order", c.wantSeq)
	case !bytes.Equal(e.PrevHash, c.prev):
		reason = "prev_hash does not match the previous event's hash: an event before it was removed, inserted or reordered"
	default:
		c.sum = c.h.sumInto(c.sum[:0], c.prev, e)
		if !bytes.Equal(c.sum, e.Hash) {
			reason = "content does not match its hash: the event was modified"
		}
	}
	if reason != "" {
		c.Report.Problem = &Problem{Seq: e.Seq, EventID: e.ID, Reason: reason}
		return c.Report.Problem
	}
	c.prev = append(c.prev[:0], e.Hash...)
	c.wantSeq++
	if c.unsignedFrom == 0 {
		c.unsignedFrom, c.unsignedOldest = e.Seq, e.OccurredAt
	} else if e.OccurredAt.Before(c.unsignedOldest) {
		c.unsignedOldest = e.OccurredAt
	}
	c.Report.Checked++
	c.Report.HeadSeq = e.Seq
	c.Report.HeadHash = c.prev
	return nil
}

// Checkpoint checks cp, which must come right after the event at its head.
// After a problem, it only notes which checkpoint the problem contradicts.
func (c *Chain) Checkpoint(cp *Checkpoint) *Problem {
	if p := c.Report.Problem; p != nil {
		if p.Checkpoint == 0 && cp.HeadSeq >= p.Seq {
			p.Checkpoint = cp.Seq
		}
		return p
	}
	if c.ext != nil {
		if p := c.ext.check(c, cp); p != nil {
			return c.fail(p)
		}
	}
	fail := func(seq int64, format string, args ...any) *Problem {
		return c.fail(&Problem{Seq: seq, Checkpoint: cp.Seq, Reason: fmt.Sprintf(format, args...)})
	}
	switch {
	case c.anchorCP:
	case c.lastCP == nil && cp.Seq != 1:
		return fail(cp.HeadSeq, "expected checkpoint 1 first, found checkpoint %d: checkpoints were removed", cp.Seq)
	case c.lastCP == nil && !bytes.Equal(cp.PrevSignature, noSignature):
		return fail(cp.HeadSeq, "checkpoint 1 has a prev_signature: checkpoints before it were removed")
	case c.lastCP != nil && cp.Seq != c.lastCP.Seq+1:
		return fail(cp.HeadSeq, "expected checkpoint %d after checkpoint %d: a checkpoint was removed, inserted or reordered", c.lastCP.Seq+1, c.lastCP.Seq)
	case c.lastCP != nil && !bytes.Equal(cp.PrevSignature, c.lastCP.Signature):
		return fail(cp.HeadSeq, "prev_signature does not match checkpoint %d's signature: a checkpoint was replaced", c.lastCP.Seq)
	case c.lastCP != nil && cp.HeadSeq <= c.lastCP.HeadSeq:
		return fail(cp.HeadSeq, "head seq %d does not move past checkpoint %d's head %d", cp.HeadSeq, c.lastCP.Seq, c.lastCP.HeadSeq)
	}
	c.anchorCP = false
	if len(c.keys) == 0 {
		c.Report.SignaturesUnchecked++
	} else if key, ok := c.keys[cp.KeyID]; !ok {
		return fail(cp.HeadSeq, "signed by key %s, which is not a trusted key (trusted: %s): forged or signed elsewhere", cp.KeyID, c.trusted())
	} else if !ed25519.Verify(key, cp.Message(), cp.Signature) {
		return fail(cp.HeadSeq, "signature does not verify with key %s: the checkpoint was forged or altered", cp.KeyID)
	}
	beforeStart := c.Report.Checked == 0 && c.anchorEvent
	switch {
	case beforeStart:
		// A partial trail's checkpoint for a head before its first event.
	case cp.HeadSeq > c.Report.HeadSeq:
		return fail(c.Report.HeadSeq+1, "checkpoint %d signed head seq %d, but the trail ends at seq %d: events %d to %d were removed (tail truncated)",
			cp.Seq, cp.HeadSeq, c.Report.HeadSeq, c.Report.HeadSeq+1, cp.HeadSeq)
	case cp.HeadSeq < c.Report.HeadSeq:
		return fail(cp.HeadSeq, "checkpoint %d for head seq %d comes after seq %d: the trail is out of order", cp.Seq, cp.HeadSeq, c.Report.HeadSeq)
	case !bytes.Equal(cp.HeadHash, c.prev):
		since := "the genesis"
		if c.lastCP != nil {
			since = fmt.Sprintf("seq %d (checkpoint %d)", c.lastCP.HeadSeq, c.lastCP.Seq)
		}
		return fail(cp.HeadSeq, "the chain's hash at seq %d differs from the one checkpoint %d signed: events after %s were rewritten and re-hashed",
			cp.HeadSeq, cp.Seq, since)
	}
	cc := *cp
	c.lastCP = &cc
	c.unsignedFrom, c.unsignedOldest = 0, time.Time{}
	c.Report.Checkpoints++
	c.Report.LastCheckpoint = &cc
	return nil
}

func (c *Chain) fail(p *Problem) *Problem {
	c.Report.Problem = p
	return p
}

func (c *Chain) trusted() string {
	ids := make([]string, 0, len(c.keys))
	for id := range c.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return strings.Join(ids, ", ")
}

// Finish ends the trail: it checks the external checkpoints not seen in it
// (CompareWithDir), computes Report.Unsigned and detaches Report from the
// chain's buffers. Call it once, after the last event and checkpoint.
func (c *Chain) Finish() *Problem {
	if c.ext != nil && c.Report.Problem == nil {
		if p := c.ext.rest(c); p != nil {
			c.fail(p)
		}
	}
	c.Report.HeadHash = bytes.Clone(c.Report.HeadHash)
	if c.Report.Problem == nil && !c.signedBefore.IsZero() && c.unsignedFrom != 0 && c.unsignedOldest.Before(c.signedBefore) {
		c.fail(&Problem{Seq: c.unsignedFrom, Reason: fmt.Sprintf(
			"events %d to %d are covered by no signed checkpoint, and the oldest of them occurred at %s, before %s: "+
				"checkpoints were deleted (a re-hashed trail passes every other check) or the checkpointer does not run",
			c.unsignedFrom, c.Report.HeadSeq, c.unsignedOldest.UTC().Format(time.RFC3339), c.signedBefore.UTC().Format(time.RFC3339))})
	}
	if c.Report.Problem == nil {
		c.Report.Unsigned = c.Report.Checked
		if c.lastCP != nil {
			c.Report.Unsigned = c.Report.HeadSeq - c.lastCP.HeadSeq
		}
	}
	return c.Report.Problem
}

// CompareWithDir holds the trail against the checkpoint files a
// Checkpointer wrote to dir (outside the database): each must appear in the
// trail unchanged. A database cut back behind its newest checkpoints, with
// those checkpoints deleted too, passes every other check; it fails this one.
//
// A directory that does not exist holds no copies yet (a service that has
// not signed anything); callers that require one check it themselves.
func (c *Chain) CompareWithDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		ents, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("read checkpoint directory: %w", err)
	}
	x := &externalCheckpoints{dir: dir}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		n, err := strconv.ParseInt(name, 10, 64)
		if err != nil || n < 1 {
			continue
		}
		x.seqs = append(x.seqs, n)
	}
	slices.Sort(x.seqs)
	c.ext = x
	return nil
}

// externalCheckpoints walks a checkpoint directory in seq order alongside
// the trail's checkpoints.
type externalCheckpoints struct {
	dir     string
	seqs    []int64
	i       int
	started bool
}

func (x *externalCheckpoints) load(seq int64) (*Checkpoint, *Problem) {
	p := filepath.Join(x.dir, strconv.FormatInt(seq, 10)+".json")
	cp, err := ReadCheckpointFile(p)
	if err != nil {
		return nil, &Problem{Checkpoint: seq, Reason: fmt.Sprintf("external copy unreadable: %v", err)}
	}
	if cp.Seq != seq {
		return nil, &Problem{Checkpoint: seq, Reason: fmt.Sprintf("external copy %s holds checkpoint %d", p, cp.Seq)}
	}
	return cp, nil
}

// check compares the trail's checkpoint cp with the copy of the same seq,
// and reports copies of earlier checkpoints the trail lacks.
func (x *externalCheckpoints) check(c *Chain, cp *Checkpoint) *Problem {
	if !x.started {
		x.started = true
		if c.anchorCP {
			// A partial trail: copies before its first checkpoint are out of scope.
			for x.i < len(x.seqs) && x.seqs[x.i] < cp.Seq {
				x.i++
			}
		}
	}
	for x.i < len(x.seqs) && x.seqs[x.i] < cp.Seq {
		ext, p := x.load(x.seqs[x.i])
		if p != nil {
			return p
		}
		return &Problem{Seq: ext.HeadSeq, Checkpoint: ext.Seq,
			Reason: fmt.Sprintf("checkpoint %d (head seq %d) exists in %s but is missing from the trail", ext.Seq, ext.HeadSeq, x.dir)}
	}
	if x.i < len(x.seqs) && x.seqs[x.i] == cp.Seq {
		x.i++
		ext, p := x.load(cp.Seq)
		if p != nil {
			return p
		}
		if !ext.equal(cp) {
			return &Problem{Seq: cp.HeadSeq, Checkpoint: cp.Seq,
				Reason: fmt.Sprintf("checkpoint %d differs from its external copy in %s: it was altered", cp.Seq, x.dir)}
		}
	}
	return nil
}

// rest reports the first external copy newer than the trail's checkpoints.
func (x *externalCheckpoints) rest(c *Chain) *Problem {
	if x.i >= len(x.seqs) {
		return nil
	}
	ext, p := x.load(x.seqs[x.i])
	if p != nil {
		return p
	}
	if c.lastCP != nil && ext.Seq <= c.lastCP.Seq {
		return nil
	}
	if ext.HeadSeq > c.Report.HeadSeq {
		return &Problem{Seq: c.Report.HeadSeq + 1, Checkpoint: ext.Seq,
			Reason: fmt.Sprintf("checkpoint %d in %s signed head seq %d, but the trail ends at seq %d and lacks the checkpoint: events %d to %d and the checkpoints covering them were removed (tail truncated)",
				ext.Seq, x.dir, ext.HeadSeq, c.Report.HeadSeq, c.Report.HeadSeq+1, ext.HeadSeq)}
	}
	return &Problem{Seq: ext.HeadSeq, Checkpoint: ext.Seq,
		Reason: fmt.Sprintf("checkpoint %d (head seq %d) exists in %s but is missing from the trail", ext.Seq, ext.HeadSeq, x.dir)}
}

// Querier is what online verification reads through: a pool, a connection
// or a transaction. With a *pgxpool.Pool, events and checkpoints are read
// on two connections sharing one snapshot.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// VerifyOptions configure a verification.
type VerifyOptions struct {
	// Keys are the trusted checkpoint signing keys.
	Keys []ed25519.PublicKey
	// CheckpointDir, when set, holds the external checkpoint copies the
	// trail is compared with (Chain.CompareWithDir).
	CheckpointDir string
	// Partial accepts a trail that starts after the genesis (VerifyStream
	// of an export made with a FromSeq).
	Partial bool
	// MaxUnsigned, with trusted Keys, fails a trail whose events older
	// than this are covered by no checkpoint (Chain.RequireSignedBefore):
	// twice the checkpoint interval plus a minute (MaxUnsignedFor).
	MaxUnsigned time.Duration
}

// MaxUnsignedFor is how long an event may wait for a checkpoint when the
// checkpointer signs every interval: two intervals and a minute.
func MaxUnsignedFor(interval time.Duration) time.Duration { return 2*interval + time.Minute }

func (o VerifyOptions) chain() (*Chain, error) {
	c := NewChain()
	c.Trust(o.Keys...)
	if len(o.Keys) > 0 && o.MaxUnsigned > 0 {
		c.RequireSignedBefore(time.Now().Add(-o.MaxUnsigned))
	}
	if o.Partial {
		c.Partial()
	}
	if o.CheckpointDir != "" {
		if err := c.CompareWithDir(o.CheckpointDir); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Verify checks every sealed event and every checkpoint in the database,
// without checking checkpoint signatures (see VerifyWith).
func Verify(ctx context.Context, db Querier) (Report, error) {
	return VerifyWith(ctx, db, VerifyOptions{})
}

// VerifyWith streams the trail from the database in one snapshot and checks
// it with a Chain, then counts the events not sealed yet.
func VerifyWith(ctx context.Context, db Querier, o VerifyOptions) (Report, error) {
	c, err := o.chain()
	if err != nil {
		return Report{}, fmt.Errorf("verify: %w", err)
	}
	t, err := openTrail(ctx, db, 1)
	if err != nil {
		return Report{}, fmt.Errorf("verify: %w", err)
	}
	defer t.close()
	for {
		e, cp, err := t.next()
		if err != nil {
			return Report{}, fmt.Errorf("verify: %w", err)
		}
		switch {
		case e != nil:
			if c.Next(e) != nil {
				// Only the checkpoints matter now: which one the problem
				// contradicts.
				t.skipEvents()
			}
		case cp != nil:
			c.Checkpoint(cp)
		}
		if e == nil && cp == nil {
			break
		}
		if p := c.Report.Problem; p != nil && p.Checkpoint != 0 {
			break
		}
	}
	c.Finish()
	if c.Report.Unsealed, err = t.unsealed(ctx); err != nil {
		return Report{}, fmt.Errorf("verify: count unsealed: %w", err)
	}
	return c.Report, nil
}

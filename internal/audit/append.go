package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// Execer is what Append needs: a pgx.Tx in practice, so that the event commits
// with the state change it records.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Record is an event to append. Payload is marshalled to JSON once and the
// exact bytes are stored and hashed.
type Record struct {
	Kind             string
	Actor            string
	RequestID        uuid.UUID // uuid.Nil for none
	DBInstanceID     string
	ErrorCode        string
	AlibabaRequestID string
	Payload          any
	// At defaults to the current time.
	At time.Time
}

const appendSQL = `
INSERT INTO audit_events
    (occurred_at, kind, actor, request_id, db_instance_id, error_code, alibaba_request_id, payload)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::json[])`

const (
	appendColumns = `occurred_at, kind, actor, request_id, db_instance_id, error_code, alibaba_request_id, payload`
	appendOneSQL  = `INSERT INTO audit_events (` + appendColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json)`
)

// Append inserts records in one statement inside the caller's transaction.
// It takes no lock: the Sealer chains the events after they commit.
func Append(ctx context.Context, tx Execer, recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	now := time.Now()
	rows := make([]eventRow, len(recs))
	for i := range recs {
		var err error
		if rows[i], err = recs[i].row(now); err != nil {
			return err
		}
	}
	if len(rows) == 1 {
		// The common case, without the arrays: cheaper on both sides.
		if _, err := tx.Exec(ctx, appendOneSQL, rows[0].args()...); err != nil {
			return fmt.Errorf("append audit event %s: %w", rows[0].kind, err)
		}
		return nil
	}
	n := len(rows)
	var (
		at      = make([]time.Time, n)
		kinds   = make([]string, n)
		actors  = make([]string, n)
		rids    = make([]pgtype.UUID, n)
		insts   = make([]*string, n)
		codes   = make([]*string, n)
		aliIDs  = make([]*string, n)
		payload = make([]string, n)
	)
	for i, r := range rows {
		at[i], kinds[i], actors[i], rids[i] = r.at, r.kind, r.actor, r.requestID
		insts[i], codes[i], aliIDs[i], payload[i] = r.instance, r.errorCode, r.alibabaID, r.payload
	}
	if _, err := tx.Exec(ctx, appendSQL, at, kinds, actors, rids, insts, codes, aliIDs, payload); err != nil {
		return fmt.Errorf("append audit events: %w", err)
	}
	return nil
}

// eventRow is a Record as stored: checked, its time defaulted and at the
// database's precision, its payload marshalled.
type eventRow struct {
	at                             time.Time
	kind, actor                    string
	requestID                      pgtype.UUID // pgx encodes a uuid.UUID through its text form
	instance, errorCode, alibabaID *string
	payload                        string
}

// row checks r and returns it as stored; now is the time of a Record
// without one.
func (r *Record) row(now time.Time) (eventRow, error) {
	if r.Kind == "" || r.Actor == "" {
		return eventRow{}, fmt.Errorf("append audit event: kind and actor are required")
	}
	at := r.At
	if at.IsZero() {
		at = now
	}
	p := r.Payload
	if p == nil {
		p = struct{}{}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return eventRow{}, fmt.Errorf("append audit event %s: marshal payload: %w", r.Kind, err)
	}
	return eventRow{at: at.UTC().Truncate(time.Microsecond), kind: r.Kind, actor: r.Actor,
		requestID: pgtype.UUID{Bytes: r.RequestID, Valid: r.RequestID != uuid.Nil},
		instance:  nullable(r.DBInstanceID), errorCode: nullable(r.ErrorCode), alibabaID: nullable(r.AlibabaRequestID),
		payload: string(b)}, nil
}

// args returns the row's values in appendColumns' order.
func (e *eventRow) args() []any {
	return []any{e.at, e.kind, e.actor, e.requestID, e.instance, e.errorCode, e.alibabaID, e.payload}
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// scanEvent reads the columns of selectColumns into e.
func scanEvent(row pgx.Row, e *Event) error {
	var inst, code, ali *string
	var seq *int64
	// Into a []byte, not a json.RawMessage: pgx unmarshals into the latter,
	// which drops surrounding white space, and the hash covers the exact
	// stored text.
	var payload []byte
	if err := row.Scan(&e.ID, &seq, &e.OccurredAt, &e.Kind, &e.Actor, &e.RequestID, &inst, &code, &ali,
		&payload, &e.PrevHash, &e.Hash); err != nil {
		return err
	}
	e.Payload = payload
	e.Seq, e.DBInstanceID, e.ErrorCode, e.AlibabaRequestID = deref(seq), derefS(inst), derefS(code), derefS(ali)
	e.OccurredAt = e.OccurredAt.UTC()
	return nil
}

// selectColumns lists the columns scanEvent reads, in order.
const selectColumns = `id, seq, occurred_at, kind, actor, request_id, db_instance_id, error_code,
    alibaba_request_id, payload, prev_hash, hash`

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func derefS(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

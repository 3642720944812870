package audit

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Filter selects events for Search. Zero fields do not filter; set fields
// must all match.
type Filter struct {
	// From and To bound occurred_at: From <= occurred_at < To.
	From, To         time.Time
	Actor            string
	RequestID        string // a UUID
	DBInstanceID     string
	Kind             string
	ErrorCode        string
	AlibabaRequestID string
	// AccountID is the Alibaba Cloud account the event's payload names
	// (the calls' and the trail's events carry account_id).
	AccountID string
	// Cursor is a previous page's NextCursor (the older events) or
	// PrevCursor (the newer ones).
	Cursor string
	// Limit is the page size: DefaultPageSize when 0, at most MaxPageSize.
	Limit int
}

// Page sizes for Search.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Page is one page of events, newest first.
type Page struct {
	Items []Event `json:"items"`
	// NextCursor fetches the next (older) page; empty on the last one.
	NextCursor string `json:"next_cursor,omitempty"`
	// PrevCursor fetches the previous (newer) page; empty on the first.
	PrevCursor string `json:"prev_cursor,omitempty"`
}

// FilterError names the Filter field (or export parameter) whose value is
// unacceptable; the web layer turns it into a 422 naming the field.
type FilterError struct {
	Field   string
	Message string
}

func (e *FilterError) Error() string { return e.Field + ": " + e.Message }

// checkText refuses a text filter that is not valid UTF-8 or holds a NUL:
// PostgreSQL's text cannot hold them, and no event does.
func (f Filter) checkText() error {
	for _, v := range []struct{ field, value string }{
		{"actor", f.Actor}, {"request_id", f.RequestID}, {"db_instance_id", f.DBInstanceID}, {"kind", f.Kind},
		{"error_code", f.ErrorCode}, {"alibaba_request_id", f.AlibabaRequestID}, {"account_id", f.AccountID},
		{"cursor", f.Cursor},
	} {
		if !utf8.ValidString(v.value) || strings.ContainsRune(v.value, 0) {
			return &FilterError{Field: v.field, Message: "must be UTF-8 text without NUL characters"}
		}
	}
	return nil
}

// where is f as SQL conditions on audit_events, with their arguments
// numbered from $1, cursor excepted; package audit checks the values.
func (f Filter) where() (conds []string, args []any, err error) {
	if err := f.checkText(); err != nil {
		return nil, nil, err
	}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	eq := func(col, v string) {
		if v != "" {
			conds = append(conds, col+" = "+arg(v))
		}
	}
	if !f.From.IsZero() {
		conds = append(conds, "occurred_at >= "+arg(f.From))
	}
	if !f.To.IsZero() {
		if !f.From.IsZero() && !f.To.After(f.From) {
			return nil, nil, &FilterError{Field: "to", Message: "must be after from"}
		}
		conds = append(conds, "occurred_at < "+arg(f.To))
	}
	if f.RequestID != "" {
		id, err := uuid.Parse(f.RequestID)
		if err != nil {
			return nil, nil, &FilterError{Field: "request_id", Message: "must be a UUID"}
		}
		conds = append(conds, "request_id = "+arg(id))
	}
	eq("actor", f.Actor)
	eq("db_instance_id", f.DBInstanceID)
	eq("kind", f.Kind)
	eq("error_code", f.ErrorCode)
	eq("alibaba_request_id", f.AlibabaRequestID)
	eq("(payload->>'account_id')", f.AccountID)
	return conds, args, nil
}

// Search returns one page of the events matching f, sealed or not, newest
// first by (occurred_at, id), with keyset pagination on that pair in both
// directions: every filter has an index ending in (occurred_at, id)
// (migration 00004), so a page costs one index range scan however deep it
// is, plus a look at the events not sealed yet.
//
// A page reached with a cursor has a PrevCursor back to the newer events
// (on a page reached through NextCursor it is set without a look: the
// newer page may have become empty only if its events stopped matching,
// which an append-only trail never does).
func Search(ctx context.Context, db Querier, f Filter) (Page, error) {
	limit := f.Limit
	switch {
	case limit == 0:
		limit = DefaultPageSize
	case limit < 0 || limit > MaxPageSize:
		return Page{}, &FilterError{Field: "limit", Message: fmt.Sprintf("must be between 1 and %d", MaxPageSize)}
	}
	where, args, err := f.where()
	if err != nil {
		return Page{}, err
	}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	newer := false
	if f.Cursor != "" {
		var (
			at time.Time
			id int64
		)
		if at, id, newer, err = decodeCursor(f.Cursor); err != nil {
			return Page{}, err
		}
		op := "<"
		if newer {
			op = ">"
		}
		where = append(where, "(occurred_at, id) "+op+" ("+arg(at)+", "+arg(id)+")")
	}
	// Newer pages are read upwards from the cursor and turned round.
	order := "occurred_at DESC, id DESC"
	if newer {
		order = "occurred_at, id"
	}
	// Sealed events through the partial indexes, unsealed ones (a sealer's
	// interval worth) through theirs; each branch is ordered and limited.
	cond := strings.Join(append(where, "seq IS NOT NULL"), " AND ")
	condUnsealed := strings.Join(append(where, "seq IS NULL"), " AND ")
	lim := arg(limit + 1)
	sql := `(SELECT ` + selectColumns + ` FROM audit_events WHERE ` + cond + ` ORDER BY ` + order + ` LIMIT ` + lim + `)
UNION ALL
(SELECT ` + selectColumns + ` FROM audit_events WHERE ` + condUnsealed + ` ORDER BY ` + order + ` LIMIT ` + lim + `)
ORDER BY ` + order + ` LIMIT ` + lim
	items, err := queryEvents(ctx, db, sql, args...)
	if err != nil {
		return Page{}, fmt.Errorf("search audit events: %w", err)
	}
	more := len(items) > limit
	if more {
		items = items[:limit]
	}
	p := Page{Items: items}
	if newer {
		slices.Reverse(p.Items)
	}
	if len(p.Items) == 0 {
		return p, nil
	}
	first, last := p.Items[0], p.Items[len(p.Items)-1]
	switch {
	case newer:
		// Came up from an older page: it is still there.
		p.NextCursor = encodeCursor(last.OccurredAt, last.ID, false)
		if more {
			p.PrevCursor = encodeCursor(first.OccurredAt, first.ID, true)
		}
	default:
		if more {
			p.NextCursor = encodeCursor(last.OccurredAt, last.ID, false)
		}
		if f.Cursor != "" {
			p.PrevCursor = encodeCursor(first.OccurredAt, first.ID, true)
		}
	}
	return p, nil
}

// CountLimit is how many matching events Count counts exactly; beyond it
// Count answers the planner's estimate.
const CountLimit = 10_000

// Total is how many events match a filter.
type Total struct {
	N int64 `json:"n"`
	// Exact is false when more than CountLimit events match: N is then
	// the query planner's estimate (at least CountLimit+1).
	Exact bool `json:"exact"`
}

// Count counts the events matching f (f.Cursor and f.Limit aside). It
// counts at most CountLimit+1 of them, through the same indexes as Search
// and, on a selective filter, index-only: reading as many entries as 200
// pages of 50 would, which costs a few milliseconds. A larger result gets
// the planner's estimate from the table's statistics (EXPLAIN, nothing
// read), marked inexact.
func Count(ctx context.Context, db Querier, f Filter) (Total, error) {
	where, args, err := f.where()
	if err != nil {
		return Total{}, err
	}
	cond := strings.Join(append(where, "seq IS NOT NULL"), " AND ")
	condUnsealed := strings.Join(append(where, "seq IS NULL"), " AND ")
	lim := "$" + strconv.Itoa(len(args)+1)
	var n int64
	err = db.QueryRow(ctx, `SELECT (SELECT count(*) FROM (SELECT FROM audit_events WHERE `+cond+` LIMIT `+lim+`) s)
     + (SELECT count(*) FROM (SELECT FROM audit_events WHERE `+condUnsealed+` LIMIT `+lim+`) u)`,
		append(args, CountLimit+1)...).Scan(&n)
	if err != nil {
		return Total{}, fmt.Errorf("count audit events: %w", err)
	}
	if n <= CountLimit {
		return Total{N: n, Exact: true}, nil
	}
	all := "TRUE"
	if len(where) > 0 {
		all = strings.Join(where, " AND ")
	}
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := db.QueryRow(ctx, `EXPLAIN (FORMAT JSON) SELECT FROM audit_events WHERE `+all, args...).Scan(&plan); err != nil {
		return Total{}, fmt.Errorf("estimate audit events: %w", err)
	}
	est := int64(CountLimit + 1)
	if len(plan) == 1 {
		est = max(est, int64(plan[0].Plan.Rows))
	}
	return Total{N: est}, nil
}

// TimelineLimit bounds Timeline; a request has a handful of events.
const TimelineLimit = 1000

// Timeline returns the events of one request, oldest first.
func Timeline(ctx context.Context, db Querier, requestID uuid.UUID) ([]Event, error) {
	evs, err := queryEvents(ctx, db, `(SELECT `+selectColumns+` FROM audit_events
    WHERE request_id = $1 AND seq IS NOT NULL ORDER BY occurred_at, id LIMIT $2)
UNION ALL
(SELECT `+selectColumns+` FROM audit_events WHERE request_id = $1 AND seq IS NULL ORDER BY occurred_at, id LIMIT $2)
ORDER BY occurred_at, id LIMIT $2`, requestID, TimelineLimit)
	if err != nil {
		return nil, fmt.Errorf("timeline of request %s: %w", requestID, err)
	}
	return evs, nil
}

func queryEvents(ctx context.Context, db Querier, sql string, args ...any) ([]Event, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	items := []Event{}
	for rows.Next() {
		var e Event
		if err := scanEvent(rows, &e); err != nil {
			return nil, err
		}
		items = append(items, e)
	}
	return items, rows.Err()
}

// A cursor is "<occurred_at as Unix microseconds>.<id>" (the events older
// than that one) or "n.<occurred_at>.<id>" (the newer ones) in unpadded
// base64url: opaque to clients, cheap to check. Older cursors keep the form
// they had before the newer ones existed.
func encodeCursor(at time.Time, id int64, newer bool) string {
	s := strconv.FormatInt(at.UnixMicro(), 10) + "." + strconv.FormatInt(id, 10)
	if newer {
		s = "n." + s
	}
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func decodeCursor(s string) (at time.Time, id int64, newer bool, err error) {
	bad := &FilterError{Field: "cursor", Message: "not a cursor returned by this API"}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, 0, false, bad
	}
	rest, newer := strings.CutPrefix(string(b), "n.")
	us, idStr, ok := strings.Cut(rest, ".")
	if !ok {
		return time.Time{}, 0, false, bad
	}
	micros, err1 := strconv.ParseInt(us, 10, 64)
	id, err2 := strconv.ParseInt(idStr, 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}, 0, false, bad
	}
	return time.UnixMicro(micros).UTC(), id, newer, nil
}

package audit

import (
	"context"
	"encoding/base64"
	"fmt"
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
	// Cursor is a previous page's NextCursor.
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
		{"error_code", f.ErrorCode}, {"alibaba_request_id", f.AlibabaRequestID}, {"cursor", f.Cursor},
	} {
		if !utf8.ValidString(v.value) || strings.ContainsRune(v.value, 0) {
			return &FilterError{Field: v.field, Message: "must be UTF-8 text without NUL characters"}
		}
	}
	return nil
}

// Search returns one page of the events matching f, sealed or not, newest
// first by (occurred_at, id), with keyset pagination on that pair: every
// filter has an index ending in (occurred_at, id) (migration 00004), so a
// page costs one index range scan however deep it is, plus a look at the
// events not sealed yet.
func Search(ctx context.Context, db Querier, f Filter) (Page, error) {
	if err := f.checkText(); err != nil {
		return Page{}, err
	}
	limit := f.Limit
	switch {
	case limit == 0:
		limit = DefaultPageSize
	case limit < 0 || limit > MaxPageSize:
		return Page{}, &FilterError{Field: "limit", Message: fmt.Sprintf("must be between 1 and %d", MaxPageSize)}
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = "+arg(v))
		}
	}
	if !f.From.IsZero() {
		where = append(where, "occurred_at >= "+arg(f.From))
	}
	if !f.To.IsZero() {
		if !f.From.IsZero() && !f.To.After(f.From) {
			return Page{}, &FilterError{Field: "to", Message: "must be after from"}
		}
		where = append(where, "occurred_at < "+arg(f.To))
	}
	if f.RequestID != "" {
		id, err := uuid.Parse(f.RequestID)
		if err != nil {
			return Page{}, &FilterError{Field: "request_id", Message: "must be a UUID"}
		}
		where = append(where, "request_id = "+arg(id))
	}
	eq("actor", f.Actor)
	eq("db_instance_id", f.DBInstanceID)
	eq("kind", f.Kind)
	eq("error_code", f.ErrorCode)
	eq("alibaba_request_id", f.AlibabaRequestID)
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return Page{}, err
		}
		where = append(where, "(occurred_at, id) < ("+arg(at)+", "+arg(id)+")")
	}
	// Sealed events through the partial indexes, unsealed ones (a sealer's
	// interval worth) through theirs; each branch is ordered and limited.
	cond := strings.Join(append(where, "seq IS NOT NULL"), " AND ")
	condUnsealed := strings.Join(append(where, "seq IS NULL"), " AND ")
	lim := arg(limit + 1)
	sql := `(SELECT ` + selectColumns + ` FROM audit_events WHERE ` + cond + ` ORDER BY occurred_at DESC, id DESC LIMIT ` + lim + `)
UNION ALL
(SELECT ` + selectColumns + ` FROM audit_events WHERE ` + condUnsealed + ` ORDER BY occurred_at DESC, id DESC LIMIT ` + lim + `)
ORDER BY occurred_at DESC, id DESC LIMIT ` + lim
	items, err := queryEvents(ctx, db, sql, args...)
	if err != nil {
		return Page{}, fmt.Errorf("search audit events: %w", err)
	}
	p := Page{Items: items}
	if len(items) > limit {
		p.Items = items[:limit]
		last := p.Items[limit-1]
		p.NextCursor = encodeCursor(last.OccurredAt, last.ID)
	}
	return p, nil
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

// A cursor is "<occurred_at as Unix microseconds>.<id>" in unpadded
// base64url: opaque to clients, cheap to check.
func encodeCursor(at time.Time, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + "." + strconv.FormatInt(id, 10)))
}

func decodeCursor(s string) (time.Time, int64, error) {
	bad := &FilterError{Field: "cursor", Message: "not a cursor returned by this API"}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, 0, bad
	}
	us, idStr, ok := strings.Cut(string(b), ".")
	if !ok {
		return time.Time{}, 0, bad
	}
	micros, err1 := strconv.ParseInt(us, 10, 64)
	id, err2 := strconv.ParseInt(idStr, 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}, 0, bad
	}
	return time.UnixMicro(micros).UTC(), id, nil
}

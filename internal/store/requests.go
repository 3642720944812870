package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/rdsgate/rdsgate/internal/request"
)

// Querier is a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// InsertRequest stores a new request (without votes), in a transaction or
// a Batch.
func InsertRequest(ctx context.Context, tx Execer, r *request.Request) error {
	reqs, err := json.Marshal(r.ApproverRequirements)
	if err != nil {
		return fmt.Errorf("insert request: %w", err)
	}
	// pgtype.UUID, not uuid.UUID: pgx encodes the latter through its
	// driver.Valuer text form, which cost more than the rest of the row.
	values := []any{pgtype.UUID{Bytes: r.ID, Valid: true}, r.Requester, r.RegionID, r.DBInstanceID, r.ConnectionString, r.NetworkType,
		r.Justification, r.Ticket, string(r.Status), r.PayloadHash[:], r.RequiredApprovals, reqs,
		r.Environment, []byte(r.Decision), r.PolicyRevision, r.CreatedAt, r.CreatedAt}
	if q, ok := tx.(RowQueuer); ok {
		q.QueueRow("requests", requestColumns, values...)
		return nil
	}
	if _, err = tx.Exec(ctx, `INSERT INTO requests (`+requestColumns+`)
VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)`, values...); err != nil {
		return domainErr(err, "insert request")
	}
	return nil
}

const requestColumns = `id, requester, region_id, db_instance_id, connection_string, network_type,
    justification, ticket, status, payload_hash, required_approvals, approver_requirements,
    environment, decision, policy_revision, created_at, updated_at`

func scanRequest(row pgx.Row) (*request.Request, error) {
	var (
		r      request.Request
		status string
		hash   []byte
		reqs   []byte
	)
	if err := row.Scan(&r.ID, &r.Requester, &r.RegionID, &r.DBInstanceID, &r.ConnectionString, &r.NetworkType,
		&r.Justification, &r.Ticket, &status, &hash, &r.RequiredApprovals, &reqs,
		&r.Environment, &r.Decision, &r.PolicyRevision, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return nil, err
	}
	r.Status = request.Status(status)
	copy(r.PayloadHash[:], hash)
	if err := json.Unmarshal(reqs, &r.ApproverRequirements); err != nil {
		return nil, fmt.Errorf("decode approver requirements: %w", err)
	}
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return &r, nil
}

// GetRequest loads a request with its votes. forUpdate locks the row until
// the transaction ends: every vote and transition takes this lock first, so
// concurrent votes on one request are applied one after the other.
func GetRequest(ctx context.Context, q Querier, id uuid.UUID, forUpdate bool) (*request.Request, error) {
	sql := `SELECT ` + requestColumns + ` FROM requests WHERE id = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	r, err := scanRequest(q.QueryRow(ctx, sql, id))
	if err != nil {
		return nil, domainErr(err, "request "+id.String())
	}
	rows, err := q.Query(ctx, `SELECT approver, decision, group_name, comment, payload_hash, created_at
FROM approvals WHERE request_id = $1 ORDER BY created_at, approver`, id)
	if err != nil {
		return nil, domainErr(err, "votes of request "+id.String())
	}
	defer rows.Close()
	for rows.Next() {
		var v request.Vote
		var hash []byte
		if err := rows.Scan(&v.Approver, &v.Decision, &v.Group, &v.Comment, &hash, &v.CreatedAt); err != nil {
			return nil, domainErr(err, "votes of request "+id.String())
		}
		copy(v.PayloadHash[:], hash)
		v.CreatedAt = v.CreatedAt.UTC()
		r.Votes = append(r.Votes, v)
	}
	if err := rows.Err(); err != nil {
		return nil, domainErr(err, "votes of request "+id.String())
	}
	return r, nil
}

// InsertVote stores one vote. The primary key (request, approver) refuses a
// second vote by the same approver even if two race past the domain check.
func InsertVote(ctx context.Context, tx pgx.Tx, id uuid.UUID, v request.Vote) error {
	_, err := tx.Exec(ctx, `INSERT INTO approvals (request_id, approver, decision, group_name, comment, payload_hash, created_at)
VALUES ($1,$2,$3,$4,$5,$6,$7)`, id, v.Approver, v.Decision, v.Group, v.Comment, v.PayloadHash[:], v.CreatedAt)
	if err != nil {
		return domainErr(err, "vote by "+v.Approver)
	}
	return nil
}

// SetStatus moves a request from → to, checking the transition against the
// domain's state machine and against the row (compare-and-set), so a stale
// caller gets request.ErrConflict instead of overwriting a newer state.
func SetStatus(ctx context.Context, tx pgx.Tx, id uuid.UUID, from, to request.Status, at time.Time) error {
	if err := request.Transition(from, to); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `UPDATE requests SET status = $3, updated_at = $4 WHERE id = $1 AND status = $2`,
		id, string(from), string(to), at)
	if err != nil {
		return domainErr(err, "update request "+id.String())
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("request %s is no longer %s: %w", id, from, request.ErrConflict)
	}
	return nil
}

// Filter selects requests for ListRequests. Zero fields do not filter.
type Filter struct {
	Status       request.Status
	Requester    string
	DBInstanceID string
	// Cursor is the opaque value of a previous page's NextCursor.
	Cursor string
	Limit  int
}

// MaxPageSize bounds Filter.Limit.
const MaxPageSize = 200

// Page is one page of requests, newest first.
type Page struct {
	Items      []*request.Request `json:"items"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

// ListRequests returns one page, newest first, by keyset pagination on the
// (time-ordered) UUIDv7 id. Votes are not loaded.
func ListRequests(ctx context.Context, q Querier, f Filter) (Page, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	if f.Limit > MaxPageSize {
		return Page{}, request.Invalid("limit", "must be at most %d", MaxPageSize)
	}
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Status != "" {
		add("status = ?", string(f.Status))
	}
	if f.Requester != "" {
		add("requester = ?", f.Requester)
	}
	if f.DBInstanceID != "" {
		add("db_instance_id = ?", f.DBInstanceID)
	}
	if f.Cursor != "" {
		after, err := decodeCursor(f.Cursor)
		if err != nil {
			return Page{}, err
		}
		add("id < ?", after)
	}
	sql := `SELECT ` + requestColumns + ` FROM requests`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit+1)
	sql += ` ORDER BY id DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return Page{}, domainErr(err, "list requests")
	}
	defer rows.Close()
	page := Page{Items: []*request.Request{}}
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return Page{}, domainErr(err, "list requests")
		}
		page.Items = append(page.Items, r)
	}
	if err := rows.Err(); err != nil {
		return Page{}, domainErr(err, "list requests")
	}
	if len(page.Items) > f.Limit {
		page.Items = page.Items[:f.Limit]
		page.NextCursor = base64.RawURLEncoding.EncodeToString(page.Items[f.Limit-1].ID[:])
	}
	return page, nil
}

func decodeCursor(c string) (uuid.UUID, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != 16 {
		return uuid.Nil, request.Invalid("cursor", "is not a cursor this server returned")
	}
	return uuid.UUID(b), nil
}

// ExpirePending returns the ids of pending requests created before cutoff,
// locked for update (skipping rows another transaction holds).
func ExpirePending(ctx context.Context, tx pgx.Tx, cutoff time.Time, limit int) ([]*request.Request, error) {
	rows, err := tx.Query(ctx, `SELECT `+requestColumns+` FROM requests
WHERE status = 'pending' AND created_at < $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`, cutoff, limit)
	if err != nil {
		return nil, domainErr(err, "find expired requests")
	}
	defer rows.Close()
	var out []*request.Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, domainErr(err, "find expired requests")
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

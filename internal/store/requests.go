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

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// querier is a pool, a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const requestColumns = `id, requester, region_id, db_instance_id, connection_string, network_type,
    justification, ticket, status, payload_hash, required_approvals, approver_requirements,
    environment, decision, policy_revision, created_at, updated_at, account_id, parent_id, target_count`

// requestColumnList is requestColumns as a list (for COPY).
func requestColumnList() []string {
	cols := strings.Split(requestColumns, ",")
	for i, c := range cols {
		cols[i] = strings.TrimSpace(c)
	}
	return cols
}

func scanRequest(row pgx.Row) (*request.Request, error) {
	var (
		r      request.Request
		status string
		hash   []byte
		reqs   []byte
	)
	if err := row.Scan(&r.ID, &r.Requester, &r.RegionID, &r.DBInstanceID, &r.ConnectionString, &r.NetworkType,
		&r.Justification, &r.Ticket, &status, &hash, &r.RequiredApprovals, &reqs,
		&r.Environment, &r.Decision, &r.PolicyRevision, &r.CreatedAt, &r.UpdatedAt, &r.AccountID, &r.ParentID,
		&r.TargetCount, &r.Requeues); err != nil {
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

// Request loads a request with its votes.
func (db *DB) Request(ctx context.Context, id uuid.UUID) (*request.Request, error) {
	return getRequest(ctx, db.pool, id, false)
}

// LockRequest loads a request with its votes and locks its row until the
// transaction ends.
func (t *tx) LockRequest(ctx context.Context, id uuid.UUID) (*request.Request, error) {
	return getRequest(ctx, t.Tx, id, true)
}

func getRequest(ctx context.Context, q querier, id uuid.UUID, forUpdate bool) (*request.Request, error) {
	sql := `SELECT ` + requestColumns + `, requeues FROM requests WHERE id = $1`
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

const pendingCountSQL = `SELECT count(*) FROM requests WHERE requester = $1 AND status = 'pending'`

// PendingCount is how many of requester's requests are pending.
func (db *DB) PendingCount(ctx context.Context, requester string) (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, pendingCountSQL, requester).Scan(&n); err != nil {
		return 0, domainErr(err, "count pending requests")
	}
	return n, nil
}

// requesterLockSeed keeps the per-requester advisory locks apart from other
// advisory locks (hashtextextended's seed).
const requesterLockSeed = 0x7265717565737465 // "requeste"

// LockRequester takes the requester's transaction-scoped advisory lock and
// counts their pending requests, in one round trip.
func (t *tx) LockRequester(ctx context.Context, requester string) (int, error) {
	var b pgx.Batch
	b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended($1, $2))`, requester, int64(requesterLockSeed))
	var n int
	b.Queue(pendingCountSQL, requester).QueryRow(func(row pgx.Row) error { return row.Scan(&n) })
	if err := t.SendBatch(ctx, &b).Close(); err != nil {
		return 0, domainErr(err, "lock requester "+requester)
	}
	return n, nil
}

// LockPendingBefore locks up to limit pending requests created before
// cutoff, skipping rows another transaction holds. Votes are not loaded.
func (t *tx) LockPendingBefore(ctx context.Context, cutoff time.Time, limit int) ([]*request.Request, error) {
	rows, err := t.Query(ctx, `SELECT `+requestColumns+`, requeues FROM requests
WHERE status = 'pending' AND created_at < $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`, cutoff, limit)
	if err != nil {
		return nil, domainErr(err, "find expired requests")
	}
	return collectRequests(rows, "find expired requests")
}

func collectRequests(rows pgx.Rows, what string) ([]*request.Request, error) {
	defer rows.Close()
	out := []*request.Request{}
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, domainErr(err, what)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, domainErr(err, what)
	}
	return out, nil
}

// Requests returns one page, newest first, by keyset pagination on the
// (time-ordered) UUIDv7 id. Votes are not loaded.
func (db *DB) Requests(ctx context.Context, f lifecycle.Filter) (lifecycle.Page, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	// A bulk request's targets are listed on its own page, not here; but
	// who released an instance is a question its targets answer too.
	if f.DBInstanceID == "" {
		where = append(where, "parent_id IS NULL")
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
			return lifecycle.Page{}, err
		}
		add("id < ?", after)
	}
	sql := `SELECT ` + requestColumns + `, requeues FROM requests`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit+1)
	sql += ` ORDER BY id DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return lifecycle.Page{}, domainErr(err, "list requests")
	}
	items, err := collectRequests(rows, "list requests")
	if err != nil {
		return lifecycle.Page{}, err
	}
	page := lifecycle.Page{Items: items}
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

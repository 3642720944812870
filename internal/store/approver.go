package store

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// AwaitingVote lists up to limit pending requests, oldest first, that
// approver neither filed nor voted on, each with its votes: the requests
// and their votes in one round trip. The pending ones are found through
// requests_status_idx and "not voted" through the approvals' primary key.
func (db *DB) AwaitingVote(ctx context.Context, approver string, limit int) ([]*request.Request, error) {
	const candidates = `FROM requests r WHERE r.status = 'pending' AND r.requester <> $1
  AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.request_id = r.id AND a.approver = $1)`
	var b pgx.Batch
	var out []*request.Request
	b.Queue(`SELECT `+requestColumnsOf("r")+`, r.requeues `+candidates+` ORDER BY r.id LIMIT $2`, approver, limit).
		Query(func(rows pgx.Rows) (err error) {
			out, err = collectRequests(rows, "requests awaiting "+approver)
			return err
		})
	votes := map[uuid.UUID][]request.Vote{}
	b.Queue(`SELECT v.request_id, v.approver, v.decision, v.group_name, v.comment, v.payload_hash, v.created_at
FROM approvals v WHERE v.request_id IN (SELECT r.id `+candidates+` ORDER BY r.id LIMIT $2)
ORDER BY v.created_at, v.approver`, approver, limit).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id uuid.UUID
			var v request.Vote
			var hash []byte
			if err := rows.Scan(&id, &v.Approver, &v.Decision, &v.Group, &v.Comment, &hash, &v.CreatedAt); err != nil {
				return err
			}
			copy(v.PayloadHash[:], hash)
			v.CreatedAt = v.CreatedAt.UTC()
			votes[id] = append(votes[id], v)
		}
		return rows.Err()
	})
	if err := db.pool.SendBatch(ctx, &b).Close(); err != nil {
		return nil, domainErr(err, "requests awaiting "+approver)
	}
	for _, r := range out {
		r.Votes = votes[r.ID]
	}
	return out, nil
}

// VotedBy returns one page of the requests approver voted on, the newest
// vote first, by keyset pagination on (vote time, request id).
func (db *DB) VotedBy(ctx context.Context, approver, cursor string, limit int) (lifecycle.VotePage, error) {
	args := []any{approver}
	where := `a.approver = $1`
	if cursor != "" {
		at, id, err := decodeVoteCursor(cursor)
		if err != nil {
			return lifecycle.VotePage{}, err
		}
		args = append(args, at, id)
		where += ` AND (a.created_at, a.request_id) < ($2, $3)`
	}
	args = append(args, limit+1)
	rows, err := db.pool.Query(ctx, `SELECT `+requestColumnsOf("r")+`, r.requeues,
    a.decision, a.group_name, a.comment, a.payload_hash, a.created_at
FROM approvals a JOIN requests r ON r.id = a.request_id
WHERE `+where+` ORDER BY a.created_at DESC, a.request_id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return lifecycle.VotePage{}, domainErr(err, "votes of "+approver)
	}
	defer rows.Close()
	pg := lifecycle.VotePage{Items: []lifecycle.VotedRequest{}}
	for rows.Next() {
		v := request.Vote{Approver: approver}
		var hash []byte
		r, err := scanRequest(extraColumns{rows, []any{&v.Decision, &v.Group, &v.Comment, &hash, &v.CreatedAt}})
		if err != nil {
			return lifecycle.VotePage{}, domainErr(err, "votes of "+approver)
		}
		copy(v.PayloadHash[:], hash)
		v.CreatedAt = v.CreatedAt.UTC()
		pg.Items = append(pg.Items, lifecycle.VotedRequest{Request: r, Vote: v})
	}
	if err := rows.Err(); err != nil {
		return lifecycle.VotePage{}, domainErr(err, "votes of "+approver)
	}
	if len(pg.Items) > limit {
		pg.Items = pg.Items[:limit]
		last := pg.Items[limit-1]
		pg.NextCursor = encodeVoteCursor(last.Vote.CreatedAt, last.ID)
	}
	return pg, nil
}

// requestColumnsOf is requestColumns qualified by the table alias t, for
// joins with tables of the same column names.
func requestColumnsOf(t string) string {
	cols := strings.Split(requestColumns, ",")
	for i, c := range cols {
		cols[i] = t + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// extraColumns scans a row whose columns are scanRequest's followed by
// more, into extra.
type extraColumns struct {
	pgx.Row
	extra []any
}

func (r extraColumns) Scan(dest ...any) error { return r.Row.Scan(append(dest, r.extra...)...) }

// A vote cursor is the last vote's time (microseconds, PostgreSQL's
// precision) and request id.
func encodeVoteCursor(at time.Time, id uuid.UUID) string {
	b := binary.BigEndian.AppendUint64(nil, uint64(at.UnixMicro()))
	return base64.RawURLEncoding.EncodeToString(append(b, id[:]...))
}

func decodeVoteCursor(c string) (time.Time, uuid.UUID, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != 24 {
		return time.Time{}, uuid.Nil, request.Invalid("cursor", "is not a cursor this server returned")
	}
	return time.UnixMicro(int64(binary.BigEndian.Uint64(b))).UTC(), uuid.UUID(b[8:]), nil
}

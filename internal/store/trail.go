package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
)

// trailLockSeed keeps the trail readers' advisory locks apart from others.
const trailLockSeed = 0x747261696c // "trail"

// LockTrail takes the transaction-scoped advisory lock of an account's
// trail in a region (two readers of one window record it one after the
// other) and says which of eventIDs were seen before.
func (t *tx) LockTrail(ctx context.Context, accountID, regionID string, eventIDs []string) (map[string]bool, error) {
	if _, err := t.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, $2))`,
		accountID+"/"+regionID, int64(trailLockSeed)); err != nil {
		return nil, domainErr(err, "lock the trail of account "+accountID)
	}
	rows, err := t.Query(ctx, `SELECT event_id FROM trail_events WHERE account_id = $1 AND event_id = ANY($2)`,
		accountID, eventIDs)
	if err != nil {
		return nil, domainErr(err, "trail events seen")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, domainErr(err, "trail events seen")
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
	}
	return seen, nil
}

// KnownCalls maps the Alibaba RequestIds among ids that rdsgate's release
// attempts carry to their request and attempt.
func (t *tx) KnownCalls(ctx context.Context, ids []string) (map[string]lifecycle.Known, error) {
	out := map[string]lifecycle.Known{}
	if len(ids) == 0 {
		return out, nil
	}
	// The attempts' RequestIds, and those of outcomes that came after their
	// attempt was settled (a late answer is recorded in the trail only).
	rows, err := t.Query(ctx, `SELECT alibaba_request_id, request_id, attempt FROM execution_attempts
WHERE alibaba_request_id = ANY($1) AND operation = 'ReleaseInstanceConnection'
UNION ALL
SELECT alibaba_request_id, request_id, coalesce((payload->>'attempt')::int, 0) FROM audit_events
WHERE alibaba_request_id = ANY($1) AND kind IN ('execution.succeeded', 'execution.failed') AND request_id IS NOT NULL`, ids)
	if err != nil {
		return nil, domainErr(err, "match the trail's RequestIds")
	}
	defer rows.Close()
	for rows.Next() {
		var (
			rid string
			k   lifecycle.Known
		)
		if err := rows.Scan(&rid, &k.RequestID, &k.Attempt); err != nil {
			return nil, domainErr(err, "match the trail's RequestIds")
		}
		out[rid] = k
	}
	return out, rows.Err()
}

// UnsettledCall finds a release call of rdsgate's on instanceID whose
// RequestId it never learnt (the call timed out, or its worker died) and
// that started within 15 minutes before at or 5 minutes after it: the
// closest one.
func (t *tx) UnsettledCall(ctx context.Context, instanceID string, at time.Time) (lifecycle.Known, bool, error) {
	var k lifecycle.Known
	err := t.QueryRow(ctx, `SELECT a.request_id, a.attempt FROM execution_attempts a JOIN requests r ON r.id = a.request_id
WHERE r.db_instance_id = $1 AND a.operation = 'ReleaseInstanceConnection'
  AND (a.alibaba_request_id = '' OR a.outcome IS NULL OR a.outcome = 'unknown')
  AND a.started_at BETWEEN $2::timestamptz - interval '15 minutes' AND $2::timestamptz + interval '5 minutes'
ORDER BY abs(extract(epoch FROM a.started_at - $2::timestamptz)) LIMIT 1`, instanceID, at).Scan(&k.RequestID, &k.Attempt)
	if err == pgx.ErrNoRows {
		return k, false, nil
	}
	if err != nil {
		return k, false, domainErr(err, "find an unsettled call on "+instanceID)
	}
	return k, true, nil
}

// TrailCursor is where the last read of an account's trail in a region
// ended; zero when it was never read.
func (db *DB) TrailCursor(ctx context.Context, accountID, regionID string) (time.Time, error) {
	var at time.Time
	err := db.pool.QueryRow(ctx, `SELECT read_until FROM trail_cursors WHERE account_id = $1 AND region_id = $2`,
		accountID, regionID).Scan(&at)
	if err == pgx.ErrNoRows {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, domainErr(err, "trail cursor of account "+accountID)
	}
	return at.UTC(), nil
}

// Confirmations maps the Alibaba RequestIds of a request's calls that
// ActionTrail recorded to the events' times.
func (db *DB) Confirmations(ctx context.Context, id uuid.UUID) (map[string]time.Time, error) {
	rows, err := db.pool.Query(ctx, `SELECT alibaba_request_id, event_time FROM trail_events WHERE request_id = $1`, id)
	if err != nil {
		return nil, domainErr(err, "confirmations of request "+id.String())
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var (
			rid string
			at  time.Time
		)
		if err := rows.Scan(&rid, &at); err != nil {
			return nil, domainErr(err, "confirmations of request "+id.String())
		}
		out[rid] = at.UTC()
	}
	return out, rows.Err()
}

// queueTrail queues the writes of c's trail marks and cursor on b.
func queueTrail(b *pgx.Batch, c lifecycle.Change) {
	for _, m := range c.Trail {
		b.Queue(`INSERT INTO trail_events (account_id, event_id, event_name, event_time, alibaba_request_id,
    db_instance_id, request_id, seen_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
			m.AccountID, m.EventID, m.EventName, m.EventTime, m.AlibabaRequestID, m.DBInstanceID,
			pgtype.UUID{Bytes: m.RequestID, Valid: m.RequestID != uuid.Nil}, m.SeenAt)
	}
	if m := c.TrailCursor; m != nil {
		b.Queue(`INSERT INTO trail_cursors (account_id, region_id, read_until) VALUES ($1, $2, $3)
ON CONFLICT (account_id, region_id) DO UPDATE SET read_until = greatest(trail_cursors.read_until, excluded.read_until)`,
			m.AccountID, m.RegionID, m.Until)
	}
}

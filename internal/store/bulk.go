package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// insertTargets copies a new bulk request's targets.
func (t *tx) insertTargets(ctx context.Context, id uuid.UUID, targets []request.BulkTarget) error {
	rows := make([][]any, len(targets))
	for i, tg := range targets {
		decision, err := json.Marshal(tg.Decision)
		if err != nil {
			return fmt.Errorf("encode the decision of target %d: %w", i, err)
		}
		child := pgtype.UUID{Bytes: tg.RequestID, Valid: tg.RequestID != uuid.Nil}
		rows[i] = []any{id, tg.Index, tg.AccountID, tg.RegionID, tg.DBInstanceID, tg.ConnectionString, tg.NetworkType,
			tg.Decision.Allow, decision, child}
	}
	_, err := t.CopyFrom(ctx, pgx.Identifier{"request_targets"}, []string{"request_id", "idx", "account_id", "region_id",
		"db_instance_id", "connection_string", "network_type", "allowed", "decision", "child_id"}, pgx.CopyFromRows(rows))
	if err != nil {
		return domainErr(err, "insert the targets of request "+id.String())
	}
	return nil
}

// insertChildren inserts an approved bulk request's target requests and
// one execution job each, in the order given (the queue's).
func (t *tx) insertChildren(ctx context.Context, children []*request.Request, trace string) error {
	rows := make([][]any, len(children))
	jobs := make([]river.InsertManyParams, len(children))
	for i, r := range children {
		reqs, err := json.Marshal(r.ApproverRequirements)
		if err != nil {
			return fmt.Errorf("insert request: %w", err)
		}
		rows[i] = []any{r.ID, r.Requester, r.RegionID, r.DBInstanceID, r.ConnectionString, r.NetworkType,
			r.Justification, r.Ticket, string(r.Status), r.PayloadHash[:], r.RequiredApprovals, reqs,
			r.Environment, []byte(r.Decision), r.PolicyRevision, r.CreatedAt, r.CreatedAt,
			r.AccountID, r.ParentID, r.TargetCount}
		jobs[i] = river.InsertManyParams{Args: lifecycle.ReleaseJob{RequestID: r.ID, Trace: trace}, InsertOpts: releaseJobOpts()}
	}
	if _, err := t.CopyFrom(ctx, pgx.Identifier{"requests"}, requestColumnList(), pgx.CopyFromRows(rows)); err != nil {
		return domainErr(err, "insert the target requests")
	}
	if _, err := t.db.queue.InsertManyTx(ctx, t.Tx, jobs); err != nil {
		return fmt.Errorf("enqueue the releases of %d targets: %w", len(children), err)
	}
	return nil
}

// Targets lists a bulk request's targets in their canonical order, each
// with its decision and its request's id.
func (t *tx) Targets(ctx context.Context, id uuid.UUID) ([]request.BulkTarget, error) {
	rows, err := t.Query(ctx, `SELECT idx, account_id, region_id, db_instance_id, connection_string, network_type,
    decision, child_id FROM request_targets WHERE request_id = $1 ORDER BY idx`, id)
	if err != nil {
		return nil, domainErr(err, "targets of request "+id.String())
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (request.BulkTarget, error) {
		var (
			tg       request.BulkTarget
			decision []byte
			child    pgtype.UUID
		)
		if err := row.Scan(&tg.Index, &tg.AccountID, &tg.RegionID, &tg.DBInstanceID, &tg.ConnectionString,
			&tg.NetworkType, &decision, &child); err != nil {
			return tg, domainErr(err, "targets of request "+id.String())
		}
		tg.RequestID = child.Bytes
		return tg, json.Unmarshal(decision, &tg.Decision)
	})
}

// ChildCounts counts a bulk request's target requests by status.
func (t *tx) ChildCounts(ctx context.Context, id uuid.UUID) (map[request.Status]int, error) {
	rows, err := t.Query(ctx, `SELECT status, count(*) FROM requests WHERE parent_id = $1 GROUP BY status`, id)
	if err != nil {
		return nil, domainErr(err, "count the targets of request "+id.String())
	}
	defer rows.Close()
	out := map[request.Status]int{}
	for rows.Next() {
		var (
			s string
			n int
		)
		if err := rows.Scan(&s, &n); err != nil {
			return nil, domainErr(err, "count the targets of request "+id.String())
		}
		out[request.Status(s)] = n
	}
	return out, rows.Err()
}

// LockApprovedChildren locks a bulk request's approved target requests,
// skipping those another transaction holds. Votes are not loaded (they
// have none).
func (t *tx) LockApprovedChildren(ctx context.Context, id uuid.UUID) ([]*request.Request, error) {
	rows, err := t.Query(ctx, `SELECT `+requestColumns+`, requeues FROM requests
WHERE parent_id = $1 AND status = 'approved' ORDER BY id FOR UPDATE SKIP LOCKED`, id)
	if err != nil {
		return nil, domainErr(err, "lock the targets of request "+id.String())
	}
	return collectRequests(rows, "lock the targets of request "+id.String())
}

// BulkTargets lists a bulk request's targets with their decisions, their
// requests' statuses and their attempts, in one query.
func (db *DB) BulkTargets(ctx context.Context, id uuid.UUID) ([]request.BulkTarget, error) {
	rows, err := db.pool.Query(ctx, `SELECT t.idx, t.account_id, t.region_id, t.db_instance_id, t.connection_string,
    t.network_type, t.decision, t.child_id, coalesce(c.status, ''), coalesce(a.attempts, '[]')
FROM request_targets t
LEFT JOIN requests c ON c.id = t.child_id
LEFT JOIN LATERAL (
    SELECT json_agg(json_build_object('attempt', e.attempt, 'operation', e.operation, 'started_at', e.started_at,
        'finished_at', e.finished_at, 'outcome', coalesce(e.outcome, ''), 'classification', e.classification,
        'http_status', coalesce(e.http_status, 0), 'error_code', e.error_code, 'error_message', e.error_message,
        'alibaba_request_id', e.alibaba_request_id, 'retry_after_ms', e.retry_after_ms,
        'found', coalesce(e.found, '')) ORDER BY e.attempt) AS attempts
    FROM execution_attempts e WHERE e.request_id = t.child_id
) a ON true
WHERE t.request_id = $1 ORDER BY t.idx`, id)
	if err != nil {
		return nil, domainErr(err, "targets of request "+id.String())
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (request.BulkTarget, error) {
		var (
			tg                 request.BulkTarget
			decision, attempts []byte
			child              pgtype.UUID
			status             string
		)
		if err := row.Scan(&tg.Index, &tg.AccountID, &tg.RegionID, &tg.DBInstanceID, &tg.ConnectionString,
			&tg.NetworkType, &decision, &child, &status, &attempts); err != nil {
			return tg, domainErr(err, "targets of request "+id.String())
		}
		tg.RequestID, tg.Status = child.Bytes, request.Status(status)
		if err := json.Unmarshal(decision, &tg.Decision); err != nil {
			return tg, fmt.Errorf("decode the decision of target %d: %w", tg.Index, err)
		}
		if err := json.Unmarshal(attempts, &tg.Attempts); err != nil {
			return tg, fmt.Errorf("decode the attempts of target %d: %w", tg.Index, err)
		}
		return tg, nil
	})
}

// RestCancelled reports whether "cancel the rest" was asked of a bulk
// request.
func (t *tx) RestCancelled(ctx context.Context, id uuid.UUID) (bool, error) {
	var cancelled bool
	if err := t.QueryRow(ctx, `SELECT rest_cancelled_at IS NOT NULL FROM requests WHERE id = $1`, id).Scan(&cancelled); err != nil {
		return false, domainErr(err, "request "+id.String())
	}
	return cancelled, nil
}

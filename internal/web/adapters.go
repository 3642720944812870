package web

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/request"
)

// This file adapts the other packages to the small interfaces the pages
// declare (browser.go), so that cmd/rdsgate and the end-to-end tests wire
// them the same way.

// NetInfoClient is the DescribeDBInstanceNetInfo call of *aliyun.Client.
type NetInfoClient interface {
	DescribeDBInstanceNetInfo(ctx context.Context, req aliyun.DescribeDBInstanceNetInfoRequest) (*aliyun.DescribeDBInstanceNetInfoResponse, error)
}

// AliyunLookup is an InstanceLookup over the aliyun client of a region.
type AliyunLookup func(regionID string) (NetInfoClient, error)

// NetInfo describes the instance's endpoints with DescribeDBInstanceNetInfo.
func (f AliyunLookup) NetInfo(ctx context.Context, regionID, instanceID string) (NetInfo, error) {
	c, err := f(regionID)
	if err != nil {
		return NetInfo{}, err
	}
	resp, err := c.DescribeDBInstanceNetInfo(ctx, aliyun.DescribeDBInstanceNetInfoRequest{DBInstanceId: instanceID})
	if err != nil {
		return NetInfo{}, err
	}
	out := NetInfo{InstanceNetworkType: resp.InstanceNetworkType}
	for _, n := range resp.DBInstanceNetInfos.DBInstanceNetInfo {
		out.Endpoints = append(out.Endpoints, Endpoint{ConnectionString: n.ConnectionString, IPType: n.IPType,
			Port: n.Port, Type: n.ConnectionStringType})
	}
	return out, nil
}

// ExecutorAttempts lists execution attempts from the executor's table.
type ExecutorAttempts struct{ DB executor.Querier }

// Attempts implements AttemptLister.
func (x ExecutorAttempts) Attempts(ctx context.Context, requestID uuid.UUID) ([]Attempt, error) {
	as, err := executor.Attempts(ctx, x.DB, requestID)
	if err != nil {
		return nil, err
	}
	out := make([]Attempt, len(as))
	for i, a := range as {
		out[i] = Attempt{Attempt: a.Attempt, Operation: a.Operation, StartedAt: a.StartedAt, FinishedAt: a.FinishedAt,
			Outcome: a.Outcome, Classification: a.Classification, HTTPStatus: a.HTTPStatus, ErrorCode: a.ErrorCode,
			ErrorMessage: a.ErrorMessage, AlibabaRequestID: a.AlibabaRequestID, Found: a.Found}
	}
	return out, nil
}

// AuditVerifier checks the hash chain in the database (audit.Verify: every
// sealed event and checkpoint, without checkpoint signatures).
type AuditVerifier struct{ DB audit.Querier }

// Integrity implements AuditIntegrity.
func (v AuditVerifier) Integrity(ctx context.Context) (audit.Report, error) {
	return audit.Verify(ctx, v.DB)
}

// AuditSQL searches the audit_events table directly. It is the interim
// AuditSearcher and AuditTimeline until package audit exports its own
// search and timeline; then the wiring switches to those and this goes.
// Filters are positional parameters, never spliced values; pages are
// keyset pages on the event id, newest first.
type AuditSQL struct{ DB audit.Querier }

const auditSQLColumns = `id, coalesce(seq, 0), occurred_at, kind, actor, request_id, coalesce(db_instance_id, ''),
    coalesce(error_code, ''), coalesce(alibaba_request_id, ''), payload, coalesce(prev_hash, ''::bytea), coalesce(hash, ''::bytea)`

func scanAuditRows(rows pgx.Rows) ([]audit.Event, error) {
	defer rows.Close()
	out := []audit.Event{}
	for rows.Next() {
		var e audit.Event
		var prev, hash []byte
		if err := rows.Scan(&e.ID, &e.Seq, &e.OccurredAt, &e.Kind, &e.Actor, &e.RequestID, &e.DBInstanceID, &e.ErrorCode,
			&e.AlibabaRequestID, &e.Payload, &prev, &hash); err != nil {
			return nil, fmt.Errorf("read audit events: %w", err)
		}
		e.OccurredAt = e.OccurredAt.UTC()
		if len(hash) > 0 {
			e.PrevHash, e.Hash = prev, hash
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit events: %w", err)
	}
	return out, nil
}

// Timeline implements AuditTimeline.
func (a AuditSQL) Timeline(ctx context.Context, requestID uuid.UUID) ([]audit.Event, error) {
	rows, err := a.DB.Query(ctx, `SELECT `+auditSQLColumns+` FROM audit_events WHERE request_id = $1 ORDER BY id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("timeline of request %s: %w", requestID, err)
	}
	return scanAuditRows(rows)
}

// Search implements AuditSearcher.
func (a AuditSQL) Search(ctx context.Context, q AuditQuery) (AuditPage, error) {
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 100
	}
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if !q.From.IsZero() {
		add("occurred_at >= ?", q.From)
	}
	if !q.To.IsZero() {
		add("occurred_at < ?", q.To)
	}
	for col, v := range map[string]string{"actor": q.Actor, "db_instance_id": q.DBInstanceID, "kind": q.Kind,
		"error_code": q.ErrorCode, "alibaba_request_id": q.AlibabaRequestID} {
		if v != "" {
			add(col+" = ?", v)
		}
	}
	if q.RequestID != uuid.Nil {
		add("request_id = ?", q.RequestID)
	}
	if q.Cursor != "" {
		after, err := strconv.ParseInt(q.Cursor, 10, 64)
		if err != nil || after <= 0 {
			return AuditPage{}, request.Invalid("cursor", "is not a cursor this server returned")
		}
		add("id < ?", after)
	}
	sql := `SELECT ` + auditSQLColumns + ` FROM audit_events`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, q.Limit+1)
	sql += ` ORDER BY id DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := a.DB.Query(ctx, sql, args...)
	if err != nil {
		return AuditPage{}, fmt.Errorf("search audit events: %w", err)
	}
	evs, err := scanAuditRows(rows)
	if err != nil {
		return AuditPage{}, err
	}
	pg := AuditPage{Events: evs}
	if len(evs) > q.Limit {
		pg.Events = evs[:q.Limit]
		pg.NextCursor = strconv.FormatInt(pg.Events[q.Limit-1].ID, 10)
	}
	return pg, nil
}

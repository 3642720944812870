package web

import (
	"context"
	"io"

	"github.com/google/uuid"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/executor"
)

// This file adapts the other packages to the small interfaces the pages
// declare (browser.go), so that cmd/rdsgate and the end-to-end tests wire
// them the same way.

// NetInfoClient is the DescribeDBInstanceNetInfo call of *aliyun.Client.
type NetInfoClient interface {
	DescribeDBInstanceNetInfo(ctx context.Context, req aliyun.DescribeDBInstanceNetInfoRequest) (*aliyun.DescribeDBInstanceNetInfoResponse, error)
}

// AliyunLookup is an InstanceLookup over the aliyun client of a region.
type AliyunLookup struct {
	ClientFor func(regionID string) (NetInfoClient, error)
	// Wait, when set, takes a slot of the account's shared
	// DescribeDBInstanceNetInfo quota before each call, so that lookups and
	// the executor's reconciliation checks never exceed it together (the
	// executor's Limiter().Wait with executor.OpDescribe).
	Wait func(ctx context.Context) error
}

// NetInfo describes the instance's endpoints with DescribeDBInstanceNetInfo.
func (l AliyunLookup) NetInfo(ctx context.Context, regionID, instanceID string) (NetInfo, error) {
	c, err := l.ClientFor(regionID)
	if err != nil {
		return NetInfo{}, err
	}
	if l.Wait != nil {
		if err := l.Wait(ctx); err != nil {
			return NetInfo{}, err
		}
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

// AuditTrail reads the audit trail through package audit: search,
// filtered export, a request's timeline, and the chain's integrity from a
// Monitor (which caches verifications, so the audit page stays cheap).
type AuditTrail struct {
	DB      audit.Querier
	Monitor *audit.Monitor
}

// Search implements AuditSearcher.
func (a AuditTrail) Search(ctx context.Context, f audit.Filter) (audit.Page, error) {
	return audit.Search(ctx, a.DB, f)
}

// Export implements AuditSearcher.
func (a AuditTrail) Export(ctx context.Context, w io.Writer, format string, f audit.Filter) (int64, error) {
	return audit.ExportSearch(ctx, a.DB, w, format, f)
}

// Timeline implements AuditTimeline.
func (a AuditTrail) Timeline(ctx context.Context, requestID uuid.UUID) ([]audit.Event, error) {
	return audit.Timeline(ctx, a.DB, requestID)
}

// Integrity implements AuditIntegrity.
func (a AuditTrail) Integrity(ctx context.Context) (audit.Integrity, error) {
	return a.Monitor.Status(ctx)
}

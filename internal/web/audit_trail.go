package web

import (
	"context"
	"io"

	"github.com/google/uuid"

	"github.com/rdsgate/rdsgate/internal/audit"
)

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

// Count implements the audit log's count of matching events.
func (a AuditTrail) Count(ctx context.Context, f audit.Filter) (audit.Total, error) {
	return audit.Count(ctx, a.DB, f)
}

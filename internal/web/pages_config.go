package web

import (
	"context"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/policy"
)

// Pages configures the server-rendered pages. Deps.Pages nil serves the
// JSON API only. Every field but Sessions and Roles may be nil: the pages
// then say what is not available instead of failing.
type Pages struct {
	// Sessions keeps the signed-in user server-side (required).
	Sessions *auth.Sessions
	// Roles maps groups to page roles (required).
	Roles auth.RoleMap
	// OIDC, when set, offers "Sign in with your organisation".
	OIDC *auth.OIDC
	// DevLogin offers a pick-a-user sign-in over Directory's users. Only for
	// `rdsgate dev`: every page then carries a banner saying so.
	DevLogin bool
	// Directory lists the users (dev sign-in, policy simulator) and their
	// groups; *policy.Engine implements it from ram.json.
	Directory Directory
	// Eligibility decides who may vote on what (inbox, Approve buttons);
	// *policy.Engine implements it.
	Eligibility Eligibility
	// Audit searches the trail for the audit log page and its exports.
	Audit AuditSearcher
	// Timeline lists one request's audit events for its page.
	Timeline AuditTimeline
	// Integrity reports the hash chain's state on the audit log page.
	Integrity AuditIntegrity
	// ErrorText returns the message Alibaba Cloud documents for an API
	// error code ("" when unknown) in lang, the page's language ("en",
	// "zh-CN"), shown beside codes on the pages. A message it does not have
	// in lang comes in English.
	ErrorText func(code, lang string) string
	// SecureCookies marks the CSRF cookie Secure (the session cookie's flag
	// is Sessions' own). Off only for plain-http loopback dev runs.
	SecureCookies bool
	// RequestTTL is how long a request may stay pending before it expires
	// (the request page says when); zero says nothing.
	RequestTTL time.Duration
}

// Directory lists known users and their groups.
type Directory interface {
	Users() []string
	UserGroups(subject string) []string
}

// Eligibility answers whether an approver may vote on a request.
type Eligibility interface {
	MayApprove(ctx context.Context, in policy.ApproveInput) (policy.ApproveDecision, error)
}

// AuditSearcher searches the audit trail (package audit's Search and
// ExportSearch; AuditTrail adapts them).
type AuditSearcher interface {
	Search(ctx context.Context, f audit.Filter) (audit.Page, error)
	// Export writes every event matching f (cursor and limit ignored) to w
	// in format audit.FormatCSV or audit.FormatJSONL.
	Export(ctx context.Context, w io.Writer, format string, f audit.Filter) (int64, error)
}

// AuditTimeline returns the events of one request, oldest first.
type AuditTimeline interface {
	Timeline(ctx context.Context, requestID uuid.UUID) ([]audit.Event, error)
}

// AuditIntegrity reports the hash chain's last verification.
type AuditIntegrity interface {
	Integrity(ctx context.Context) (audit.Integrity, error)
}

package web

import (
	"context"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
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
	// Accounts lists the Alibaba Cloud accounts requests may name (the
	// new-request form's account select; the fleet page's filter);
	// *policy.Engine implements it. nil, or no accounts, shows no select.
	Accounts AccountLister
	// Fleet finds the public endpoints of the configured accounts for the
	// "Public endpoints" page (GET /fleet); nil: the page says scanning is
	// not configured.
	Fleet FleetScanner
	// TrailInterval is how often rdsgate reads the accounts' ActionTrail
	// (RDSGATE_TRAIL_INTERVAL), which the page "Releases made around the
	// gate" states; zero states no figure.
	TrailInterval time.Duration
	// TrailOff: this server does not read ActionTrail
	// (RDSGATE_TRAIL_INTERVAL=off); the page says no bypass is being
	// detected.
	TrailOff bool
}

// AccountLister lists the configured Alibaba Cloud accounts: those of
// accounts.json, nil without it (requests then name no account).
type AccountLister interface {
	Accounts() []policy.Account
}

// FleetScanner finds every public endpoint of the instances that f
// matches, across the configured accounts and regions. A scan calls the
// API within each account's quota and may take tens of seconds for a big
// fleet.
type FleetScanner interface {
	// Scan returns the endpoints found. The parts of the scan that failed
	// (an account whose role could not be assumed, a region, an instance)
	// are in FleetScan.Failures while the rest was scanned; the error is
	// for a scan that could not run at all (an unknown account, ctx).
	Scan(ctx context.Context, f FleetFilter) (FleetScan, error)
}

// FleetFilter narrows a fleet scan; empty fields match everything.
type FleetFilter struct {
	AccountID, RegionID, Environment string
}

// FleetScan is what a fleet scan found.
type FleetScan struct {
	// Targets are the public endpoints found.
	Targets []request.Target
	// Failures are the parts of the scan that failed.
	Failures []FleetFailure
}

// FleetFailure is one part of a scan that failed: a whole account
// (RegionID and InstanceID empty), one region's list, or one instance.
type FleetFailure struct {
	AccountID, RegionID, InstanceID string
	// Message says what went wrong (Alibaba's code and message, or the
	// transport's error).
	Message string
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

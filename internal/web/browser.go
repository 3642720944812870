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

// Browser configures the server-rendered pages. Deps.Browser nil serves the
// JSON API only. Every field but Sessions and Roles may be nil: the pages
// then say what is not available instead of failing.
type Browser struct {
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
	// Attempts lists a request's execution attempts.
	Attempts AttemptLister
	// Instances looks an instance's endpoints up for the new-request form.
	Instances InstanceLookup
	// SecureCookies marks the CSRF cookie Secure (the session cookie's flag
	// is Sessions' own). Off only for plain-http loopback dev runs.
	SecureCookies bool
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

// Attempt is one call the executor made for a request (package executor's
// attempt, adapted by the caller).
type Attempt struct {
	Attempt          int
	Operation        string
	StartedAt        time.Time
	FinishedAt       *time.Time
	Outcome          string
	Classification   string
	HTTPStatus       int
	ErrorCode        string
	ErrorMessage     string
	AlibabaRequestID string
	// Found is what a reconciliation check found: "present" or "released".
	Found string
}

// AttemptLister lists a request's execution attempts, oldest first.
type AttemptLister interface {
	Attempts(ctx context.Context, requestID uuid.UUID) ([]Attempt, error)
}

// NetInfo is what DescribeDBInstanceNetInfo says about an instance.
type NetInfo struct {
	// InstanceNetworkType is "VPC" or "Classic".
	InstanceNetworkType string
	Endpoints           []Endpoint
}

// Endpoint is one connection string of an instance.
type Endpoint struct {
	ConnectionString string
	// IPType is "Public", "Private" or "Inner".
	IPType string
	Port   string
	// Type is "Normal" or "ReadWriteSplitting".
	Type string
}

// InstanceLookup describes an instance's endpoints (the aliyun client's
// DescribeDBInstanceNetInfo, adapted by the caller).
type InstanceLookup interface {
	NetInfo(ctx context.Context, regionID, instanceID string) (NetInfo, error)
}

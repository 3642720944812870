package policy

import (
	"time"
)

// Principal is the person asking: the RAM user name and the groups that the
// token or OIDC login vouches for.
type Principal struct {
	Subject string   `json:"subject"`
	Groups  []string `json:"groups"`
}

// RequestInput is the release request as the requester filled it in.
type RequestInput struct {
	RegionID         string `json:"region_id"`
	DBInstanceID     string `json:"db_instance_id"`
	ConnectionString string `json:"connection_string"`
	NetworkType      string `json:"network_type"`
	Justification    string `json:"justification"`
	Ticket           string `json:"ticket"`
	// BreakGlass asks to proceed during a change freeze, at the price of the
	// extra approvers that org.json names.
	BreakGlass bool `json:"break_glass,omitempty"`
	// AccountID is the Alibaba Cloud account (UID) of the instance: its
	// RAM data decides, and its id is in the resource ARN. "" is the
	// default account (Engine.DefaultAccountID). An account that is not
	// configured is denied.
	AccountID string `json:"account_id,omitempty"`
}

// Context is what RAM's global condition keys read: acs:SourceIp,
// acs:CurrentTime, acs:SecureTransport and acs:MFAPresent.
type Context struct {
	SourceIP string `json:"source_ip,omitempty"`
	// CurrentTime is the request's time; Decide uses the current time when it
	// is zero.
	CurrentTime     time.Time `json:"current_time"`
	SecureTransport bool      `json:"secure_transport"`
	MFAPresent      bool      `json:"mfa_present"`
}

// Input is the document a release decision is made on.
type Input struct {
	Principal Principal    `json:"principal"`
	Request   RequestInput `json:"request"`
	Context   Context      `json:"context"`
	// PendingRequests is the requester's current number of pending requests,
	// filled in by the server.
	PendingRequests int `json:"pending_requests"`
}

// Requirement asks for Count approvals from members of Group.
type Requirement struct {
	Group string `json:"group"`
	Count int    `json:"count"`
}

// RAM effects, as RAM names them.
const (
	EffectAllow        = "Allow"
	EffectExplicitDeny = "ExplicitDeny"
	EffectImplicitDeny = "ImplicitDeny"
)

// RAMResult is the RAM verdict: the effect and the policy and statement
// (1-based; 0 when no statement decided) that decided it. Unsupported lists
// statements ignored because a condition used an operator or key that is not
// supported, as "policy NAME statement N: unknown condition operator ...".
type RAMResult struct {
	Effect      string   `json:"effect"`
	Policy      string   `json:"policy,omitempty"`
	Statement   int      `json:"statement"`
	Unsupported []string `json:"unsupported,omitempty"`
}

// Decision is the verdict on a release request. Allow means the request may
// be filed; it then needs RequiredApprovals approvals that meet
// ApproverRequirements before it runs.
type Decision struct {
	Allow                bool          `json:"allow"`
	Reasons              []string      `json:"reasons"`
	RequiredApprovals    int           `json:"required_approvals"`
	ApproverRequirements []Requirement `json:"approver_requirements"`
	RAM                  RAMResult     `json:"ram"`
	Environment          string        `json:"environment,omitempty"`
	// Notes are the organisation's own rules' notes for the approvers
	// (rdsgate.custom's note).
	Notes      []string  `json:"notes,omitempty"`
	Revision   string    `json:"revision"`
	DecisionID string    `json:"decision_id"`
	Path       string    `json:"path"`
	Timestamp  time.Time `json:"timestamp"`
}

// LogEntry is a decision in the shape of an OPA decision log entry, for the
// audit trail.
type LogEntry struct {
	DecisionID string    `json:"decision_id"`
	Path       string    `json:"path"`
	Input      any       `json:"input"`
	Result     any       `json:"result"`
	Revision   string    `json:"revision"`
	Timestamp  time.Time `json:"timestamp"`
}

// decisionResult is the policy's own output, without the log metadata.
type decisionResult struct {
	Allow                bool          `json:"allow"`
	Reasons              []string      `json:"reasons"`
	RequiredApprovals    int           `json:"required_approvals"`
	ApproverRequirements []Requirement `json:"approver_requirements"`
	RAM                  RAMResult     `json:"ram"`
	Environment          string        `json:"environment,omitempty"`
	Notes                []string      `json:"notes,omitempty"`
}

// LogEntry returns d as an OPA decision log entry for input in (the Input
// the decision was made on).
func (d Decision) LogEntry(in any) LogEntry {
	return LogEntry{
		DecisionID: d.DecisionID,
		Path:       d.Path,
		Input:      in,
		Result: decisionResult{
			Allow:                d.Allow,
			Reasons:              d.Reasons,
			RequiredApprovals:    d.RequiredApprovals,
			ApproverRequirements: d.ApproverRequirements,
			RAM:                  d.RAM,
			Environment:          d.Environment,
			Notes:                d.Notes,
		},
		Revision:  d.Revision,
		Timestamp: d.Timestamp,
	}
}

// Vote is one approver's recorded vote on a request.
type Vote struct {
	Approver string `json:"approver"`
	// Group is the requirement the vote counted toward (ApproveDecision.Group).
	Group string `json:"group"`
	// Decision is "approve" or "reject".
	Decision string `json:"decision"`
}

// ApproveInput is the document a vote decision is made on.
type ApproveInput struct {
	Approver     Principal     `json:"approver"`
	Requester    string        `json:"requester"`
	Requirements []Requirement `json:"approver_requirements"`
	Votes        []Vote        `json:"votes"`
	Environment  string        `json:"environment"`
	// AccountID is the request's account (RequestInput.AccountID): the
	// approver's RAM groups are read from its RAM data. "" is the default
	// account.
	AccountID string `json:"account_id,omitempty"`
}

// ApproveDecision says whether an approver may vote on a request, and Group,
// the open requirement the vote counts toward.
type ApproveDecision struct {
	Allow      bool      `json:"allow"`
	Reasons    []string  `json:"reasons"`
	Group      string    `json:"group,omitempty"`
	Revision   string    `json:"revision"`
	DecisionID string    `json:"decision_id"`
	Path       string    `json:"path"`
	Timestamp  time.Time `json:"timestamp"`
}

// approveResult is the policy's own output for a vote.
type approveResult struct {
	Allow   bool     `json:"allow"`
	Reasons []string `json:"reasons"`
	Group   string   `json:"group,omitempty"`
}

// LogEntry returns d as an OPA decision log entry for input in.
func (d ApproveDecision) LogEntry(in any) LogEntry {
	return LogEntry{
		DecisionID: d.DecisionID,
		Path:       d.Path,
		Input:      in,
		Result:     approveResult{Allow: d.Allow, Reasons: d.Reasons, Group: d.Group},
		Revision:   d.Revision,
		Timestamp:  d.Timestamp,
	}
}

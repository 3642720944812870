package request

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Network types as ReleaseInstanceConnection's InstanceNetworkType takes them.
const (
	NetworkVPC     = "0"
	NetworkClassic = "1"
)

// Field length limits. They keep rows and audit events bounded; the
// organisation's own minimum justification length is a policy rule.
const (
	MaxJustification = 2000
	MaxTicket        = 100
)

// Spec is what a requester asks for: the fields of the Alibaba call plus the
// reasons for it. Approvals are bound to its canonical hash.
type Spec struct {
	RegionID         string `json:"region_id"`
	DBInstanceID     string `json:"db_instance_id"`
	ConnectionString string `json:"connection_string"`
	NetworkType      string `json:"network_type"`
	Justification    string `json:"justification"`
	Ticket           string `json:"ticket"`
	// AccountID is the Alibaba Cloud account (UID) of the instance, one of
	// accounts.json's; empty means the one account rdsgate is configured
	// with (RDSGATE_ACCOUNT_ID). Omitted from the payload hash when empty,
	// so that hashes of requests filed before accounts existed still hold.
	AccountID string `json:"account_id,omitempty"`
}

// Target is one public endpoint to release: the fields of a Spec that name
// it. A bulk request carries many; fleet scans produce them.
type Target struct {
	RegionID         string `json:"region_id"`
	DBInstanceID     string `json:"db_instance_id"`
	ConnectionString string `json:"connection_string"`
	NetworkType      string `json:"network_type"`
	AccountID        string `json:"account_id"`
}

// Target returns the endpoint s names.
func (s Spec) Target() Target {
	return Target{RegionID: s.RegionID, DBInstanceID: s.DBInstanceID, ConnectionString: s.ConnectionString,
		NetworkType: s.NetworkType, AccountID: s.AccountID}
}

var (
	regionRe = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+){1,3}$`)
	// RDS instance ids: rm- (MySQL, SQL Server, MariaDB primaries), rr- (MySQL
	// read-only), pgm-/pgr- (PostgreSQL primary/read-only), mr- (MariaDB) and
	// the legacy rds… ids without a hyphen.
	instanceRe = regexp.MustCompile(`^((rm|rr|pgm|pgr|mr)-[a-z0-9]{4,60}|rds[a-z0-9]{8,60})$`)
	labelRe    = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)
)

// Normalize trims surrounding white space from every field.
func (s Spec) Normalize() Spec {
	s.RegionID = strings.TrimSpace(s.RegionID)
	s.DBInstanceID = strings.TrimSpace(s.DBInstanceID)
	s.ConnectionString = strings.TrimSpace(s.ConnectionString)
	s.NetworkType = strings.TrimSpace(s.NetworkType)
	s.Justification = strings.TrimSpace(s.Justification)
	s.Ticket = strings.TrimSpace(s.Ticket)
	s.AccountID = strings.TrimSpace(s.AccountID)
	return s
}

// Validate returns nil, or ValidationErrors naming every field that is
// wrong, each with its first problem, in the order of the form: a person
// fixes them all at once.
func (s Spec) Validate() error {
	var errs ValidationErrors
	check := func(field, value string, rules func(string) error) {
		err := CheckText(field, value)
		if err == nil {
			err = rules(value)
		}
		var ve *ValidationError
		if errors.As(err, &ve) {
			errs = append(errs, ve)
		}
	}
	check("region_id", s.RegionID, func(v string) error {
		switch {
		case v == "":
			return Invalid("region_id", "is required")
		case !regionRe.MatchString(v):
			return Invalid("region_id", "must be an Alibaba Cloud region id such as cn-hangzhou")
		}
		return nil
	})
	check("db_instance_id", s.DBInstanceID, func(v string) error {
		switch {
		case v == "":
			return Invalid("db_instance_id", "is required")
		case !instanceRe.MatchString(v):
			return Invalid("db_instance_id", "must be an RDS instance id: rm-, rr-, pgm-, pgr- or mr- followed by lower-case letters and digits")
		}
		return nil
	})
	check("connection_string", s.ConnectionString, func(v string) error {
		switch {
		case v == "":
			return Invalid("connection_string", "is required")
		case !IsHostName(v):
			return Invalid("connection_string", "must be a host name such as rm-xxxx.mysql.rds.aliyuncs.com")
		}
		return nil
	})
	check("network_type", s.NetworkType, func(v string) error {
		if v != NetworkVPC && v != NetworkClassic {
			return Invalid("network_type", `must be "0" (VPC) or "1" (classic)`)
		}
		return nil
	})
	check("justification", s.Justification, func(v string) error {
		switch {
		case v == "":
			return Invalid("justification", "is required")
		case utf8.RuneCountInString(v) > MaxJustification:
			return Invalid("justification", "must be at most %d characters", MaxJustification)
		}
		return nil
	})
	check("ticket", s.Ticket, func(v string) error {
		if utf8.RuneCountInString(v) > MaxTicket {
			return Invalid("ticket", "must be at most %d characters", MaxTicket)
		}
		return nil
	})
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// IsHostName reports whether h is a DNS host name of at least two labels.
func IsHostName(h string) bool {
	if len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !labelRe.MatchString(l) {
			return false
		}
	}
	return true
}

// PayloadHash is the SHA-256 of the canonical payload: the request's id,
// requester and Spec, as JSON with a fixed field order. An approval stores the
// hash it approved, so an approval can never be carried over to a request
// whose content differs.
func PayloadHash(id uuid.UUID, requester string, s Spec) [32]byte {
	canonical := struct {
		ID        string `json:"id"`
		Requester string `json:"requester"`
		Spec
	}{id.String(), requester, s}
	b, err := json.Marshal(canonical)
	if err != nil {
		panic("request: marshal canonical payload: " + err.Error()) // strings only; cannot fail
	}
	return sha256.Sum256(b)
}

// Hash is a SHA-256 that encodes as lower-case hex in JSON.
type Hash [32]byte

// String returns the hash in hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash reads a hex SHA-256, or returns a validation error for field.
func ParseHash(field, s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, Invalid(field, "must be a SHA-256 in hex (64 characters)")
	}
	copy(h[:], b)
	return h, nil
}

// MarshalText encodes the hash as hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// Bulk reports whether r is a bulk request.
func (r *Request) Bulk() bool { return r.TargetCount > 0 }

// Requirement is one AND-composed approver requirement: Count approvals from
// members of Group.
type Requirement struct {
	Group string `json:"group"`
	Count int    `json:"count"`
}

// Request is a release request with its votes.
type Request struct {
	ID                   uuid.UUID       `json:"id"`
	Requester            string          `json:"requester"`
	Spec                                 // flattened into the JSON
	Status               Status          `json:"status"`
	PayloadHash          Hash            `json:"payload_hash"`
	RequiredApprovals    int             `json:"required_approvals"`
	ApproverRequirements []Requirement   `json:"approver_requirements"`
	Environment          string          `json:"environment,omitempty"`
	Decision             json.RawMessage `json:"decision"`
	PolicyRevision       string          `json:"policy_revision,omitempty"`
	CreatedAt            time.Time       `json:"created_at"`
	UpdatedAt            time.Time       `json:"updated_at"`
	Votes                []Vote          `json:"approvals"`
	// ParentID is the bulk request a target's request releases a target
	// of; nil for a request filed by itself.
	ParentID *uuid.UUID `json:"parent_id,omitempty"`
	// TargetCount is a bulk request's number of targets; 0 for a single
	// request (its endpoint is in Spec). A bulk request's Spec holds only
	// the justification and ticket.
	TargetCount int `json:"target_count,omitempty"`
	// Requeues is how often a sweep re-enqueued the execution job of the
	// request after the queue gave up on it.
	Requeues int `json:"-"`
}

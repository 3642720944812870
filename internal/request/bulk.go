package request

import (
	"cmp"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// MaxTargets bounds the targets of one bulk request.
const MaxTargets = 1000

// BulkSpec is a bulk request as filed: many targets, one justification
// and ticket for all of them.
type BulkSpec struct {
	Targets       []Target `json:"targets"`
	Justification string   `json:"justification"`
	Ticket        string   `json:"ticket"`
}

// Normalize trims every field, keeping the targets' order.
func (b BulkSpec) Normalize() BulkSpec {
	out := BulkSpec{Justification: strings.TrimSpace(b.Justification), Ticket: strings.TrimSpace(b.Ticket),
		Targets: make([]Target, len(b.Targets))}
	for i, t := range b.Targets {
		out.Targets[i] = Spec{RegionID: t.RegionID, DBInstanceID: t.DBInstanceID, ConnectionString: t.ConnectionString,
			NetworkType: t.NetworkType, AccountID: t.AccountID}.Normalize().Target()
	}
	return out
}

// Canonical returns b with its targets in their canonical order
// (CompareTargets): the order the payload hash covers and targets are
// numbered in once filed.
func (b BulkSpec) Canonical() BulkSpec {
	b.Targets = slices.Clone(b.Targets)
	slices.SortFunc(b.Targets, CompareTargets)
	return b
}

// CompareTargets orders targets by account, region, instance, connection
// string and network type.
func CompareTargets(a, b Target) int {
	return cmp.Or(cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.RegionID, b.RegionID),
		cmp.Compare(a.DBInstanceID, b.DBInstanceID), cmp.Compare(a.ConnectionString, b.ConnectionString),
		cmp.Compare(a.NetworkType, b.NetworkType))
}

// Spec is target i as a single request's Spec: what its policy decision
// and its release are made on.
func (b BulkSpec) Spec(i int) Spec {
	t := b.Targets[i]
	return Spec{RegionID: t.RegionID, DBInstanceID: t.DBInstanceID, ConnectionString: t.ConnectionString,
		NetworkType: t.NetworkType, AccountID: t.AccountID, Justification: b.Justification, Ticket: b.Ticket}
}

// Validate checks a normalized BulkSpec: between one and MaxTargets
// targets, each valid as a single request's (errors name the field as
// targets[i].field, i in the order given), no endpoint twice.
func (b BulkSpec) Validate() error {
	var errs ValidationErrors
	add := func(err error) {
		for _, ve := range Fields(err) {
			errs = append(errs, ve)
		}
	}
	switch {
	case len(b.Targets) == 0:
		add(Invalid("targets", "must list at least one target"))
	case len(b.Targets) > MaxTargets:
		add(Invalid("targets", "must list at most %d targets (got %d)", MaxTargets, len(b.Targets)))
	}
	if len(errs) > 0 {
		return errs
	}
	seen := make(map[string]int, len(b.Targets))
	for i, t := range b.Targets {
		for _, ve := range Fields(b.Spec(i).Validate()) {
			if ve.Field == "justification" || ve.Field == "ticket" {
				if i == 0 {
					add(ve)
				}
				continue
			}
			add(Invalid(fmt.Sprintf("targets[%d].%s", i, ve.Field), "%s", ve.Message))
		}
		key := strings.Join([]string{t.AccountID, t.RegionID, t.DBInstanceID, strings.ToLower(t.ConnectionString)}, "\x00")
		if j, dup := seen[key]; dup {
			add(Invalid(fmt.Sprintf("targets[%d]", i), "names the same endpoint as targets[%d] (%s %s)", j,
				t.DBInstanceID, t.ConnectionString))
		} else {
			seen[key] = i
		}
		if len(errs) >= 50 { // enough to act on; a broken file would otherwise answer megabytes
			break
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// BulkPayloadHash is the SHA-256 a bulk request's approvals are bound to:
// its id, requester, justification, ticket and the sorted target list, so
// that an approval covers exactly that list.
func BulkPayloadHash(id uuid.UUID, requester string, b BulkSpec) [32]byte {
	canonical := struct {
		ID        string `json:"id"`
		Requester string `json:"requester"`
		BulkSpec
	}{id.String(), requester, b}
	raw, err := json.Marshal(canonical)
	if err != nil {
		panic("request: marshal canonical bulk payload: " + err.Error()) // strings only; cannot fail
	}
	return sha256.Sum256(raw)
}

// TargetDecision is the policy's verdict on one target of a bulk request.
type TargetDecision struct {
	Allow                bool          `json:"allow"`
	Reasons              []string      `json:"reasons"`
	Environment          string        `json:"environment,omitempty"`
	RequiredApprovals    int           `json:"required_approvals"`
	ApproverRequirements []Requirement `json:"approver_requirements"`
	DecisionID           string        `json:"decision_id,omitempty"`
}

// BulkTarget is one target of a bulk request: its endpoint, its decision
// and, once the bulk request is approved, the request that releases it.
type BulkTarget struct {
	// Index is the target's place in the canonical order.
	Index int `json:"index"`
	Target
	Decision TargetDecision `json:"decision"`
	// RequestID is the target's own request, created approved when the
	// bulk request is approved; it carries the calls.
	RequestID uuid.UUID `json:"request_id"`
	// Status is the target's request's status: "" before approval.
	Status Status `json:"status,omitempty"`
	// Attempts are the calls made for it, oldest first.
	Attempts []Attempt `json:"attempts,omitempty"`
}

// Progress is how far a bulk request's release has come.
type Progress struct {
	// Total counts the targets to release (those the policy allowed).
	Total     int `json:"total"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	Cancelled int `json:"cancelled"`
	// Remaining are neither succeeded, failed nor cancelled.
	Remaining int `json:"remaining"`
	// Denied counts targets the policy refused; they are never released.
	Denied int `json:"denied"`
	// ETASeconds estimates the time to release the remaining targets from
	// each account's quota (accounts drain in parallel).
	ETASeconds float64 `json:"eta_seconds"`
}

package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
)

// File validates spec, asks the policy, and records the request as pending
// (allowed) or denied, with its audit events, in one transaction. A denial
// returns the recorded request and a *DeniedError.
//
// The decision reads the requester's pending count. It is made before the
// transaction from the count as it stands, and made again inside only when
// the count under the requester's lock differs (another filing of theirs
// committed meanwhile), so the pending limit holds under concurrency while
// the lock is held for the writes alone.
func (s *Service) File(ctx context.Context, a Actor, spec request.Spec, breakGlass bool) (*request.Request, error) {
	spec, err := s.validSpec(spec)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("new request id: %w", err)
	}
	in, d, err := s.decideFiling(ctx, a, spec, breakGlass, now)
	if err != nil {
		return nil, fmt.Errorf("file request: %w", err)
	}
	var r *request.Request
	err = s.store.InTx(ctx, func(tx Tx) error {
		pending, err := tx.LockRequester(ctx, a.Subject)
		if err != nil {
			return err
		}
		if pending != in.PendingRequests {
			in.PendingRequests = pending
			if d, err = s.decide(ctx, in); err != nil {
				return err
			}
		}
		r, err = newRequest(id, a.Subject, spec, d, now)
		if err != nil {
			return err
		}
		kind := audit.KindRequestCreated
		if !d.Allow {
			kind = audit.KindRequestDenied
		}
		c := Change{Request: id, New: r, At: now, Events: []audit.Record{
			{Kind: audit.KindPolicyDecided, Actor: a.Subject, RequestID: id, DBInstanceID: spec.DBInstanceID, At: now,
				Payload: d.LogEntry(in)},
			{Kind: kind, Actor: a.Subject, RequestID: id, DBInstanceID: spec.DBInstanceID, At: now,
				Payload: createdPayload(r, d)},
		}}
		if d.Allow {
			c.Notify = s.filedNotices(r, now)
		}
		return tx.Apply(ctx, c)
	})
	if err != nil {
		return nil, fmt.Errorf("file request: %w", err)
	}
	if !d.Allow {
		return r, &DeniedError{Request: r, Reasons: d.Reasons}
	}
	return r, nil
}

// filedNotices are the notices of a pending request filed at now: to its
// approvers, and the reminder scheduled before it would expire.
func (s *Service) filedNotices(r *request.Request, now time.Time) []Notice {
	out := s.notices(EventPending, r, now, nil)
	if s.ttl > s.lead && s.lead > 0 {
		out = append(out, s.notices(EventExpiring, r, now, func(n *Notice) { n.SendAt = now.Add(s.ttl - s.lead) })...)
	}
	return out
}

// decideFiling decides a filing of spec by a at now, from the requester's
// pending count as it stands (no lock): File's first decision and Check's
// only one.
func (s *Service) decideFiling(ctx context.Context, a Actor, spec request.Spec, breakGlass bool, now time.Time) (policy.Input, policy.Decision, error) {
	in := filingInput(a, spec, breakGlass, now)
	var err error
	if in.PendingRequests, err = s.store.PendingCount(ctx, a.Subject); err != nil {
		return in, policy.Decision{}, err
	}
	d, err := s.decide(ctx, in)
	return in, d, err
}

// filingInput is the policy's question about a filing of spec by a.
func filingInput(a Actor, spec request.Spec, breakGlass bool, now time.Time) policy.Input {
	return policy.Input{
		Principal: policy.Principal{Subject: a.Subject, Groups: a.Groups},
		Request: policy.RequestInput{RegionID: spec.RegionID, DBInstanceID: spec.DBInstanceID,
			ConnectionString: spec.ConnectionString, NetworkType: spec.NetworkType,
			Justification: spec.Justification, Ticket: spec.Ticket, BreakGlass: breakGlass, AccountID: spec.AccountID},
		Context: policy.Context{SourceIP: a.SourceIP, CurrentTime: now, SecureTransport: a.SecureTransport, MFAPresent: a.MFAPresent},
	}
}

// validSpec normalizes and validates spec, its account included, and
// returns it with the account to record: every field's error at once.
func (s *Service) validSpec(spec request.Spec) (request.Spec, error) {
	spec = spec.Normalize()
	errs := request.Fields(spec.Validate())
	acc, err := s.account("account_id", spec.AccountID)
	errs = append(errs, request.Fields(err)...)
	if len(errs) > 0 {
		return spec, request.ValidationErrors(errs)
	}
	spec.AccountID = acc
	return spec, nil
}

func (s *Service) decide(ctx context.Context, in policy.Input) (policy.Decision, error) {
	d, err := s.policy.Decide(ctx, in)
	if err != nil {
		return d, fmt.Errorf("policy decision: %w", err)
	}
	return d, nil
}

// newRequest is the request a decision files: pending when allowed,
// denied otherwise.
func newRequest(id uuid.UUID, requester string, spec request.Spec, d policy.Decision, now time.Time) (*request.Request, error) {
	decision, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode decision: %w", err)
	}
	r := &request.Request{
		ID: id, Requester: requester, Spec: spec, Status: request.StatusPending,
		PayloadHash:          request.PayloadHash(id, requester, spec),
		RequiredApprovals:    d.RequiredApprovals,
		ApproverRequirements: requirements(d.ApproverRequirements),
		Environment:          d.Environment, Decision: decision, PolicyRevision: d.Revision,
		CreatedAt: now, UpdatedAt: now,
	}
	if !d.Allow {
		r.Status = request.StatusDenied
	}
	return r, nil
}

func createdPayload(r *request.Request, d policy.Decision) map[string]any {
	return map[string]any{
		"spec": r.Spec, "status": r.Status, "payload_hash": r.PayloadHash,
		"required_approvals": r.RequiredApprovals, "approver_requirements": r.ApproverRequirements,
		"environment": r.Environment, "reasons": d.Reasons, "decision_id": d.DecisionID, "revision": d.Revision,
	}
}

func requirements(in []policy.Requirement) []request.Requirement {
	out := make([]request.Requirement, 0, len(in))
	for _, r := range in {
		out = append(out, request.Requirement{Group: r.Group, Count: r.Count})
	}
	return out
}

package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
)

// VoteInput is one approver's decision.
type VoteInput struct {
	Decision string
	Comment  string
	// PayloadHash is the hash the approver saw; empty means "the current
	// one" (API clients that read the request just before voting).
	PayloadHash string
}

// Vote records an approval or a rejection. Reaching quorum approves the
// request and enqueues its execution in the same transaction.
func (s *Service) Vote(ctx context.Context, a Actor, id uuid.UUID, in VoteInput) (*request.Request, error) {
	for _, f := range [][2]string{{"decision", in.Decision}, {"comment", in.Comment}, {"payload_hash", in.PayloadHash}} {
		if err := request.CheckText(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	var out *request.Request
	err := s.store.InTx(ctx, func(tx Tx) error {
		r, err := tx.LockRequest(ctx, id)
		if err != nil {
			return err
		}
		v := request.Vote{Approver: a.Subject, Decision: in.Decision, Comment: strings.TrimSpace(in.Comment),
			PayloadHash: r.PayloadHash, CreatedAt: s.clock()}
		if in.PayloadHash != "" {
			// The hash the approver saw; the domain refuses it (409) when
			// the request's content is no longer what they approved.
			if v.PayloadHash, err = request.ParseHash("payload_hash", in.PayloadHash); err != nil {
				return err
			}
		}
		// The domain rules first: they give the precise 409/403 (state,
		// self-approval, second vote) before eligibility is asked.
		if _, err := r.Cast(v); err != nil {
			return err
		}
		ad, err := s.mayApprove(ctx, tx, policy.Principal{Subject: a.Subject, Groups: a.Groups}, r)
		if err != nil {
			return err
		}
		if !ad.Allow {
			return &ForbiddenError{Reasons: ad.Reasons}
		}
		v.Group = ad.Group
		next, err := r.Cast(v)
		if err != nil {
			return err
		}
		kind := audit.KindApprovalGranted
		if v.Decision == request.Reject {
			kind = audit.KindApprovalRejected
		}
		c := Change{Request: id, At: v.CreatedAt, Vote: &v, Events: []audit.Record{{Kind: kind, Actor: a.Subject,
			RequestID: id, DBInstanceID: r.DBInstanceID, At: v.CreatedAt,
			Payload: map[string]any{"decision": v.Decision, "comment": v.Comment, "group": v.Group,
				"payload_hash": v.PayloadHash, "policy": ad}}}}
		if next != r.Status {
			c.From, c.To = r.Status, next
			k := audit.KindRequestApproved
			if next == request.StatusRejected {
				k = audit.KindRequestRejected
			}
			c.Events = append(c.Events, audit.Record{Kind: k, Actor: a.Subject, RequestID: id, DBInstanceID: r.DBInstanceID,
				At: v.CreatedAt, Payload: map[string]any{"from": r.Status, "to": next, "payload_hash": r.PayloadHash}})
			c.Enqueue = next == request.StatusApproved && !r.Bulk() // a bulk request's targets get the jobs
		}
		// The notices tell of the request as the vote leaves it.
		after := *r
		after.Votes = append(slices.Clip(r.Votes), v)
		after.Status, after.UpdatedAt = next, v.CreatedAt
		switch {
		case next == request.StatusApproved:
			c.Notify = s.notices(EventApproved, &after, v.CreatedAt, nil)
		case next == request.StatusRejected:
			c.Notify = s.notices(EventRejected, &after, v.CreatedAt, nil)
		case v.Decision == request.Approve:
			c.Notify = s.notices(EventPending, &after, v.CreatedAt, nil)
		}
		if err := tx.Apply(ctx, c); err != nil {
			return err
		}
		if next == request.StatusApproved && r.Bulk() {
			if err := s.startBulk(ctx, tx, &after, v.CreatedAt); err != nil {
				return err
			}
			after.Status = request.StatusExecuting
		}
		*r = after
		out = r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vote on request %s: %w", id, err)
	}
	return out, nil
}

// mayApprove asks the policy whether approver may vote on r. An
// approver's groups come from the RAM data of the request's account, so a
// bulk request asks once per account its allowed targets are in, and the
// vote is allowed only when every answer allows it (it then counts toward
// the first answer's group).
func (s *Service) mayApprove(ctx context.Context, tx Tx, approver policy.Principal, r *request.Request) (policy.ApproveDecision, error) {
	accounts := []string{r.AccountID}
	if r.Bulk() {
		ts, err := tx.Targets(ctx, r.ID)
		if err != nil {
			return policy.ApproveDecision{}, err
		}
		accounts = accounts[:0]
		for _, t := range ts {
			if t.Decision.Allow && !slices.Contains(accounts, t.AccountID) {
				accounts = append(accounts, t.AccountID)
			}
		}
	}
	var first policy.ApproveDecision
	for i, acc := range accounts {
		in := ApproveInput(approver, r)
		in.AccountID = acc
		ad, err := s.policy.MayApprove(ctx, in)
		if err != nil {
			return ad, fmt.Errorf("policy decision: %w", err)
		}
		if !ad.Allow {
			if len(accounts) > 1 {
				ad.Reasons = append([]string{fmt.Sprintf("for the targets in account %s:", acc)}, ad.Reasons...)
			}
			return ad, nil
		}
		if i == 0 {
			first = ad
		}
	}
	return first, nil
}

// ApproveInput is the policy's question "may approver vote on r?", for the
// vote itself and for the pages that offer the buttons.
func ApproveInput(approver policy.Principal, r *request.Request) policy.ApproveInput {
	reqs := make([]policy.Requirement, 0, len(r.ApproverRequirements))
	for _, q := range r.ApproverRequirements {
		reqs = append(reqs, policy.Requirement{Group: q.Group, Count: q.Count})
	}
	votes := make([]policy.Vote, 0, len(r.Votes))
	for _, v := range r.Votes {
		votes = append(votes, policy.Vote{Approver: v.Approver, Group: v.Group, Decision: v.Decision})
	}
	return policy.ApproveInput{Approver: approver, Requester: r.Requester, Requirements: reqs, Votes: votes,
		Environment: r.Environment, AccountID: r.AccountID}
}

// Cancel withdraws a pending request; only its requester may.
func (s *Service) Cancel(ctx context.Context, a Actor, id uuid.UUID, reason string) (*request.Request, error) {
	if err := request.CheckText("reason", reason); err != nil {
		return nil, err
	}
	var out *request.Request
	err := s.store.InTx(ctx, func(tx Tx) error {
		r, err := tx.LockRequest(ctx, id)
		if err != nil {
			return err
		}
		if r.Requester != a.Subject {
			return fmt.Errorf("only the requester %s may cancel: %w", r.Requester, request.ErrForbidden)
		}
		if r.Status != request.StatusPending {
			// approved → cancelled is "cancel the rest" of a bulk request (CancelRest).
			return fmt.Errorf("request is %s: only a pending request can be cancelled: %w", r.Status, request.ErrConflict)
		}
		now := s.clock()
		from := r.Status
		r.Status, r.UpdatedAt = request.StatusCancelled, now
		if err := tx.Apply(ctx, Change{Request: id, From: from, To: request.StatusCancelled, At: now,
			Events: []audit.Record{{Kind: audit.KindRequestCancelled, Actor: a.Subject, RequestID: id,
				DBInstanceID: r.DBInstanceID, At: now,
				Payload: map[string]any{"from": from, "reason": strings.TrimSpace(reason)}}},
			Notify: s.notices(EventCancelled, r, now, func(n *Notice) { n.Reason = strings.TrimSpace(reason) }),
		}); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cancel request %s: %w", id, err)
	}
	return out, nil
}

// expireBatch bounds the requests one expiry transaction moves.
const expireBatch = 500

// ExpireOlderThan moves pending requests older than ttl to expired, each
// with its audit event, and returns how many it expired.
func (s *Service) ExpireOlderThan(ctx context.Context, ttl time.Duration) (int, error) {
	var n int
	err := s.store.InTx(ctx, func(tx Tx) error {
		now := s.clock()
		rs, err := tx.LockPendingBefore(ctx, now.Add(-ttl), expireBatch)
		if err != nil {
			return err
		}
		for _, r := range rs {
			r.Status = request.StatusExpired
			if err := tx.Apply(ctx, Change{Request: r.ID, From: request.StatusPending, To: request.StatusExpired, At: now,
				Events: []audit.Record{{Kind: audit.KindRequestExpired, Actor: System, RequestID: r.ID,
					DBInstanceID: r.DBInstanceID, At: now,
					Payload: map[string]any{"created_at": r.CreatedAt, "ttl": ttl.String()}}},
				Notify: s.notices(EventExpired, r, now, func(n *Notice) { n.ExpiresAt = r.CreatedAt.Add(ttl) }),
			}); err != nil {
				return err
			}
		}
		n = len(rs)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("expire requests: %w", err)
	}
	return n, nil
}

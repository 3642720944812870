package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/store"
)

// Policy is the decision point the use cases consult.
type Policy interface {
	Decide(ctx context.Context, in policy.Input) (policy.Decision, error)
	MayApprove(ctx context.Context, in policy.ApproveInput) (policy.ApproveDecision, error)
}

// Enqueuer puts the execution job of an approved request on the queue inside
// the approving transaction (package executor implements it).
type Enqueuer interface {
	EnqueueRelease(ctx context.Context, tx pgx.Tx, requestID uuid.UUID) error
}

// Actor is the authenticated person or token behind a call, with the request
// context the policy's global condition keys read.
type Actor struct {
	Subject         string
	Groups          []string
	SourceIP        string
	SecureTransport bool
	MFAPresent      bool
}

// Service runs the use cases.
type Service struct {
	pool    *pgxpool.Pool
	filer   *store.Filer
	policy  Policy
	enqueue Enqueuer
	sealer  interface{ Kick() }
	now     func() time.Time
}

// Options configure a Service. Enqueue and Sealer may be nil.
type Options struct {
	Pool    *pgxpool.Pool
	Policy  Policy
	Enqueue Enqueuer
	Sealer  interface{ Kick() }
	Now     func() time.Time
}

// New returns a Service.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{pool: o.Pool, filer: store.NewFiler(o.Pool, store.FilerOptions{}), policy: o.Policy, enqueue: o.Enqueue, sealer: o.Sealer, now: o.Now}
}

// DeniedError is returned by Create when the policy denies the request. The
// request is recorded (status denied) all the same.
type DeniedError struct {
	Request *request.Request
	Reasons []string
}

func (e *DeniedError) Error() string {
	return "request denied by policy: " + strings.Join(e.Reasons, "; ")
}

// Unwrap makes errors.Is(err, request.ErrDenied) true.
func (e *DeniedError) Unwrap() error { return request.ErrDenied }

// ForbiddenError is a refusal with the policy's reasons.
type ForbiddenError struct{ Reasons []string }

func (e *ForbiddenError) Error() string { return "not allowed: " + strings.Join(e.Reasons, "; ") }

// Unwrap makes errors.Is(err, request.ErrForbidden) true.
func (e *ForbiddenError) Unwrap() error { return request.ErrForbidden }

// clock returns the current time at the database's precision.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func (s *Service) commit(ctx context.Context, fn func(pgx.Tx) error) error {
	if err := store.InTx(ctx, s.pool, fn); err != nil {
		return err
	}
	if s.sealer != nil {
		s.sealer.Kick()
	}
	return nil
}

// Create validates spec, asks the policy, and records the request as
// pending (allowed) or denied, with its audit events, in one transaction.
func (s *Service) Create(ctx context.Context, a Actor, spec request.Spec, breakGlass bool) (*request.Request, error) {
	spec = spec.Normalize()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	now := s.clock()
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("new request id: %w", err)
	}
	var (
		r *request.Request
		d policy.Decision
	)
	// The count, the decision and the writes happen under the requester's
	// lock, so concurrent filings cannot slip past the pending limit; other
	// requesters' filings may share the transaction (group commit).
	err = s.filer.File(ctx, a.Subject, func(pending int, w store.Execer) error {
		in := policy.Input{
			Principal: policy.Principal{Subject: a.Subject, Groups: a.Groups},
			Request: policy.RequestInput{RegionID: spec.RegionID, DBInstanceID: spec.DBInstanceID,
				ConnectionString: spec.ConnectionString, NetworkType: spec.NetworkType,
				Justification: spec.Justification, Ticket: spec.Ticket, BreakGlass: breakGlass},
			Context:         policy.Context{SourceIP: a.SourceIP, CurrentTime: now, SecureTransport: a.SecureTransport, MFAPresent: a.MFAPresent},
			PendingRequests: pending,
		}
		var err error
		if d, err = s.policy.Decide(ctx, in); err != nil {
			return fmt.Errorf("policy decision: %w", err)
		}
		decision, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("encode decision: %w", err)
		}
		r = &request.Request{
			ID: id, Requester: a.Subject, Spec: spec, Status: request.StatusPending,
			PayloadHash:          request.PayloadHash(id, a.Subject, spec),
			RequiredApprovals:    d.RequiredApprovals,
			ApproverRequirements: requirements(d.ApproverRequirements),
			Environment:          d.Environment, Decision: decision, PolicyRevision: d.Revision,
			CreatedAt: now, UpdatedAt: now,
		}
		kind := audit.KindRequestCreated
		if !d.Allow {
			r.Status, kind = request.StatusDenied, audit.KindRequestDenied
		}
		if err := store.InsertRequest(ctx, w, r); err != nil {
			return err
		}
		return audit.Append(ctx, w,
			audit.Record{Kind: audit.KindPolicyDecided, Actor: a.Subject, RequestID: id, DBInstanceID: spec.DBInstanceID,
				At: now, Payload: d.LogEntry(in)},
			audit.Record{Kind: kind, Actor: a.Subject, RequestID: id, DBInstanceID: spec.DBInstanceID, At: now,
				Payload: createdPayload(r, d)})
	})
	if err != nil {
		return nil, fmt.Errorf("create request: %w", err)
	}
	if s.sealer != nil {
		s.sealer.Kick()
	}
	if !d.Allow {
		return r, &DeniedError{Request: r, Reasons: d.Reasons}
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
	var out *request.Request
	err := s.commit(ctx, func(tx pgx.Tx) error {
		r, err := store.GetRequest(ctx, tx, id, true)
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
		ad, err := s.policy.MayApprove(ctx, policy.ApproveInput{
			Approver: policy.Principal{Subject: a.Subject, Groups: a.Groups}, Requester: r.Requester,
			Requirements: policyRequirements(r.ApproverRequirements), Votes: policyVotes(r.Votes), Environment: r.Environment,
		})
		if err != nil {
			return fmt.Errorf("policy decision: %w", err)
		}
		if !ad.Allow {
			return &ForbiddenError{Reasons: ad.Reasons}
		}
		v.Group = ad.Group
		next, err := r.Cast(v)
		if err != nil {
			return err
		}
		if err := store.InsertVote(ctx, tx, id, v); err != nil {
			return err
		}
		kind := audit.KindApprovalGranted
		if v.Decision == request.Reject {
			kind = audit.KindApprovalRejected
		}
		recs := []audit.Record{{Kind: kind, Actor: a.Subject, RequestID: id, DBInstanceID: r.DBInstanceID, At: v.CreatedAt,
			Payload: map[string]any{"decision": v.Decision, "comment": v.Comment, "group": v.Group,
				"payload_hash": v.PayloadHash, "policy": ad}}}
		if next != r.Status {
			if err := store.SetStatus(ctx, tx, id, r.Status, next, v.CreatedAt); err != nil {
				return err
			}
			k := audit.KindRequestApproved
			if next == request.StatusRejected {
				k = audit.KindRequestRejected
			}
			recs = append(recs, audit.Record{Kind: k, Actor: a.Subject, RequestID: id, DBInstanceID: r.DBInstanceID,
				At: v.CreatedAt, Payload: map[string]any{"from": r.Status, "to": next, "payload_hash": r.PayloadHash}})
			if next == request.StatusApproved && s.enqueue != nil {
				if err := s.enqueue.EnqueueRelease(ctx, tx, id); err != nil {
					return fmt.Errorf("enqueue execution: %w", err)
				}
			}
		}
		if err := audit.Append(ctx, tx, recs...); err != nil {
			return err
		}
		r.Votes = append(r.Votes, v)
		r.Status, r.UpdatedAt = next, v.CreatedAt
		out = r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vote on request %s: %w", id, err)
	}
	return out, nil
}

func policyRequirements(in []request.Requirement) []policy.Requirement {
	out := make([]policy.Requirement, 0, len(in))
	for _, r := range in {
		out = append(out, policy.Requirement{Group: r.Group, Count: r.Count})
	}
	return out
}

func policyVotes(in []request.Vote) []policy.Vote {
	out := make([]policy.Vote, 0, len(in))
	for _, v := range in {
		out = append(out, policy.Vote{Approver: v.Approver, Group: v.Group, Decision: v.Decision})
	}
	return out
}

// Cancel withdraws a pending request; only its requester may.
func (s *Service) Cancel(ctx context.Context, a Actor, id uuid.UUID, reason string) (*request.Request, error) {
	var out *request.Request
	err := s.commit(ctx, func(tx pgx.Tx) error {
		r, err := store.GetRequest(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if r.Requester != a.Subject {
			return fmt.Errorf("only the requester %s may cancel: %w", r.Requester, request.ErrForbidden)
		}
		now := s.clock()
		if err := store.SetStatus(ctx, tx, id, r.Status, request.StatusCancelled, now); err != nil {
			return err
		}
		if err := audit.Append(ctx, tx, audit.Record{Kind: audit.KindRequestCancelled, Actor: a.Subject, RequestID: id,
			DBInstanceID: r.DBInstanceID, At: now, Payload: map[string]any{"from": r.Status, "reason": strings.TrimSpace(reason)}}); err != nil {
			return err
		}
		r.Status, r.UpdatedAt = request.StatusCancelled, now
		out = r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cancel request %s: %w", id, err)
	}
	return out, nil
}

// ExpireOlderThan moves pending requests older than ttl to expired, each
// with its audit event, and returns how many it expired.
func (s *Service) ExpireOlderThan(ctx context.Context, ttl time.Duration) (int, error) {
	var n int
	err := s.commit(ctx, func(tx pgx.Tx) error {
		now := s.clock()
		rs, err := store.ExpirePending(ctx, tx, now.Add(-ttl), 500)
		if err != nil {
			return err
		}
		var recs []audit.Record
		for _, r := range rs {
			if err := store.SetStatus(ctx, tx, r.ID, request.StatusPending, request.StatusExpired, now); err != nil {
				return err
			}
			recs = append(recs, audit.Record{Kind: audit.KindRequestExpired, Actor: "rdsgate", RequestID: r.ID,
				DBInstanceID: r.DBInstanceID, At: now, Payload: map[string]any{"created_at": r.CreatedAt, "ttl": ttl.String()}})
		}
		n = len(rs)
		return audit.Append(ctx, tx, recs...)
	})
	return n, err
}

// Get returns a request with its votes.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*request.Request, error) {
	return store.GetRequest(ctx, s.pool, id, false)
}

// Detail is a request with its votes and its execution attempts.
type Detail struct {
	*request.Request
	Attempts []executor.Attempt `json:"attempts"`
}

// Detail returns the request, its votes and its execution attempts (each
// with the Alibaba RequestId and error code).
func (s *Service) Detail(ctx context.Context, id uuid.UUID) (*Detail, error) {
	r, err := store.GetRequest(ctx, s.pool, id, false)
	if err != nil {
		return nil, err
	}
	attempts, err := executor.Attempts(ctx, s.pool, id)
	if err != nil {
		return nil, fmt.Errorf("attempts of request %s: %w", id, err)
	}
	if attempts == nil {
		attempts = []executor.Attempt{}
	}
	return &Detail{Request: r, Attempts: attempts}, nil
}

// List returns a page of requests.
func (s *Service) List(ctx context.Context, f store.Filter) (store.Page, error) {
	return store.ListRequests(ctx, s.pool, f)
}

// IsDenied reports whether err is a policy denial and returns it.
func IsDenied(err error) (*DeniedError, bool) {
	var d *DeniedError
	ok := errors.As(err, &d)
	return d, ok
}

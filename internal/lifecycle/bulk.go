package lifecycle

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
)

// A bulk request releases many public endpoints under one approval. The
// policy decides every target as it would a single request; the denied
// ones are listed with their reasons and the rest may proceed, needing the
// approvals of the strictest of them. The approval is bound to the hash of
// the sorted target list. Once approved, each allowed target becomes a
// request of its own (created approved, its parent the bulk request), which
// the executor releases within its account's quota like any other; the
// target whose request ends last settles the bulk request, in the same
// transaction.

// bulkDecision is what a bulk request's decision column holds: the shape
// of policy.Decision (the pages read its reasons and environment) with the
// counts of allowed and denied targets.
type bulkDecision struct {
	Allow                bool                  `json:"allow"`
	Reasons              []string              `json:"reasons"`
	RequiredApprovals    int                   `json:"required_approvals"`
	ApproverRequirements []request.Requirement `json:"approver_requirements"`
	Environment          string                `json:"environment,omitempty"`
	Revision             string                `json:"revision"`
	TargetsAllowed       int                   `json:"targets_allowed"`
	TargetsDenied        int                   `json:"targets_denied"`
}

// FileBulk validates b, decides every target, and records the bulk
// request (pending when at least one target is allowed, denied otherwise)
// with its targets and audit events in one transaction: a policy.decided
// event per target and one request.created or request.denied. A bulk
// request whose every target is denied returns a *DeniedError.
func (s *Service) FileBulk(ctx context.Context, a Actor, b request.BulkSpec, breakGlass bool) (*request.Request, error) {
	if len(b.Targets) > request.MaxTargets { // before anything per target: the answer stays small
		return nil, request.Invalid("targets", "must list at most %d targets (got %d)", request.MaxTargets, len(b.Targets))
	}
	var errs request.ValidationErrors
	for i := range b.Targets {
		if len(errs) >= 50 {
			break
		}
		id, err := s.account("account_id", b.Targets[i].AccountID)
		if err != nil {
			errs = append(errs, &request.ValidationError{Field: fmt.Sprintf("targets[%d].account_id", i), Message: request.Fields(err)[0].Message})
			continue
		}
		b.Targets[i].AccountID = id
	}
	b = b.Normalize()
	if errs = append(errs, request.Fields(b.Validate())...); len(errs) > 0 {
		return nil, errs
	}
	b = b.Canonical()
	now := s.clock()
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("new request id: %w", err)
	}
	pending, err := s.store.PendingCount(ctx, a.Subject)
	if err != nil {
		return nil, fmt.Errorf("file bulk request: %w", err)
	}
	ins, ds, err := s.decideTargets(ctx, a, b, breakGlass, now, pending)
	if err != nil {
		return nil, fmt.Errorf("file bulk request: %w", err)
	}
	var r *request.Request
	err = s.store.InTx(ctx, func(tx Tx) error {
		n, err := tx.LockRequester(ctx, a.Subject)
		if err != nil {
			return err
		}
		if n != pending {
			if ins, ds, err = s.decideTargets(ctx, a, b, breakGlass, now, n); err != nil {
				return err
			}
		}
		var targets []request.BulkTarget
		r, targets, err = newBulkRequest(id, a.Subject, b, ds, now)
		if err != nil {
			return err
		}
		events := make([]audit.Record, 0, len(ds)+1)
		for i, d := range ds {
			events = append(events, audit.Record{Kind: audit.KindPolicyDecided, Actor: a.Subject, RequestID: id,
				DBInstanceID: b.Targets[i].DBInstanceID, At: now, Payload: d.LogEntry(ins[i])})
		}
		kind := audit.KindRequestCreated
		if r.Status == request.StatusDenied {
			kind = audit.KindRequestDenied
		}
		events = append(events, audit.Record{Kind: kind, Actor: a.Subject, RequestID: id, At: now,
			Payload: bulkCreatedPayload(r, targets)})
		c := Change{Request: id, New: r, Targets: targets, At: now, Events: events}
		if r.Status == request.StatusPending {
			c.Notify = s.filedNotices(r, now)
		}
		return tx.Apply(ctx, c)
	})
	if err != nil {
		return nil, fmt.Errorf("file bulk request: %w", err)
	}
	if r.Status == request.StatusDenied {
		var d bulkDecision
		_ = json.Unmarshal(r.Decision, &d)
		return r, &DeniedError{Request: r, Reasons: d.Reasons}
	}
	return r, nil
}

// decideTargets asks the policy about every target of b, as single
// requests with the requester's pending count.
func (s *Service) decideTargets(ctx context.Context, a Actor, b request.BulkSpec, breakGlass bool, now time.Time, pending int) ([]policy.Input, []policy.Decision, error) {
	ins := make([]policy.Input, len(b.Targets))
	ds := make([]policy.Decision, len(b.Targets))
	for i := range b.Targets {
		ins[i] = filingInput(a, b.Spec(i), breakGlass, now)
		ins[i].PendingRequests = pending
		d, err := s.decide(ctx, ins[i])
		if err != nil {
			return nil, nil, fmt.Errorf("target %d (%s): %w", i, b.Targets[i].DBInstanceID, err)
		}
		ds[i] = d
	}
	return ins, ds, nil
}

// newBulkRequest is the bulk request the decisions ds of b's targets file,
// with its targets: it needs the approvals of its strictest allowed target
// (the most approvals; every group's largest count), and is denied when no
// target is allowed.
func newBulkRequest(id uuid.UUID, requester string, b request.BulkSpec, ds []policy.Decision, now time.Time) (*request.Request, []request.BulkTarget, error) {
	targets := make([]request.BulkTarget, len(b.Targets))
	sum := bulkDecision{ApproverRequirements: []request.Requirement{}}
	strictest := -1
	for i, d := range ds {
		td := request.TargetDecision{Allow: d.Allow, Reasons: d.Reasons, Environment: d.Environment,
			RequiredApprovals: d.RequiredApprovals, ApproverRequirements: requirements(d.ApproverRequirements),
			DecisionID: d.DecisionID}
		if td.Reasons == nil {
			td.Reasons = []string{}
		}
		targets[i] = request.BulkTarget{Index: i, Target: b.Targets[i], Decision: td}
		sum.Revision = d.Revision
		if !d.Allow {
			sum.TargetsDenied++
			continue
		}
		sum.TargetsAllowed++
		child, err := uuid.NewV7()
		if err != nil {
			return nil, nil, fmt.Errorf("new request id: %w", err)
		}
		targets[i].RequestID = child
		if strictest < 0 || d.RequiredApprovals > ds[strictest].RequiredApprovals {
			strictest = i
		}
		sum.ApproverRequirements = mergeRequirements(sum.ApproverRequirements, td.ApproverRequirements)
	}
	sum.Allow = strictest >= 0
	summary := fmt.Sprintf("%d targets: %d allowed, %d denied", len(targets), sum.TargetsAllowed, sum.TargetsDenied)
	if sum.Allow {
		d := ds[strictest]
		sum.RequiredApprovals, sum.Environment = d.RequiredApprovals, d.Environment
		sum.Reasons = append([]string{summary, fmt.Sprintf("the approvals asked are those of the strictest target, %s (%s):",
			b.Targets[strictest].DBInstanceID, cmp.Or(d.Environment, "no environment"))}, d.Reasons...)
	} else {
		// The distinct reasons, so that a denial says why without a list
		// of a thousand targets.
		sum.Reasons = []string{summary, "every target was denied, for these reasons:"}
		for _, d := range ds {
			for _, why := range d.Reasons {
				if len(sum.Reasons) < 12 && !slices.Contains(sum.Reasons, why) {
					sum.Reasons = append(sum.Reasons, why)
				}
			}
		}
	}
	decision, err := json.Marshal(sum)
	if err != nil {
		return nil, nil, fmt.Errorf("encode decision: %w", err)
	}
	r := &request.Request{
		ID: id, Requester: requester, Spec: request.Spec{Justification: b.Justification, Ticket: b.Ticket},
		Status: request.StatusPending, PayloadHash: request.BulkPayloadHash(id, requester, b),
		RequiredApprovals: sum.RequiredApprovals, ApproverRequirements: sum.ApproverRequirements,
		Environment: sum.Environment, Decision: decision, PolicyRevision: sum.Revision,
		TargetCount: len(targets), CreatedAt: now, UpdatedAt: now,
	}
	if !sum.Allow {
		r.Status = request.StatusDenied
	}
	return r, targets, nil
}

// mergeRequirements adds reqs to into, keeping each group's largest count.
func mergeRequirements(into, reqs []request.Requirement) []request.Requirement {
	for _, q := range reqs {
		i := slices.IndexFunc(into, func(have request.Requirement) bool { return have.Group == q.Group })
		if i < 0 {
			into = append(into, q)
		} else if q.Count > into[i].Count {
			into[i].Count = q.Count
		}
	}
	return into
}

func bulkCreatedPayload(r *request.Request, targets []request.BulkTarget) map[string]any {
	var denied []map[string]any
	allowed := 0
	for _, t := range targets {
		if !t.Decision.Allow {
			denied = append(denied, map[string]any{"index": t.Index, "account_id": t.AccountID,
				"db_instance_id": t.DBInstanceID, "reasons": t.Decision.Reasons})
			continue
		}
		allowed++
	}
	return map[string]any{
		"justification": r.Justification, "ticket": r.Ticket, "status": r.Status, "payload_hash": r.PayloadHash,
		"targets": len(targets), "targets_allowed": allowed, "targets_denied": denied,
		"required_approvals": r.RequiredApprovals, "approver_requirements": r.ApproverRequirements,
		"environment": r.Environment, "revision": r.PolicyRevision,
	}
}

// startBulk turns an approved bulk request's allowed targets into
// requests of their own, approved, each with its execution job, and moves
// the bulk request to executing. The jobs are queued taking the accounts in
// turn, so that every account's quota is in use from the first second.
func (s *Service) startBulk(ctx context.Context, tx Tx, r *request.Request, at time.Time) error {
	targets, err := tx.Targets(ctx, r.ID)
	if err != nil {
		return err
	}
	byAccount := map[string][]*request.Request{}
	var accounts []string
	events := []audit.Record{}
	parent := r.ID
	for _, t := range targets {
		if !t.Decision.Allow {
			continue
		}
		spec := request.Spec{RegionID: t.RegionID, DBInstanceID: t.DBInstanceID, ConnectionString: t.ConnectionString,
			NetworkType: t.NetworkType, AccountID: t.AccountID, Justification: r.Justification, Ticket: r.Ticket}
		decision, err := json.Marshal(t.Decision)
		if err != nil {
			return fmt.Errorf("encode decision: %w", err)
		}
		child := &request.Request{ID: t.RequestID, Requester: r.Requester, Spec: spec, Status: request.StatusApproved,
			PayloadHash: request.PayloadHash(t.RequestID, r.Requester, spec), ApproverRequirements: []request.Requirement{},
			Environment: t.Decision.Environment, Decision: decision, PolicyRevision: r.PolicyRevision,
			ParentID: &parent, CreatedAt: at, UpdatedAt: at}
		if _, ok := byAccount[t.AccountID]; !ok {
			accounts = append(accounts, t.AccountID)
		}
		byAccount[t.AccountID] = append(byAccount[t.AccountID], child)
		events = append(events, audit.Record{Kind: audit.KindRequestCreated, Actor: System, RequestID: child.ID,
			DBInstanceID: child.DBInstanceID, At: at, Payload: map[string]any{
				"spec": child.Spec, "status": child.Status, "payload_hash": child.PayloadHash, "environment": child.Environment,
				"parent_id": parent, "target_index": t.Index, "bulk_payload_hash": r.PayloadHash,
			}})
	}
	children := make([]*request.Request, 0, len(events))
	for i := 0; len(children) < len(events); i++ {
		for _, acc := range accounts {
			if i < len(byAccount[acc]) {
				children = append(children, byAccount[acc][i])
			}
		}
	}
	events = append(events, audit.Record{Kind: audit.KindExecutionStarted, Actor: System, RequestID: r.ID, At: at,
		Payload: map[string]any{"targets": len(children), "accounts": accounts, "payload_hash": r.PayloadHash}})
	return tx.Apply(ctx, Change{Request: r.ID, From: request.StatusApproved, To: request.StatusExecuting, At: at,
		Children: children, Events: events})
}

// settle ends a bulk request whose target requests have all ended: in the
// transaction of the change that ended the last of them, which holds that
// target's lock; the bulk request's lock, taken here, makes the last one
// see every other. Succeeded when every target did, failed when any
// failed, cancelled otherwise (some were cancelled).
func (s *Service) settle(ctx context.Context, tx Tx, parentID uuid.UUID) error {
	p, err := tx.LockRequest(ctx, parentID)
	if err != nil {
		return err
	}
	if p.Status != request.StatusExecuting {
		return nil
	}
	n, err := tx.ChildCounts(ctx, parentID)
	if err != nil {
		return err
	}
	if n[request.StatusApproved]+n[request.StatusExecuting] > 0 {
		return nil
	}
	to := request.StatusSucceeded
	switch {
	case n[request.StatusFailed] > 0:
		to = request.StatusFailed
	case n[request.StatusCancelled] > 0:
		to = request.StatusCancelled
	}
	now := s.clock()
	counts := map[string]int{"succeeded": n[request.StatusSucceeded], "failed": n[request.StatusFailed],
		"cancelled": n[request.StatusCancelled]}
	kind := audit.KindExecutionSucceeded
	if to != request.StatusSucceeded {
		kind = audit.KindExecutionFailed
	}
	reason := ""
	if to != request.StatusSucceeded {
		reason = fmt.Sprintf("%d targets succeeded, %d failed, %d cancelled", counts["succeeded"], counts["failed"], counts["cancelled"])
	}
	after := *p
	after.Status = to
	return tx.Apply(ctx, Change{Request: parentID, From: request.StatusExecuting, To: to, At: now,
		Events: []audit.Record{{Kind: kind, Actor: System, RequestID: parentID, At: now,
			Payload: map[string]any{"status": to, "targets": counts, "reason": reason}}},
		Notify: s.bulkOutcome(&after, to, now, reason)})
}

// bulkOutcome tells of a bulk request's end: succeeded, failed (with the
// counts), or cancelled (its rest withdrawn by the requester).
func (s *Service) bulkOutcome(r *request.Request, to request.Status, at time.Time, reason string) []Notice {
	if to == request.StatusCancelled {
		return s.notices(EventCancelled, r, at, func(n *Notice) { n.Status, n.Reason = to, reason })
	}
	return s.outcome(r, to, at, nil, reason)
}

// applyEnding applies c, a change of cur, and when it ends a bulk
// request's target, settles the bulk request in the same transaction.
func (s *Service) applyEnding(ctx context.Context, tx Tx, cur *request.Request, c Change) error {
	if err := tx.Apply(ctx, c); err != nil {
		return err
	}
	if cur.ParentID == nil || c.To == "" || !c.To.Terminal() {
		return nil
	}
	return s.settle(ctx, tx, *cur.ParentID)
}

// withdrawIfRestCancelled cancels cur, an approved target request about to
// be called, when "cancel the rest" was asked of its bulk request after
// it was last approved (a retryable error or a reconciliation put it back):
// in the caller's transaction, which holds cur's lock, settling the bulk
// request when cur was its last. It reports whether it did.
func (s *Service) withdrawIfRestCancelled(ctx context.Context, tx Tx, cur *request.Request) (bool, error) {
	if cur.ParentID == nil {
		return false, nil
	}
	cancelled, err := tx.RestCancelled(ctx, *cur.ParentID)
	if err != nil || !cancelled {
		return false, err
	}
	now := s.clock()
	return true, s.applyEnding(ctx, tx, cur, Change{Request: cur.ID, From: request.StatusApproved, To: request.StatusCancelled,
		At: now, Events: []audit.Record{{Kind: audit.KindRequestCancelled, Actor: System, RequestID: cur.ID,
			DBInstanceID: cur.DBInstanceID, At: now, Payload: map[string]any{"from": request.StatusApproved,
				"reason": "the rest of the bulk request was cancelled", "parent_id": *cur.ParentID}}}})
}

// CancelRest withdraws the targets of an executing bulk request that have
// not been called yet; targets being called finish, and the bulk request
// ends when they have. Only its requester may.
func (s *Service) CancelRest(ctx context.Context, a Actor, id uuid.UUID, reason string) (int, error) {
	if err := request.CheckText("reason", reason); err != nil {
		return 0, err
	}
	reason = strings.TrimSpace(reason)
	var n int
	err := s.store.InTx(ctx, func(tx Tx) error {
		p, err := tx.LockRequest(ctx, id)
		if err != nil {
			return err
		}
		switch {
		case !p.Bulk():
			return fmt.Errorf("only a bulk request has a rest to cancel (cancel a pending request instead): %w", request.ErrConflict)
		case p.Requester != a.Subject:
			return fmt.Errorf("only the requester %s may cancel: %w", p.Requester, request.ErrForbidden)
		case p.Status != request.StatusExecuting:
			return fmt.Errorf("bulk request is %s: only a running one has a rest to cancel: %w", p.Status, request.ErrConflict)
		}
		rest, err := tx.LockApprovedChildren(ctx, id)
		if err != nil {
			return err
		}
		now := s.clock()
		for _, c := range rest {
			if err := tx.Apply(ctx, Change{Request: c.ID, From: request.StatusApproved, To: request.StatusCancelled, At: now,
				Events: []audit.Record{{Kind: audit.KindRequestCancelled, Actor: a.Subject, RequestID: c.ID,
					DBInstanceID: c.DBInstanceID, At: now,
					Payload: map[string]any{"from": request.StatusApproved, "reason": reason, "parent_id": id}}}}); err != nil {
				return err
			}
		}
		n = len(rest)
		counts, err := tx.ChildCounts(ctx, id)
		if err != nil {
			return err
		}
		if n == 0 && counts[request.StatusExecuting] == 0 {
			return fmt.Errorf("no target is left to cancel: %w", request.ErrConflict)
		}
		// The mark withdraws, when their jobs next start, the targets being
		// called now that a retryable error or a reconciliation puts back.
		if err := tx.Apply(ctx, Change{Request: id, At: now, CancelRest: true, Events: []audit.Record{{Kind: audit.KindRequestCancelled,
			Actor: a.Subject, RequestID: id, At: now,
			Payload: map[string]any{"status": p.Status, "reason": reason, "targets_cancelled": n,
				"targets_being_called": counts[request.StatusExecuting]}}}}); err != nil {
			return err
		}
		return s.settle(ctx, tx, id)
	})
	if err != nil {
		return 0, fmt.Errorf("cancel the rest of request %s: %w", id, err)
	}
	return n, nil
}

// account checks the account a request names against the registry and
// returns the one to record: with several accounts one must be named; with
// one, none named means that one; without a registry only the configured
// account may be named.
func (s *Service) account(field, id string) (string, error) {
	var ids []string
	def := ""
	if s.accounts != nil {
		ids, def = s.accounts.AccountIDs(), s.accounts.DefaultAccountID()
	}
	if err := request.CheckText(field, id); err != nil {
		return "", err
	}
	id = strings.TrimSpace(id)
	switch {
	case len(ids) == 0 && (id == "" || id == def):
		return def, nil // one account: recorded by its id, named or not, so an endpoint has one name
	case len(ids) == 0 && def == "":
		return "", request.Invalid(field, "names account %q, but rdsgate is configured without accounts", id)
	case len(ids) == 0:
		return "", request.Invalid(field, "names account %q, but rdsgate is configured for account %s only", id, def)
	case id == "" && len(ids) == 1:
		return ids[0], nil
	case id == "":
		return "", request.Invalid(field, "is required: %d accounts are configured (%s)", len(ids), strings.Join(ids, ", "))
	case !slices.Contains(ids, id):
		return "", request.Invalid(field, "names account %q, which is not in accounts.json", id)
	}
	return id, nil
}

// BulkDetail is a bulk request's targets and progress, for its page and
// the API.
type BulkDetail struct {
	Targets  []request.BulkTarget `json:"targets"`
	Progress request.Progress     `json:"progress"`
}

// Bulk returns a bulk request's targets, each with its decision, status
// and attempts, and its progress: the estimate takes each account's
// remaining targets at the quota's rate, accounts in parallel.
func (s *Service) Bulk(ctx context.Context, r *request.Request) (*BulkDetail, error) {
	ts, err := s.store.BulkTargets(ctx, r.ID)
	if err != nil {
		return nil, fmt.Errorf("targets of request %s: %w", r.ID, err)
	}
	return &BulkDetail{Targets: ts, Progress: progress(r, ts, s.rate)}, nil
}

func progress(r *request.Request, ts []request.BulkTarget, rate float64) request.Progress {
	var p request.Progress
	left := map[string]int{}
	for _, t := range ts {
		if !t.Decision.Allow {
			p.Denied++
			continue
		}
		p.Total++
		switch t.Status {
		case request.StatusSucceeded:
			p.Succeeded++
		case request.StatusFailed:
			p.Failed++
		case request.StatusCancelled:
			p.Cancelled++
		default:
			if r.Status.Terminal() && t.Status == "" {
				p.Cancelled++ // never started: the bulk request was rejected, expired or cancelled
				continue
			}
			p.Remaining++
			left[t.AccountID]++
		}
	}
	most := 0
	for _, n := range left {
		most = max(most, n)
	}
	p.ETASeconds = math.Round(float64(most)/rate*10) / 10
	return p
}

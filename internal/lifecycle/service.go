package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
)

// Store is what the use cases need of the database (package store
// implements it). Reads outside a transaction see committed state only.
type Store interface {
	// InTx runs fn in one transaction, committed when fn returns nil and
	// rolled back otherwise. After a commit it tells the audit sealer that
	// events are waiting.
	InTx(ctx context.Context, fn func(Tx) error) error
	// Append records events that change no request, in a transaction of
	// their own.
	Append(ctx context.Context, recs ...audit.Record) error
	// Request loads a request with its votes.
	Request(ctx context.Context, id uuid.UUID) (*request.Request, error)
	// Requests returns one page of requests, newest first.
	Requests(ctx context.Context, f Filter) (Page, error)
	// Attempts lists the calls made for a request, oldest first.
	Attempts(ctx context.Context, id uuid.UUID) ([]request.Attempt, error)
	// PendingCount is how many of requester's requests are pending.
	PendingCount(ctx context.Context, requester string) (int, error)
	// AwaitingVote lists up to limit pending requests, oldest first, with
	// their votes, that approver neither filed nor voted on.
	AwaitingVote(ctx context.Context, approver string, limit int) ([]*request.Request, error)
	// VotedBy returns one page of the requests approver voted on, the
	// newest vote first, each with that vote.
	VotedBy(ctx context.Context, approver, cursor string, limit int) (VotePage, error)
	// ReconcileWait is how long until the last release attempt of id may be
	// checked: delay after it finished, or after started + inflight when it
	// never finished; on the database's clock, 0 when there is none.
	ReconcileWait(ctx context.Context, id uuid.UUID, inflight, delay time.Duration) (time.Duration, error)
	// TrailCursor is where the last read of an account's trail in a
	// region ended (zero: never read).
	TrailCursor(ctx context.Context, accountID, regionID string) (time.Time, error)
	// Confirmations maps the Alibaba RequestIds of a request's calls that
	// ActionTrail recorded to the events' times.
	Confirmations(ctx context.Context, id uuid.UUID) (map[string]time.Time, error)
	// BulkTargets lists a bulk request's targets in their canonical order,
	// each with its decision, its request's status and its attempts.
	BulkTargets(ctx context.Context, id uuid.UUID) ([]request.BulkTarget, error)
	// Orphans lists approved or executing requests unchanged for longer
	// than olderThan that have no live execution job (bulk requests,
	// which have none, excluded).
	Orphans(ctx context.Context, olderThan time.Duration, limit int) ([]uuid.UUID, error)
}

// Tx is one transaction. Its only write is Apply, so that no state change
// can be written without its audit records.
type Tx interface {
	// LockRequester serialises one requester's filings until the
	// transaction ends and returns how many of their requests are pending.
	LockRequester(ctx context.Context, requester string) (pending int, err error)
	// LockRequest loads a request with its votes and locks its row until
	// the transaction ends: every change of a request takes this lock
	// first, so changes of one request are applied one after the other.
	LockRequest(ctx context.Context, id uuid.UUID) (*request.Request, error)
	// LockPendingBefore locks up to limit pending requests created before
	// cutoff, skipping rows another transaction holds.
	LockPendingBefore(ctx context.Context, cutoff time.Time, limit int) ([]*request.Request, error)
	// AttemptCounts counts a request's release calls and checks.
	AttemptCounts(ctx context.Context, id uuid.UUID) (releases, checks int, err error)
	// NextAttempt is the number the request's next attempt gets.
	NextAttempt(ctx context.Context, id uuid.UUID) (int, error)
	// OpenAttempts lists the numbers of the request's attempts that have
	// no outcome yet.
	OpenAttempts(ctx context.Context, id uuid.UUID) ([]int, error)
	// HasLiveJob reports whether the request has an execution job that
	// will still run.
	HasLiveJob(ctx context.Context, id uuid.UUID) (bool, error)
	// Apply writes c whole: its state changes and its audit records.
	Apply(ctx context.Context, c Change) error
	// Targets lists a bulk request's targets in their canonical order,
	// each with its decision and its request's id (no status or attempts).
	Targets(ctx context.Context, id uuid.UUID) ([]request.BulkTarget, error)
	// ChildCounts counts a bulk request's target requests by status.
	ChildCounts(ctx context.Context, id uuid.UUID) (map[request.Status]int, error)
	// UnsettledCall finds a release call of rdsgate's on instanceID whose
	// RequestId it never learnt (a timeout, a worker that died), started
	// shortly before or after at.
	UnsettledCall(ctx context.Context, instanceID string, at time.Time) (Known, bool, error)
	// RestCancelled reports whether "cancel the rest" was asked of a bulk
	// request.
	RestCancelled(ctx context.Context, id uuid.UUID) (bool, error)
	// LockTrail serialises the reads of one account's trail in a region
	// until the transaction ends and says which of eventIDs were seen
	// before.
	LockTrail(ctx context.Context, accountID, regionID string, eventIDs []string) (map[string]bool, error)
	// KnownCalls maps those of the Alibaba RequestIds that rdsgate's own
	// attempts carry to their request and attempt.
	KnownCalls(ctx context.Context, alibabaRequestIDs []string) (map[string]Known, error)
	// LockApprovedChildren locks a bulk request's target requests that are
	// approved (not yet called), skipping rows another transaction holds
	// (a worker about to call): those finish on their own.
	LockApprovedChildren(ctx context.Context, id uuid.UUID) ([]*request.Request, error)
}

// Change is one change of a request's state with the audit records that
// tell of it: the only write the use cases make. Events must not be empty.
type Change struct {
	// Request is the request changed.
	Request uuid.UUID
	// New, when set, is a request to insert (Request is then New.ID).
	New *request.Request
	// From and To move the status, compare-and-set: a row no longer in
	// From gives request.ErrConflict. To empty leaves the status alone.
	From, To request.Status
	// At is when the change happened.
	At time.Time
	// Vote is a vote to store.
	Vote *request.Vote
	// Started is an attempt to insert before its call (started now, on
	// the database's clock).
	Started *request.Attempt
	// Finished is an attempt's outcome. With a zero StartedAt it completes
	// the open attempt of its number (a release started before its call);
	// otherwise it is a whole attempt inserted at once (a check).
	Finished *request.Attempt
	// CloseOpen marks attempts without an outcome (their worker died during
	// the call) as unknown.
	CloseOpen bool
	// Enqueue puts the request's execution job on the queue.
	Enqueue bool
	// Targets are a new bulk request's targets (with New).
	Targets []request.BulkTarget
	// Children are the requests of an approved bulk request's targets,
	// inserted approved with their execution jobs, in this order (the
	// queue's).
	Children []*request.Request
	// Trace is the HTTP request id the change was made under (WithTrace;
	// set by the Service, not by the use cases): the job carries it.
	Trace string
	// Requeued counts one more re-enqueue by the sweep.
	Requeued bool
	// Notify are the notifications the change causes: the store inserts
	// one delivery job per notice and channel in the same transaction.
	Notify []Notice
	// CancelRest marks the bulk request's rest cancelled: its targets
	// approved later are withdrawn when their jobs start (StartRelease).
	CancelRest bool
	// Trail marks trail events seen (RecordTrail).
	Trail []TrailMark
	// TrailCursor moves a trail cursor. A change that only moves it needs
	// no audit record: it is bookkeeping of what was read, not a change of
	// anything recorded.
	TrailCursor *TrailCursorMove
	// Events are the audit records of the change (at least one).
	Events []audit.Record
}

// Policy is the decision point the use cases consult.
type Policy interface {
	Decide(ctx context.Context, in policy.Input) (policy.Decision, error)
	MayApprove(ctx context.Context, in policy.ApproveInput) (policy.ApproveDecision, error)
}

// Actor is the authenticated person or token behind a call, with the
// request context the policy's global condition keys read.
type Actor struct {
	Subject         string
	Groups          []string
	SourceIP        string
	SecureTransport bool
	MFAPresent      bool
}

// System is the audit actor of the changes rdsgate makes by itself
// (expiry, execution).
const System = "rdsgate"

// Service runs the use cases. It is safe for concurrent use.
type Service struct {
	store     Store
	policy    Policy
	instances InstanceLookup
	now       func() time.Time
	router    Router
	ttl, lead time.Duration
	accounts  Accounts
	rate      float64
	// environments, when set, classifies instances that no request names
	// (a release made around the gate), for routing its notice.
	environments Environments
}

// Environments names the environment of an instance (the org data's
// classification; *policy.Engine implements it).
type Environments interface {
	EnvironmentOf(accountID, regionID, instanceID string) string
}

// Accounts says which Alibaba Cloud accounts requests may name
// (accounts.json, through the policy engine).
type Accounts interface {
	// AccountIDs lists the configured accounts; nil when there is no
	// registry and rdsgate knows only its one account.
	AccountIDs() []string
	// DefaultAccountID is the account of a request that names none.
	DefaultAccountID() string
}

// Options configure a Service. Instances may be nil (instance look-ups
// then fail with ErrUnavailable); Now defaults to time.Now.
type Options struct {
	Store     Store
	Policy    Policy
	Instances InstanceLookup
	Now       func() time.Time
	// Observer, when set, is told of every change after it committed
	// (metrics).
	Observer Observer
	// Notify, when set, routes the notifications the changes cause; nil
	// turns them off (nothing is enqueued).
	Notify Router
	// RequestTTL is how long a request stays pending (RDSGATE_REQUEST_TTL):
	// notices say when it expires. With ReminderLead shorter than it, a
	// filing schedules a request.expiring reminder ReminderLead before.
	RequestTTL   time.Duration
	ReminderLead time.Duration
	// Accounts, when set, is the account registry requests are checked
	// against; nil accepts only requests that name no account.
	Accounts Accounts
	// Environments, when set, classifies the instances of releases made
	// around the gate for their notices' routes.
	Environments Environments
	// ReleaseRate is how many releases per second one account's quota
	// allows, for a bulk request's estimate (DefaultReleaseRate).
	ReleaseRate float64
}

// DefaultReleaseRate is ReleaseInstanceConnection's documented quota per
// account, less the rate limiter's margin.
const DefaultReleaseRate = 10 / 1.04

// New returns a Service. What it writes through o.Store carries the HTTP
// request id of the context (WithTrace).
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Observer != nil {
		o.Store = observedStore{Store: o.Store, obs: o.Observer}
	}
	if o.ReleaseRate <= 0 {
		o.ReleaseRate = DefaultReleaseRate
	}
	return &Service{store: tracedStore{o.Store}, policy: o.Policy, instances: o.Instances, now: o.Now,
		router: o.Notify, ttl: o.RequestTTL, lead: o.ReminderLead, accounts: o.Accounts, rate: o.ReleaseRate,
		environments: o.Environments}
}

// clock returns the current time at the database's precision.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// DeniedError is returned by File when the policy denies the request. The
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

// RecordRefusal records that a caller was refused an action for lacking
// the role it needs (access.denied), and returns the refusal to answer:
// an error wrapping request.ErrForbidden. Nothing else is written.
func (s *Service) RecordRefusal(ctx context.Context, a Actor, action, role string) error {
	refusal := fmt.Errorf("%s needs the %s role to %s (groups %v): %w", a.Subject, role, action, a.Groups, request.ErrForbidden)
	err := s.store.Append(ctx, audit.Record{Kind: audit.KindAccessDenied, Actor: a.Subject, At: s.clock(),
		Payload: map[string]any{"action": action, "role": role, "groups": a.Groups, "source_ip": a.SourceIP}})
	if err != nil {
		return errors.Join(refusal, fmt.Errorf("record the refusal: %w", err))
	}
	return refusal
}

// RecordAccess records who signed in or out, or read the audit trail, and
// how: events of access, not of a request's state. A failure to record is
// returned, so that a read of the trail is not served unrecorded.
func (s *Service) RecordAccess(ctx context.Context, a Actor, kind string, payload map[string]any) error {
	if payload == nil {
		payload = map[string]any{}
	}
	payload["source_ip"] = a.SourceIP
	if err := s.store.Append(ctx, audit.Record{Kind: kind, Actor: a.Subject, At: s.clock(), Payload: payload}); err != nil {
		return fmt.Errorf("record %s: %w", kind, err)
	}
	return nil
}

// IsDenied reports whether err is a policy denial and returns it.
func IsDenied(err error) (*DeniedError, bool) {
	var d *DeniedError
	ok := errors.As(err, &d)
	return d, ok
}

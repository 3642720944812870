package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/request"
)

// Notification events: what a Notice tells of.
const (
	// EventPending asks the approvers of the requirements still open for
	// their vote: at filing, and again after a vote that left another
	// requirement open.
	EventPending   = "request.pending"
	EventApproved  = "request.approved"
	EventRejected  = "request.rejected"
	EventCancelled = "request.cancelled"
	EventExpired   = "request.expired"
	// EventExpiring reminds requester and approvers that a request still
	// pending expires soon; it is scheduled at filing and sent only if the
	// request is still pending then.
	EventExpiring  = "request.expiring"
	EventSucceeded = "execution.succeeded"
	EventFailed    = "execution.failed"
)

// Notice is one notification a change causes: the event, a snapshot of the
// request as the message tells it, and the channels it goes to. It holds
// no secret and no URL: the job queue stores it in the database.
type Notice struct {
	Event            string         `json:"event"`
	RequestID        uuid.UUID      `json:"request_id"`
	RegionID         string         `json:"region_id"`
	DBInstanceID     string         `json:"db_instance_id"`
	ConnectionString string         `json:"connection_string"`
	Environment      string         `json:"environment,omitempty"`
	Requester        string         `json:"requester"`
	Justification    string         `json:"justification"`
	Ticket           string         `json:"ticket,omitempty"`
	Status           request.Status `json:"status"`
	// Targets is a bulk request's number of targets (0: a single request,
	// whose endpoint the fields above name).
	Targets int `json:"targets,omitempty"`
	// StillNeeded are the approvals still missing, per group.
	StillNeeded []request.Requirement `json:"still_needed,omitempty"`
	// Groups are the approver groups the notice concerns, which routes
	// match: the open requirements' while pending, else all of the
	// request's.
	Groups []string `json:"groups,omitempty"`
	// Approvers are those who approved so far.
	Approvers []string `json:"approvers,omitempty"`
	// Recipients are the people told in person (an email channel writes to
	// those whose subject is an address): the requester, and for outcomes
	// those who approved.
	Recipients       []string  `json:"recipients,omitempty"`
	ErrorCode        string    `json:"error_code,omitempty"`
	AlibabaRequestID string    `json:"alibaba_request_id,omitempty"`
	ErrorMessage     string    `json:"error_message,omitempty"`
	Reason           string    `json:"reason,omitempty"`
	ExpiresAt        time.Time `json:"expires_at,omitzero"`
	// At is when the change happened.
	At time.Time `json:"at"`

	// SendAt, when not zero, holds the deliveries until then (a reminder).
	SendAt time.Time `json:"-"`
	// Channels are the channels the notice goes to (Router.Route), one
	// delivery job each.
	Channels []string `json:"-"`
}

// NotifyJob is one delivery of a notice to one channel. The store inserts
// one per channel in the transaction of the change, so that a channel that
// failed is retried alone; package notify works them.
type NotifyJob struct {
	// DeliveryID is stable across retries: receivers dedupe by it.
	DeliveryID uuid.UUID `json:"delivery_id"`
	Channel    string    `json:"channel"`
	Notice     Notice    `json:"notice"`
	// Trace is the HTTP request id of the change (WithTrace).
	Trace string `json:"http_request_id,omitempty"`
}

// Kind names the job on the queue.
func (NotifyJob) Kind() string { return "rdsgate.notify" }

// NotifyQueue is the queue of NotifyJobs.
const NotifyQueue = "rds_notify"

// Router names the channels a notice goes to; none means it is not sent
// (notifications off). It is consulted inside the change's transaction,
// so it must be quick and must not block.
type Router interface {
	Route(n Notice) []string
}

// notices returns the notices of event about r (r's votes already holding
// the change's own), routed; nil when notifications are off or no channel
// takes them. edit, when set, adds the event's details before routing.
func (s *Service) notices(event string, r *request.Request, at time.Time, edit func(*Notice)) []Notice {
	if s.router == nil || r.ParentID != nil {
		return nil // a bulk request's targets are told of through the bulk request
	}
	n := Notice{Event: event, RequestID: r.ID, RegionID: r.RegionID, DBInstanceID: r.DBInstanceID,
		ConnectionString: r.ConnectionString, Environment: r.Environment, Requester: r.Requester,
		Justification: r.Justification, Ticket: r.Ticket, Status: r.Status, Targets: r.TargetCount, At: at}
	if s.ttl > 0 {
		n.ExpiresAt = r.CreatedAt.Add(s.ttl)
	}
	for _, v := range r.Votes {
		if v.Decision == request.Approve {
			n.Approvers = append(n.Approvers, v.Approver)
		}
	}
	open := request.OpenRequirements(r.ApproverRequirements, r.Votes)
	groups := r.ApproverRequirements
	switch event {
	case EventPending, EventExpiring:
		n.StillNeeded, groups = open, open
	}
	for _, q := range groups {
		if !slices.Contains(n.Groups, q.Group) {
			n.Groups = append(n.Groups, q.Group)
		}
	}
	if event != EventPending {
		n.Recipients = append(n.Recipients, r.Requester)
		if event != EventExpiring {
			for _, a := range n.Approvers {
				if !slices.Contains(n.Recipients, a) {
					n.Recipients = append(n.Recipients, a)
				}
			}
		}
	}
	if edit != nil {
		edit(&n)
	}
	if n.Channels = s.router.Route(n); len(n.Channels) == 0 {
		return nil
	}
	return []Notice{n}
}

// outcome returns the notices of an execution outcome that moved r to
// status to: succeeded or failed; nil for any other status.
func (s *Service) outcome(r *request.Request, to request.Status, at time.Time, a *request.Attempt, reason string) []Notice {
	event := EventSucceeded
	switch to {
	case request.StatusSucceeded:
	case request.StatusFailed:
		event = EventFailed
	default:
		return nil
	}
	return s.notices(event, r, at, func(n *Notice) {
		n.Status, n.Reason = to, reason
		if a != nil {
			n.ErrorCode, n.AlibabaRequestID, n.ErrorMessage = a.ErrorCode, a.AlibabaRequestID, a.ErrorMessage
		}
	})
}

// Delivery is one attempt to deliver a NotifyJob, for the audit trail.
type Delivery struct {
	Job     NotifyJob
	Attempt int
	// HTTPStatus is the receiver's answer (0: none, or not HTTP).
	HTTPStatus int
	// Err is why it failed (nil: sent). It must not hold a secret: the
	// channels report errors without their URL.
	Err error
	// Final means no retry follows a failure.
	Final bool
}

// RecordDelivery records a delivery attempt: notification.sent or
// notification.failed, with the channel's name (never its URL), the
// event, the delivery id and the receiver's HTTP status.
func (s *Service) RecordDelivery(ctx context.Context, d Delivery) error {
	n := d.Job.Notice
	rec := audit.Record{Kind: audit.KindNotificationSent, Actor: System, RequestID: n.RequestID,
		DBInstanceID: n.DBInstanceID, At: s.clock(), Payload: map[string]any{
			"channel": d.Job.Channel, "event": n.Event, "delivery_id": d.Job.DeliveryID,
			"attempt": d.Attempt, "http_status": d.HTTPStatus,
		}}
	if d.Err != nil {
		rec.Kind = audit.KindNotificationFailed
		rec.Payload.(map[string]any)["error"] = d.Err.Error()
		rec.Payload.(map[string]any)["final"] = d.Final
	}
	if err := s.store.Append(ctx, rec); err != nil {
		return fmt.Errorf("record delivery %s: %w", d.Job.DeliveryID, err)
	}
	return nil
}

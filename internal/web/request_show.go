package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
)

// requestView is everything the request page shows.
type requestView struct {
	R        *request.Request
	Decision policy.Decision
	Summary  summary
	// Filed is true right after the requester submitted: the page leads
	// with the decision.
	Filed     bool
	Mine      bool
	Open      []request.Requirement
	Vote      voteChoice
	CanCancel bool
	Activity  activity
	// ExpiresAt is when a pending request expires undecided; zero
	// otherwise.
	ExpiresAt time.Time
}

// summary is the state of a request in plain words: what it is and what
// happens next.
type summary struct {
	Headline string `json:"headline"`
	Next     string `json:"next"`
}

// voteChoice says whether the viewer may vote, and if not, why.
type voteChoice struct {
	Show  bool   // the viewer is an approver: show the section
	Can   bool   // show the Approve / Reject form
	Group string // the requirement the vote would count toward
	Why   string // why not
}

// activity is the live part of the page: the audit timeline and the
// execution attempts.
type activity struct {
	ID string
	// Ended is the status of a request that will make no more calls, ""
	// while it still may.
	Ended           string
	Events          []eventView
	TimelineMissing bool
	TimelineError   string
	Attempts        []request.Attempt
	AttemptsError   string
}

// canView: a request is visible to its requester, to approvers and to
// auditors (admins hold both).
func canView(u *auth.User, r *request.Request) bool {
	return r.Requester == u.Subject || u.HasAny(auth.RoleApprover, auth.RoleAuditor)
}

// notVisible is the answer to a user who may not see request id: the same
// 404 as for a request that does not exist, so that ids cannot be probed.
func notVisible(id fmt.Stringer) error {
	return fmt.Errorf("request %s: %w", id, request.ErrNotFound)
}

// loadRequest reads the :id request and checks that the user may see it.
func (s *Server) loadRequest(c echo.Context) (*request.Request, *auth.User, error) {
	id, err := parseID(c)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.d.Service.Get(c.Request().Context(), id)
	if err != nil {
		return nil, nil, err
	}
	u := userOf(c)
	if !canView(u, r) {
		return nil, nil, notVisible(r.ID)
	}
	return r, u, nil
}

// showRequest is a request's page: state, the policy's reasons, who must
// approve and who has, the payload hash, the vote form for eligible
// approvers, and the timeline.
func (s *Server) showRequest(c echo.Context) error {
	r, u, err := s.loadRequest(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	v := requestView{R: r, Filed: c.QueryParam("filed") != "", Mine: r.Requester == u.Subject,
		Open: request.OpenRequirements(r.ApproverRequirements, r.Votes)}
	_ = json.Unmarshal(r.Decision, &v.Decision)
	v.Summary = summarize(r)
	v.Vote = s.voteChoice(ctx, u, r)
	v.CanCancel = v.Mine && r.Status == request.StatusPending
	if r.Status == request.StatusPending && s.b.RequestTTL > 0 {
		v.ExpiresAt = r.CreatedAt.Add(s.b.RequestTTL)
	}
	v.Activity = s.activity(ctx, r)
	return s.render(c, http.StatusOK, "request", page{Title: s.tr(c, "Request %s", r.DBInstanceID), Nav: "request", Data: v})
}

// requestStatus is the page's live status for app.js.
func (s *Server) requestStatus(c echo.Context) error {
	r, _, err := s.loadRequest(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, struct {
		Status   request.Status `json:"status"`
		Label    string         `json:"label"`
		Terminal bool           `json:"terminal"`
		summary
	}{r.Status, statusText(r.Status), r.Status.Terminal(), summarize(r)})
}

// requestActivity is the timeline fragment app.js swaps in.
func (s *Server) requestActivity(c echo.Context) error {
	r, _, err := s.loadRequest(c)
	if err != nil {
		return err
	}
	return s.renderFragment(c, "request", "activity", s.activity(c.Request().Context(), r))
}

func (s *Server) activity(ctx context.Context, r *request.Request) activity {
	a := activity{ID: r.ID.String(), TimelineMissing: s.b.Timeline == nil}
	if r.Status.Terminal() {
		a.Ended = string(r.Status)
	}
	if s.b.Timeline != nil {
		evs, err := s.b.Timeline.Timeline(ctx, r.ID)
		if err != nil {
			a.TimelineError = "The timeline could not be read: " + err.Error()
		}
		for _, e := range evs {
			a.Events = append(a.Events, s.describeEvent(e))
		}
	}
	if d, err := s.d.Service.Detail(ctx, r.ID); err != nil {
		a.AttemptsError = "The execution attempts could not be read: " + err.Error()
	} else {
		a.Attempts = d.Attempts
	}
	return a
}

// voteChoice decides what the vote section shows. The server checks all of
// it again when the vote arrives (lifecycle.Vote): this only spares people
// buttons that would be refused.
func (s *Server) voteChoice(ctx context.Context, u *auth.User, r *request.Request) voteChoice {
	if !u.Has(auth.RoleApprover) {
		return voteChoice{}
	}
	if r.Status != request.StatusPending {
		return voteChoice{} // the votes are over: nothing to offer or explain
	}
	v := voteChoice{Show: true}
	if r.Requester == u.Subject {
		v.Why = "You filed this request, so you cannot approve or reject it; another approver must."
		return v
	}
	for _, old := range r.Votes {
		if old.Approver == u.Subject {
			v.Why = "You have already voted (" + old.Decision + ") on this request."
			return v
		}
	}
	if s.b.Eligibility == nil {
		v.Can = true
		return v
	}
	ad, err := s.b.Eligibility.MayApprove(ctx, lifecycle.ApproveInput(policy.Principal{Subject: u.Subject, Groups: u.Groups}, r))
	if err != nil {
		v.Why = "Your eligibility could not be checked: " + err.Error()
		return v
	}
	v.Can, v.Group = ad.Allow, ad.Group
	if !ad.Allow {
		v.Why = "The policy does not let you vote on this request: " + strings.Join(ad.Reasons, "; ")
	}
	return v
}

// requirementsText renders requirements as "1 from dba and 1 from security".
func requirementsText(reqs []request.Requirement) string {
	parts := make([]string, len(reqs))
	for i, q := range reqs {
		parts[i] = fmt.Sprintf("%d from %s", q.Count, q.Group)
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// summarize says, in plain words, where a request stands and what happens
// next.
func summarize(r *request.Request) summary {
	target := fmt.Sprintf("the public connection string %s of %s", r.ConnectionString, r.DBInstanceID)
	switch r.Status {
	case request.StatusDenied:
		return summary{"The policy denied this request.",
			"Nothing will be released. The policy's reasons are below; filing the same request again would be denied again. " +
				"If you believe the policy is wrong, ask its owners (try the policy simulator to see what would be allowed)."}
	case request.StatusPending:
		open := request.OpenRequirements(r.ApproverRequirements, r.Votes)
		need := r.RequiredApprovals - countApprovals(r.Votes)
		next := fmt.Sprintf("It still needs %d %s", need, map[bool]string{true: "approval", false: "approvals"}[need == 1])
		if t := requirementsText(open); t != "" {
			next += ": " + t
		}
		return summary{"The policy allows this release once it is approved.",
			next + ". Eligible approvers see it in their inbox now. Once approved, rdsgate releases " + target +
				" and this page shows the outcome."}
	case request.StatusApproved:
		return summary{"Approved.", "rdsgate has queued the release of " + target + "; it starts within seconds."}
	case request.StatusExecuting:
		return summary{"Releasing now.", "rdsgate is calling Alibaba Cloud to release " + target + "."}
	case request.StatusSucceeded:
		return summary{"Released.", "Alibaba Cloud released " + target + ". Applications that used it can no longer connect through it."}
	case request.StatusFailed:
		return summary{"The release failed.", "Alibaba Cloud did not release " + target + ". The attempts below give each error code and its documented meaning; file a new request once the cause is fixed."}
	case request.StatusRejected:
		return summary{"Rejected.", "An approver rejected this request; nothing will be released."}
	case request.StatusExpired:
		return summary{"Expired.", "Nobody approved this request in time; nothing will be released. File a new one if it is still needed."}
	case request.StatusCancelled:
		return summary{"Cancelled.", "The requester withdrew this request; nothing will be released."}
	}
	return summary{Headline: string(r.Status)}
}

func countApprovals(votes []request.Vote) int {
	n := 0
	for _, v := range votes {
		if v.Decision == request.Approve {
			n++
		}
	}
	return n
}

// eventView is one audit event as the timeline shows it.
type eventView struct {
	audit.Event
	Title        string
	Details      []string
	ErrorMessage string
}

// describeEvent turns an audit event into a line a person can read.
func (s *Server) describeEvent(e audit.Event) eventView {
	var p map[string]any
	_ = json.Unmarshal(e.Payload, &p)
	str := func(k string) string {
		if v, ok := p[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	v := eventView{Event: e, Title: e.Kind, ErrorMessage: s.views.errorMessage(e.ErrorCode)}
	switch e.Kind {
	case audit.KindPolicyDecided:
		res, _ := p["result"].(map[string]any)
		verdict := "deny"
		if res["allow"] == true {
			verdict = "allow"
		}
		v.Title = "Policy decided: " + verdict
		if rev := str("revision"); rev != "" {
			v.Details = append(v.Details, "policy revision "+shortHash(rev))
		}
	case audit.KindRequestCreated:
		v.Title = "Request filed"
	case audit.KindRequestDenied:
		v.Title = "Request denied by the policy"
	case audit.KindApprovalGranted, audit.KindApprovalRejected:
		v.Title = map[bool]string{true: "Approved", false: "Rejected"}[e.Kind == audit.KindApprovalGranted]
		if g := str("group"); g != "" {
			v.Title += " as " + g
		}
		if cm := str("comment"); cm != "" {
			v.Details = append(v.Details, "comment: "+cm)
		}
		if h := str("payload_hash"); h != "" {
			v.Details = append(v.Details, "covers payload "+shortHash(h))
		}
	case audit.KindRequestApproved:
		v.Title = "Quorum reached: approved"
	case audit.KindRequestRejected:
		v.Title = "Request rejected"
	case audit.KindRequestCancelled:
		v.Title = "Cancelled"
		if r := str("reason"); r != "" {
			v.Details = append(v.Details, "reason: "+r)
		}
	case audit.KindRequestExpired:
		v.Title = "Expired without approval"
	case audit.KindTokenCreated, audit.KindTokenRevoked:
		v.Title = map[bool]string{true: "API token created", false: "API token revoked"}[e.Kind == audit.KindTokenCreated]
		for _, k := range []string{"subject", "groups", "token_id", "expires_at"} {
			if s := str(k); s != "" {
				v.Details = append(v.Details, strings.ReplaceAll(k, "_", " ")+": "+s)
			}
		}
	default:
		if strings.HasPrefix(e.Kind, "execution.") {
			v.Title = "Execution " + strings.ReplaceAll(strings.TrimPrefix(e.Kind, "execution."), "_", " ")
			for _, k := range []string{"attempt", "operation", "http_status", "outcome", "classification", "found"} {
				if s := str(k); s != "" {
					v.Details = append(v.Details, strings.ReplaceAll(k, "_", " ")+": "+s)
				}
			}
			if m := str("error_message"); m != "" && m != v.ErrorMessage {
				v.Details = append(v.Details, "message: "+m)
			}
		}
	}
	return v
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

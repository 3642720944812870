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

// requestView is everything the request page shows. All of it but the
// layout is the "live" fragment, which app.js fetches again whenever the
// request's version changes, so no part of the page can fall behind
// another.
type requestView struct {
	R        *request.Request
	Decision policy.Decision
	Summary  summary
	// Filed is true right after the requester submitted: the page leads
	// with the decision.
	Filed bool
	Mine  bool
	// Final: the request will not change any more (no polling, no forms).
	Final bool
	// Prod: the request releases a production endpoint.
	Prod bool
	// Needs is the approvals the request needs, in words; Open those it
	// still misses while pending ("" otherwise).
	Needs, Open string
	Vote        voteChoice
	CanCancel   bool
	// EditAgain: the requester of a denied request may file it again,
	// changed (the new-request form prefilled from it).
	EditAgain bool
	Activity  activity
	// ExpiresAt is when a pending request expires undecided; zero
	// otherwise.
	ExpiresAt time.Time
	// CSRF is the session's token for the vote and cancel forms (the
	// fragment is rendered without the layout).
	CSRF string
	// Version changes whenever what the page shows does (statusVersion).
	Version string
	// Bulk is a bulk request's targets and progress; nil for a single
	// request.
	Bulk *bulkView
	// Parent links a bulk request's target request to its bulk request.
	Parent *parentView
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
	Can   bool   // show the review with the Approve / Reject form
	Group string // the requirement the vote would count toward
	Why   string // why not
	// Completes: approving completes the approvals. Effect says what the
	// approval would do, in words.
	Completes bool
	Effect    string
}

// activity is the audit timeline and the execution attempts.
type activity struct {
	ID string
	// Ended says, for a request that ended, that no call will come; ""
	// while one still may.
	Ended           string
	Events          []eventView
	TimelineMissing bool
	TimelineError   string
	Attempts        []request.Attempt
	// Bulk: the request is a bulk request, whose calls are its targets'
	// (in the targets' table), not its own.
	Bulk bool
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
	d, u, err := s.loadDetail(c)
	if err != nil {
		return nil, nil, err
	}
	return d.Request, u, nil
}

// loadDetail reads the :id request with its votes and attempts and checks
// that the user may see it.
func (s *Server) loadDetail(c echo.Context) (*lifecycle.Detail, *auth.User, error) {
	id, err := parseID(c)
	if err != nil {
		return nil, nil, err
	}
	d, err := s.d.Service.Detail(c.Request().Context(), id)
	if err != nil {
		return nil, nil, err
	}
	u := userOf(c)
	if !canView(u, d.Request) {
		return nil, nil, notVisible(d.ID)
	}
	return d, u, nil
}

// statusVersion identifies what the request page shows of d: its status,
// its votes and its attempts with their outcomes and the trail's
// confirmations. The page fetches its
// live fragment again when the version changes.
func statusVersion(d *lifecycle.Detail) string {
	finished, confirmed := 0, 0
	for _, a := range d.Attempts {
		if a.Outcome != "" {
			finished++
		}
		if a.TrailConfirmedAt != nil {
			confirmed++
		}
	}
	v := fmt.Sprintf("%s.%d.%d.%d", d.Status, len(d.Votes), len(d.Attempts), finished)
	if confirmed > 0 {
		v += fmt.Sprintf(".c%d", confirmed)
	}
	if d.BulkDetail != nil {
		v += bulkVersion(d)
	}
	return v
}

// showRequest is a request's page: state, the policy's reasons, who must
// approve and who has, the payload hash, the review and vote form for
// eligible approvers, and the timeline.
func (s *Server) showRequest(c echo.Context) error {
	d, u, err := s.loadDetail(c)
	if err != nil {
		return err
	}
	v := s.requestView(c, d, u)
	v.Filed = c.QueryParam("filed") != ""
	title := s.tr(c, "Request %s", d.DBInstanceID)
	if d.Bulk() {
		title = s.bulkTitle(c, d.Request)
	}
	return s.render(c, http.StatusOK, "request", page{Title: title, Nav: "request", Data: v})
}

// requestLive is the page's live fragment (everything but the layout),
// which app.js swaps in when the request changes.
func (s *Server) requestLive(c echo.Context) error {
	d, u, err := s.loadDetail(c)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return s.renderFragment(c, "request", "live", s.requestView(c, d, u))
}

func (s *Server) requestView(c echo.Context, d *lifecycle.Detail, u *auth.User) requestView {
	r := d.Request
	ctx := c.Request().Context()
	v := requestView{R: r, Mine: r.Requester == u.Subject, Final: r.Status.Terminal(), Prod: isProduction(r.Environment),
		Version: statusVersion(d)}
	v.CSRF, _ = c.Get("csrf").(string)
	_ = json.Unmarshal(r.Decision, &v.Decision)
	v.Summary = s.summarizeDetail(c, d)
	if d.BulkDetail != nil {
		v.Bulk = s.newBulkView(c, d, v.Mine)
		v.Prod = v.Bulk.Prod
	}
	v.Parent = s.parentOf(ctx, r)
	v.Needs = s.needsText(c, r)
	if r.Status == request.StatusPending {
		v.Open = s.requirementsText(c, request.OpenRequirements(r.ApproverRequirements, r.Votes))
	}
	v.Vote = s.voteChoice(c, u, r)
	v.CanCancel = v.Mine && r.Status == request.StatusPending
	v.EditAgain = v.Mine && r.Status == request.StatusDenied
	if r.Status == request.StatusPending && s.b.RequestTTL > 0 {
		v.ExpiresAt = r.CreatedAt.Add(s.b.RequestTTL)
	}
	v.Activity = s.activity(c, ctx, d)
	return v
}

// requestStatus is the page's live status for app.js: the version tells it
// when to fetch the live fragment; the texts are in the page's language.
func (s *Server) requestStatus(c echo.Context) error {
	d, _, err := s.loadDetail(c)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, struct {
		Status   request.Status `json:"status"`
		Label    string         `json:"label"`
		Terminal bool           `json:"terminal"`
		Version  string         `json:"version"`
		summary
	}{d.Status, s.tr(c, statusText(d.Status)), d.Status.Terminal(), statusVersion(d), s.summarizeDetail(c, d)})
}

// summarizeDetail is summarize, or bulkSummary for a bulk request.
func (s *Server) summarizeDetail(c echo.Context, d *lifecycle.Detail) summary {
	if d.BulkDetail != nil {
		return s.bulkSummary(c, d)
	}
	return s.summarize(c, d.Request)
}

func (s *Server) activity(c echo.Context, ctx context.Context, d *lifecycle.Detail) activity {
	a := activity{ID: d.ID.String(), TimelineMissing: s.b.Timeline == nil, Attempts: d.Attempts, Bulk: d.Bulk()}
	switch d.Status {
	case request.StatusDenied:
		a.Ended = s.tr(c, "No call to Alibaba Cloud was made: the policy denied the request.")
	case request.StatusRejected:
		a.Ended = s.tr(c, "No call to Alibaba Cloud was made: the request was rejected.")
	case request.StatusExpired:
		a.Ended = s.tr(c, "No call to Alibaba Cloud was made: the request expired.")
	case request.StatusCancelled:
		a.Ended = s.tr(c, "No call to Alibaba Cloud was made: the request was cancelled.")
	default:
		if d.Status.Terminal() {
			a.Ended = s.tr(c, "No call to Alibaba Cloud was made.")
		}
	}
	if s.b.Timeline != nil {
		evs, err := s.b.Timeline.Timeline(ctx, d.ID)
		if err != nil {
			a.TimelineError = s.tr(c, "The timeline could not be read: %s", err.Error())
		}
		for _, e := range evs {
			a.Events = append(a.Events, s.describeEvent(c, e))
		}
		if a.Bulk {
			a.Events = s.foldDecisions(c, a.Events)
		}
	}
	return a
}

// isProduction reports whether an environment name is production's.
func isProduction(env string) bool {
	switch strings.ToLower(strings.TrimSpace(env)) {
	case "production", "prod", "prd":
		return true
	}
	return false
}

// voteChoice decides what the vote section shows. The server checks all of
// it again when the vote arrives (lifecycle.Vote): this only spares people
// buttons that would be refused.
func (s *Server) voteChoice(c echo.Context, u *auth.User, r *request.Request) voteChoice {
	if !u.Has(auth.RoleApprover) {
		return voteChoice{}
	}
	if r.Status != request.StatusPending {
		return voteChoice{} // the votes are over: nothing to offer or explain
	}
	v := voteChoice{Show: true}
	if r.Requester == u.Subject {
		v.Why = s.tr(c, "You filed this request, so you cannot approve or reject it; another approver must.")
		return v
	}
	for _, old := range r.Votes {
		if old.Approver == u.Subject {
			v.Why = s.tr(c, "You have already voted (%s) on this request.", s.tr(c, decisionText(old.Decision)))
			return v
		}
	}
	if s.b.Eligibility == nil {
		v.Can = true
	} else {
		ad, err := s.b.Eligibility.MayApprove(c.Request().Context(), lifecycle.ApproveInput(policy.Principal{Subject: u.Subject, Groups: u.Groups}, r))
		if err != nil {
			v.Why = s.tr(c, "Your eligibility could not be checked: %s", err.Error())
			return v
		}
		v.Can, v.Group = ad.Allow, ad.Group
		if !ad.Allow {
			v.Why = s.tr(c, "The policy does not let you vote on this request: %s", strings.Join(ad.Reasons, "; "))
			return v
		}
	}
	v.Completes, v.Effect = s.approvalEffect(c, u, r, v.Group)
	return v
}

// approvalEffect says what u's approval (counting toward group) would do:
// complete the approvals, or leave how many still open.
func (s *Server) approvalEffect(c echo.Context, u *auth.User, r *request.Request, group string) (bool, string) {
	votes := append(r.Votes[:len(r.Votes):len(r.Votes)], request.Vote{Approver: u.Subject, Group: group, Decision: request.Approve})
	if request.QuorumReached(r.RequiredApprovals, r.ApproverRequirements, votes) {
		return true, s.tr(c, "Your approval completes the approvals: the release starts at once.")
	}
	open := request.OpenRequirements(r.ApproverRequirements, votes)
	need := r.RequiredApprovals - countApprovals(votes)
	inGroups := 0
	for _, q := range open {
		inGroups += q.Count
	}
	need = max(need, inGroups)
	switch {
	case need == 1 && len(open) == 1:
		return false, s.tr(c, "After yours, 1 more approval from %s is needed.", open[0].Group)
	case need == 1:
		return false, s.tr(c, "After yours, 1 more approval is needed.")
	case len(open) > 0:
		return false, s.tr(c, "After yours, %d more approvals are needed: %s.", need, s.requirementsText(c, open))
	}
	return false, s.tr(c, "After yours, %d more approvals are needed.", need)
}

// decisionText is a vote's decision in words (translated by the caller).
func decisionText(d string) string {
	switch d {
	case request.Approve:
		return "approved"
	case request.Reject:
		return "rejected"
	}
	return d
}

// requirementsText renders requirements as "1 from dba and 1 from security".
func requirementsText(reqs []request.Requirement) string {
	parts := make([]string, len(reqs))
	for i, q := range reqs {
		parts[i] = fmt.Sprintf("%d from %s", q.Count, q.Group)
	}
	return joinAnd(parts, func(a, b string) string { return a + " and " + b })
}

// requirementsText is requirementsText in the page's language.
func (s *Server) requirementsText(c echo.Context, reqs []request.Requirement) string {
	parts := make([]string, len(reqs))
	for i, q := range reqs {
		parts[i] = s.tr(c, "%d from %s", q.Count, q.Group)
	}
	return joinAnd(parts, func(a, b string) string { return s.tr(c, "%s and %s", a, b) })
}

// joinAnd joins "a, b and c"; and joins the last two.
func joinAnd(parts []string, and func(a, b string) string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return and(strings.Join(parts[:len(parts)-1], ", "), parts[len(parts)-1])
}

// needsText is the approvals a request needs, in words ("" for a denied
// request, which takes none).
func (s *Server) needsText(c echo.Context, r *request.Request) string {
	if r.Status == request.StatusDenied {
		return ""
	}
	reqs := s.requirementsText(c, r.ApproverRequirements)
	switch {
	case r.RequiredApprovals == 1 && reqs != "":
		return s.tr(c, "Needs 1 approval: %s.", reqs)
	case r.RequiredApprovals == 1:
		return s.tr(c, "Needs 1 approval.")
	case reqs != "":
		return s.tr(c, "Needs %d approvals, including %s.", r.RequiredApprovals, reqs)
	}
	return s.tr(c, "Needs %d approvals.", r.RequiredApprovals)
}

// summarize says, in plain words and the page's language, where a request
// stands and what happens next.
func (s *Server) summarize(c echo.Context, r *request.Request) summary {
	cs, inst := r.ConnectionString, r.DBInstanceID
	switch r.Status {
	case request.StatusDenied:
		return summary{s.tr(c, "The policy denied this request."),
			s.tr(c, "Nothing will be released. The policy's reasons are below; filing the same request again would be denied again. If you believe the policy is wrong, ask its owners (try the policy simulator to see what would be allowed).")}
	case request.StatusPending:
		open := s.requirementsText(c, request.OpenRequirements(r.ApproverRequirements, r.Votes))
		need := r.RequiredApprovals - countApprovals(r.Votes)
		var next string
		switch {
		case need == 1 && open != "":
			next = s.tr(c, "It still needs 1 approval: %s.", open)
		case need == 1:
			next = s.tr(c, "It still needs 1 approval.")
		case open != "":
			next = s.tr(c, "It still needs %d approvals: %s.", need, open)
		default:
			next = s.tr(c, "It still needs %d approvals.", need)
		}
		return summary{s.tr(c, "The policy allows this release once it is approved."),
			next + " " + s.tr(c, "Eligible approvers see it in their inbox now. Once approved, rdsgate releases the public connection string %s of %s and this page shows the outcome.", cs, inst)}
	case request.StatusApproved:
		return summary{s.tr(c, "Approved."), s.tr(c, "rdsgate has queued the release of the public connection string %s of %s; it starts within seconds.", cs, inst)}
	case request.StatusExecuting:
		return summary{s.tr(c, "Releasing now."), s.tr(c, "rdsgate is calling Alibaba Cloud to release the public connection string %s of %s.", cs, inst)}
	case request.StatusSucceeded:
		return summary{s.tr(c, "Released."), s.tr(c, "Alibaba Cloud released the public connection string %s of %s. Applications that used it can no longer connect through it.", cs, inst)}
	case request.StatusFailed:
		return summary{s.tr(c, "The release failed."), s.tr(c, "Alibaba Cloud did not release the public connection string %s of %s. The attempts below give each error code and its documented meaning; file a new request once the cause is fixed.", cs, inst)}
	case request.StatusRejected:
		return summary{s.tr(c, "Rejected."), s.tr(c, "An approver rejected this request; nothing will be released.")}
	case request.StatusExpired:
		return summary{s.tr(c, "Expired."), s.tr(c, "Nobody approved this request in time; nothing will be released. File a new one if it is still needed.")}
	case request.StatusCancelled:
		return summary{s.tr(c, "Cancelled."), s.tr(c, "The requester withdrew this request; nothing will be released.")}
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

// describeEvent turns an audit event into a line a person can read, in
// the language of c's page.
func (s *Server) describeEvent(c echo.Context, e audit.Event) eventView {
	var p map[string]any
	_ = json.Unmarshal(e.Payload, &p)
	str := func(k string) string {
		if v, ok := p[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	// label names a payload field in a detail line.
	label := func(k string) string {
		switch k {
		case "subject":
			return s.tr(c, "subject")
		case "groups":
			return s.tr(c, "groups")
		case "token_id":
			return s.tr(c, "token id")
		case "expires_at":
			return s.tr(c, "expires at")
		case "attempt":
			return s.tr(c, "attempt")
		case "operation":
			return s.tr(c, "operation")
		case "http_status":
			return s.tr(c, "http status")
		case "outcome":
			return s.tr(c, "outcome")
		case "classification":
			return s.tr(c, "classification")
		case "found":
			return s.tr(c, "found")
		}
		return strings.ReplaceAll(k, "_", " ")
	}
	v := eventView{Event: e, Title: e.Kind, ErrorMessage: s.views.errorMessageIn(e.ErrorCode, s.printer(c).Code())}
	switch e.Kind {
	case audit.KindPolicyDecided:
		res, _ := p["result"].(map[string]any)
		v.Title = s.tr(c, "Policy decided: deny")
		if res["allow"] == true {
			v.Title = s.tr(c, "Policy decided: allow")
		}
		if rev := str("revision"); rev != "" {
			v.Details = append(v.Details, s.tr(c, "policy revision %s", shortHash(rev)))
		}
	case audit.KindRequestCreated:
		v.Title = s.tr(c, "Request filed")
	case audit.KindRequestDenied:
		v.Title = s.tr(c, "Request denied by the policy")
	case audit.KindApprovalGranted, audit.KindApprovalRejected:
		g := str("group")
		switch {
		case e.Kind == audit.KindApprovalGranted && g != "":
			v.Title = s.tr(c, "Approved as %s", g)
		case e.Kind == audit.KindApprovalGranted:
			v.Title = s.tr(c, "Approved")
		case g != "":
			v.Title = s.tr(c, "Rejected as %s", g)
		default:
			v.Title = s.tr(c, "Rejected")
		}
		if cm := str("comment"); cm != "" {
			v.Details = append(v.Details, s.tr(c, "comment: %s", cm))
		}
		if h := str("payload_hash"); h != "" {
			v.Details = append(v.Details, s.tr(c, "covers payload %s", shortHash(h)))
		}
	case audit.KindRequestApproved:
		v.Title = s.tr(c, "Quorum reached: approved")
	case audit.KindRequestRejected:
		v.Title = s.tr(c, "Request rejected")
	case audit.KindRequestCancelled:
		v.Title = s.tr(c, "Cancelled")
		if r := str("reason"); r != "" {
			v.Details = append(v.Details, s.tr(c, "reason: %s", r))
		}
	case audit.KindRequestExpired:
		v.Title = s.tr(c, "Expired without approval")
	case audit.KindTokenCreated, audit.KindTokenRevoked:
		v.Title = s.tr(c, "API token revoked")
		if e.Kind == audit.KindTokenCreated {
			v.Title = s.tr(c, "API token created")
		}
		for _, k := range []string{"subject", "groups", "token_id", "expires_at"} {
			if s := str(k); s != "" {
				v.Details = append(v.Details, label(k)+": "+s)
			}
		}
	case audit.KindNotificationSent, audit.KindNotificationFailed:
		v.Title = s.tr(c, "Notified through %s: %s", str("channel"), str("event"))
		if e.Kind == audit.KindNotificationFailed {
			v.Title = s.tr(c, "Notification through %s failed: %s", str("channel"), str("event"))
			if m := str("error"); m != "" {
				v.Details = append(v.Details, s.tr(c, "message: %s", m))
			}
		}
		if st := str("http_status"); st != "" && st != "0" {
			v.Details = append(v.Details, label("http_status")+": "+st)
		}
	case audit.KindExecutionConfirmed:
		// The account's own trail recorded rdsgate's call: a witness
		// outside rdsgate that the release was made, and by it.
		t := readTrailRef(e.Payload)
		v.Title = s.tr(c, "Confirmed by ActionTrail")
		if t.EventName != "" {
			v.Details = append(v.Details, s.tr(c, "ActionTrail recorded the %s call at %s", t.EventName, utcText(t.EventTime, t.EventTimeText)))
		}
		if a := str("attempt"); a != "" {
			v.Details = append(v.Details, label("attempt")+": "+a)
		}
		if t.AccountID != "" || t.RegionID != "" {
			v.Details = append(v.Details, s.tr(c, "account %s in %s", t.AccountID, t.RegionID))
		}
		if t.EventID != "" {
			v.Details = append(v.Details, s.tr(c, "trail event %s", t.EventID))
		}
	default:
		if strings.HasPrefix(e.Kind, "execution.") {
			switch e.Kind {
			case audit.KindExecutionStarted:
				v.Title = s.tr(c, "Execution started")
			case audit.KindExecutionSucceeded:
				v.Title = s.tr(c, "Execution succeeded")
			case audit.KindExecutionFailed:
				v.Title = s.tr(c, "Execution failed")
			case audit.KindExecutionReconciled:
				v.Title = s.tr(c, "Execution reconciled")
			case audit.KindExecutionReconcileFailed:
				v.Title = s.tr(c, "Execution reconcile failed")
			case audit.KindExecutionRequeued:
				v.Title = s.tr(c, "Execution requeued")
			default:
				v.Title = s.tr(c, "Execution %s", strings.ReplaceAll(strings.TrimPrefix(e.Kind, "execution."), "_", " "))
			}
			for _, k := range []string{"attempt", "operation", "http_status", "outcome", "classification", "found"} {
				if s := str(k); s != "" {
					v.Details = append(v.Details, label(k)+": "+s)
				}
			}
			if m := str("error_message"); m != "" && m != v.ErrorMessage {
				v.Details = append(v.Details, s.tr(c, "message: %s", m))
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

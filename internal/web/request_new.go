package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
)

// requestForm is the new-request form, as posted.
type requestForm struct {
	RegionID         string
	DBInstanceID     string
	ConnectionString string
	NetworkType      string
	// AccountID is the Alibaba Cloud account of the instance ("" for the
	// default account).
	AccountID     string
	Justification string
	Ticket        string
	BreakGlass    bool
}

func readRequestForm(c echo.Context) requestForm {
	return requestForm{
		RegionID:         strings.TrimSpace(c.FormValue("region_id")),
		DBInstanceID:     strings.TrimSpace(c.FormValue("db_instance_id")),
		ConnectionString: strings.TrimSpace(c.FormValue("connection_string")),
		NetworkType:      strings.TrimSpace(c.FormValue("network_type")),
		AccountID:        strings.TrimSpace(c.FormValue("account_id")),
		Justification:    c.FormValue("justification"),
		Ticket:           strings.TrimSpace(c.FormValue("ticket")),
		BreakGlass:       c.FormValue("break_glass") != "",
	}
}

func (f requestForm) spec() request.Spec {
	return request.Spec{RegionID: f.RegionID, DBInstanceID: f.DBInstanceID, ConnectionString: f.ConnectionString,
		NetworkType: f.NetworkType, AccountID: f.AccountID, Justification: f.Justification, Ticket: f.Ticket}
}

// lookupResult is what the Look up button found.
type lookupResult struct {
	Done        bool
	NetworkType string // "VPC" or "Classic"
	Public      []lifecycle.Endpoint
	Other       []lifecycle.Endpoint
	Error       string
}

type newRequestData struct {
	Form requestForm
	// Errors are the problems of each field (form field name to message):
	// the request's validation and the org rules the policy says the
	// ticket or justification break.
	Errors      map[string]string
	CanLookup   bool
	Lookup      lookupResult
	NetworkOpts []option
	// Accounts are the account select's choices (none: no select);
	// AccountRequired is true when several are configured, so one must be
	// picked.
	Accounts        []option
	AccountRequired bool
	Hints           formHints
	// Verdict is the policy's answer to "Check with policy", or to a
	// submit that it stopped; nil before either.
	Verdict *verdict
	// From is the request the form was filled in from (?from=).
	From *request.Request
	// FromReasons are the reasons the policy gave From.
	FromReasons []string
}

type option struct{ Value, Label string }

var networkOptions = []option{{"0", "VPC (0)"}, {"1", "Classic network (1)"}}

// formHints are the org rules on the request's own fields, in words.
type formHints struct {
	Ticket        string
	Justification string
}

// orgRuler is a Simulator that also reports the org rules on a request's
// own fields (*policy.Engine does): the form shows them as hints.
type orgRuler interface {
	OrgRules() policy.OrgRules
}

// orgRules are the serving policy's OrgRules; zero when the policy does
// not report them.
func (s *Server) orgRules() policy.OrgRules {
	if r, ok := s.d.Policy.(orgRuler); ok {
		return r.OrgRules()
	}
	return policy.OrgRules{}
}

// ticketExamples are ticket numbers in the forms trackers use; the hint
// shows the first one the org's pattern accepts.
var ticketExamples = []string{"OPS-123", "JIRA-123", "CHG-123", "INC-123", "CHG0012345", "INC0012345", "#123", "123"}

// ticketRule reads an org's ticket pattern: a ticket like which example it
// takes ("" when none of ticketExamples matches), and whether an empty
// ticket or any text at all passes.
type ticketRule struct {
	Pattern, Example string
	Optional, Any    bool
}

func readTicketRule(pattern string) ticketRule {
	re, err := regexp.Compile(pattern)
	if err != nil {
		// Loading refuses a pattern that does not compile; say nothing.
		return ticketRule{Pattern: pattern, Optional: true, Any: true}
	}
	t := ticketRule{Pattern: pattern, Optional: re.MatchString("")}
	t.Any = t.Optional && re.MatchString("any text ~ at all")
	for _, ex := range ticketExamples {
		if re.MatchString(ex) {
			t.Example = ex
			break
		}
	}
	return t
}

// hints puts the org rules in words for the form.
func (s *Server) hints(c echo.Context, rules policy.OrgRules) formHints {
	var h formHints
	switch t := readTicketRule(rules.TicketPattern); {
	case t.Any:
		h.Ticket = s.tr(c, "Optional.")
	case !t.Optional && t.Example != "":
		h.Ticket = s.tr(c, "Required: a ticket like %s.", t.Example)
	case !t.Optional:
		h.Ticket = s.tr(c, "Required: a ticket matching the pattern %s.", t.Pattern)
	case t.Example != "":
		h.Ticket = s.tr(c, "Optional; if given, a ticket like %s.", t.Example)
	default:
		h.Ticket = s.tr(c, "Optional; if given, it must match the pattern %s.", t.Pattern)
	}
	if rules.JustificationMinLength > 0 {
		h.Justification = s.tr(c, "At least %d characters: why is it safe to release now, and who checked that nothing uses it?", rules.JustificationMinLength)
	} else {
		h.Justification = s.tr(c, "Why is it safe to release now, and who checked that nothing uses it?")
	}
	return h
}

// verdict is the policy's answer on a form that was not filed: the JSON of
// POST /requests/new/check.json and the box the form shows.
type verdict struct {
	// Allow is the policy's decision on the request as it stands.
	Allow bool `json:"allow"`
	// Ready is true when the request may be filed as it is: every field
	// valid and the policy allows it.
	Ready bool `json:"ready"`
	// Headline says it in a sentence, in the page's language.
	Headline string `json:"headline"`
	// Reasons are all of the policy's reasons, as it gives them.
	Reasons []string `json:"reasons"`
	// OtherReasons are the reasons that are not about one field (RAM, a
	// change freeze, the pending limit, the organisation's own rules).
	OtherReasons []string `json:"other_reasons"`
	// Fields are the problems of each field: the request's validation
	// first, then the org rules the ticket or justification break.
	Fields []fieldProblem `json:"fields"`
	// Needs says who must approve an allowed request ("1 from dba").
	Needs             string `json:"needs,omitempty"`
	RequiredApprovals int    `json:"required_approvals"`
	Environment       string `json:"environment,omitempty"`
}

// fieldProblem is one field's problem: the form's field name, what to do
// about it, and the policy's own reason when it came from the policy.
type fieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	Reason  string `json:"reason,omitempty"`
}

// errorMap is the problems by field, for the template.
func (v *verdict) errorMap() map[string]string {
	m := make(map[string]string, len(v.Fields))
	for _, p := range v.Fields {
		m[p.Field] = p.Message
	}
	return m
}

// reasonField is the form field a policy reason is about: the org rules
// on the ticket and the justification; "" for any other reason.
func reasonField(reason string) string {
	switch {
	case strings.HasPrefix(reason, "org: ticket "):
		return "ticket"
	case strings.HasPrefix(reason, "org: justification "):
		return "justification"
	}
	return ""
}

// check validates the form and asks the policy what it would decide on
// it, recording nothing (lifecycle.Service.Check).
func (s *Server) check(c echo.Context, f requestForm) (*verdict, error) {
	spec := f.spec().Normalize()
	d, err := s.d.Service.Check(c.Request().Context(), pageActor(c, userOf(c)), spec, f.BreakGlass)
	if err != nil {
		return nil, err
	}
	v := &verdict{Allow: d.Allow, Reasons: d.Reasons, OtherReasons: []string{}, Fields: []fieldProblem{},
		RequiredApprovals: d.RequiredApprovals, Environment: d.Environment}
	if v.Reasons == nil {
		v.Reasons = []string{}
	}
	seen := map[string]bool{}
	for _, ve := range request.Fields(spec.Validate()) {
		v.Fields = append(v.Fields, fieldProblem{Field: ve.Field, Message: s.fieldMessage(c, ve)})
		seen[ve.Field] = true
	}
	if msg := s.accountProblem(c, spec.AccountID); msg != "" {
		v.Fields = append(v.Fields, fieldProblem{Field: "account_id", Message: msg})
		seen["account_id"] = true
	}
	rules := s.orgRules()
	for _, r := range d.Reasons {
		field := reasonField(r)
		switch {
		case field == "":
			v.OtherReasons = append(v.OtherReasons, r)
		case !seen[field]:
			seen[field] = true
			v.Fields = append(v.Fields, fieldProblem{Field: field, Message: s.policyProblem(c, field, spec, rules), Reason: r})
		}
	}
	v.Ready = d.Allow && len(v.Fields) == 0
	switch {
	case v.Ready:
		v.Needs = s.requirementsText(c, requirementsOf(d.ApproverRequirements))
		v.Headline = s.tr(c, "The policy would allow this request. Once filed, it needs %d approval(s): %s.", d.RequiredApprovals, v.Needs)
	case len(v.Fields) > 0 && len(v.OtherReasons) == 0:
		v.Headline = s.tr(c, "Fix the fields marked below; nothing is filed until you submit.")
	case len(v.Fields) > 0:
		v.Headline = s.tr(c, "Fix the fields marked below. Even then, the policy would deny this request for the reasons listed.")
	default:
		v.Headline = s.tr(c, "The policy would deny this request, for the reasons listed.")
	}
	return v, nil
}

// accountProblem says what is wrong with the account a form names, as
// far as the configured accounts tell ("" when nothing is); filing checks
// it again (lifecycle).
func (s *Server) accountProblem(c echo.Context, id string) string {
	accounts := s.accounts()
	if len(accounts) == 0 {
		return ""
	}
	if id == "" {
		if len(accounts) > 1 {
			return s.tr(c, "Pick the account the instance belongs to.")
		}
		return ""
	}
	for _, a := range accounts {
		if a.ID == id {
			return ""
		}
	}
	return s.tr(c, "Pick one of the configured accounts.")
}

// accountOptions are the account select's choices: each configured
// account by name and id.
func (s *Server) accountOptions() []option {
	accounts := s.accounts()
	out := make([]option, len(accounts))
	for i, a := range accounts {
		label := a.ID
		if a.Name != "" && a.Name != a.ID {
			label = a.Name + " (" + a.ID + ")"
		}
		out[i] = option{Value: a.ID, Label: label}
	}
	return out
}

func requirementsOf(in []policy.Requirement) []request.Requirement {
	out := make([]request.Requirement, len(in))
	for i, q := range in {
		out[i] = request.Requirement{Group: q.Group, Count: q.Count}
	}
	return out
}

// policyProblem says what to do about an org rule that field breaks.
func (s *Server) policyProblem(c echo.Context, field string, spec request.Spec, rules policy.OrgRules) string {
	if field == "justification" {
		return s.tr(c, "Write at least %d characters (now %d): say why it is safe to release now.",
			rules.JustificationMinLength, utf8.RuneCountInString(spec.Justification))
	}
	t := readTicketRule(rules.TicketPattern)
	switch {
	case spec.Ticket == "" && t.Example != "":
		return s.tr(c, "A ticket is required: one like %s.", t.Example)
	case spec.Ticket == "":
		return s.tr(c, "A ticket is required; it must match the pattern %s.", t.Pattern)
	case t.Example != "":
		return s.tr(c, "%q is not a ticket in the required form: write one like %s.", spec.Ticket, t.Example)
	}
	return s.tr(c, "%q does not match the required ticket pattern %s.", spec.Ticket, t.Pattern)
}

// fieldMessage is a validation error in words for the form, in the page's
// language; the API keeps request's own messages.
func (s *Server) fieldMessage(c echo.Context, ve *request.ValidationError) string {
	switch ve.Message {
	case "is required":
		return s.tr(c, "This field is required.")
	case "must be valid UTF-8 text":
		return s.tr(c, "This text has characters that are not valid UTF-8; type it again.")
	case "must not contain NUL characters":
		return s.tr(c, "Remove the NUL (zero) characters from this text.")
	case "must be an Alibaba Cloud region id such as cn-hangzhou":
		return s.tr(c, "Enter an Alibaba Cloud region id such as cn-hangzhou.")
	case "must be an RDS instance id: rm-, rr-, pgm-, pgr- or mr- followed by lower-case letters and digits":
		return s.tr(c, "Enter an RDS instance id: rm-, rr-, pgm-, pgr- or mr- followed by lower-case letters and digits.")
	case "must be a host name such as rm-xxxx.mysql.rds.aliyuncs.com":
		return s.tr(c, "Enter a host name such as rm-xxxx.mysql.rds.aliyuncs.com.")
	case `must be "0" (VPC) or "1" (classic)`:
		return s.tr(c, "Pick VPC or the classic network.")
	case fmt.Sprintf("must be at most %d characters", request.MaxJustification):
		return s.tr(c, "Shorten this to at most %d characters.", request.MaxJustification)
	case fmt.Sprintf("must be at most %d characters", request.MaxTicket):
		return s.tr(c, "Shorten this to at most %d characters.", request.MaxTicket)
	}
	return ve.Message
}

// newRequestForm shows the empty form; query parameters prefill it, and
// ?from=<id> fills it from one of the user's own requests (a denied one's
// "Edit and file again"), checked against the policy at once so that what
// it refused is marked.
func (s *Server) newRequestForm(c echo.Context) error {
	f := readRequestForm(c)
	if f.RegionID == "" {
		f.RegionID = "cn-hangzhou"
	}
	if f.NetworkType == "" {
		f.NetworkType = "0"
	}
	from := c.QueryParam("from")
	if from == "" {
		return s.renderNewRequest(c, http.StatusOK, newRequestData{Form: f})
	}
	r, err := s.ownRequest(c, from)
	if err != nil {
		return err
	}
	d := newRequestData{From: r, Form: requestForm{RegionID: r.RegionID, DBInstanceID: r.DBInstanceID,
		ConnectionString: r.ConnectionString, NetworkType: r.NetworkType, AccountID: r.AccountID, Justification: r.Justification, Ticket: r.Ticket}}
	var dec policy.Decision
	_ = json.Unmarshal(r.Decision, &dec)
	if !dec.Allow {
		d.FromReasons = dec.Reasons
	}
	if d.Verdict, err = s.check(c, d.Form); err != nil {
		return err
	}
	d.Errors = d.Verdict.errorMap()
	return s.renderNewRequest(c, http.StatusOK, d)
}

// notYourRequest refuses to fill the form from another person's request
// that the user may see (an approver's, an auditor's view).
type notYourRequest struct{ owner string }

func (e *notYourRequest) Error() string {
	return "only its requester " + e.owner + " may file this request again"
}

func (e *notYourRequest) Unwrap() error { return request.ErrForbidden }

// ownRequest reads request id for ?from=: the user's own request only.
// Another's is 404 as on its page, unless the user may see it: then 403.
func (s *Server) ownRequest(c echo.Context, id string) (*request.Request, error) {
	rid, err := uuid.Parse(id)
	if err != nil {
		return nil, fmt.Errorf("request %q: %w", id, request.ErrNotFound)
	}
	r, err := s.d.Service.Get(c.Request().Context(), rid)
	if err != nil {
		return nil, err
	}
	u := userOf(c)
	switch {
	case r.Requester == u.Subject:
		return r, nil
	case canView(u, r):
		return nil, &notYourRequest{owner: r.Requester}
	}
	return nil, notVisible(r.ID)
}

func (s *Server) renderNewRequest(c echo.Context, status int, d newRequestData) error {
	d.CanLookup = s.d.Service.CanLookupInstances()
	d.NetworkOpts = []option{{"0", s.tr(c, "VPC (0)")}, {"1", s.tr(c, "Classic network (1)")}}
	d.Accounts = s.accountOptions()
	d.AccountRequired = len(d.Accounts) > 1
	d.Hints = s.hints(c, s.orgRules())
	return s.render(c, status, "request_new", page{Title: s.tr(c, "New release request"), Nav: "new", Data: d})
}

// newRequestSubmit handles the form's Look up and Submit buttons. "Look
// up" describes the instance and shows the form again with its public
// connection strings to pick from. "Submit" first checks the form: when a
// field is wrong, or the policy says the ticket or justification breaks an
// org rule, it shows the form again with every problem and files nothing,
// so that a typo does not file a request that stays denied. Otherwise it
// files the request and shows the policy's decision (a denial for other
// reasons is filed, with its reasons).
func (s *Server) newRequestSubmit(c echo.Context) error {
	f := readRequestForm(c)
	if c.FormValue("lookup") != "" {
		res := s.lookup(c, &f)
		return s.renderNewRequest(c, http.StatusOK, newRequestData{Form: f, Lookup: res})
	}
	v, err := s.check(c, f)
	if err != nil {
		return err
	}
	if len(v.Fields) > 0 {
		v.Headline = s.tr(c, "Nothing was filed. Fix the fields marked below, then submit again.")
		return s.renderNewRequest(c, http.StatusUnprocessableEntity, newRequestData{Form: f, Errors: v.errorMap(), Verdict: v})
	}
	r, err := s.d.Service.File(c.Request().Context(), pageActor(c, userOf(c)), f.spec(), f.BreakGlass)
	if err != nil {
		// A denial was filed and its page shows why. A validation error is
		// one check could not see (the account, against the registry the
		// filing reads): the form comes back with it, nothing filed.
		den, ok := lifecycle.IsDenied(err)
		if !ok {
			ves := request.Fields(err)
			if len(ves) == 0 {
				return err
			}
			for _, ve := range ves {
				v.Fields = append(v.Fields, fieldProblem{Field: ve.Field, Message: s.fieldMessage(c, ve)})
			}
			v.Ready = false
			v.Headline = s.tr(c, "Nothing was filed. Fix the fields marked below, then submit again.")
			return s.renderNewRequest(c, http.StatusUnprocessableEntity, newRequestData{Form: f, Errors: v.errorMap(), Verdict: v})
		}
		r = den.Request
	}
	return c.Redirect(http.StatusSeeOther, "/requests/"+r.ID.String()+"?filed=1")
}

// checkRequest is "Check with policy": the policy's decision on the form
// as it stands, with every field's problem, recording nothing. Without
// JavaScript the button posts here and the form comes back with the
// verdict; form.js posts to check.json (X-CSRF-Token) as the user types
// and gets the verdict as JSON.
func (s *Server) checkRequest(c echo.Context) error {
	f := readRequestForm(c)
	v, err := s.check(c, f)
	if err != nil {
		return err
	}
	if strings.HasSuffix(c.Request().URL.Path, ".json") {
		return c.JSON(http.StatusOK, v)
	}
	return s.renderNewRequest(c, http.StatusOK, newRequestData{Form: f, Errors: v.errorMap(), Verdict: v})
}

// lookup describes the instance (lifecycle.LookupInstance) and, when it
// has exactly one public endpoint, fills it in with the network type.
func (s *Server) lookup(c echo.Context, f *requestForm) lookupResult {
	res := lookupResult{Done: true}
	info, err := s.d.Service.LookupInstance(c.Request().Context(), f.AccountID, f.RegionID, f.DBInstanceID)
	var ve *request.ValidationError
	switch {
	case errors.Is(err, lifecycle.ErrUnavailable):
		res.Error = s.tr(c, "Instance lookup is not configured on this server; type the connection string.")
		return res
	case errors.As(err, &ve):
		res.Error = s.tr(c, "Fill in a valid region and instance id first. %s: %s", ve.Field, s.fieldMessage(c, ve))
		return res
	case err != nil:
		res.Error = s.lookupError(c, err)
		return res
	}
	res.NetworkType = info.InstanceNetworkType
	for _, ep := range info.Endpoints {
		if ep.IPType == "Public" {
			res.Public = append(res.Public, ep)
		} else {
			res.Other = append(res.Other, ep)
		}
	}
	if info.NetworkType != "" {
		f.NetworkType = info.NetworkType
	}
	switch {
	case len(res.Public) == 0:
		res.Error = s.tr(c, "%s has no public connection string: there is nothing to release.", f.DBInstanceID)
	case len(res.Public) == 1:
		f.ConnectionString = res.Public[0].ConnectionString
	}
	return res
}

// lookupError says why a lookup failed, with Alibaba's code, documented
// message and RequestId when the API answered.
func (s *Server) lookupError(c echo.Context, err error) string {
	var le *lifecycle.LookupError
	if errors.As(err, &le) && le.Code != "" {
		if le.RequestID != "" {
			return s.tr(c, "Alibaba Cloud answered %s: %s (RequestId %s)", le.Code, le.Message, le.RequestID)
		}
		return s.tr(c, "Alibaba Cloud answered %s: %s", le.Code, le.Message)
	}
	return s.tr(c, "The lookup failed: %s", err.Error())
}

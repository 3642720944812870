package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// errorHelp is what the error page tells a person: what happened and what
// to do next, in the page's language, and the ways on. The API's code and
// message stay as they are; the page shows them under "Technical details".
type errorHelp struct {
	Headline string
	// Text says what happened and what to do, in a sentence or two; Next,
	// when set, the way out that suits this user.
	Text, Next string
	// Detail is the error's own words when they name what to fix (a value
	// at fault); "" otherwise.
	Detail string
	Links  []helpLink
	// RequestID is the X-Request-Id, for a report to an administrator.
	RequestID string
}

// helpLink is one way on from the error page.
type helpLink struct {
	Href, Label string
	Primary     bool
}

// roleError refuses a page to a signed-in user who lacks its role
// (require); no roles means the user holds no rdsgate role at all.
type roleError struct {
	subject string
	groups  []string
	roles   []auth.Role
}

func (e *roleError) Error() string {
	if len(e.roles) == 0 {
		return fmt.Sprintf("%s has no rdsgate role (groups: %s): %s", e.subject, strings.Join(e.groups, ", "), request.ErrForbidden)
	}
	names := make([]string, len(e.roles))
	for i, r := range e.roles {
		names[i] = string(r)
	}
	return fmt.Sprintf("this page is for the %s role; %s does not hold it: %s", strings.Join(names, " or "), e.subject, request.ErrForbidden)
}

// Unwrap makes errors.Is(err, request.ErrForbidden) true.
func (e *roleError) Unwrap() error { return request.ErrForbidden }

// explain turns an error into help for a person. Each kind of error says
// what happened in words and what to do next; the status is unchanged.
func (s *Server) explain(c echo.Context, err error, status int, body APIError) *errorHelp {
	h := &errorHelp{RequestID: c.Response().Header().Get(echo.HeaderXRequestID)}
	u := userOf(c)
	path := c.Request().URL.Path
	var re *roleError
	var nyr *notYourRequest
	var ce *csrfError
	var fe *lifecycle.ForbiddenError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &re):
		s.explainRole(c, h, re)
	case errors.As(err, &nyr):
		h.Headline = s.tr(c, "You can only file your own requests again")
		h.Text = s.tr(c, "This request is %s's. Open it to see what was asked, or start a new request of your own.", nyr.owner)
		if id := c.QueryParam("from"); id != "" {
			h.link(s.tr(c, "Open the request"), "/requests/"+url.PathEscape(id), true)
		}
		h.link(s.tr(c, "New request"), "/requests/new", false)
	case errors.As(err, &ce):
		h.Headline = s.tr(c, "This form has expired")
		h.Text = s.tr(c, "This form could not be verified: it was open while you signed in again, or it came from another site. Nothing was changed. Go back, reload the page and submit it again.")
	case status == http.StatusUnauthorized:
		h.Headline = s.tr(c, "Sign in first")
		h.Text = s.tr(c, "You are not signed in, or your session has ended. Sign in, then try again.")
		next := "/"
		if c.Request().Method == http.MethodGet {
			next = c.Request().URL.RequestURI()
		}
		h.link(s.tr(c, "Sign in"), "/signin?next="+url.QueryEscape(next), true)
	case errors.Is(err, request.ErrAlreadyVoted):
		h.Headline = s.tr(c, "You have already voted")
		h.Text = s.tr(c, "You voted on this request before. A vote cannot be cast twice or changed; open the request to see the votes so far.")
		h.link(s.tr(c, "Open the request"), requestPathOf(path), true)
	case status == http.StatusConflict:
		h.Headline = s.tr(c, "The request changed")
		switch {
		case strings.HasSuffix(path, "/vote"):
			h.Text = s.tr(c, "The request changed after you opened it; reload the page to see it as it is now, then vote again.")
		case strings.HasSuffix(path, "/cancel"):
			h.Text = s.tr(c, "The request changed after you opened it and can no longer be cancelled; reload the page to see it as it is now.")
		default:
			h.Text = s.tr(c, "The request changed after you opened it; reload the page to see it as it is now, then try again.")
		}
		if strings.HasPrefix(path, "/requests/") {
			h.link(s.tr(c, "Reload the request"), requestPathOf(path), true)
		}
	case status == http.StatusNotFound && errors.As(err, &he):
		h.Headline = s.tr(c, "There is no such page")
		h.Text = s.tr(c, "There is no page at this address. Check the link, or start again from the home page.")
	case status == http.StatusNotFound && strings.HasPrefix(path, "/requests"):
		h.Headline = s.tr(c, "Request not found")
		switch {
		case u.Has(auth.RoleRequester):
			h.Text = s.tr(c, "There is no request with this address. Check the link, or find it in My requests.")
			h.link(s.tr(c, "My requests"), "/requests", true)
		case u.Has(auth.RoleApprover):
			h.Text = s.tr(c, "There is no request with this address. Check the link, or find it in your inbox.")
			h.link(s.tr(c, "Inbox"), "/inbox", true)
		default:
			h.Text = s.tr(c, "There is no request with this address. Check the link you followed.")
		}
	case status == http.StatusNotFound:
		h.Headline = s.tr(c, "Not found")
		h.Text = s.tr(c, "What this address names does not exist, or is not available on this server. Check the link, or start again from the home page.")
		h.Detail = body.Message
	case errors.As(err, &fe) || body.Code == "forbidden":
		h.Headline = s.tr(c, "You may not do this")
		h.Text = s.tr(c, "rdsgate refused this for your account; the reason is below. If you think you should be allowed, ask an administrator.")
		if len(body.Reasons) == 0 {
			h.Detail = body.Message
		}
	case body.Code == "denied":
		h.Headline = s.tr(c, "The policy denied this")
		h.Text = s.tr(c, "The policy does not allow this; its reasons are below.")
	case status == http.StatusUnprocessableEntity:
		h.Headline = s.tr(c, "A value is not valid")
		h.Text = s.tr(c, "Something in the address or the form is not valid; it is named below. Go back, correct it and try again.")
		h.Detail = body.Message
	case status == http.StatusTooManyRequests:
		h.Headline = s.tr(c, "Too many requests")
		h.Text = s.tr(c, "You sent too many requests in a short time. Wait a moment, then try again.")
	case status == http.StatusServiceUnavailable:
		h.Headline = s.tr(c, "The database is not reachable")
		h.Text = s.tr(c, "rdsgate cannot reach its database right now (a restart or a failover). Nothing was changed. Try again in a few seconds.")
		if c.Request().Method == http.MethodGet {
			h.link(s.tr(c, "Try again"), c.Request().URL.RequestURI(), true)
		}
	case status == http.StatusRequestEntityTooLarge:
		h.Headline = s.tr(c, "What you sent is too large")
		h.Text = s.tr(c, "The form is larger than this server accepts. Go back, shorten the text and send it again.")
	case status == http.StatusMethodNotAllowed:
		h.Headline = s.tr(c, "This address does not take this action")
		h.Text = s.tr(c, "Go back and use the buttons of the page itself.")
	case status == http.StatusBadRequest:
		h.Headline = s.tr(c, "The request could not be read")
		h.Text = s.tr(c, "Go back, reload the page and try again.")
		h.Detail = body.Message
	default:
		h.Headline = s.tr(c, "Something went wrong on our side")
		h.Text = s.tr(c, "The error is in the server's log. Try again; if it keeps happening, give an administrator the request id below.")
	}
	if back := sameSiteReferer(c); back != "" {
		h.link(s.tr(c, "Go back"), back, false)
	}
	h.link(s.tr(c, "Home"), "/", false)
	return h
}

// explainRole says which role a page needs and how to get it.
func (s *Server) explainRole(c echo.Context, h *errorHelp, re *roleError) {
	switch {
	case len(re.roles) == 0:
		h.Headline = s.tr(c, "You have no role in rdsgate yet")
		h.Text = s.tr(c, "You are signed in as %s, but your groups (%s) grant no rdsgate role. Ask an administrator to add you to a group of requesters, approvers or auditors.",
			re.subject, strings.Join(re.groups, ", "))
		return
	case len(re.roles) > 1:
		names := make([]string, len(re.roles))
		for i, r := range re.roles {
			names[i] = string(r)
		}
		h.Headline = s.tr(c, "This page is for other roles")
		h.Text = s.tr(c, "You are signed in as %s, who holds none of the roles this page needs (%s). Ask an administrator to add you to a group that grants one.",
			re.subject, strings.Join(names, ", "))
	case re.roles[0] == auth.RoleAuditor:
		h.Headline = s.tr(c, "This page is for auditors")
		h.Text = s.tr(c, "You are signed in as %s, who is not an auditor. Ask an administrator to add you to an auditor group.", re.subject)
	case re.roles[0] == auth.RoleApprover:
		h.Headline = s.tr(c, "This page is for approvers")
		h.Text = s.tr(c, "You are signed in as %s, who is not an approver. Ask an administrator to add you to an approver group.", re.subject)
	default:
		h.Headline = s.tr(c, "This page is for requesters")
		h.Text = s.tr(c, "You are signed in as %s, who is not a requester. Ask an administrator to add you to a requester group.", re.subject)
	}
	if u := userOf(c); u.Has(auth.RoleRequester) {
		h.Next = s.tr(c, "Or go back to your requests.")
		h.link(s.tr(c, "My requests"), "/requests", true)
	} else {
		h.Next = s.tr(c, "Or go back to the home page.")
	}
}

func (h *errorHelp) link(label, href string, primary bool) {
	for _, l := range h.Links {
		if l.Href == href {
			return
		}
	}
	h.Links = append(h.Links, helpLink{Href: href, Label: label, Primary: primary})
}

// requestPathOf is the page of the request an action path is under:
// /requests/<id>/vote → /requests/<id>.
func requestPathOf(path string) string {
	parts := strings.SplitN(strings.TrimPrefix(path, "/requests/"), "/", 2)
	return "/requests/" + parts[0]
}

// sameSiteReferer is the page the user came from when it is on this site
// and is not this very address; "" otherwise.
func sameSiteReferer(c echo.Context) string {
	ref := c.Request().Referer()
	if ref == "" {
		return ""
	}
	u, err := url.Parse(ref)
	if err != nil || !strings.EqualFold(u.Host, c.Request().Host) {
		return ""
	}
	p := localPath(u.RequestURI())
	if p == c.Request().URL.RequestURI() && c.Request().Method == http.MethodGet {
		return ""
	}
	return p
}

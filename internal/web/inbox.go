package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/request"
)

// inboxItem is one request the approver may vote on.
type inboxItem struct {
	R *request.Request
	// Prod: the request releases a production endpoint.
	Prod bool
	// Group is the requirement the approver's vote counts toward; Open
	// the approvals still missing, in words.
	Group, Open string
}

// inbox lists the pending requests this approver may vote on, oldest
// first: not their own, not already voted on, and allowed by the policy's
// MayApprove. Each links to its review (the request page's vote section);
// nobody approves from the list.
func (s *Server) inbox(c echo.Context) error {
	u := userOf(c)
	awaiting, err := s.awaitingVote(c, u)
	if err != nil {
		return err
	}
	items := make([]inboxItem, 0, len(awaiting))
	for _, a := range awaiting {
		items = append(items, inboxItem{R: a.r, Prod: isProduction(a.r.Environment), Group: a.group,
			Open: s.requirementsText(c, request.OpenRequirements(a.r.ApproverRequirements, a.r.Votes))})
	}
	p := page{Title: s.tr(c, "Approver inbox"), Nav: "inbox", Data: items}
	p.countInbox(len(items))
	return s.render(c, http.StatusOK, "inbox", p)
}

// awaiting is a request u may vote on, and the group the vote counts toward.
type awaiting struct {
	r     *request.Request
	group string
}

// awaitingVote is what the inbox lists and the navigation counts: the
// pending requests u neither filed nor voted on (one query), those the
// policy lets u vote on (in process), oldest first.
func (s *Server) awaitingVote(c echo.Context, u *auth.User) ([]awaiting, error) {
	cands, err := s.d.Service.AwaitingVote(c.Request().Context(), u.Subject)
	if err != nil {
		return nil, err
	}
	var out []awaiting
	for _, r := range cands {
		if v := s.voteChoice(c, u, r); v.Can {
			out = append(out, awaiting{r: r, group: v.Group})
		}
	}
	return out, nil
}

// inboxCount is how many requests wait for u's vote: the navigation's
// badge on "Inbox", on every page an approver sees. A failure shows no
// badge rather than failing the page.
func (s *Server) inboxCount(c echo.Context, u *auth.User) int {
	if !u.Has(auth.RoleApprover) {
		return 0
	}
	items, err := s.awaitingVote(c, u)
	if err != nil {
		s.log.WarnContext(c.Request().Context(), "count the inbox", "user", u.Subject, "error", err)
		return 0
	}
	return len(items)
}

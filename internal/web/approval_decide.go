package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// decide records an approver's Approve or Reject with its comment. The
// form carries the payload hash the approver was shown; a vote on a request
// whose content differs is refused. lifecycle.Vote checks state,
// self-approval, double votes and the policy's eligibility again, whatever
// the page offered.
func (s *Server) decide(c echo.Context) error {
	r, u, err := s.loadRequest(c)
	if err != nil {
		return err
	}
	decision := c.FormValue("decision")
	if decision != request.Approve && decision != request.Reject {
		return request.Invalid("decision", `must be "approve" or "reject"`)
	}
	hash := strings.TrimSpace(c.FormValue("payload_hash"))
	if hash == "" {
		return request.Invalid("payload_hash", "is required: vote from the request's page or the inbox")
	}
	out, err := s.d.Service.Vote(c.Request().Context(), pageActor(c, u), r.ID,
		lifecycle.VoteInput{Decision: decision, Comment: c.FormValue("comment"), PayloadHash: hash})
	if err != nil {
		return err
	}
	// Past tense only: the flash stays on the page while the live part
	// moves on, so it must not say what happens next.
	var msg string
	switch {
	case out.Bulk() && decision == request.Reject:
		msg = s.tr(c, "You rejected the bulk request of %d endpoints: nothing will be released.", out.TargetCount)
	case out.Bulk() && out.Status != request.StatusPending:
		msg = s.tr(c, "You approved the bulk request of %d endpoints. Your approval completed the approvals, so its release started.", out.TargetCount)
	case out.Bulk():
		msg = s.tr(c, "You approved the bulk request of %d endpoints.", out.TargetCount)
	case decision == request.Reject:
		msg = s.tr(c, "You rejected the request for %s: nothing will be released.", out.DBInstanceID)
	case out.Status == request.StatusApproved:
		msg = s.tr(c, "You approved the request for %s. Your approval completed the approvals, so its release was queued.", out.DBInstanceID)
	default:
		msg = s.tr(c, "You approved the request for %s.", out.DBInstanceID)
	}
	s.flash(c, msg)
	if c.FormValue("from") == "inbox" {
		return c.Redirect(http.StatusSeeOther, "/inbox")
	}
	return c.Redirect(http.StatusSeeOther, "/requests/"+out.ID.String())
}

// cancel withdraws the requester's own pending request.
func (s *Server) cancel(c echo.Context) error {
	r, u, err := s.loadRequest(c)
	if err != nil {
		return err
	}
	out, err := s.d.Service.Cancel(c.Request().Context(), pageActor(c, u), r.ID, c.FormValue("reason"))
	if err != nil {
		return err
	}
	if out.Bulk() {
		s.flash(c, s.tr(c, "You cancelled the bulk request of %d endpoints.", out.TargetCount))
	} else {
		s.flash(c, s.tr(c, "You cancelled the request for %s.", out.DBInstanceID))
	}
	return c.Redirect(http.StatusSeeOther, "/requests/"+out.ID.String())
}

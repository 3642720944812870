package web

import (
	"context"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// inboxItem is one request the approver may vote on.
type inboxItem struct {
	R     *request.Request
	Group string
	Open  string
}

// maxInbox bounds how many pending requests the inbox examines.
const maxInbox = 1000

// inbox lists the pending requests this approver may vote on, oldest
// first: not their own, not already voted on, and allowed by the policy's
// MayApprove (asked per candidate; fine at rdsgate's scale).
func (s *Server) inbox(c echo.Context) error {
	items, err := s.inboxItems(c.Request().Context(), userOf(c))
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "inbox", page{Title: s.tr(c, "Approver inbox"), Nav: "inbox", Data: items})
}

func (s *Server) inboxItems(ctx context.Context, u *auth.User) ([]inboxItem, error) {
	var candidates []*request.Request
	f := lifecycle.Filter{Status: request.StatusPending, Limit: lifecycle.MaxPageSize}
	for len(candidates) < maxInbox {
		pg, err := s.d.Service.List(ctx, f)
		if err != nil {
			return nil, err
		}
		candidates = append(candidates, pg.Items...)
		if pg.NextCursor == "" {
			break
		}
		f.Cursor = pg.NextCursor
	}
	slices.Reverse(candidates) // the list is newest first
	items := []inboxItem{}
	for _, cand := range candidates {
		if cand.Requester == u.Subject {
			continue
		}
		r, err := s.d.Service.Get(ctx, cand.ID) // with its votes
		if err != nil {
			return nil, err
		}
		v := s.voteChoice(ctx, u, r)
		if !v.Can {
			continue
		}
		items = append(items, inboxItem{R: r, Group: v.Group,
			Open: requirementsText(request.OpenRequirements(r.ApproverRequirements, r.Votes))})
	}
	return items, nil
}

package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
)

// votesPerPage is how many votes "My votes" shows at a time.
const votesPerPage = 25

// voteItem is one row of "My votes".
type voteItem struct {
	lifecycle.VotedRequest
	Prod bool
}

// myVotes lists the requests the signed-in approver voted on, the newest
// vote first, each with that vote and the request's current status, one
// keyset page at a time.
func (s *Server) myVotes(c echo.Context) error {
	pg, err := s.d.Service.VotedBy(c.Request().Context(), userOf(c).Subject, c.QueryParam("cursor"), votesPerPage)
	if err != nil {
		return err
	}
	items := make([]voteItem, len(pg.Items))
	for i, it := range pg.Items {
		items[i] = voteItem{VotedRequest: it, Prod: isProduction(it.Environment)}
	}
	return s.render(c, http.StatusOK, "votes", page{Title: s.tr(c, "My votes"), Nav: "votes", Data: struct {
		Items      []voteItem
		NextCursor string
		First      bool
	}{items, pg.NextCursor, c.QueryParam("cursor") == ""}})
}

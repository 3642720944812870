package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
)

// myRequests lists the signed-in requester's requests, newest first, one
// keyset page at a time.
func (s *Server) myRequests(c echo.Context) error {
	u := userOf(c)
	pg, err := s.d.Service.List(c.Request().Context(), lifecycle.Filter{Requester: u.Subject, Cursor: c.QueryParam("cursor"), Limit: 25})
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "requests", page{Title: s.tr(c, "My requests"), Nav: "mine", Data: pg})
}

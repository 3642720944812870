package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// requestsPageSize is how many requests My requests shows per page.
const requestsPageSize = 25

// maxBack bounds the newer pages a My requests link remembers; from deeper
// down, "← Newer" walks back that many pages and then returns to the first.
const maxBack = 40

type requestsData struct {
	Items              []*request.Request
	OlderURL, NewerURL string
}

// myRequests lists the signed-in requester's requests, newest first, one
// keyset page at a time. The store pages one way (older); the way back is
// the cursors of the newer pages, carried in the links ("back", oldest
// first, separated by dots, which the cursors' base64url never holds).
func (s *Server) myRequests(c echo.Context) error {
	u := userOf(c)
	cursor := c.QueryParam("cursor")
	pg, err := s.d.Service.List(c.Request().Context(), lifecycle.Filter{Requester: u.Subject, Cursor: cursor, Limit: requestsPageSize})
	if err != nil {
		return err
	}
	var back []string
	if b := c.QueryParam("back"); b != "" && cursor != "" {
		back = strings.Split(b, ".")
	}
	link := func(cursor string, back []string) string {
		if cursor == "" {
			return "/requests"
		}
		v := url.Values{"cursor": {cursor}}
		if len(back) > 0 {
			v.Set("back", strings.Join(back, "."))
		}
		return "/requests?" + v.Encode()
	}
	d := requestsData{Items: pg.Items}
	if cursor != "" {
		if len(back) == 0 {
			d.NewerURL = link("", nil)
		} else {
			d.NewerURL = link(back[len(back)-1], back[:len(back)-1])
		}
	}
	if pg.NextCursor != "" {
		older := back
		if cursor != "" {
			older = append(older, cursor)
		}
		if len(older) > maxBack {
			older = older[len(older)-maxBack:]
		}
		d.OlderURL = link(pg.NextCursor, older)
	}
	return s.render(c, http.StatusOK, "requests", page{Title: s.tr(c, "My requests"), Nav: "mine", Data: d})
}

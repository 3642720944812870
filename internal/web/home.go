package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
)

// home lists what the signed-in user can do, by role.
func (s *Server) home(c echo.Context) error {
	return s.render(c, http.StatusOK, "home", page{Title: "rdsgate", Nav: "home"})
}

// pageActor is the workflow actor of a signed-in browser user: the
// session's subject and groups, the direct peer's address (never a
// forwarded header), TLS, and MFA as the identity provider reported it.
func pageActor(c echo.Context, u *auth.User) lifecycle.Actor {
	return lifecycle.Actor{Subject: u.Subject, Groups: u.Groups, SourceIP: c.RealIP(), SecureTransport: secureTransport(c), MFAPresent: u.MFA}
}

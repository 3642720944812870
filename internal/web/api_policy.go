package web

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
)

// simulatePolicy answers "would this principal be allowed, and why" without
// recording a request. Body: {principal, request{...}, context{...}}.
func (s *Server) simulatePolicy(c echo.Context) error {
	if s.d.Policy == nil {
		return errors.New("policy simulator not configured")
	}
	var in policy.Input
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	u := apiUser(c)
	if in.Principal.Subject == "" {
		in.Principal.Subject, in.Principal.Groups = u.Subject, u.Groups
	}
	// As on the page: requesters ask about themselves; approvers and
	// auditors about anyone.
	if in.Principal.Subject != u.Subject && !u.HasAny(auth.RoleApprover, auth.RoleAuditor) {
		return fmt.Errorf("%s may simulate decisions about themselves only: %w", u.Subject, request.ErrForbidden)
	}
	if in.Context.CurrentTime.IsZero() {
		in.Context.CurrentTime = time.Now().UTC()
	}
	d, err := s.d.Policy.Decide(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}

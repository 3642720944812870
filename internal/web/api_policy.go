package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/policy"
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
	if in.Principal.Subject == "" {
		in.Principal.Subject = actorOf(c).Subject
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

package web

import (
	"crypto/rand"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
)

// maxRequestIDLen bounds the X-Request-ID a client may give.
const maxRequestIDLen = 128

// requestID gives every request an id: the client's X-Request-ID when it
// is acceptable (validRequestID), a new random one otherwise. The id is
// echoed in the response's X-Request-ID, is on every log line of the
// request (lifecycle.TraceLogHandler), and travels in the context into the use cases
// (lifecycle.WithTrace), which put it into the payload of the audit events
// the request causes and into the execution job it enqueues.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		id := req.Header.Get(echo.HeaderXRequestID)
		if !validRequestID(id) {
			id = rand.Text()
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		c.SetRequest(req.WithContext(lifecycle.WithTrace(req.Context(), id)))
		return next(c)
	}
}

// validRequestID reports whether a client's X-Request-ID may be taken as
// the request's id: 1 to maxRequestIDLen bytes of printable ASCII without
// spaces. The header is the client's to choose, and the id lands in logs
// and the audit trail: no control characters (forged log lines), no
// non-ASCII, nothing unbounded.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := range len(id) {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// APIError is the body of every error response:
// {"error":{"code":"...","message":"...","field":"..."}}.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field names the (first) input at fault; Fields lists every one of a
	// validation error, Field's first.
	Field   string       `json:"field,omitempty"`
	Fields  []FieldError `json:"fields,omitempty"`
	Reasons []string     `json:"reasons,omitempty"`
	// Request is set on a policy denial: the denied request was recorded.
	Request *request.Request `json:"request,omitempty"`
	// Help is what the error page tells a person (pages only).
	Help *errorHelp `json:"-"`
}

// FieldError is one input at fault and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// fieldErrors lists the *request.ValidationErrors err holds.
func fieldErrors(err error) []FieldError {
	ves := request.Fields(err)
	out := make([]FieldError, len(ves))
	for i, ve := range ves {
		out[i] = FieldError{Field: ve.Field, Message: ve.Message}
	}
	return out
}

type errorBody struct {
	Error APIError `json:"error"`
}

// statusOf maps an error to its HTTP status and error code.
func statusOf(err error) (int, APIError) {
	var ve *request.ValidationError
	var he *echo.HTTPError
	var den *lifecycle.DeniedError
	var fe *lifecycle.ForbiddenError
	var be *badRequest
	var ce *csrfError
	var afe *audit.FilterError
	switch {
	case errors.As(err, &afe):
		return http.StatusUnprocessableEntity, APIError{Code: "invalid", Message: afe.Error(), Field: afe.Field}
	case errors.As(err, &ce):
		return http.StatusForbidden, APIError{Code: "csrf", Message: ce.Error()}
	case errors.As(err, &be):
		return http.StatusBadRequest, APIError{Code: "bad_request", Message: be.msg, Field: be.field}
	case errors.As(err, &ve):
		return http.StatusUnprocessableEntity, APIError{Code: "invalid", Message: ve.Error(), Field: ve.Field, Fields: fieldErrors(err)}
	case errors.As(err, &den):
		return http.StatusForbidden, APIError{Code: "denied", Message: "the policy denied this request", Reasons: den.Reasons, Request: den.Request}
	case errors.As(err, &fe):
		return http.StatusForbidden, APIError{Code: "forbidden", Message: err.Error(), Reasons: fe.Reasons}
	case errors.Is(err, request.ErrDenied):
		return http.StatusForbidden, APIError{Code: "denied", Message: err.Error()}
	case errors.Is(err, auth.ErrUnauthenticated):
		return http.StatusUnauthorized, APIError{Code: "unauthenticated", Message: err.Error()}
	case errors.Is(err, request.ErrForbidden):
		return http.StatusForbidden, APIError{Code: "forbidden", Message: err.Error()}
	case errors.Is(err, request.ErrNotFound):
		return http.StatusNotFound, APIError{Code: "not_found", Message: err.Error()}
	case errors.Is(err, request.ErrConflict):
		return http.StatusConflict, APIError{Code: "conflict", Message: err.Error()}
	case errors.Is(err, request.ErrInvalid):
		return http.StatusUnprocessableEntity, APIError{Code: "invalid", Message: err.Error()}
	case errors.As(err, &he):
		msg := http.StatusText(he.Code)
		if s, ok := he.Message.(string); ok {
			msg = s
		}
		code := map[int]string{413: "body_too_large", 404: "not_found", 405: "method_not_allowed", 401: "unauthenticated",
			403: "forbidden", 400: "bad_request", 429: "too_many_requests"}[he.Code]
		if code == "" {
			code = "error"
		}
		return he.Code, APIError{Code: code, Message: msg}
	case errors.Is(err, context.Canceled):
		return 499, APIError{Code: "canceled", Message: "request canceled"}
	case databaseUnavailable(err):
		return http.StatusServiceUnavailable, APIError{Code: "unavailable", Message: "the database is not reachable; try again shortly"}
	}
	return http.StatusInternalServerError, APIError{Code: "internal", Message: "internal error"}
}

// databaseUnavailable reports whether err says PostgreSQL could not be
// reached (a restart, a failover): no connection, a connection lost, the
// server shutting down or not accepting connections. Such a request did
// nothing and may be retried: 503, not 500.
func databaseUnavailable(err error) bool {
	var ce *pgconn.ConnectError
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &ce):
		return true
	case errors.As(err, &pe):
		// Class 08: connection exception; 57P01–57P03: the server shuts
		// down or cannot take connections now.
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	}
	return pgconn.SafeToRetry(err)
}

// retryAfterSeconds is the Retry-After of a 503: about a failover's length.
const retryAfterSeconds = "5"

// badRequest is a malformed body (not JSON, wrong type, unknown field).
type badRequest struct{ field, msg string }

func (e *badRequest) Error() string { return e.msg }

// ErrorHandler renders err as the JSON error shape (or, for browser pages,
// the HTML error page) and logs only server errors at error level.
func (s *Server) ErrorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, body := statusOf(err)
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", retryAfterSeconds)
	}
	if status >= 500 {
		s.log.ErrorContext(c.Request().Context(), "request failed", slog.String("path", c.Path()), slog.Any("err", err))
	}
	if s.renderErrorPage != nil && !isAPI(c) {
		body.Help = s.explain(c, err, status, body)
		if perr := s.renderErrorPage(c, status, body); perr == nil {
			return
		}
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, errorBody{Error: body})
}

func isAPI(c echo.Context) bool {
	p := c.Request().URL.Path
	return len(p) >= 5 && p[:5] == "/api/" || p == "/healthz" || p == "/readyz"
}

package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// decodeJSON reads exactly one JSON object into dst, refusing unknown
// fields, and names the offending field when it can.
func decodeJSON(c echo.Context, dst any) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "request body too large")
		case errors.As(err, &te):
			f := jsonField(te.Field)
			return &badRequest{field: f, msg: fmt.Sprintf("%s: must be a %s", f, te.Type)}
		case errors.As(err, &se):
			return &badRequest{msg: fmt.Sprintf("body is not valid JSON (at byte %d)", se.Offset)}
		case errors.Is(err, io.EOF):
			return &badRequest{msg: "body is empty; a JSON object is required"}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return &badRequest{field: f, msg: fmt.Sprintf("%s: unknown field", f)}
		}
		return &badRequest{msg: "body is not valid JSON: " + err.Error()}
	}
	if dec.More() {
		return &badRequest{msg: "body must hold exactly one JSON object"}
	}
	return nil
}

// jsonField drops the Go names of embedded structs ("Spec.network_type")
// from a decoding error's field path, leaving the JSON path.
func jsonField(path string) string {
	parts := strings.Split(path, ".")
	out := parts[:0]
	for _, p := range parts {
		if p != "" && (p[0] < 'A' || p[0] > 'Z') {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

// createRequestBody is the body of POST /api/v1/requests: one endpoint's
// fields at the top level, or a bulk request's in targets.
type createRequestBody struct {
	request.Spec
	BreakGlass bool `json:"break_glass"`
	// Targets, when present, makes the request a bulk request; the
	// endpoint fields are then per target and must not be at the top level.
	Targets []request.Target `json:"targets"`
}

func (s *Server) createRequest(c echo.Context) error {
	var body createRequestBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if body.Targets == nil {
		r, err := s.d.Service.File(ctx, actorOf(c), body.Spec, body.BreakGlass)
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderLocation, "/api/v1/requests/"+r.ID.String())
		return c.JSON(http.StatusCreated, r)
	}
	var errs request.ValidationErrors
	for _, f := range [][2]string{{"region_id", body.RegionID}, {"db_instance_id", body.DBInstanceID},
		{"connection_string", body.ConnectionString}, {"network_type", body.NetworkType}, {"account_id", body.AccountID}} {
		if f[1] != "" {
			errs = append(errs, &request.ValidationError{Field: f[0], Message: "belongs in each of targets, not at the top level of a bulk request"})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	r, err := s.d.Service.FileBulk(ctx, actorOf(c), request.BulkSpec{Targets: body.Targets,
		Justification: body.Justification, Ticket: body.Ticket}, body.BreakGlass)
	if err != nil {
		return err
	}
	d, err := s.d.Service.Detail(ctx, r.ID)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/requests/"+r.ID.String())
	return c.JSON(http.StatusCreated, d)
}

func parseID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, fmt.Errorf("request %q: %w", c.Param("id"), request.ErrNotFound)
	}
	return id, nil
}

func (s *Server) getRequest(c echo.Context) error {
	id, err := parseID(c)
	if err != nil {
		return err
	}
	d, err := s.d.Service.Detail(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if u := apiUser(c); !canView(u, d.Request) {
		return notVisible(d.ID)
	}
	return c.JSON(http.StatusOK, d)
}

func (s *Server) listRequests(c echo.Context) error {
	f := lifecycle.Filter{
		Requester:    c.QueryParam("requester"),
		DBInstanceID: c.QueryParam("db_instance_id"),
		Cursor:       c.QueryParam("cursor"),
	}
	// Requesters list their own requests; approvers and auditors list all.
	if u := apiUser(c); !u.HasAny(auth.RoleApprover, auth.RoleAuditor) {
		if f.Requester != "" && f.Requester != u.Subject {
			return fmt.Errorf("%s may list their own requests only: %w", u.Subject, request.ErrForbidden)
		}
		f.Requester = u.Subject
	}
	if st := c.QueryParam("status"); st != "" {
		status, err := request.ParseStatus("status", st)
		if err != nil {
			return err
		}
		f.Status = status
	}
	if l := c.QueryParam("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return request.Invalid("limit", "must be a positive whole number")
		}
		f.Limit = n
	}
	page, err := s.d.Service.List(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

// voteBody is the body of POST /api/v1/requests/{id}/approvals.
type voteBody struct {
	Decision    string `json:"decision"`
	Comment     string `json:"comment"`
	PayloadHash string `json:"payload_hash"`
}

func (s *Server) voteRequest(c echo.Context) error {
	id, err := parseID(c)
	if err != nil {
		return err
	}
	var body voteBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	r, err := s.d.Service.Vote(c.Request().Context(), actorOf(c), id,
		lifecycle.VoteInput{Decision: body.Decision, Comment: body.Comment, PayloadHash: body.PayloadHash})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

type cancelBody struct {
	Reason string `json:"reason"`
}

func (s *Server) cancelRequest(c echo.Context) error {
	id, err := parseID(c)
	if err != nil {
		return err
	}
	var body cancelBody
	if c.Request().ContentLength != 0 {
		if err := decodeJSON(c, &body); err != nil {
			return err
		}
	}
	r, err := s.d.Service.Cancel(c.Request().Context(), actorOf(c), id, body.Reason)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// cancelRestBody answers POST /api/v1/requests/{id}/cancel-rest.
type cancelRestBody struct {
	// Cancelled counts the targets withdrawn before their call.
	Cancelled int `json:"cancelled"`
	*lifecycle.Detail
}

func (s *Server) cancelRest(c echo.Context) error {
	id, err := parseID(c)
	if err != nil {
		return err
	}
	var body cancelBody
	if c.Request().ContentLength != 0 {
		if err := decodeJSON(c, &body); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	n, err := s.d.Service.CancelRest(ctx, actorOf(c), id, body.Reason)
	if err != nil {
		return err
	}
	d, err := s.d.Service.Detail(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cancelRestBody{Cancelled: n, Detail: d})
}

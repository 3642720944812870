package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// requestForm is the new-request form, as posted.
type requestForm struct {
	RegionID         string
	DBInstanceID     string
	ConnectionString string
	NetworkType      string
	Justification    string
	Ticket           string
	BreakGlass       bool
}

func readRequestForm(c echo.Context) requestForm {
	return requestForm{
		RegionID:         strings.TrimSpace(c.FormValue("region_id")),
		DBInstanceID:     strings.TrimSpace(c.FormValue("db_instance_id")),
		ConnectionString: strings.TrimSpace(c.FormValue("connection_string")),
		NetworkType:      strings.TrimSpace(c.FormValue("network_type")),
		Justification:    c.FormValue("justification"),
		Ticket:           strings.TrimSpace(c.FormValue("ticket")),
		BreakGlass:       c.FormValue("break_glass") != "",
	}
}

func (f requestForm) spec() request.Spec {
	return request.Spec{RegionID: f.RegionID, DBInstanceID: f.DBInstanceID, ConnectionString: f.ConnectionString,
		NetworkType: f.NetworkType, Justification: f.Justification, Ticket: f.Ticket}
}

// lookupResult is what the Look up button found.
type lookupResult struct {
	Done        bool
	NetworkType string // "VPC" or "Classic"
	Public      []lifecycle.Endpoint
	Other       []lifecycle.Endpoint
	Error       string
}

type newRequestData struct {
	Form        requestForm
	Errors      map[string]string
	CanLookup   bool
	Lookup      lookupResult
	NetworkOpts []option
}

type option struct{ Value, Label string }

var networkOptions = []option{{"0", "VPC (0)"}, {"1", "Classic network (1)"}}

// newRequestForm shows the empty form; query parameters prefill it.
func (s *Server) newRequestForm(c echo.Context) error {
	f := readRequestForm(c)
	if f.RegionID == "" {
		f.RegionID = "cn-hangzhou"
	}
	if f.NetworkType == "" {
		f.NetworkType = "0"
	}
	return s.renderNewRequest(c, http.StatusOK, newRequestData{Form: f})
}

func (s *Server) renderNewRequest(c echo.Context, status int, d newRequestData) error {
	d.CanLookup = s.d.Service.CanLookupInstances()
	d.NetworkOpts = networkOptions
	return s.render(c, status, "request_new", page{Title: s.tr(c, "New release request"), Nav: "new", Data: d})
}

// newRequestSubmit handles both buttons of the form: "Look up" describes
// the instance and shows the form again with its public connection strings
// to pick from; "Submit" files the request and shows the policy's decision.
func (s *Server) newRequestSubmit(c echo.Context) error {
	f := readRequestForm(c)
	if c.FormValue("lookup") != "" {
		res := s.lookup(c, &f)
		return s.renderNewRequest(c, http.StatusOK, newRequestData{Form: f, Lookup: res})
	}
	r, err := s.d.Service.File(c.Request().Context(), pageActor(c, userOf(c)), f.spec(), f.BreakGlass)
	var ve *request.ValidationError
	switch {
	case errors.As(err, &ve):
		return s.renderNewRequest(c, http.StatusUnprocessableEntity, newRequestData{Form: f, Errors: map[string]string{ve.Field: ve.Message}})
	case err != nil:
		if den, ok := lifecycle.IsDenied(err); ok {
			r = den.Request
		} else {
			return err
		}
	}
	return c.Redirect(http.StatusSeeOther, "/requests/"+r.ID.String()+"?filed=1")
}

// lookup describes the instance (lifecycle.LookupInstance) and, when it
// has exactly one public endpoint, fills it in with the network type.
func (s *Server) lookup(c echo.Context, f *requestForm) lookupResult {
	res := lookupResult{Done: true}
	info, err := s.d.Service.LookupInstance(c.Request().Context(), f.RegionID, f.DBInstanceID)
	var ve *request.ValidationError
	switch {
	case errors.Is(err, lifecycle.ErrUnavailable):
		res.Error = "Instance lookup is not configured on this server; type the connection string."
		return res
	case errors.As(err, &ve):
		res.Error = "Fill in a valid region and instance id first: " + ve.Error()
		return res
	case err != nil:
		res.Error = lookupError(err)
		return res
	}
	res.NetworkType = info.InstanceNetworkType
	for _, ep := range info.Endpoints {
		if ep.IPType == "Public" {
			res.Public = append(res.Public, ep)
		} else {
			res.Other = append(res.Other, ep)
		}
	}
	if info.NetworkType != "" {
		f.NetworkType = info.NetworkType
	}
	switch {
	case len(res.Public) == 0:
		res.Error = fmt.Sprintf("%s has no public connection string: there is nothing to release.", f.DBInstanceID)
	case len(res.Public) == 1:
		f.ConnectionString = res.Public[0].ConnectionString
	}
	return res
}

// lookupError says why a lookup failed, with Alibaba's code, documented
// message and RequestId when the API answered.
func lookupError(err error) string {
	var le *lifecycle.LookupError
	if errors.As(err, &le) && le.Code != "" {
		s := fmt.Sprintf("Alibaba Cloud answered %s: %s", le.Code, le.Message)
		if le.RequestID != "" {
			s += " (RequestId " + le.RequestID + ")"
		}
		return s
	}
	return "The lookup failed: " + err.Error()
}

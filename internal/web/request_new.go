package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/workflow"
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
	Public      []Endpoint
	Other       []Endpoint
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
	d.CanLookup = s.b.Instances != nil
	d.NetworkOpts = networkOptions
	return s.render(c, status, "request_new", page{Title: "New release request", Nav: "new", Data: d})
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
	r, err := s.d.Service.Create(c.Request().Context(), pageActor(c, userOf(c)), f.spec(), f.BreakGlass)
	var ve *request.ValidationError
	switch {
	case errors.As(err, &ve):
		return s.renderNewRequest(c, http.StatusUnprocessableEntity, newRequestData{Form: f, Errors: map[string]string{ve.Field: ve.Message}})
	case err != nil:
		if den, ok := workflow.IsDenied(err); ok {
			r = den.Request
		} else {
			return err
		}
	}
	return c.Redirect(http.StatusSeeOther, "/requests/"+r.ID.String()+"?filed=1")
}

// lookup calls DescribeDBInstanceNetInfo and, when the instance has
// exactly one public endpoint, fills it in with the network type.
func (s *Server) lookup(c echo.Context, f *requestForm) lookupResult {
	res := lookupResult{Done: true}
	if s.b.Instances == nil {
		res.Error = "Instance lookup is not configured on this server; type the connection string."
		return res
	}
	// Validate checks the region and the instance id first: an error on
	// any later field means those two are fine.
	var ve *request.ValidationError
	if err := f.spec().Normalize().Validate(); errors.As(err, &ve) && (ve.Field == "region_id" || ve.Field == "db_instance_id") {
		res.Error = "Fill in a valid region and instance id first: " + ve.Error()
		return res
	}
	info, err := s.b.Instances.NetInfo(c.Request().Context(), f.RegionID, f.DBInstanceID)
	if err != nil {
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
	if nt, err := aliyun.ReleaseNetworkType(info.InstanceNetworkType); err == nil {
		f.NetworkType = nt
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
	var ae *aliyun.APIError
	if errors.As(err, &ae) && ae.Code != "" {
		msg := ae.Message
		if m := errorMessage(ae.Code); m != "" {
			msg = m
		}
		s := fmt.Sprintf("Alibaba Cloud answered %s: %s", ae.Code, msg)
		if ae.RequestID != "" {
			s += " (RequestId " + ae.RequestID + ")"
		}
		return s
	}
	return "The lookup failed: " + err.Error()
}

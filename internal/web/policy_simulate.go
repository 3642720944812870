package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
)

// simulateForm is the simulator's question: would User be allowed to
// release this, from this address, with or without MFA and TLS?
type simulateForm struct {
	User   string
	Form   requestForm
	IP     string
	MFA    bool
	Secure bool
}

type simulateData struct {
	In         simulateForm
	Users      []string
	AnyUser    bool
	Errors     map[string]string
	Ran        bool
	Decision   policy.Decision
	Needs      string
	NetworkOps []option
}

// simulate answers "would X be allowed to release Y, and why" without
// recording anything. Everyone may ask about themselves; approvers and
// auditors about anyone in the policy data. It is a GET form: asking
// changes nothing.
func (s *Server) simulate(c echo.Context) error {
	u := userOf(c)
	d := simulateData{AnyUser: u.HasAny(auth.RoleApprover, auth.RoleAuditor), NetworkOps: networkOptions}
	if d.AnyUser && s.b.Directory != nil {
		d.Users = s.b.Directory.Users()
	}
	f := readRequestForm(c)
	in := simulateForm{User: strings.TrimSpace(c.QueryParam("user")), Form: f, IP: strings.TrimSpace(c.QueryParam("source_ip")),
		MFA: c.QueryParam("mfa") != "", Secure: c.QueryParam("secure_transport") != ""}
	if in.User == "" {
		in.User = u.Subject
	}
	if c.QueryParam("run") == "" {
		// First visit: prefill with what the user's own request would carry.
		in.Form.RegionID, in.Form.NetworkType, in.IP, in.MFA, in.Secure = "cn-hangzhou", "0", c.RealIP(), u.MFA, secureTransport(c)
		d.In = in
		return s.render(c, http.StatusOK, "simulate", page{Title: s.tr(c, "Policy simulator"), Nav: "simulate", Data: d})
	}
	d.In = in
	if s.d.Policy == nil {
		return errors.New("policy simulator not configured")
	}
	groups := u.Groups
	if in.User != u.Subject {
		if !d.AnyUser {
			return fmt.Errorf("only approvers and auditors may simulate other users: %w", request.ErrForbidden)
		}
		if s.b.Directory != nil {
			groups = s.b.Directory.UserGroups(in.User)
		}
		if groups == nil {
			d.Errors = map[string]string{"user": fmt.Sprintf("%q is not a user in the policy data", in.User)}
			return s.render(c, http.StatusUnprocessableEntity, "simulate", page{Title: s.tr(c, "Policy simulator"), Nav: "simulate", Data: d})
		}
	}
	if in.IP != "" {
		if _, err := netip.ParseAddr(in.IP); err != nil {
			d.Errors = map[string]string{"source_ip": "is not an IP address"}
			return s.render(c, http.StatusUnprocessableEntity, "simulate", page{Title: s.tr(c, "Policy simulator"), Nav: "simulate", Data: d})
		}
	}
	if strings.TrimSpace(f.Justification) == "" {
		f.Justification = "(policy simulator)"
	}
	dec, err := s.d.Policy.Decide(c.Request().Context(), policy.Input{
		Principal: policy.Principal{Subject: in.User, Groups: groups},
		Request: policy.RequestInput{RegionID: f.RegionID, DBInstanceID: f.DBInstanceID, ConnectionString: f.ConnectionString,
			NetworkType: f.NetworkType, Justification: f.Justification, Ticket: f.Ticket, BreakGlass: f.BreakGlass},
		Context: policy.Context{SourceIP: in.IP, SecureTransport: in.Secure, MFAPresent: in.MFA},
	})
	if err != nil {
		return err
	}
	d.Ran, d.Decision = true, dec
	reqs := make([]request.Requirement, len(dec.ApproverRequirements))
	for i, q := range dec.ApproverRequirements {
		reqs[i] = request.Requirement{Group: q.Group, Count: q.Count}
	}
	d.Needs = requirementsText(reqs)
	return s.render(c, http.StatusOK, "simulate", page{Title: s.tr(c, "Policy simulator"), Nav: "simulate", Data: d})
}

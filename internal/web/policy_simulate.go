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
	In       simulateForm
	Users    []string
	AnyUser  bool
	Errors   map[string]string
	Ran      bool
	Decision policy.Decision
	// Then says, in the page's language, what an allowed request would
	// need next: how many approvals, from whom, in which environment.
	Then       string
	NetworkOps []option
}

// simulate answers "would X be allowed to release Y, and why" without
// recording anything. Everyone may ask about themselves; approvers and
// auditors about anyone in the policy data. It is a GET form: asking
// changes nothing.
func (s *Server) simulate(c echo.Context) error {
	u := userOf(c)
	d := simulateData{AnyUser: u.HasAny(auth.RoleApprover, auth.RoleAuditor), NetworkOps: s.networkOptionsIn(c)}
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
			return localized(fmt.Errorf("only approvers and auditors may simulate other users: %w", request.ErrForbidden),
				s.tr(c, "Only approvers and auditors may simulate other users."))
		}
		if s.b.Directory != nil {
			groups = s.b.Directory.UserGroups(in.User)
		}
		if groups == nil {
			d.Errors = map[string]string{"user": s.tr(c, "%q is not a user in the policy data", in.User)}
			return s.render(c, http.StatusUnprocessableEntity, "simulate", page{Title: s.tr(c, "Policy simulator"), Nav: "simulate", Data: d})
		}
	}
	if in.IP != "" {
		if _, err := netip.ParseAddr(in.IP); err != nil {
			d.Errors = map[string]string{"source_ip": s.tr(c, "is not an IP address")}
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
	d.Then = s.simulatedNext(c, dec)
	return s.render(c, http.StatusOK, "simulate", page{Title: s.tr(c, "Policy simulator"), Nav: "simulate", Data: d})
}

// simulatedNext says what an allowed request would need next, in the
// request's language: "It would then need 2 approvals: 1 from dba and 1
// from security. Environment: prod."
func (s *Server) simulatedNext(c echo.Context, dec policy.Decision) string {
	var from string
	for i, q := range dec.ApproverRequirements {
		part := s.tr(c, "%d from %s", q.Count, q.Group)
		switch {
		case i == 0:
			from = part
		case i == len(dec.ApproverRequirements)-1:
			from = s.tr(c, "%s and %s", from, part)
		default:
			from = s.tr(c, "%s, %s", from, part)
		}
	}
	var then string
	switch n := dec.RequiredApprovals; {
	case n == 1 && from != "":
		then = s.tr(c, "It would then need 1 approval: %s.", from)
	case n == 1:
		then = s.tr(c, "It would then need 1 approval.")
	case from != "":
		then = s.tr(c, "It would then need %d approvals: %s.", n, from)
	default:
		then = s.tr(c, "It would then need %d approvals.", n)
	}
	if dec.Environment != "" {
		then = s.tr(c, "%s Environment: %s.", then, dec.Environment)
	}
	return then
}

// networkOptionsIn are the network types of the form with their labels in
// the request's language.
func (s *Server) networkOptionsIn(c echo.Context) []option {
	ops := make([]option, len(networkOptions))
	for i, o := range networkOptions {
		ops[i] = option{Value: o.Value, Label: s.tr(c, o.Label)}
	}
	return ops
}

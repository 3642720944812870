package web

import (
	"errors"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/auth"
)

// mountPages adds the browser routes. Who may use each (checked on the
// server, whatever the page shows):
//
//	GET  /                          anyone signed in, even without a role (anonymous: to /signin)
//	GET  /signin                    public
//	POST /signin/dev                public, only when the dev sign-in is on
//	GET  /auth/login, /auth/callback public, only when OIDC is configured
//	POST /signout                   anyone signed in
//	GET  /lang/:lang                public: remember the language (en, zh-CN)
//	GET  /requests/new, POST same   requester (?from=<id>: their own request only)
//	POST /requests/new/check (+ check.json)
//	                                requester: the policy's verdict, nothing recorded
//	GET  /requests                  requester (their own requests)
//	GET  /requests/:id (+ status.json, activity: the page's live part)
//	                                its requester, approvers, auditors
//	POST /requests/:id/vote         approver, never the request's requester
//	POST /requests/:id/cancel       requester, of their own pending request
//	POST /requests/:id/cancel-rest  requester, of their own executing bulk request
//	GET  /fleet, POST same          requester: the public endpoints a scan (POST) finds
//	POST /requests/new/bulk         requester: file the endpoints picked on /fleet
//	                                as one bulk request
//	GET  /inbox                     approver
//	GET  /votes                     approver (their own votes)
//	GET  /audit (+ export.csv, export.jsonl)
//	                                auditor
//	GET  /audit/bypasses            auditor: the releases ActionTrail recorded
//	                                that rdsgate did not make
//	GET  /policy/simulate           any role; others than oneself: approver, auditor
//
// Admin holds every role. Every POST needs the CSRF token.
func (s *Server) mountPages(b *Pages) error {
	if b.Sessions == nil || b.Roles == nil {
		return errors.New("browser pages need Sessions and Roles")
	}
	v, err := loadViews(b.ErrorText)
	if err != nil {
		return err
	}
	s.b, s.views = b, v
	s.renderErrorPage = s.errorPage
	e := s.e
	e.GET("/static/:file", s.serveStatic)

	base := []echo.MiddlewareFunc{pageHeaders, s.withLang, s.withSession, s.csrf()}
	with := func(extra ...echo.MiddlewareFunc) []echo.MiddlewareFunc {
		return append(base[:len(base):len(base)], extra...)
	}
	anyRole := s.require()
	requester, approver, auditor := s.require(auth.RoleRequester), s.require(auth.RoleApprover), s.require(auth.RoleAuditor)

	e.GET("/", s.home, with(signedIn)...)
	e.GET("/signin", s.signinPage, with()...)
	e.GET("/lang/:lang", s.switchLang, with()...)
	e.POST("/signin/dev", s.devSignin, with()...)
	e.GET("/auth/login", s.oidcLogin, with()...)
	e.GET("/auth/callback", s.oidcCallback, with()...)
	e.POST("/signout", s.signout, with(signedIn)...)

	e.GET("/requests/new", s.newRequestForm, with(requester)...)
	e.POST("/requests/new", s.newRequestSubmit, with(requester)...)
	e.POST("/requests/new/check", s.checkRequest, with(requester)...)
	e.POST("/requests/new/check.json", s.checkRequest, with(requester)...)
	e.GET("/requests", s.myRequests, with(requester)...)
	e.GET("/requests/:id", s.showRequest, with(anyRole)...)
	e.GET("/requests/:id/status.json", s.requestStatus, with(anyRole)...)
	e.GET("/requests/:id/activity", s.requestLive, with(anyRole)...)
	e.POST("/requests/:id/vote", s.decide, with(approver)...)
	e.POST("/requests/:id/cancel", s.cancel, with(requester)...)
	e.POST("/requests/:id/cancel-rest", s.cancelRestPage, with(requester)...)
	e.GET("/fleet", s.fleetPage, with(requester)...)
	e.POST("/fleet", s.fleetPage, with(requester)...)
	e.POST("/requests/new/bulk", s.fileBulk, with(requester)...)

	e.GET("/inbox", s.inbox, with(approver)...)
	e.GET("/votes", s.myVotes, with(approver)...)
	e.GET("/audit", s.auditSearch, with(auditor)...)
	e.GET("/audit/export.csv", s.auditExport(audit.FormatCSV, "text/csv; charset=utf-8"), with(auditor)...)
	e.GET("/audit/export.jsonl", s.auditExport(audit.FormatJSONL, "application/x-ndjson"), with(auditor)...)
	e.GET("/audit/bypasses", s.bypasses, with(auditor)...)
	e.GET("/policy/simulate", s.simulate, with(anyRole)...)
	return nil
}

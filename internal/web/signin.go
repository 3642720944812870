package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// devUser is one choice of the dev sign-in.
type devUser struct {
	Name   string
	Groups []string
	Roles  []auth.Role
}

type signinData struct {
	Next      string
	OIDC      bool
	Issuer    string
	DevUsers  []devUser
	SignedOut bool
}

// signinPage offers the configured ways in: the organisation's OIDC
// provider and, for local runs only, a list of the example users.
func (s *Server) signinPage(c echo.Context) error {
	d := signinData{Next: localPath(c.QueryParam("next")), OIDC: s.b.OIDC != nil, SignedOut: c.QueryParam("signed_out") != ""}
	if s.b.OIDC != nil {
		d.Issuer = s.b.OIDC.Issuer()
	}
	if s.b.DevLogin && s.b.Directory != nil {
		for _, name := range s.b.Directory.Users() {
			groups := s.b.Directory.UserGroups(name)
			d.DevUsers = append(d.DevUsers, devUser{Name: name, Groups: groups, Roles: s.b.Roles.Roles(groups)})
		}
	}
	return s.render(c, http.StatusOK, "signin", page{Title: s.tr(c, "Sign in"), Nav: "signin", Data: d})
}

// devSignin signs in as the chosen example user, with the groups ram.json
// gives them. It exists only when the dev sign-in is on.
func (s *Server) devSignin(c echo.Context) error {
	if !s.b.DevLogin || s.b.Directory == nil {
		return echo.ErrNotFound
	}
	name := strings.TrimSpace(c.FormValue("user"))
	groups := s.b.Directory.UserGroups(name)
	if name == "" || groups == nil {
		err := request.Invalid("user", "%q is not one of the users in the policy data", name)
		return s.signInFailed(c, auth.MethodDev, name, err)
	}
	return s.signIn(c, auth.User{Subject: name, Groups: groups, Method: auth.MethodDev}, c.FormValue("next"))
}

// signIn starts u's session and sends the browser on to next.
func (s *Server) signIn(c echo.Context, u auth.User, next string) error {
	u.Roles = s.b.Roles.Roles(u.Groups)
	u.SignedInAt = time.Now().UTC().Truncate(time.Second)
	if err := s.b.Sessions.SignIn(c.Request().Context(), u); err != nil {
		return err
	}
	if err := s.d.Service.RecordAccess(c.Request().Context(), pageActor(c, &u), audit.KindSignedIn,
		map[string]any{"method": u.Method, "groups": u.Groups, "roles": u.Roles}); err != nil {
		return err
	}
	// A new CSRF token with the new session token: one seen before sign-in
	// (on a shared machine, in a planted page) is worthless after it.
	s.b.Sessions.Put(c.Request().Context(), csrfKey, rand.Text())
	s.log.InfoContext(c.Request().Context(), "signed in", slog.String("subject", u.Subject), slog.String("method", u.Method),
		slog.Any("groups", u.Groups), slog.Any("roles", u.Roles))
	if len(u.Roles) == 0 {
		s.flash(c, s.tr(c, "You are signed in as %s, but your groups (%s) grant no rdsgate role. Ask an administrator.",
			u.Subject, strings.Join(u.Groups, ", ")))
	}
	return c.Redirect(http.StatusSeeOther, localPath(next))
}

const oidcKey = "oidc"

// oidcLogin starts the authorization code flow: fresh state, nonce and PKCE
// verifier go into the (pre-sign-in) session, the browser to the provider.
func (s *Server) oidcLogin(c echo.Context) error {
	if s.b.OIDC == nil {
		return echo.ErrNotFound
	}
	ch := auth.NewChallenge(localPath(c.QueryParam("next")))
	raw, err := json.Marshal(ch)
	if err != nil {
		return err
	}
	s.b.Sessions.Put(c.Request().Context(), oidcKey, string(raw))
	return c.Redirect(http.StatusFound, s.b.OIDC.AuthURL(ch))
}

// oidcCallback finishes the flow: the state must be this browser's, the
// code is redeemed with the verifier, and the ID token is verified with the
// nonce before the session is renewed and the user stored.
func (s *Server) oidcCallback(c echo.Context) error {
	if s.b.OIDC == nil {
		return echo.ErrNotFound
	}
	if err := s.oidcFinish(c); err != nil {
		return s.signInFailed(c, auth.MethodOIDC, "", err)
	}
	return nil
}

// signInFailed records a refused sign-in (who it claimed to be, when known,
// and why) and returns err to answer with.
func (s *Server) signInFailed(c echo.Context, method, who string, err error) error {
	if who == "" {
		who = "anonymous"
	}
	a := lifecycle.Actor{Subject: who, SourceIP: c.RealIP()}
	reason := err.Error()
	var le *localizedError
	if errors.As(err, &le) {
		reason = le.err.Error() // the trail is in English, whoever reads the page
	}
	if rerr := s.d.Service.RecordAccess(c.Request().Context(), a, audit.KindSignInFailed,
		map[string]any{"method": method, "reason": reason}); rerr != nil {
		s.log.ErrorContext(c.Request().Context(), "record failed sign-in", slog.Any("err", rerr))
	}
	return err
}

// oidcFinish is oidcCallback's work.
func (s *Server) oidcFinish(c echo.Context) error {
	ctx := c.Request().Context()
	raw := s.b.Sessions.Pop(ctx, oidcKey)
	var ch auth.Challenge
	if raw == "" || json.Unmarshal([]byte(raw), &ch) != nil {
		return localized(fmt.Errorf("no sign-in is in progress in this browser (it may have expired); start again: %w", auth.ErrUnauthenticated),
			s.tr(c, "No sign-in is in progress in this browser (it may have expired); start again."))
	}
	if e := c.QueryParam("error"); e != "" {
		desc := c.QueryParam("error_description")
		return localized(fmt.Errorf("the identity provider refused the sign-in: %s %s: %w", e, desc, auth.ErrUnauthenticated),
			s.tr(c, "The identity provider refused the sign-in: %s %s", e, desc))
	}
	if subtle.ConstantTimeCompare([]byte(c.QueryParam("state")), []byte(ch.State)) != 1 {
		return localized(fmt.Errorf("the sign-in answer does not belong to this browser's sign-in (state mismatch): %w", auth.ErrUnauthenticated),
			s.tr(c, "The sign-in answer does not belong to this browser's sign-in (state mismatch)."))
	}
	claims, err := s.b.OIDC.Exchange(ctx, c.QueryParam("code"), ch)
	if err != nil {
		return err
	}
	return s.signIn(c, auth.User{Subject: claims.Subject, Groups: claims.Groups, MFA: claims.MFA, Method: auth.MethodOIDC}, ch.Next)
}

// localizedError is err told in the page's language: Error is the
// translation (what the error page shows), while errors.Is and errors.As
// see err, and the audit trail records err's English text.
type localizedError struct {
	err  error
	text string
}

func localized(err error, text string) error { return &localizedError{err: err, text: text} }

func (e *localizedError) Error() string { return e.text }
func (e *localizedError) Unwrap() error { return e.err }

// signout ends the session (row deleted, cookie expired).
func (s *Server) signout(c echo.Context) error {
	if err := s.d.Service.RecordAccess(c.Request().Context(), pageActor(c, userOf(c)), audit.KindSignedOut, nil); err != nil {
		return err
	}
	if err := s.b.Sessions.SignOut(c.Request().Context()); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/signin?signed_out=1")
}

package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/policy"
)

// Authenticator resolves an Authorization header to an identity.
type Authenticator interface {
	FromHeader(ctx context.Context, header string) (auth.Identity, error)
}

// Simulator answers "would this be allowed" without recording anything.
type Simulator interface {
	Decide(ctx context.Context, in policy.Input) (policy.Decision, error)
}

// Deps is what the HTTP surface needs.
type Deps struct {
	Service *lifecycle.Service
	Tokens  Authenticator
	Policy  Simulator
	// Roles maps a token's groups to roles for the API's read and simulate
	// endpoints (as the pages do for a session); nil means
	// auth.DefaultRoleGroups.
	Roles auth.RoleMap
	// Ready reports whether the service can take traffic (database
	// reachable, policies loaded).
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
	// BodyLimit bounds request bodies (Echo's size syntax); default "64K".
	BodyLimit string
	// TrustedProxies are the networks of the proxies and load balancers in
	// front of the server (RDSGATE_TRUSTED_PROXIES): from them, and only
	// from them, X-Forwarded-For gives the client's address (acs:SourceIp)
	// and X-Forwarded-Proto whether it came over TLS (acs:SecureTransport).
	TrustedProxies []*net.IPNet
	// AllowedHosts, when set, are the only host names (Host header, port
	// ignored, case-insensitive) the server answers; others get 421. With
	// the dev sign-in on, only loopback names are answered whatever this
	// says, so that no web page can rebind its own name to this server.
	// Health checks are answered whatever the Host.
	AllowedHosts []string
	// Pages, when set, adds the server-rendered pages; nil serves the
	// JSON API and health endpoints only.
	Pages *Pages
}

// Server is the configured Echo instance.
type Server struct {
	e               *echo.Echo
	d               Deps
	log             *slog.Logger
	roles           auth.RoleMap
	renderErrorPage func(c echo.Context, status int, body APIError) error
	// b and views are set when the pages are served.
	b     *Pages
	views *views
	// scanning holds the one fleet scan this server runs at a time: scans
	// take the accounts' Describe quotas, which reconciliation needs too.
	scanning chan struct{}
}

// New builds the server with its middleware and routes. It panics when the
// embedded templates do not parse (a build defect the render test catches).
func New(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.BodyLimit == "" {
		d.BodyLimit = "64K"
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard)
	// The peer address, not a client-supplied header: acs:SourceIp conditions
	// must not be spoofable. Only from a trusted proxy (TrustedProxies) is
	// X-Forwarded-For read: its rightmost address that is not a trusted
	// proxy's.
	e.IPExtractor = echo.ExtractIPDirect()
	if len(d.TrustedProxies) > 0 {
		opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
		for _, n := range d.TrustedProxies {
			opts = append(opts, echo.TrustIPRange(n))
		}
		e.IPExtractor = echo.ExtractIPFromXFFHeader(opts...)
	}
	if d.Roles == nil {
		d.Roles = auth.MustParseRoleMap(auth.DefaultRoleGroups)
	}
	d.Logger = slog.New(lifecycle.TraceLogHandler(d.Logger.Handler()))
	s := &Server{e: e, d: d, log: d.Logger, roles: d.Roles, scanning: make(chan struct{}, 1)}
	e.HTTPErrorHandler = s.ErrorHandler
	e.Use(requestID)
	e.Use(middleware.Recover())
	e.Use(s.accessLog)
	e.Use(s.checkHost)
	e.Use(s.transport)
	// Filing a bulk request carries up to request.MaxTargets targets: its
	// two routes take BulkBodyLimit instead of the general limit.
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: d.BodyLimit, Skipper: isBulkFiling}))
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: BulkBodyLimit,
		Skipper: func(c echo.Context) bool { return !isBulkFiling(c) }}))
	e.Use(middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection: "0", ContentTypeNosniff: "nosniff", XFrameOptions: "DENY",
		ReferrerPolicy: "same-origin",
	}))
	e.Use(s.browserIsolation)

	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", s.readyz)

	// The token check is per route, not the group's: a group with
	// middleware catches every method of every path under it, and a wrong
	// method would be a 404 instead of a 405.
	api := e.Group("/api/v1")
	api.POST("/requests", s.createRequest, s.requireToken, s.requireRole(auth.RoleRequester, "file a request"))
	api.GET("/requests", s.listRequests, s.requireToken)
	api.GET("/requests/:id", s.getRequest, s.requireToken)
	api.POST("/requests/:id/approvals", s.voteRequest, s.requireToken, s.requireRole(auth.RoleApprover, "vote on a request"))
	api.POST("/requests/:id/cancel", s.cancelRequest, s.requireToken)
	api.POST("/requests/:id/cancel-rest", s.cancelRest, s.requireToken)
	api.POST("/policy/simulate", s.simulatePolicy, s.requireToken)
	api.GET("/openapi.json", s.openAPI)
	if d.Pages != nil {
		if err := s.mountPages(d.Pages); err != nil {
			panic("web: " + err.Error())
		}
	}
	return s
}

// BulkBodyLimit bounds the body of a filing, which may list
// request.MaxTargets targets (about 200 bytes each).
const BulkBodyLimit = "1M"

// isBulkFiling reports whether c files a request: the routes whose body
// may hold a bulk request's targets.
func isBulkFiling(c echo.Context) bool {
	r := c.Request()
	return r.Method == http.MethodPost && (r.URL.Path == "/api/v1/requests" || r.URL.Path == "/requests/new/bulk")
}

// transport notes whether the client reached rdsgate over TLS: a TLS
// listener, or a trusted proxy's X-Forwarded-Proto: https.
func (s *Server) transport(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		secure := c.IsTLS()
		if !secure && len(s.d.TrustedProxies) > 0 && c.Request().Header.Get(echo.HeaderXForwardedProto) == "https" {
			if host, _, err := net.SplitHostPort(c.Request().RemoteAddr); err == nil {
				ip := net.ParseIP(host)
				for _, n := range s.d.TrustedProxies {
					secure = secure || (ip != nil && n.Contains(ip))
				}
			}
		}
		c.Set(secureTransportKey, secure)
		return next(c)
	}
}

// secureTransportKey holds transport's answer in the echo context.
const secureTransportKey = "secureTransport"

// secureTransport is acs:SecureTransport for the request (transport).
func secureTransport(c echo.Context) bool {
	v, _ := c.Get(secureTransportKey).(bool)
	return v
}

// hstsMaxAge is a year, as the HSTS preload list asks.
const hstsMaxAge = "max-age=31536000"

// browserIsolation sets the headers that keep the pages in their own
// browsing context and away from powerful features: Cross-Origin-Opener-
// Policy, a Permissions-Policy denying every feature the pages do not use,
// and HSTS when the server is reached over TLS or marks its cookies Secure
// (then it is served over https, by itself or by a proxy).
func (s *Server) browserIsolation(next echo.HandlerFunc) echo.HandlerFunc {
	secureCookies := s.d.Pages != nil && s.d.Pages.SecureCookies
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()")
		if secureTransport(c) || secureCookies {
			h.Set(echo.HeaderStrictTransportSecurity, hstsMaxAge)
		}
		return next(c)
	}
}

// checkHost answers 421 Misdirected Request to a request for a host this
// server does not serve (Deps.AllowedHosts; loopback only with the dev
// sign-in, against DNS rebinding).
func (s *Server) checkHost(next echo.HandlerFunc) echo.HandlerFunc {
	devLogin := s.d.Pages != nil && s.d.Pages.DevLogin
	allowed := map[string]bool{}
	for _, h := range s.d.AllowedHosts {
		allowed[strings.ToLower(strings.TrimSpace(h))] = true
	}
	if !devLogin && len(allowed) == 0 {
		return next
	}
	return func(c echo.Context) error {
		if p := c.Request().URL.Path; p == "/healthz" || p == "/readyz" {
			return next(c)
		}
		host := strings.ToLower(c.Request().Host)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		ok := allowed[host]
		if devLogin {
			ip := net.ParseIP(host)
			ok = host == "localhost" || (ip != nil && ip.IsLoopback())
		}
		if !ok {
			return c.JSON(http.StatusMisdirectedRequest, errorBody{Error: APIError{Code: "misdirected",
				Message: "this server does not answer for host " + strconv.Quote(c.Request().Host)}})
		}
		return next(c)
	}
}

// Echo exposes the instance so other parts (pages) can add routes.
func (s *Server) Echo() *echo.Echo { return s.e }

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.e.ServeHTTP(w, r) }

func (s *Server) readyz(c echo.Context) error {
	if s.d.Ready != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := s.d.Ready(ctx); err != nil {
			// The detail (hosts, users) goes to the log, not to an
			// unauthenticated caller.
			s.log.WarnContext(ctx, "not ready", slog.Any("err", err))
			return c.JSON(http.StatusServiceUnavailable, errorBody{Error: APIError{Code: "not_ready", Message: "not ready: see the server log"}})
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		// Never the Authorization header or the body: both may hold secrets.
		s.log.DebugContext(c.Request().Context(), "http",
			slog.String("method", c.Request().Method), slog.String("path", c.Path()),
			slog.Int("status", c.Response().Status), slog.Duration("took", time.Since(start)))
		return nil
	}
}

// requireToken authenticates the bearer token and stores the actor.
func (s *Server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.d.Tokens == nil {
			return errors.New("no token authenticator configured")
		}
		id, err := s.d.Tokens.FromHeader(c.Request().Context(), c.Request().Header.Get(echo.HeaderAuthorization))
		if err != nil {
			return err
		}
		c.Set("actor", s.actorFor(c, id))
		c.Set("apiUser", &auth.User{Subject: id.Subject, Groups: id.Groups, Roles: s.roles.Roles(id.Groups)})
		return next(c)
	}
}

func (s *Server) actorFor(c echo.Context, id auth.Identity) lifecycle.Actor {
	return lifecycle.Actor{Subject: id.Subject, Groups: id.Groups, SourceIP: c.RealIP(), SecureTransport: secureTransport(c)}
}

// apiUser is the token's identity with the roles its groups grant.
func apiUser(c echo.Context) *auth.User {
	u, _ := c.Get("apiUser").(*auth.User)
	return u
}

func actorOf(c echo.Context) lifecycle.Actor {
	a, _ := c.Get("actor").(lifecycle.Actor)
	return a
}

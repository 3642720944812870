package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/web"
)

// webConfig is the browser sign-in configuration, from the environment:
//
//	RDSGATE_OIDC_ISSUER, RDSGATE_OIDC_CLIENT_ID, RDSGATE_OIDC_CLIENT_SECRET
//	RDSGATE_OIDC_REDIRECT_URL     default http://<listen host>:<port>/auth/callback; required
//	                              when listening on all interfaces (0.0.0.0, ::, ":port")
//	RDSGATE_OIDC_GROUPS_CLAIM     default groups (a dotted path reads a nested claim)
//	RDSGATE_OIDC_SUBJECT_CLAIM    default sub (e.g. preferred_username)
//	RDSGATE_OIDC_SCOPES           default "openid profile email groups"
//	RDSGATE_ROLE_GROUPS           default auth.DefaultRoleGroups
//	RDSGATE_DEV_LOGIN             true enables the dev sign-in (loopback only)
//	RDSGATE_SESSION_SECURE_COOKIE default true
type webConfig struct {
	OIDC         auth.OIDCConfig
	Roles        auth.RoleMap
	DevLogin     bool
	SecureCookie bool
}

// loadWebConfig reads webConfig through getenv (os.Getenv in main).
func loadWebConfig(getenv func(string) string) (webConfig, error) {
	env := func(name, def string) string { return envOrFunc(getenv, name, def) }
	boolean := func(name string, def bool) (bool, error) {
		v := env(name, strconv.FormatBool(def))
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("%s=%q: want true or false", name, v)
		}
		return b, nil
	}
	w := webConfig{OIDC: auth.OIDCConfig{
		Issuer:       env("RDSGATE_OIDC_ISSUER", ""),
		ClientID:     env("RDSGATE_OIDC_CLIENT_ID", ""),
		ClientSecret: getenv("RDSGATE_OIDC_CLIENT_SECRET"),
		RedirectURL:  env("RDSGATE_OIDC_REDIRECT_URL", ""),
		GroupsClaim:  env("RDSGATE_OIDC_GROUPS_CLAIM", "groups"),
		SubjectClaim: env("RDSGATE_OIDC_SUBJECT_CLAIM", "sub"),
		Scopes:       strings.FieldsFunc(env("RDSGATE_OIDC_SCOPES", "openid profile email groups"), func(r rune) bool { return r == ' ' || r == ',' }),
	}}
	var err error
	if w.Roles, err = auth.ParseRoleMap(env("RDSGATE_ROLE_GROUPS", auth.DefaultRoleGroups)); err != nil {
		return w, fmt.Errorf("RDSGATE_ROLE_GROUPS: %w", err)
	}
	if w.DevLogin, err = boolean("RDSGATE_DEV_LOGIN", false); err != nil {
		return w, err
	}
	if w.SecureCookie, err = boolean("RDSGATE_SESSION_SECURE_COOKIE", true); err != nil {
		return w, err
	}
	if (w.OIDC.Issuer == "") != (w.OIDC.ClientID == "") {
		return w, errors.New("set both RDSGATE_OIDC_ISSUER and RDSGATE_OIDC_CLIENT_ID, or neither")
	}
	return w, nil
}

// check refuses what addr, the listen address, makes unsafe or unusable:
//   - the dev sign-in (anyone may sign in as anyone) unless addr is a
//     loopback address;
//   - OIDC without RDSGATE_OIDC_REDIRECT_URL when addr names no host
//     (0.0.0.0, ::, ":8080"): the default callback would be
//     http://0.0.0.0:8080/auth/callback, which no browser can return to.
func (w webConfig) check(addr string) error {
	if w.DevLogin && !isLoopbackAddr(addr) {
		return fmt.Errorf("RDSGATE_DEV_LOGIN=true is refused on %s: the dev sign-in lets anyone sign in as anyone; "+
			"listen on 127.0.0.1 (RDSGATE_ADDR) or configure OIDC and turn it off", addr)
	}
	if w.OIDC.Issuer != "" && w.OIDC.RedirectURL == "" && !concreteHostAddr(addr) {
		return fmt.Errorf("RDSGATE_OIDC_REDIRECT_URL is required when listening on %s: the default callback "+
			"http://<listen address>/auth/callback would name no host; set it to the URL browsers reach rdsgate at "+
			"(e.g. https://rdsgate.example.com/auth/callback) and register it at the identity provider", addr)
	}
	return nil
}

// isLoopbackAddr reports whether the listen address addr (host:port) is
// on a loopback interface only: localhost, 127.0.0.0/8 or ::1.
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// concreteHostAddr reports whether addr (host:port) names a host a browser
// can be sent back to: a name or a specific IP, not all interfaces.
func concreteHostAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && concreteHost(host)
}

func concreteHost(host string) bool {
	ip := net.ParseIP(host)
	return host != "" && (ip == nil || !ip.IsUnspecified())
}

// defaultRedirectURL is the OIDC callback when RDSGATE_OIDC_REDIRECT_URL is
// unset: the host of listen, the configured listen address (so a host name
// stays a name), and the port of base (the listener's, so ":0" becomes the
// real one). A host that is all interfaces is an error naming
// RDSGATE_OIDC_REDIRECT_URL.
func defaultRedirectURL(listen, base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("RDSGATE_OIDC_REDIRECT_URL: cannot derive a default from the base URL %q", base)
	}
	host, _, _ := net.SplitHostPort(listen)
	port := u.Port()
	if !concreteHost(host) {
		return "", fmt.Errorf("RDSGATE_OIDC_REDIRECT_URL is required: rdsgate listens on all interfaces (%s), "+
			"so the default callback would name no host", u.Host)
	}
	hostport := host
	if port != "" {
		hostport = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		hostport = "[" + host + "]"
	}
	return u.Scheme + "://" + hostport + "/auth/callback", nil
}

// String describes w with the client secret masked.
func (w webConfig) String() string {
	secret := "unset"
	if w.OIDC.ClientSecret != "" {
		secret = "[REDACTED]"
	}
	return fmt.Sprintf("oidc issuer=%q client_id=%q client_secret=%s groups_claim=%q subject_claim=%q roles=%q dev_login=%t secure_cookie=%t",
		w.OIDC.Issuer, w.OIDC.ClientID, secret, w.OIDC.GroupsClaim, w.OIDC.SubjectClaim, w.Roles.String(), w.DevLogin, w.SecureCookie)
}

// newBrowser builds the pages' dependencies: sessions in pool, the OIDC
// client (discovery at start-up), the dev sign-in over the policy's users,
// and the adapters of the audit trail and the executor's attempts. listen
// (the configured listen address) and base (the server's URL) make the
// default OIDC redirect URL (see defaultRedirectURL). instances may be
// nil (the Look up button is then not offered); monitor may be nil (one
// without trusted keys is made; pass the API's so both share its cache and
// keys). Call the returned func at shutdown.
func newBrowser(ctx context.Context, w webConfig, listen, base string, pool *pgxpool.Pool, eng *policy.Engine,
	instances web.InstanceLookup, monitor *audit.Monitor, log *slog.Logger) (*web.Browser, func(), error) {
	b := &web.Browser{
		Sessions:      auth.NewSessions(pool, auth.SessionOptions{Secure: w.SecureCookie, Logger: log}),
		Roles:         w.Roles,
		DevLogin:      w.DevLogin,
		Directory:     eng,
		Eligibility:   eng,
		Attempts:      web.ExecutorAttempts{DB: pool},
		Instances:     instances,
		SecureCookies: w.SecureCookie,
	}
	if monitor == nil {
		monitor = audit.NewMonitor(pool, audit.VerifyOptions{}, 0)
	}
	trail := web.AuditTrail{DB: pool, Monitor: monitor}
	b.Audit, b.Timeline, b.Integrity = trail, trail, trail
	if w.OIDC.Issuer != "" {
		oc := w.OIDC
		if oc.RedirectURL == "" {
			var err error
			if oc.RedirectURL, err = defaultRedirectURL(listen, base); err != nil {
				b.Sessions.Close()
				return nil, nil, err
			}
		}
		o, err := auth.NewOIDC(ctx, oc)
		if err != nil {
			b.Sessions.Close()
			return nil, nil, err
		}
		b.OIDC = o
		log.InfoContext(ctx, "OIDC sign-in", slog.String("issuer", oc.Issuer), slog.String("redirect_url", oc.RedirectURL))
	}
	if w.DevLogin {
		log.WarnContext(ctx, "DEV SIGN-IN is on: anyone who reaches this server can sign in as any user of the policy data")
	}
	if b.OIDC == nil && !w.DevLogin {
		log.WarnContext(ctx, "no browser sign-in configured (RDSGATE_OIDC_ISSUER); the pages will only say so")
	}
	return b, b.Sessions.Close, nil
}

// devSignInHint is what `rdsgate dev` prints under the URL.
func devSignInHint(base string) string {
	return fmt.Sprintf(`Open %s/signin and pick a user (dev sign-in; not for production):
  alice  requester  files a request
  bob    approver   approves it (use another browser profile or a private window)
  dave   auditor    searches and exports the audit log
`, base)
}

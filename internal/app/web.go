package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/web"
)

// WebConfig is the browser sign-in configuration (cmd/rdsgate reads it
// from the RDSGATE_OIDC_*, RDSGATE_ROLE_GROUPS, RDSGATE_DEV_LOGIN and
// RDSGATE_SESSION_SECURE_COOKIE variables).
type WebConfig struct {
	OIDC         auth.OIDCConfig
	Roles        auth.RoleMap
	DevLogin     bool
	SecureCookie bool
	// AllowedHosts restricts the Host names served (RDSGATE_ALLOWED_HOSTS);
	// with DevLogin only loopback names are served.
	AllowedHosts []string
	// TrustedProxies are the networks whose X-Forwarded-For and
	// X-Forwarded-Proto are believed (RDSGATE_TRUSTED_PROXIES).
	TrustedProxies []*net.IPNet
	// TLSCertFile and TLSKeyFile, when set, serve HTTPS on Addr.
	TLSCertFile, TLSKeyFile string
}

// Check refuses what addr, the listen address, makes unsafe or unusable:
//   - the dev sign-in (anyone may sign in as anyone) unless addr is a
//     loopback address;
//   - OIDC without RDSGATE_OIDC_REDIRECT_URL when addr names no host
//     (0.0.0.0, ::, ":8080"): the default callback would be
//     http://0.0.0.0:8080/auth/callback, which no browser can return to.
func (w WebConfig) Check(addr string) error {
	if w.DevLogin && !IsLoopbackAddr(addr) {
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

// IsLoopbackAddr reports whether the listen address addr (host:port) is
// on a loopback interface only: localhost, 127.0.0.0/8 or ::1.
func IsLoopbackAddr(addr string) bool {
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
func (w WebConfig) String() string {
	secret := "unset"
	if w.OIDC.ClientSecret != "" {
		secret = "[REDACTED]"
	}
	return fmt.Sprintf("oidc issuer=%q client_id=%q client_secret=%s groups_claim=%q subject_claim=%q roles=%q dev_login=%t secure_cookie=%t",
		w.OIDC.Issuer, w.OIDC.ClientID, secret, w.OIDC.GroupsClaim, w.OIDC.SubjectClaim, w.Roles.String(), w.DevLogin, w.SecureCookie)
}

// newPages builds the pages' dependencies: sessions in pool, the OIDC
// client (discovery at start-up), the dev sign-in over the policy's users,
// and the audit trail. listen (the configured listen address) and base (the
// server's URL) make the default OIDC redirect URL (see defaultRedirectURL).
// Call the returned func at shutdown.
func newPages(ctx context.Context, w WebConfig, listen, base string, pool *pgxpool.Pool, eng *policy.Engine,
	monitor *audit.Monitor, log *slog.Logger) (*web.Pages, func(), error) {
	b := &web.Pages{
		Sessions:      auth.NewSessions(pool, auth.SessionOptions{Secure: w.SecureCookie, Logger: log}),
		Roles:         w.Roles,
		DevLogin:      w.DevLogin,
		Directory:     eng,
		Eligibility:   eng,
		ErrorText:     documentedMessageIn,
		SecureCookies: w.SecureCookie,
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

// documentedMessageIn is the message Alibaba Cloud documents for an API
// error code in lang ("en", "zh-CN"), "" for a code it does not document:
// the pages' Pages.ErrorText.
func documentedMessageIn(code, lang string) string {
	if e, ok := aliyun.LookupError(code); ok {
		return e.MessageIn(lang)
	}
	return ""
}

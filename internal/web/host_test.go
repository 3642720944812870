package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/internal/app"
)

// hostDo sends method path (with form, if any) with the Host header host
// and returns the status.
func hostDo(t *testing.T, base, method, path, host string, form url.Values) int {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := (&http.Client{Transport: apiContract.transport(nil), CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// DNS rebinding: with the dev sign-in on, a page on another site whose name
// now resolves to 127.0.0.1 must not get a CSRF token nor sign in; only
// loopback names are answered.
func TestDevSignInAnswersLoopbackHostsOnly(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	port := env.url[strings.LastIndex(env.url, ":"):]
	for _, host := range []string{"rebind.attacker.example" + port, "rebind.attacker.example", "10.0.0.5" + port, "localhost.attacker.example" + port} {
		if st := hostDo(t, env.url, "GET", "/signin", host, nil); st != http.StatusMisdirectedRequest {
			t.Errorf("GET /signin with Host %s: %d, want 421", host, st)
		}
		if st := hostDo(t, env.url, "POST", "/signin/dev", host, url.Values{"user": {"erin"}}); st != http.StatusMisdirectedRequest {
			t.Errorf("POST /signin/dev with Host %s: %d, want 421", host, st)
		}
	}
	for _, host := range []string{"localhost" + port, "127.0.0.1" + port, "[::1]" + port, "LOCALHOST" + port} {
		if st := hostDo(t, env.url, "GET", "/signin", host, nil); st != http.StatusOK {
			t.Errorf("GET /signin with Host %s: %d, want 200", host, st)
		}
	}
	if st := hostDo(t, env.url, "GET", "/healthz", "rebind.attacker.example", nil); st != http.StatusOK {
		t.Errorf("health check with any Host: %d", st)
	}
}

// RDSGATE_ALLOWED_HOSTS restricts the Host names a production server answers.
func TestAllowedHosts(t *testing.T) {
	t.Parallel()
	env := setupAPIWith(t, func(c *app.Config) {
		c.Web.DevLogin = false
		c.Web.AllowedHosts = []string{"rdsgate.example.com"}
	})
	if st := hostDo(t, env.url, "GET", "/api/v1/requests", "rdsgate.attacker.example", nil); st != http.StatusMisdirectedRequest {
		t.Errorf("another host: %d, want 421", st)
	}
	if st := hostDo(t, env.url, "GET", "/api/v1/requests", "RDSGATE.example.com:443", nil); st != http.StatusUnauthorized {
		t.Errorf("the allowed host (no token): %d, want 401", st)
	}
	if st := hostDo(t, env.url, "GET", "/readyz", "10.1.2.3:8080", nil); st != http.StatusOK {
		t.Errorf("readiness with the balancer's Host: %d, want 200", st)
	}
}

// Every answer isolates the pages: Cross-Origin-Opener-Policy and a
// Permissions-Policy; HSTS only where the cookies are Secure (https).
func TestIsolationHeaders(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{false, true} {
		env := setupPages(t, pagesOptions{secureCookies: secure})
		resp, err := http.Get(env.url + "/signin")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if h.Get("Cross-Origin-Opener-Policy") != "same-origin" || !strings.Contains(h.Get("Permissions-Policy"), "camera=()") {
			t.Errorf("secure=%v: isolation headers %v", secure, h)
		}
		if hsts := h.Get("Strict-Transport-Security"); (hsts != "") != secure {
			t.Errorf("secure=%v: Strict-Transport-Security %q", secure, hsts)
		}
	}
}

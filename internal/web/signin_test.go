package web_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/rdsgate/rdsgate/internal/auth"
)

// startOIDC runs an in-process OpenID provider and a server whose OIDC
// sign-in points at it (real discovery, real code exchange, real ID token
// signature).
func startOIDC(t *testing.T, configure func(*auth.OIDCConfig)) (*mockoidc.MockOIDC, *pagesEnv) {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	// The redirect URL defaults to the server's own, as for serve.
	cfg := m.Config()
	oc := auth.OIDCConfig{Issuer: cfg.Issuer, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret}
	if configure != nil {
		configure(&oc)
	}
	return m, setupPages(t, pagesOptions{oidc: &oc})
}

// followClient follows redirects (to the provider and back) with a jar.
func (e *pagesEnv) followClient() *client {
	jar, _ := cookiejar.New(nil)
	return &client{env: e, http: &http.Client{Jar: jar, Transport: apiContract.transport(nil)}}
}

func TestOIDCSignIn(t *testing.T) {
	t.Parallel()
	m, env := startOIDC(t, nil)
	m.QueueUser(&mockoidc.MockUser{Subject: "carol", Email: "carol@example.com", Groups: []string{"security", "staff"}})
	c := env.followClient()
	st, body := c.get("/auth/login?next=" + url.QueryEscape("/inbox"))
	if st != 200 || !strings.Contains(body, `<span class="user" id="whoami">carol</span>`) || !strings.Contains(body, "<title>Approver inbox · rdsgate</title>") {
		t.Fatalf("after sign-in: %d\n%s", st, excerpt(body))
	}
	if !strings.Contains(body, `<span class="role">approver</span>`) || strings.Contains(body, `<span class="role">requester</span>`) {
		t.Errorf("groups security,staff should map to approver only:\n%s", body)
	}
	// The identity reaches the workflow: carol may vote as security.
	r := env.file("alice", "rm-bp1prodexample1", "production endpoint cleanup")
	_, body = c.get("/requests/" + r.ID.String())
	if !strings.Contains(body, "Your vote counts toward security and covers payload") {
		t.Errorf("carol's vote form:\n%s", excerpt(body))
	}

	// A callback that does not carry this browser's state is refused.
	m.QueueUser(&mockoidc.MockUser{Subject: "mallory", Groups: []string{"admins"}})
	other := env.client()
	other.get("/auth/login") // starts a sign-in, but the answer is forged
	if st, _ := other.get("/auth/callback?code=anything&state=forged"); st != http.StatusUnauthorized {
		t.Errorf("forged state: %d", st)
	}
	if st, _ := env.client().get("/auth/callback?code=x&state=y"); st != http.StatusUnauthorized {
		t.Errorf("callback without a sign-in in progress: %d", st)
	}
}

func TestOIDCCustomGroupsClaimAndNoRole(t *testing.T) {
	t.Parallel()
	m, env := startOIDC(t, func(c *auth.OIDCConfig) { c.GroupsClaim = "email" })
	// The "email" claim as groups: a single string, split.
	m.QueueUser(&mockoidc.MockUser{Subject: "zed", Email: "auditors", Groups: []string{"admins"}})
	_, body := env.followClient().get("/auth/login")
	if !strings.Contains(body, `<span class="role">auditor</span>`) || strings.Contains(body, `<span class="role">admin</span>`) {
		t.Errorf("custom claim:\n%s", excerpt(body))
	}
	m.QueueUser(&mockoidc.MockUser{Subject: "nobody", Email: "visitors"})
	c := env.followClient()
	_, body = c.get("/auth/login")
	if !strings.Contains(body, "grant no rdsgate role") || !strings.Contains(body, "No role yet") {
		t.Errorf("a user without a role is not told:\n%s", excerpt(body))
	}
	if st, _ := c.get("/policy/simulate"); st != http.StatusForbidden {
		t.Errorf("a user without a role reaches the simulator: %d", st)
	}
}

// TestSessionRenewedAndSignOut: the session token changes at sign-in
// (no fixation) and is useless after sign-out.
func TestSessionRenewedAndSignOut(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	c := env.client()
	u, _ := url.Parse(env.url)
	// A planted session cookie (the OIDC state would make a session too).
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: auth.SessionCookie, Value: "planted-token", Path: "/"}})
	c.get("/signin")
	if st, _ := c.post("/signin/dev", url.Values{"user": {"alice"}}); st != http.StatusSeeOther {
		t.Fatal(st)
	}
	token := cookieValue(c, u, auth.SessionCookie)
	if token == "" || token == "planted-token" {
		t.Fatalf("session token after sign-in: %q", token)
	}
	c.get("/")
	if st, _, resp := c.postRaw("/signout", nil, true); st != http.StatusSeeOther || resp.Header.Get("Location") != "/signin?signed_out=1" {
		t.Fatalf("sign out: %d", st)
	}
	var n int
	if err := env.pool.QueryRow(t.Context(), `SELECT count(*) FROM sessions WHERE token = $1`, auth.SessionTokenHash(token)).Scan(&n); err != nil || n != 0 {
		t.Errorf("session row after sign-out: %d %v", n, err)
	}
	// Replaying the old cookie gets nowhere.
	replay := env.client()
	replay.http.Jar.SetCookies(u, []*http.Cookie{{Name: auth.SessionCookie, Value: token, Path: "/"}})
	if st, _ := replay.get("/requests"); st != http.StatusSeeOther {
		t.Errorf("replayed session cookie: %d, want a redirect to sign in", st)
	}
}

// TestCookieFlags: with Secure cookies the session cookie is named
// __Host-rdsgate_session, HttpOnly, SameSite=Lax, Secure, a session cookie;
// there is no other cookie (the CSRF token lives in the session).
func TestCookieFlags(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{secureCookies: true})
	c := env.client()
	req, _ := http.NewRequest(http.MethodGet, env.url+"/signin", nil)
	_, body, resp := c.do(req)
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name != "__Host-"+auth.SessionCookie {
			t.Errorf("unexpected cookie %+v", ck)
			continue
		}
		session = ck
	}
	m := csrfRe.FindStringSubmatch(body)
	if session == nil || m == nil {
		t.Fatalf("no session cookie (%v) or no token in the page", session)
	}
	// The jar keeps Secure cookies off plain http: send them by hand.
	form := url.Values{"user": {"alice"}, "_csrf": {m[1]}}
	req, _ = http.NewRequest(http.MethodPost, env.url+"/signin/dev", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
	st, _, resp := c.do(req)
	var found bool
	for _, ck := range resp.Cookies() {
		if ck.Name == "__Host-"+auth.SessionCookie {
			found = true
			if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.MaxAge != 0 || !ck.Expires.IsZero() {
				t.Errorf("session cookie flags: %+v", ck)
			}
		}
	}
	if st != http.StatusSeeOther || !found {
		t.Errorf("sign-in: %d, session cookie set: %v", st, found)
	}
}

func cookieValue(c *client, u *url.URL, name string) string {
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/rdsgate/rdsgate/internal/auth"
)

// personas of the route table: anonymous, the request's owner (a
// requester), another requester, an approver, an auditor and an admin.
var personas = []struct{ name, user string }{
	{"anonymous", ""}, {"owner", "alice"}, {"other-requester", "mallory"}, {"approver", "bob"}, {"auditor", "dave"}, {"admin", "erin"},
}

// routeCase is one route or form action with the status each persona gets.
type routeCase struct {
	method, route string
	// path builds the concrete path (and form) for one persona; fixtures
	// that the call changes (votes, cancels) are made per call.
	path func(e *pagesEnv) (string, url.Values)
	want [6]int // in personas order
}

const (
	ok  = http.StatusOK
	see = http.StatusSeeOther
	fnd = http.StatusFound
	unA = http.StatusUnauthorized
	frb = http.StatusForbidden
	nf  = http.StatusNotFound
)

func fixed(p string) func(*pagesEnv) (string, url.Values) {
	return func(*pagesEnv) (string, url.Values) { return p, nil }
}

func withForm(p string, f url.Values) func(*pagesEnv) (string, url.Values) {
	return func(*pagesEnv) (string, url.Values) { return p, f }
}

// ofRequest makes a fresh pending request by alice and returns path under it.
func ofRequest(suffix string, form func(e *pagesEnv, hash string) url.Values) func(*pagesEnv) (string, url.Values) {
	return func(e *pagesEnv) (string, url.Values) {
		e.cancelPending("alice") // the policy allows five pending requests each
		r := e.file("alice", "rm-bp1devexample01", "retiring the endpoint")
		var f url.Values
		if form != nil {
			f = form(e, r.PayloadHash.String())
		}
		return "/requests/" + r.ID.String() + suffix, f
	}
}

var routeTable = []routeCase{
	{"GET", "/", fixed("/"), [6]int{see, ok, ok, ok, ok, ok}},
	{"GET", "/signin", fixed("/signin"), [6]int{ok, ok, ok, ok, ok, ok}},
	{"GET", "/lang/:lang", fixed("/lang/zh-CN?next=/inbox"), [6]int{see, see, see, see, see, see}},
	{"POST", "/signin/dev", withForm("/signin/dev", url.Values{"user": {"alice"}}), [6]int{see, see, see, see, see, see}},
	{"GET", "/auth/login", fixed("/auth/login"), [6]int{fnd, fnd, fnd, fnd, fnd, fnd}},
	{"GET", "/auth/callback", fixed("/auth/callback?code=x&state=y"), [6]int{unA, unA, unA, unA, unA, unA}},
	{"POST", "/signout", withForm("/signout", nil), [6]int{unA, see, see, see, see, see}},
	{"GET", "/requests/new", fixed("/requests/new"), [6]int{see, ok, ok, frb, frb, ok}},
	{"POST", "/requests/new", withForm("/requests/new", url.Values{"lookup": {"1"}, "region_id": {"cn-hangzhou"},
		"db_instance_id": {"rm-bp1devexample01"}}), [6]int{unA, ok, ok, frb, frb, ok}},
	{"POST", "/requests/new/check", withForm("/requests/new/check", url.Values{"region_id": {"cn-hangzhou"},
		"db_instance_id": {"rm-bp1devexample01"}, "ticket": {"ops 42"}}), [6]int{unA, ok, ok, frb, frb, ok}},
	{"POST", "/requests/new/check.json", withForm("/requests/new/check.json", url.Values{"region_id": {"cn-hangzhou"},
		"db_instance_id": {"rm-bp1devexample01"}, "ticket": {"ops 42"}}), [6]int{unA, ok, ok, frb, frb, ok}},
	{"GET", "/requests", fixed("/requests"), [6]int{see, ok, ok, frb, frb, ok}},
	{"GET", "/requests/:id", ofRequest("", nil), [6]int{see, ok, nf, ok, ok, ok}},
	{"GET", "/requests/:id/status.json", ofRequest("/status.json", nil), [6]int{see, ok, nf, ok, ok, ok}},
	{"GET", "/requests/:id/activity", ofRequest("/activity", nil), [6]int{see, ok, nf, ok, ok, ok}},
	{"POST", "/requests/:id/vote", ofRequest("/vote", func(_ *pagesEnv, hash string) url.Values {
		return url.Values{"decision": {"approve"}, "payload_hash": {hash}}
	}), [6]int{unA, frb, frb, see, frb, see}},
	{"POST", "/requests/:id/cancel", ofRequest("/cancel", nil), [6]int{unA, see, nf, frb, frb, frb}},
	// A single request has no rest to cancel (409); TestCancelRest covers
	// a bulk request's.
	{"POST", "/requests/:id/cancel-rest", ofRequest("/cancel-rest", nil), [6]int{unA, http.StatusConflict, nf, frb, frb, http.StatusConflict}},
	{"GET", "/fleet", fixed("/fleet"), [6]int{see, ok, ok, frb, frb, ok}},
	// A scan is a POST with the CSRF token (this server has no scanner: the
	// page says so).
	{"POST", "/fleet", withForm("/fleet", url.Values{"scan": {"1"}}), [6]int{unA, ok, ok, frb, frb, ok}},
	// Nothing selected: the page comes back with the problem, nothing filed.
	{"POST", "/requests/new/bulk", withForm("/requests/new/bulk", url.Values{"justification": {"x"}}),
		[6]int{unA, http.StatusUnprocessableEntity, http.StatusUnprocessableEntity, frb, frb, http.StatusUnprocessableEntity}},
	{"GET", "/inbox", fixed("/inbox"), [6]int{see, frb, frb, ok, frb, ok}},
	{"GET", "/votes", fixed("/votes"), [6]int{see, frb, frb, ok, frb, ok}},
	{"GET", "/audit", fixed("/audit"), [6]int{see, frb, frb, frb, ok, ok}},
	{"GET", "/audit/export.csv", fixed("/audit/export.csv"), [6]int{see, frb, frb, frb, ok, ok}},
	{"GET", "/audit/export.jsonl", fixed("/audit/export.jsonl"), [6]int{see, frb, frb, frb, ok, ok}},
	{"GET", "/audit/bypasses", fixed("/audit/bypasses"), [6]int{see, frb, frb, frb, ok, ok}},
	{"GET", "/policy/simulate", fixed("/policy/simulate"), [6]int{see, ok, ok, ok, ok, ok}},
	{"GET", "/policy/simulate", fixed("/policy/simulate?run=1&user=bob&region_id=cn-hangzhou&db_instance_id=rm-bp1devexample01&network_type=0"),
		[6]int{see, frb, frb, ok, ok, ok}},
	{"GET", "/static/:file", fixed("/static/nope.css"), [6]int{nf, nf, nf, nf, nf, nf}},
	{"GET", "/no/such/page", fixed("/no/such/page"), [6]int{nf, nf, nf, nf, nf, nf}},
}

// TestRoutesByRole checks every page route and form action for every
// persona, and that the table covers every route the server registers.
func TestRoutesByRole(t *testing.T) {
	t.Parallel()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	cfg := m.Config()
	env := setupPages(t, pagesOptions{oidc: &auth.OIDCConfig{Issuer: cfg.Issuer, ClientID: cfg.ClientID,
		ClientSecret: cfg.ClientSecret, RedirectURL: "http://127.0.0.1/auth/callback"}})

	covered := map[string]bool{}
	for _, rc := range routeTable {
		covered[rc.method+" "+rc.route] = true
	}
	for _, r := range env.web.Echo().Routes() {
		if strings.HasPrefix(r.Path, "/api/") || r.Path == "/healthz" || r.Path == "/readyz" {
			continue
		}
		if !covered[r.Method+" "+r.Path] {
			t.Errorf("route %s %s is not in the route table", r.Method, r.Path)
		}
	}

	clients := make([]*client, len(personas))
	for i, p := range personas {
		clients[i] = env.as(p.user)
	}
	for _, rc := range routeTable {
		for i, p := range personas {
			path, form := rc.path(env)
			var status int
			var body string
			if rc.method == http.MethodPost {
				// Sign-in and sign-out change the session: use a fresh client.
				c := clients[i]
				if rc.route == "/signin/dev" || rc.route == "/signout" {
					c = env.as(p.user)
				}
				status, body = c.post(path, form)
			} else {
				status, body = clients[i].get(path)
			}
			if status != rc.want[i] {
				t.Errorf("%s %s as %s: %d, want %d\n%s", rc.method, path, p.name, status, rc.want[i], excerpt(body))
			}
		}
	}
}

// excerpt shortens a body for a failure message.
func excerpt(body string) string {
	if i := strings.Index(body, "<main>"); i >= 0 {
		body = body[i:]
	}
	if len(body) > 600 {
		body = body[:600] + "…"
	}
	return fmt.Sprint(body)
}

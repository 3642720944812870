package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/apptest"
	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/web"
)

// pagesEnv is rdsgate running as `make run` wires it (apptest), with the
// browser pages and the dev sign-in.
type pagesEnv struct {
	t    *testing.T
	url  string
	pool *pgxpool.Pool
	eng  *policy.Engine
	svc  *lifecycle.Service
	web  *web.Server
}

// pagesOptions tweak setupPages.
type pagesOptions struct {
	// oidc configures the OIDC sign-in; the redirect URL defaults to the
	// server's own.
	oidc          *auth.OIDCConfig
	secureCookies bool
	// policyDir is the organisation's own Rego (app.Config.PolicyDir).
	policyDir string
	// noTrail turns the ActionTrail reconciliation off, for tests that
	// record trail reads themselves.
	noTrail bool
}

func setupPages(t *testing.T, o pagesOptions) *pagesEnv {
	t.Helper()
	a := apptest.Start(t, func(c *app.Config) {
		c.Web.SecureCookie = o.secureCookies
		c.PolicyDir = o.policyDir
		c.Trail.Off = o.noTrail
		if o.oidc != nil {
			c.Web.OIDC = *o.oidc
		}
	})
	return &pagesEnv{t: t, url: a.URL, pool: a.Pool, eng: a.Policy, svc: a.Requests, web: a.Server}
}

// client is one browser: a cookie jar, redirects not followed.
type client struct {
	env  *pagesEnv
	http *http.Client
	csrf string
}

func (e *pagesEnv) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{env: e, http: &http.Client{Jar: jar, Transport: apiContract.transport(nil), CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// as returns a client signed in through the dev sign-in ("" stays anonymous
// but holds a CSRF token).
func (e *pagesEnv) as(user string) *client {
	c := e.client()
	c.get("/signin")
	if user != "" {
		if st, body := c.post("/signin/dev", url.Values{"user": {user}}); st != http.StatusSeeOther {
			e.t.Fatalf("dev sign-in as %s: %d %s", user, st, body)
		}
		// Sign-in renews the session's CSRF token: read the new one.
		c.get("/signin")
	}
	return c
}

var csrfRe = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func (c *client) do(req *http.Request) (int, string, *http.Response) {
	c.env.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.env.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if m := csrfRe.FindSubmatch(raw); m != nil {
		c.csrf = string(m[1])
	}
	return resp.StatusCode, string(raw), resp
}

func (c *client) get(path string) (int, string) {
	c.env.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.env.url+path, nil)
	st, body, _ := c.do(req)
	return st, body
}

// post sends form with the client's CSRF token (unless form sets _csrf).
func (c *client) post(path string, form url.Values) (int, string) {
	c.env.t.Helper()
	st, body, _ := c.postRaw(path, form, true)
	return st, body
}

func (c *client) postRaw(path string, form url.Values, withToken bool) (int, string, *http.Response) {
	c.env.t.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	if withToken && f.Get("_csrf") == "" {
		f.Set("_csrf", c.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, c.env.url+path, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// file creates a request through the use case, as user.
func (e *pagesEnv) file(user, instance, justification string) *request.Request {
	e.t.Helper()
	r, err := e.svc.File(context.Background(), lifecycle.Actor{Subject: user, Groups: e.eng.UserGroups(user)}, request.Spec{
		RegionID: "cn-hangzhou", DBInstanceID: instance, ConnectionString: instance + ".mysql.rds.aliyuncs.com",
		NetworkType: "0", Justification: justification, Ticket: "OPS-1"}, false)
	if err != nil {
		if d, ok := lifecycle.IsDenied(err); ok {
			return d.Request
		}
		e.t.Fatal(err)
	}
	return r
}

// waitStatus polls the request until it is in status (the executor works in
// the background), failing after 20 s.
func (e *pagesEnv) waitStatus(id uuid.UUID, status request.Status) *request.Request {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := e.svc.Get(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if r.Status == status {
			return r
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("request %s is %s after 20 s, want %s", id, r.Status, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cancelPending cancels user's pending requests.
func (e *pagesEnv) cancelPending(user string) {
	e.t.Helper()
	ctx := context.Background()
	pg, err := e.svc.List(ctx, lifecycle.Filter{Requester: user, Status: request.StatusPending, Limit: lifecycle.MaxPageSize})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range pg.Items {
		if _, err := e.svc.Cancel(ctx, lifecycle.Actor{Subject: user}, r.ID, "test fixture"); err != nil {
			e.t.Fatal(err)
		}
	}
}

// seedAudit appends events the request flow does not make (an executor
// failure with an Alibaba RequestId, an actor name with markup) plus n
// filler events, and seals them.
func (e *pagesEnv) seedAudit(n int) {
	e.t.Helper()
	ctx := context.Background()
	rid := uuid.MustParse("0193b7b0-0000-7000-8000-000000000001")
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	recs := []audit.Record{
		{Kind: "execution.failed", Actor: "rdsgate", RequestID: rid, DBInstanceID: "rm-bp1devexample01", ErrorCode: "Throttling.User",
			AlibabaRequestID: "6B2F0C9E-AAAA-4C7E-9A51-0123456789AB", Payload: map[string]any{"attempt": 1, "http_status": 400}, At: t0.Add(4 * time.Minute)},
		{Kind: "approval.granted", Actor: "<script>alert('actor')</script>", RequestID: rid, DBInstanceID: "rm-bp1devexample01",
			Payload: map[string]any{"comment": "<b>ok</b>"}, At: t0.Add(3 * time.Minute)},
	}
	for i := 0; i < n; i++ {
		recs = append(recs, audit.Record{Kind: "token.created", Actor: "cli", Payload: map[string]any{"n": i}, At: t0.Add(-time.Duration(i+1) * time.Minute)})
	}
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error { return audit.Append(ctx, tx, recs...) })
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := audit.Seal(ctx, e.pool, 10000); err != nil {
		e.t.Fatal(err)
	}
}

func storeFilter(user string) lifecycle.Filter { return lifecycle.Filter{Requester: user} }

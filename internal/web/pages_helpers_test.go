package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/store"
	"github.com/rdsgate/rdsgate/internal/testdb"
	"github.com/rdsgate/rdsgate/internal/web"
	"github.com/rdsgate/rdsgate/internal/workflow"
)

// pagesEnv is a running server with the browser pages and the dev sign-in.
type pagesEnv struct {
	t     *testing.T
	url   string
	pool  *pgxpool.Pool
	eng   *policy.Engine
	svc   *workflow.Service
	audit *fakeAudit
	web   *web.Server
}

// pagesOptions tweak setupPages.
type pagesOptions struct {
	oidc *auth.OIDC
	// oidcFor builds the OIDC client once the server's base URL is known.
	oidcFor       func(base string) *auth.OIDC
	secureCookies bool
	// configure runs on the Browser before the server is built.
	configure func(*web.Browser)
}

func setupPages(t *testing.T, o pagesOptions) *pagesEnv {
	t.Helper()
	ctx := context.Background()
	pool := testdb.New(t)
	eng, err := policy.New(ctx, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := workflow.New(workflow.Options{Pool: pool, Policy: eng})
	sessions := auth.NewSessions(pool, auth.SessionOptions{Secure: o.secureCookies, CleanupInterval: -1})
	fa := &fakeAudit{}
	b := &web.Browser{
		Sessions: sessions, Roles: auth.MustParseRoleMap(auth.DefaultRoleGroups), OIDC: o.oidc, DevLogin: true,
		Directory: eng, Eligibility: eng, Audit: fa, Timeline: web.AuditSQL{DB: pool}, Integrity: fa, Attempts: fakeAttempts{},
		Instances: fakeLookup{}, SecureCookies: o.secureCookies,
	}
	if o.configure != nil {
		o.configure(b)
	}
	hs := httptest.NewUnstartedServer(nil)
	if o.oidcFor != nil {
		b.OIDC = o.oidcFor("http://" + hs.Listener.Addr().String())
	}
	srv := web.New(web.Deps{Service: svc, Policy: eng, Tokens: auth.Tokens{Pool: pool}, Browser: b})
	hs.Config.Handler = srv
	hs.Start()
	t.Cleanup(hs.Close)
	return &pagesEnv{t: t, url: hs.URL, pool: pool, eng: eng, svc: svc, audit: fa, web: srv}
}

func setupPagesWithOIDC(t *testing.T, oidcFor func(base string) *auth.OIDC) *pagesEnv {
	return setupPages(t, pagesOptions{oidcFor: oidcFor})
}

// client is one browser: a cookie jar, redirects not followed.
type client struct {
	env  *pagesEnv
	http *http.Client
	csrf string
}

func (e *pagesEnv) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{env: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
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
	r, err := e.svc.Create(context.Background(), workflow.Actor{Subject: user, Groups: e.eng.UserGroups(user)}, request.Spec{
		RegionID: "cn-hangzhou", DBInstanceID: instance, ConnectionString: instance + ".mysql.rds.aliyuncs.com",
		NetworkType: "0", Justification: justification, Ticket: "OPS-1"}, false)
	if err != nil {
		if d, ok := workflow.IsDenied(err); ok {
			return d.Request
		}
		e.t.Fatal(err)
	}
	return r
}

// cancelPending cancels user's pending requests.
func (e *pagesEnv) cancelPending(user string) {
	e.t.Helper()
	ctx := context.Background()
	pg, err := e.svc.List(ctx, store.Filter{Requester: user, Status: request.StatusPending, Limit: store.MaxPageSize})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range pg.Items {
		if _, err := e.svc.Cancel(ctx, workflow.Actor{Subject: user}, r.ID, "test fixture"); err != nil {
			e.t.Fatal(err)
		}
	}
}

// fakeAudit serves a fixed trail, two events a page, and remembers the
// last query.
type fakeAudit struct {
	mu   sync.Mutex
	last web.AuditQuery
}

var fakeEvents = func() []audit.Event {
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	rid := uuid.NullUUID{UUID: uuid.MustParse("0193b7b0-0000-7000-8000-000000000001"), Valid: true}
	return []audit.Event{
		{ID: 5, Seq: 5, OccurredAt: t0.Add(4 * time.Minute), Kind: "execution.failed", Actor: "rdsgate", RequestID: rid,
			DBInstanceID: "rm-bp1devexample01", ErrorCode: "Throttling.User", AlibabaRequestID: "6B2F0C9E-AAAA-4C7E-9A51-0123456789AB",
			Payload: []byte(`{"attempt":1,"http_status":400}`)},
		{ID: 4, Seq: 4, OccurredAt: t0.Add(3 * time.Minute), Kind: "approval.granted", Actor: "<script>alert('actor')</script>",
			RequestID: rid, DBInstanceID: "rm-bp1devexample01", Payload: []byte(`{"comment":"<b>ok</b>"}`)},
		{ID: 3, Seq: 3, OccurredAt: t0.Add(2 * time.Minute), Kind: "request.created", Actor: "alice", RequestID: rid,
			DBInstanceID: "rm-bp1devexample01", Payload: []byte(`{}`)},
		{ID: 2, Seq: 2, OccurredAt: t0.Add(time.Minute), Kind: "policy.decided", Actor: "alice", RequestID: rid,
			DBInstanceID: "rm-bp1devexample01", Payload: []byte(`{"result":{"allow":true}}`)},
		{ID: 1, Seq: 1, OccurredAt: t0, Kind: "token.created", Actor: "cli", Payload: []byte(`{"subject":"alice"}`)},
	}
}()

func (f *fakeAudit) Search(_ context.Context, q web.AuditQuery) (web.AuditPage, error) {
	f.mu.Lock()
	f.last = q
	f.mu.Unlock()
	var match []audit.Event
	for _, e := range fakeEvents {
		if (q.Actor == "" || e.Actor == q.Actor) && (q.Kind == "" || e.Kind == q.Kind) &&
			(q.ErrorCode == "" || e.ErrorCode == q.ErrorCode) && (q.AlibabaRequestID == "" || e.AlibabaRequestID == q.AlibabaRequestID) &&
			(q.DBInstanceID == "" || e.DBInstanceID == q.DBInstanceID) && (q.From.IsZero() || !e.OccurredAt.Before(q.From)) &&
			(q.To.IsZero() || e.OccurredAt.Before(q.To)) {
			match = append(match, e)
		}
	}
	start := 0
	if q.Cursor != "" {
		n, err := strconv.Atoi(q.Cursor)
		if err != nil {
			return web.AuditPage{}, request.Invalid("cursor", "bad")
		}
		start = n
	}
	size := min(q.Limit, 2)
	end := min(start+size, len(match))
	pg := web.AuditPage{Events: match[start:end]}
	if end < len(match) {
		pg.NextCursor = strconv.Itoa(end)
	}
	return pg, nil
}

func (f *fakeAudit) lastQuery() web.AuditQuery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func (f *fakeAudit) Integrity(context.Context) (audit.Report, error) {
	return audit.Report{Checked: 5, HeadSeq: 5, HeadHash: []byte{0xab, 0xcd}}, nil
}

// fakeAttempts reports one throttled attempt for every request.
type fakeAttempts struct{}

func (fakeAttempts) Attempts(_ context.Context, _ uuid.UUID) ([]web.Attempt, error) {
	return []web.Attempt{{Attempt: 1, Operation: "ReleaseInstanceConnection", StartedAt: time.Now(), Outcome: "failed",
		HTTPStatus: 400, ErrorCode: "Throttling.User", AlibabaRequestID: "6B2F0C9E-AAAA-4C7E-9A51-0123456789AB"}}, nil
}

// fakeLookup knows the example dev instance and nothing else.
type fakeLookup struct{}

func (fakeLookup) NetInfo(_ context.Context, region, instance string) (web.NetInfo, error) {
	if instance != "rm-bp1devexample01" {
		return web.NetInfo{}, errors.New("InvalidDBInstanceId.NotFound: " + fmt.Sprint(instance))
	}
	return web.NetInfo{InstanceNetworkType: "VPC", Endpoints: []web.Endpoint{
		{ConnectionString: "rm-bp1devexample01.mysql.rds.aliyuncs.com", IPType: "Public", Port: "3306", Type: "Normal"},
		{ConnectionString: "rm-bp1devexample01-priv.mysql.rds.aliyuncs.com", IPType: "Private", Port: "3306", Type: "Normal"},
	}}, nil
}

func storeFilter(user string) store.Filter { return store.Filter{Requester: user} }

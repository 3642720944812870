package web_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// send makes one request with header set (Accept-Language, X-CSRF-Token,
// ...); a form goes as the urlencoded body. It returns the body with HTML
// entities decoded, for assertions on text.
func (c *client) send(method, path string, form url.Values, header map[string]string) (int, string, *http.Response) {
	c.env.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.env.url+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	st, raw, resp := c.do(req)
	return st, html.UnescapeString(raw), resp
}

// counts are how many requests there are and how many audit events of a
// request: a check must change neither.
func (e *pagesEnv) counts() (requests, events int) {
	e.t.Helper()
	err := e.pool.QueryRow(context.Background(),
		`SELECT (SELECT count(*) FROM requests), (SELECT count(*) FROM audit_events WHERE request_id IS NOT NULL)`).Scan(&requests, &events)
	if err != nil {
		e.t.Fatal(err)
	}
	return requests, events
}

// typoForm is a request for a development instance whose ticket and
// justification break the example org rules (^[A-Z]+-[0-9]+$, 10
// characters).
func typoForm() url.Values {
	return url.Values{"region_id": {"cn-hangzhou"}, "db_instance_id": {"rm-bp1devexample01"},
		"connection_string": {"rm-bp1devexample01.mysql.rds.aliyuncs.com"}, "network_type": {"0"},
		"justification": {"cleanup"}, "ticket": {"ops 42"}}
}

type checkAnswer struct {
	Allow        bool     `json:"allow"`
	Ready        bool     `json:"ready"`
	Headline     string   `json:"headline"`
	Reasons      []string `json:"reasons"`
	OtherReasons []string `json:"other_reasons"`
	Fields       []struct {
		Field, Message, Reason string
	} `json:"fields"`
	Needs string `json:"needs"`
}

// checkJSON posts form to the JSON check as form.js does: the CSRF token
// in the X-CSRF-Token header, not in the body.
func (c *client) checkJSON(form url.Values, lang string) (int, checkAnswer, string) {
	c.env.t.Helper()
	st, body, resp := c.send(http.MethodPost, "/requests/new/check.json", form,
		map[string]string{"X-CSRF-Token": c.csrf, "Accept": "application/json", "Accept-Language": lang})
	var a checkAnswer
	if st == http.StatusOK {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			c.env.t.Fatalf("check.json answered %s", ct)
		}
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			c.env.t.Fatalf("check.json: %v\n%s", err, body)
		}
	}
	return st, a, body
}

// TestNewRequestShowsOrgRules: the form shows the org data's ticket
// pattern (as an example) and the justification's minimum length as
// hints, in the page's language, and loads form.js from /static.
func TestNewRequestShowsOrgRules(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	alice := env.as("alice")
	st, body, _ := alice.send(http.MethodGet, "/requests/new", nil, nil)
	if st != http.StatusOK {
		t.Fatalf("form: %d", st)
	}
	for _, want := range []string{
		`<span class="hint" id="ticket-hint">Required: a ticket like OPS-123.</span>`,
		`<span class="hint" id="justification-hint">At least 10 characters: why is it safe to release now`,
		`aria-describedby="ticket-hint"`, `id="check">Check with policy</button>`, `formaction="/requests/new/check"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the form lacks %q:\n%s", want, excerpt(body))
		}
	}
	m := regexp.MustCompile(`<script src="(/static/form\.[0-9a-f]{10}\.js)" defer></script>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("the form does not load form.js")
	}
	if st, js := alice.get(m[1]); st != http.StatusOK || !strings.Contains(js, "X-CSRF-Token") {
		t.Errorf("form.js: %d", st)
	}
	if _, home := alice.get("/"); strings.Contains(home, `src="/static/form.`) {
		t.Error("form.js is loaded outside the new-request form")
	}
	_, zh, _ := alice.send(http.MethodGet, "/requests/new", nil, map[string]string{"Accept-Language": "zh-CN"})
	for _, want := range []string{"必填：形如 OPS-123 的工单号。", "至少 10 个字符", "按策略检查"} {
		if !strings.Contains(zh, want) {
			t.Errorf("the zh-CN form lacks %q", want)
		}
	}
}

// TestCheckWithPolicy: the check (JSON as form.js asks it, and the form
// post without JavaScript) gives the policy's decision with the ticket's
// and the justification's problems by field, files nothing and writes no
// audit event of a request; Submit with such a typo files nothing either.
func TestCheckWithPolicy(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	alice := env.as("alice")
	alice.get("/requests/new")
	requests, events := env.counts()

	st, a, body := alice.checkJSON(typoForm(), "")
	if st != http.StatusOK {
		t.Fatalf("check.json: %d %s", st, body)
	}
	if a.Allow || a.Ready || len(a.OtherReasons) != 0 || len(a.Reasons) != 2 {
		t.Errorf("typo verdict: %+v", a)
	}
	byField := map[string]string{}
	for _, f := range a.Fields {
		byField[f.Field] = f.Message + " | " + f.Reason
	}
	if got := byField["ticket"]; !strings.Contains(got, `"ops 42" is not a ticket in the required form: write one like OPS-123.`) ||
		!strings.Contains(got, `org: ticket "ops 42" does not match`) {
		t.Errorf("ticket problem: %q", got)
	}
	if got := byField["justification"]; !strings.Contains(got, "Write at least 10 characters (now 7)") ||
		!strings.Contains(got, "org: justification shorter than 10 characters") {
		t.Errorf("justification problem: %q", got)
	}
	if len(byField) != 2 {
		t.Errorf("fields %v, want ticket and justification only", byField)
	}
	// In Chinese, the same problems in Chinese.
	if _, zh, _ := alice.checkJSON(typoForm(), "zh-CN"); len(zh.Fields) != 2 || !strings.Contains(zh.Fields[0].Message+zh.Fields[1].Message, "请至少写 10 个字符") {
		t.Errorf("zh-CN check: %+v", zh)
	}
	// A good form: allowed, with who must approve.
	good := typoForm()
	good.Set("ticket", "OPS-42")
	good.Set("justification", "the app moved to the VPC endpoint last week")
	if st, a, body := alice.checkJSON(good, ""); st != http.StatusOK || !a.Allow || !a.Ready || len(a.Fields) != 0 || a.Needs != "1 from dba" ||
		a.Headline != "The policy would allow this request. Once filed, it needs 1 approval(s): 1 from dba." {
		t.Errorf("good form: %d %+v %s", st, a, body)
	}
	// Reasons that are about no field stay the verdict's own.
	mallory := env.as("mallory")
	mallory.get("/requests/new")
	prod := clone(good)
	prod.Set("db_instance_id", "rm-bp1prodexample1")
	prod.Set("connection_string", "rm-bp1prodexample1.mysql.rds.aliyuncs.com")
	if st, a, _ := mallory.checkJSON(prod, ""); st != http.StatusOK || a.Allow || len(a.Fields) != 0 || len(a.OtherReasons) == 0 ||
		!strings.Contains(strings.Join(a.OtherReasons, "\n"), "DenyProdRelease") {
		t.Errorf("mallory on production: %d %+v", st, a)
	}
	// The JSON check needs its CSRF header and the requester role.
	if st, body, _ := alice.send(http.MethodPost, "/requests/new/check.json", typoForm(), nil); st != http.StatusForbidden || !strings.Contains(body, `"code":"csrf"`) {
		t.Errorf("check.json without a token: %d %s", st, body)
	}
	bob := env.as("bob")
	bob.get("/")
	if st, _, body := bob.checkJSON(typoForm(), ""); st != http.StatusForbidden || !strings.Contains(body, `"code":"forbidden"`) {
		t.Errorf("check.json as an approver: %d %s", st, body)
	}

	// Without JavaScript: the button posts the form to the check action,
	// which shows it again with the verdict and each problem beside its
	// field, the values kept.
	st, body, _ = alice.send(http.MethodPost, "/requests/new/check", withCSRF(typoForm(), alice), nil)
	if st != http.StatusOK {
		t.Fatalf("check: %d\n%s", st, excerpt(body))
	}
	for _, want := range []string{
		`id="verdict" role="status"`, "Fix the fields marked below; nothing is filed until you submit.",
		`value="ops 42"`, `>cleanup</textarea>`,
		`aria-describedby="ticket-hint ticket-error" aria-invalid="true"`,
		`<span class="field-error" id="ticket-error">"ops 42" is not a ticket in the required form: write one like OPS-123.</span>`,
		`aria-describedby="justification-hint justification-error" aria-invalid="true"`,
		`<span class="field-error" id="justification-error">Write at least 10 characters (now 7)`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the checked form lacks %q:\n%s", want, excerpt(body))
		}
	}
	// Submit with the typo files nothing: the form comes back with both
	// problems.
	f := typoForm()
	f.Set("submit", "1")
	st, body, _ = alice.send(http.MethodPost, "/requests/new", withCSRF(f, alice), nil)
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, "Nothing was filed. Fix the fields marked below, then submit again.") ||
		!strings.Contains(body, `id="ticket-error"`) || !strings.Contains(body, `id="justification-error"`) {
		t.Errorf("submit with a typo: %d\n%s", st, excerpt(body))
	}
	if r, e := env.counts(); r != requests || e != events {
		t.Fatalf("checks changed the database: requests %d → %d, audit events of requests %d → %d", requests, r, events, e)
	}
	// Corrected, it files.
	good.Set("submit", "1")
	if st, body, _ := alice.send(http.MethodPost, "/requests/new", withCSRF(good, alice), nil); st != http.StatusSeeOther {
		t.Fatalf("corrected submit: %d\n%s", st, excerpt(body))
	}
	if r, _ := env.counts(); r != requests+1 {
		t.Errorf("%d requests after the corrected submit, want %d", r, requests+1)
	}
}

// withCSRF is a copy of f with c's CSRF token.
func withCSRF(f url.Values, c *client) url.Values {
	out := clone(f)
	out.Set("_csrf", c.csrf)
	return out
}

func clone(f url.Values) url.Values {
	out := url.Values{}
	for k, v := range f {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// TestEditAndFileAgain: ?from= fills the form from the requester's own
// denied request, its reasons shown and the problems marked, so nothing is
// typed again; another's request is refused with a page for people.
func TestEditAndFileAgain(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	typo := request.Spec{RegionID: "cn-hangzhou", DBInstanceID: "rm-bp1devexample01",
		ConnectionString: "rm-bp1devexample01.mysql.rds.aliyuncs.com", NetworkType: "0",
		Justification: "moving every client to the VPC endpoint", Ticket: "ops 42"}
	_, err := env.svc.File(context.Background(), lifecycle.Actor{Subject: "alice", Groups: env.eng.UserGroups("alice")}, typo, false)
	den, ok := lifecycle.IsDenied(err)
	if !ok {
		t.Fatalf("file the typo: %v", err)
	}
	id := den.Request.ID.String()

	alice := env.as("alice")
	st, body, _ := alice.send(http.MethodGet, "/requests/new?from="+id, nil, nil)
	if st != http.StatusOK {
		t.Fatalf("?from=: %d\n%s", st, excerpt(body))
	}
	for _, want := range []string{
		`id="from-request"`, `Filled in from your request for rm-bp1devexample01:`, `href="/requests/` + id + `"`,
		`org: ticket "ops 42" does not match the required pattern`,
		`value="rm-bp1devexample01"`, `value="rm-bp1devexample01.mysql.rds.aliyuncs.com"`, `value="ops 42"`,
		`>moving every client to the VPC endpoint</textarea>`,
		`<span class="field-error" id="ticket-error">"ops 42" is not a ticket in the required form: write one like OPS-123.</span>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the refilled form lacks %q:\n%s", want, excerpt(body))
		}
	}
	if strings.Contains(body, `id="justification-error"`) {
		t.Error("the justification, which broke no rule, is marked")
	}

	// mallory may not see alice's request: the same 404 as for none.
	mallory := env.as("mallory")
	if st, body, _ := mallory.send(http.MethodGet, "/requests/new?from="+id, nil, nil); st != http.StatusNotFound ||
		!strings.Contains(body, "There is no request with this address. Check the link, or find it in My requests.") {
		t.Errorf("mallory ?from=alice's: %d\n%s", st, excerpt(body))
	}
	// erin (admin) may see it, but not file it as hers.
	if st, body, _ := env.as("erin").send(http.MethodGet, "/requests/new?from="+id, nil, nil); st != http.StatusForbidden ||
		!strings.Contains(body, "You can only file your own requests again") || !strings.Contains(body, "This request is alice's.") {
		t.Errorf("erin ?from=alice's: %d\n%s", st, excerpt(body))
	}
	if st, _, _ := alice.send(http.MethodGet, "/requests/new?from=not-a-uuid", nil, nil); st != http.StatusNotFound {
		t.Errorf("?from=not-a-uuid: %d", st)
	}

	// Corrected, it is filed as a new request; the denied one stays.
	f := url.Values{"region_id": {typo.RegionID}, "db_instance_id": {typo.DBInstanceID}, "connection_string": {typo.ConnectionString},
		"network_type": {"0"}, "justification": {typo.Justification}, "ticket": {"OPS-42"}, "submit": {"1"}}
	st, _, resp := alice.send(http.MethodPost, "/requests/new", withCSRF(f, alice), nil)
	if st != http.StatusSeeOther || strings.Contains(resp.Header.Get("Location"), id) {
		t.Fatalf("file again: %d %s", st, resp.Header.Get("Location"))
	}
	pg, _ := env.svc.List(t.Context(), storeFilter("alice"))
	var statuses []request.Status
	for _, r := range pg.Items {
		statuses = append(statuses, r.Status)
	}
	if d := cmp.Diff([]request.Status{request.StatusPending, request.StatusDenied}, statuses); d != "" {
		t.Errorf("alice's requests, newest first (-want +got):\n%s", d)
	}
}

// TestEveryFieldErrorAtOnce: a form with several mistakes shows each
// beside its field, with the values kept; the API lists them all in
// error.fields and keeps error.field and error.message for the first.
func TestEveryFieldErrorAtOnce(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	alice := env.as("alice")
	alice.get("/requests/new")
	f := url.Values{"region_id": {"Hangzhou"}, "db_instance_id": {""}, "connection_string": {"not a host"},
		"network_type": {"0"}, "justification": {""}, "ticket": {"OPS-1"}, "submit": {"1"}}
	st, body, _ := alice.send(http.MethodPost, "/requests/new", withCSRF(f, alice), nil)
	if st != http.StatusUnprocessableEntity {
		t.Fatalf("submit: %d", st)
	}
	for _, want := range []string{
		`value="Hangzhou" required placeholder="cn-hangzhou" autocomplete="off" aria-invalid="true" aria-describedby="region_id-error"`,
		`<span class="field-error" id="region_id-error">Enter an Alibaba Cloud region id such as cn-hangzhou.</span>`,
		`<span class="field-error" id="db_instance_id-error">This field is required.</span>`,
		`value="not a host"`,
		`<span class="field-error" id="connection_string-error">Enter a host name such as rm-xxxx.mysql.rds.aliyuncs.com.</span>`,
		`<span class="field-error" id="justification-error">This field is required.</span>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the form lacks %q:\n%s", want, excerpt(body))
		}
	}
	if n := strings.Count(body, `aria-invalid="true"`); n != 4 {
		t.Errorf("%d fields marked invalid, want 4", n)
	}
	if strings.Contains(body, `id="ticket-error"`) || strings.Contains(body, `id="network_type-error"`) {
		t.Error("a valid field is marked")
	}
	_, zh, _ := alice.send(http.MethodPost, "/requests/new", withCSRF(f, alice), map[string]string{"Accept-Language": "zh-CN"})
	if !strings.Contains(zh, "请输入阿里云地域 ID，例如 cn-hangzhou。") || !strings.Contains(zh, "此项为必填。") {
		t.Errorf("zh-CN field errors:\n%s", excerpt(zh))
	}

	api := setupAPI(t)
	status, out := api.call(t, "alice", "POST", "/api/v1/requests", map[string]any{"region_id": "Hangzhou", "db_instance_id": "",
		"connection_string": "not a host", "network_type": "0", "justification": "", "ticket": "OPS-1"})
	e, _ := out["error"].(map[string]any)
	if status != http.StatusUnprocessableEntity || e["code"] != "invalid" || e["field"] != "region_id" ||
		e["message"] != "region_id: must be an Alibaba Cloud region id such as cn-hangzhou" {
		t.Fatalf("API: %d %v", status, out)
	}
	var got []string
	fields, _ := e["fields"].([]any)
	for _, x := range fields {
		m, _ := x.(map[string]any)
		got = append(got, m["field"].(string)+": "+m["message"].(string))
	}
	want := []string{"region_id: must be an Alibaba Cloud region id such as cn-hangzhou", "db_instance_id: is required",
		"connection_string: must be a host name such as rm-xxxx.mysql.rds.aliyuncs.com", "justification: is required"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("error.fields (-want +got):\n%s", d)
	}
}

// TestErrorPagesForPeople: a refused role, a request that is not there,
// a stale vote and an unknown page say what happened and what to do, in
// English and in Chinese, with the status kept; the API keeps its codes
// and messages.
func TestErrorPagesForPeople(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	r := env.file("alice", "rm-bp1devexample01", "retiring the endpoint")
	alice, bob := env.as("alice"), env.as("bob")
	bob.get("/requests/" + r.ID.String())
	stale := url.Values{"decision": {"approve"}, "payload_hash": {strings.Repeat("a", 64)}}
	cases := []struct {
		name   string
		who    *client
		method string
		path   string
		form   url.Values
		status int
		en, zh []string
	}{
		{"auditor page", alice, http.MethodGet, "/audit", nil, http.StatusForbidden,
			[]string{"This page is for auditors",
				"You are signed in as alice, who is not an auditor. Ask an administrator to add you to an auditor group.</p>",
				`<p id="error-next">Or go back to your requests.</p>`,
				`<a class="button primary" href="/requests">My requests</a>`},
			[]string{"此页面仅供审计员使用", "您以 alice 身份登录，该用户不是审计员。请联系管理员将您加入审计员组。", "或返回您的申请。"}},
		{"no such request", alice, http.MethodGet, "/requests/not-a-uuid", nil, http.StatusNotFound,
			[]string{"Request not found", "There is no request with this address. Check the link, or find it in My requests."},
			[]string{"未找到申请", "没有此地址的申请。请检查链接，或在“我的申请”中查找。"}},
		{"stale vote", bob, http.MethodPost, "/requests/" + r.ID.String() + "/vote", stale, http.StatusConflict,
			[]string{"The request changed", "The request changed after you opened it; reload the page to see it as it is now, then vote again.",
				`href="/requests/` + r.ID.String() + `">Reload the request</a>`},
			[]string{"申请已变化", "您打开此申请后它发生了变化；请刷新页面查看它现在的状态，然后重新投票。"}},
		{"unknown page", alice, http.MethodGet, "/no/such/page", nil, http.StatusNotFound,
			[]string{"There is no such page", "There is no page at this address. Check the link, or start again from the home page."},
			[]string{"没有这个页面", "此地址没有页面。请检查链接，或从首页重新开始。"}},
	}
	for _, tc := range cases {
		for _, lang := range []string{"en", "zh-CN"} {
			form := tc.form
			if form != nil {
				form = withCSRF(form, tc.who)
			}
			st, body, _ := tc.who.send(tc.method, tc.path, form, map[string]string{"Accept-Language": lang})
			want := tc.en
			if lang == "zh-CN" {
				want = tc.zh
			}
			if st != tc.status {
				t.Errorf("%s (%s): %d, want %d", tc.name, lang, st, tc.status)
			}
			for _, w := range append(want, `<a class="button" href="/">`) {
				if !strings.Contains(body, w) {
					t.Errorf("%s (%s): the page lacks %q:\n%s", tc.name, lang, w, excerpt(body))
				}
			}
			msg := regexp.MustCompile(`<p id="error-message">([^<]*)</p>`).FindStringSubmatch(body)
			if msg == nil || strings.Contains(msg[1], ": forbidden") || strings.Contains(msg[1], ": not found") || strings.Contains(msg[1], ": conflict") {
				t.Errorf("%s (%s): the message is not for people: %v", tc.name, lang, msg)
			}
		}
	}
	// The request was not voted on, and the API's answers are unchanged.
	if got, _ := env.svc.Get(t.Context(), r.ID); got.Status != request.StatusPending || len(got.Votes) != 0 {
		t.Errorf("after the stale vote: %+v", got)
	}
	// The CSRF refusal keeps its words (the browser test reads them).
	if st, body, _ := alice.send(http.MethodPost, "/requests/new", typoForm(), nil); st != http.StatusForbidden ||
		!strings.Contains(body, "This form has expired") || !strings.Contains(body, "could not be verified") {
		t.Errorf("no CSRF token: %d\n%s", st, excerpt(body))
	}
}

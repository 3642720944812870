package web_test

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/request"
	ui "github.com/rdsgate/rdsgate/web"
)

// TestEveryTemplateRenders renders each page template once and checks the
// layout around it: title, CSP, the dev banner, no inline script.
func TestEveryTemplateRenders(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	r := env.file("alice", "rm-bp1devexample01", "retiring the endpoint")
	pages := []struct{ user, path, title string }{
		{"", "/signin", "Sign in"},
		{"alice", "/", "rdsgate"},
		{"alice", "/requests/new", "New release request"},
		{"alice", "/requests", "My requests"},
		{"alice", "/fleet", "Public endpoints"},
		{"alice", "/requests/" + r.ID.String(), "Request rm-bp1devexample01"},
		{"bob", "/inbox", "Approver inbox"},
		{"bob", "/votes", "My votes"},
		{"dave", "/audit", "Audit log"},
		{"dave", "/audit/bypasses", "Releases made around the gate"},
		{"dave", "/policy/simulate", "Policy simulator"},
		{"alice", "/no/such/page", "Not Found"},
	}
	scriptRe := regexp.MustCompile(`<script[^>]*>`)
	files, _ := fs.Glob(ui.Templates, "templates/*.html")
	if len(files) != len(pages)+1 { // + layout.html
		t.Fatalf("%d template files, %d pages rendered here: render every page", len(files), len(pages))
	}
	for _, p := range pages {
		c := env.as(p.user)
		req, _ := http.NewRequest(http.MethodGet, env.url+p.path, nil)
		_, body, resp := c.do(req)
		if !strings.Contains(body, "<title>"+p.title+" · rdsgate</title>") {
			t.Errorf("%s: no title %q:\n%s", p.path, p.title, excerpt(body))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP %q", p.path, csp)
		}
		if !strings.Contains(body, "DEV SIGN-IN — not for production") {
			t.Errorf("%s: the dev sign-in banner is missing", p.path)
		}
		for _, tag := range scriptRe.FindAllString(body, -1) {
			if !strings.Contains(tag, `src="/static/`) {
				t.Errorf("%s: inline or foreign script %s", p.path, tag)
			}
		}
		if strings.Contains(body, "style=") || strings.Contains(body, "<style") || strings.Contains(body, "onclick") {
			t.Errorf("%s: inline style or handler (the CSP forbids them)", p.path)
		}
	}
}

// TestStaticAssets: content-hashed URLs, long cache, right type; the
// favicon included.
func TestStaticAssets(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	_, body := env.as("").get("/signin")
	for _, re := range []string{`href="(/static/app\.[0-9a-f]{10}\.css)"`, `src="(/static/app\.[0-9a-f]{10}\.js)"`,
		`rel="icon" type="image/svg\+xml" href="(/static/favicon\.[0-9a-f]{10}\.svg)"`} {
		m := regexp.MustCompile(re).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no asset matching %s in the layout", re)
		}
		resp, err := http.Get(env.url + m[1])
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") ||
			!strings.ContainsAny(resp.Header.Get("Content-Type"), "/") ||
			!strings.Contains("text/css application/javascript text/javascript image/svg+xml", strings.Split(resp.Header.Get("Content-Type"), ";")[0]) {
			t.Errorf("%s: %d %v", m[1], resp.StatusCode, resp.Header)
		}
	}
}

// TestCSRF: a state-changing form without its token, with a wrong one or
// from another site is refused; with the token it goes through. The JSON
// API takes no cookies.
func TestCSRF(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	alice := env.as("alice")
	alice.get("/requests/new")
	form := url.Values{"region_id": {"cn-hangzhou"}, "db_instance_id": {"rm-bp1devexample01"},
		"connection_string": {"rm-bp1devexample01.mysql.rds.aliyuncs.com"}, "network_type": {"0"},
		"justification": {"csrf test of the form"}, "ticket": {"OPS-1"}, "submit": {"1"}}
	if st, body, _ := alice.postRaw("/requests/new", form, false); st != http.StatusForbidden || !strings.Contains(body, "could not be verified") {
		t.Errorf("no token: %d %s", st, excerpt(body))
	}
	bad := url.Values{"_csrf": {"forged"}}
	for k, v := range form {
		bad[k] = v
	}
	if st, body := alice.post("/requests/new", bad); st != http.StatusForbidden {
		t.Errorf("wrong token: %d %s", st, excerpt(body))
	}
	f := url.Values{"_csrf": {alice.csrf}}
	for k, v := range form {
		f[k] = v
	}
	req, _ := http.NewRequest(http.MethodPost, env.url+"/requests/new", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if st, body, _ := alice.do(req); st != http.StatusForbidden {
		t.Errorf("cross-site: %d %s", st, excerpt(body))
	}
	// A same-origin browser request is not let through on Sec-Fetch-Site
	// alone: it still needs the token.
	req, _ = http.NewRequest(http.MethodPost, env.url+"/requests/new", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if st, _, _ := alice.do(req); st != http.StatusForbidden {
		t.Errorf("same-origin without token: %d", st)
	}
	if st, body := alice.post("/requests/new", form); st != http.StatusSeeOther {
		t.Errorf("with token: %d %s", st, excerpt(body))
	}
	pg, _ := env.svc.List(t.Context(), storeFilter("alice"))
	if len(pg.Items) != 1 {
		t.Errorf("%d requests filed, want exactly the one with a token", len(pg.Items))
	}
	// The session cookie is worthless on the JSON API.
	req, _ = http.NewRequest(http.MethodGet, env.url+"/api/v1/requests", nil)
	if st, _, _ := alice.do(req); st != http.StatusUnauthorized {
		t.Errorf("API with a session cookie: %d, want 401", st)
	}
}

// TestXSSEscaped: user-provided strings render as text everywhere they
// appear.
func TestXSSEscaped(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	const evil = `<script>alert(1)</script>`
	alice := env.as("alice")
	alice.get("/requests/new")
	st, body := alice.post("/requests/new", url.Values{"region_id": {"cn-hangzhou"}, "db_instance_id": {"rm-bp1devexample01"},
		"connection_string": {"rm-bp1devexample01.mysql.rds.aliyuncs.com"}, "network_type": {"0"},
		"justification": {evil}, "ticket": {"OPS-9"}, "submit": {"1"}})
	if st != http.StatusSeeOther {
		t.Fatalf("file: %d %s", st, excerpt(body))
	}
	pg, _ := env.svc.List(t.Context(), storeFilter("alice"))
	id := pg.Items[0].ID.String()
	bob := env.as("bob")
	if st, body := bob.post("/requests/"+id+"/vote", url.Values{"decision": {"approve"}, "comment": {evil},
		"payload_hash": {pg.Items[0].PayloadHash.String()}}); st != http.StatusSeeOther {
		t.Fatalf("vote: %d %s", st, excerpt(body))
	}
	for _, c := range []struct {
		who  *client
		path string
	}{{alice, "/requests/" + id}, {bob, "/requests/" + id + "/activity"}, {env.as("dave"), "/audit"}} {
		if c.path == "/audit" {
			env.seedAudit(0)
		}
		_, body := c.who.get(c.path)
		if strings.Contains(body, evil) || strings.Contains(body, "<img src=x") || strings.Contains(body, "<script>alert") {
			t.Errorf("%s renders user input as markup:\n%s", c.path, excerpt(body))
		}
		if c.path != "/audit" && !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s does not show the escaped text", c.path)
		}
	}
	_, auditBody := env.as("dave").get("/audit")
	if !strings.Contains(auditBody, "&lt;script&gt;alert(&#39;actor&#39;)&lt;/script&gt;") {
		t.Errorf("the audit log does not show an actor name as text:\n%s", excerpt(auditBody))
	}
}

// TestNewRequestLookupAndDecision: the Look up button fills the public
// connection string and network type; submitting shows the decision in
// plain words; a denial shows the policy's reasons.
func TestNewRequestLookupAndDecision(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	alice := env.as("alice")
	alice.get("/requests/new")
	st, body := alice.post("/requests/new", url.Values{"lookup": {"1"}, "region_id": {"cn-hangzhou"}, "db_instance_id": {"rm-bp1devexample01"}})
	if st != 200 || !strings.Contains(body, `<option value="rm-bp1devexample01.mysql.rds.aliyuncs.com" selected>`) ||
		strings.Contains(body, `<option value="rm-bp1devexample01-priv`) || !strings.Contains(body, `<option value="0" selected>`) {
		t.Fatalf("lookup:\n%s", excerpt(body))
	}
	if _, body := alice.post("/requests/new", url.Values{"lookup": {"1"}, "region_id": {"cn-hangzhou"}, "db_instance_id": {"rm-bp1nosuch000"}}); !strings.Contains(body, "InvalidDBInstanceId.NotFound") {
		t.Errorf("failed lookup does not say why:\n%s", excerpt(body))
	}
	if st, body := alice.post("/requests/new", url.Values{"region_id": {"cn-hangzhou"}, "db_instance_id": {"rm-bp1devexample01"},
		"connection_string": {"not a host"}, "network_type": {"0"}, "justification": {"x"}}); st != 422 || !strings.Contains(body, `class="field-error"`) {
		t.Errorf("invalid form: %d\n%s", st, excerpt(body))
	}
	st, _, resp := alice.postRaw("/requests/new", url.Values{"region_id": {"cn-hangzhou"}, "db_instance_id": {"rm-bp1devexample01"},
		"connection_string": {"rm-bp1devexample01.mysql.rds.aliyuncs.com"}, "network_type": {"0"}, "justification": {"moving to VPC"},
		"ticket": {"OPS-1"}, "submit": {"1"}}, true)
	loc := resp.Header.Get("Location")
	if st != http.StatusSeeOther || !strings.HasSuffix(loc, "?filed=1") {
		t.Fatalf("submit: %d %q", st, loc)
	}
	_, body = alice.get(loc)
	for _, want := range []string{"The policy allows this release once it is approved.", "It still needs 1 approval: 1 from dba",
		"Your request was filed", `id="payload-hash"`, "Request filed", "Policy decided: allow"} {
		if !strings.Contains(body, want) {
			t.Errorf("decision page lacks %q", want)
		}
	}
	if strings.Contains(body, `id="approve"`) {
		t.Error("the requester sees an Approve button on their own request")
	}
	if pg, _ := env.svc.List(t.Context(), storeFilter("alice")); len(pg.Items) != 1 || pg.Items[0].Status != request.StatusPending {
		t.Fatalf("filed: %+v", pg.Items)
	}
	// mallory is denied production.
	mallory := env.as("mallory")
	mallory.get("/requests/new")
	st, _, resp = mallory.postRaw("/requests/new", url.Values{"region_id": {"cn-hangzhou"}, "db_instance_id": {"rm-bp1prodexample1"},
		"connection_string": {"rm-bp1prodexample1.mysql.rds.aliyuncs.com"}, "network_type": {"0"}, "justification": {"cleanup of old endpoints"}, "ticket": {"OPS-2"}}, true)
	if st != http.StatusSeeOther {
		t.Fatalf("denied submit: %d", st)
	}
	_, body = mallory.get(resp.Header.Get("Location"))
	if !strings.Contains(body, "The policy denied this request.") || !strings.Contains(body, `id="reasons"`) || !strings.Contains(body, "DenyProdRelease") {
		t.Errorf("denial page:\n%s", excerpt(body))
	}
}

// TestApprovalFlow: the inbox shows only what the approver may vote on,
// oldest first; a vote binds the payload hash; the requester's forged vote
// is refused by the server.
func TestApprovalFlow(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	first := env.file("alice", "rm-bp1devexample01", "the first request")
	second := env.file("alice", "rm-bp1demo00000001", "the second request")
	prod := env.file("alice", "rm-bp1prodexample1", "the production request")
	bobs := env.file("bob", "rm-bp1demo00000002", "bob's own request")
	bob := env.as("bob")
	_, body := bob.get("/inbox")
	i1, i2 := strings.Index(body, first.ID.String()), strings.Index(body, second.ID.String())
	if i1 < 0 || i2 < 0 || i1 > i2 || !strings.Contains(body, prod.ID.String()) || strings.Contains(body, bobs.ID.String()) {
		t.Fatalf("inbox order or content wrong:\n%s", body)
	}
	// carol (security) sees only the production request.
	_, body = env.as("carol").get("/inbox")
	if !strings.Contains(body, prod.ID.String()) || strings.Contains(body, first.ID.String()) {
		t.Errorf("carol's inbox:\n%s", excerpt(body))
	}
	// alice cannot approve her own request, even by forging the form.
	alice := env.as("alice")
	_, body = alice.get("/requests/" + first.ID.String())
	if strings.Contains(body, `id="approve"`) {
		t.Error("Approve shown to the requester")
	}
	if st, _ := alice.post("/requests/"+first.ID.String()+"/vote", url.Values{"decision": {"approve"},
		"payload_hash": {first.PayloadHash.String()}}); st != http.StatusForbidden {
		t.Errorf("forged self-approval: %d", st)
	}
	// erin (dba + admins) is not a requester of alice's, but a second
	// approval with a stale payload hash is refused.
	if st, _ := bob.post("/requests/"+first.ID.String()+"/vote", url.Values{"decision": {"approve"},
		"payload_hash": {strings.Repeat("0", 64)}}); st != http.StatusConflict {
		t.Errorf("stale payload hash: %d", st)
	}
	_, body = bob.get("/requests/" + first.ID.String())
	if !strings.Contains(body, `id="approve"`) {
		t.Fatalf("bob has no Approve button:\n%s", excerpt(body))
	}
	st, _, resp := bob.postRaw("/requests/"+first.ID.String()+"/vote", url.Values{"decision": {"approve"}, "comment": {"fine"},
		"payload_hash": {first.PayloadHash.String()}, "from": {"inbox"}}, true)
	if st != http.StatusSeeOther || resp.Header.Get("Location") != "/inbox" {
		t.Fatalf("approve: %d %v", st, resp.Header)
	}
	_, body = bob.get("/inbox")
	if !strings.Contains(body, "You approved the request for rm-bp1devexample01.") || strings.Contains(body, first.ID.String()) {
		t.Errorf("after approving:\n%s", excerpt(body))
	}
	// The executor releases the endpoint through the simulator.
	got := env.waitStatus(first.ID, request.StatusSucceeded)
	if got.Votes[0].PayloadHash != first.PayloadHash {
		t.Errorf("request after vote: %+v", got)
	}
	var st2 struct {
		Status, Label, Headline string
		Terminal                bool
	}
	_, raw := alice.get("/requests/" + first.ID.String() + "/status.json")
	if err := json.Unmarshal([]byte(raw), &st2); err != nil || st2.Status != "succeeded" || st2.Headline != "Released." || !st2.Terminal {
		t.Errorf("status.json: %v %s", err, raw)
	}
	// The requester may cancel a pending request.
	if st, _ := alice.post("/requests/"+second.ID.String()+"/cancel", url.Values{"reason": {"not needed"}}); st != http.StatusSeeOther {
		t.Errorf("cancel: %d", st)
	}
}

// TestAuditPage: filters select, keyset pages link onwards, the exports
// carry the whole filtered result, and integrity is shown.
func TestAuditPage(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	env.seedAudit(60)
	dave := env.as("dave")
	st, body := dave.get("/audit?actor=rdsgate&error_code=Throttling.User&from=2025-03-01T08:00&to=2025-03-02T00:00&kind=execution.failed")
	if st != 200 || strings.Count(body, `<code class="kind">execution.failed</code>`) != 1 {
		t.Fatalf("filter: %d\n%s", st, excerpt(body))
	}
	for _, want := range []string{"6B2F0C9E-AAAA-4C7E-9A51-0123456789AB", "Request was denied due to user flow control.", "Chain intact"} {
		if !strings.Contains(body, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
	if _, body := dave.get("/audit?actor=nobody"); !strings.Contains(body, "No event matches.") {
		t.Errorf("actor filter ignored:\n%s", excerpt(body))
	}
	for _, bad := range []string{"/audit?from=yesterday", "/audit?from=2025-03-02T00:00&to=2025-03-01T00:00", "/audit?request_id=nope", "/audit?cursor=zzz"} {
		if st, body := dave.get(bad); st != http.StatusUnprocessableEntity || !strings.Contains(body, `class="note bad"`) {
			t.Errorf("%s: %d", bad, st)
		}
	}
	// 60 token.created events, 50 a page: the second page has the 10
	// oldest. (The unfiltered trail also holds dave's own sign-in and
	// searches, which are recorded.)
	_, body = dave.get("/audit?kind=token.created")
	next := regexp.MustCompile(`href="(/audit\?cursor=[^"]+)" class="button" id="older"`).FindStringSubmatch(body)
	if next == nil || strings.Count(body, "<tr>") != 51 {
		t.Fatalf("first page (%d rows) or next link missing:\n%s", strings.Count(body, "<tr>")-1, excerpt(body))
	}
	_, body = dave.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	if strings.Count(body, "<tr>") != 11 || strings.Contains(body, `id="older"`) || strings.Contains(body, `<code class="kind">execution.failed</code>`) {
		t.Errorf("second page: %d rows\n%s", strings.Count(body, "<tr>")-1, excerpt(body))
	}
	req, _ := http.NewRequest(http.MethodGet, env.url+"/audit/export.csv?instance=rm-bp1devexample01", nil)
	st, raw, resp := dave.do(req)
	rows, err := csv.NewReader(strings.NewReader(raw)).ReadAll()
	if st != 200 || err != nil || len(rows) != 3 || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("csv: %d %v %d rows\n%s", st, err, len(rows), raw)
	}
	if rows[0][0] != "type" || !strings.Contains(raw, "6B2F0C9E-AAAA-4C7E-9A51-0123456789AB") || !strings.Contains(raw, "<script>alert('actor')</script>") {
		t.Errorf("csv rows: %q", rows)
	}
	if st, _ := dave.get("/audit/export.csv?from=nonsense"); st != http.StatusUnprocessableEntity {
		t.Errorf("bad export filter: %d", st)
	}
	_, raw = dave.get("/audit/export.jsonl?kind=token.created")
	sc := bufio.NewScanner(strings.NewReader(raw))
	n := 0
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e["kind"] == nil {
			t.Fatalf("jsonl line %d: %v %s", n, err, sc.Text())
		}
		n++
	}
	if n != 60 {
		t.Errorf("jsonl: %d lines, want 60", n)
	}
}

// TestSimulator: would X be allowed to release Y, and why; nothing recorded.
func TestSimulator(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	_, body := env.as("dave").get("/policy/simulate?run=1&user=mallory&region_id=cn-hangzhou&db_instance_id=rm-bp1prodexample1&network_type=0")
	if !strings.Contains(body, "No — mallory would be refused.") || !strings.Contains(body, "DenyProdRelease") {
		t.Errorf("mallory on prod:\n%s", excerpt(body))
	}
	_, body = env.as("alice").get("/policy/simulate?run=1&region_id=cn-hangzhou&db_instance_id=rm-bp1prodexample1&network_type=0&ticket=OPS-1")
	if !strings.Contains(body, "Yes — alice would be allowed to file this release.") || !strings.Contains(body, "1 from dba and 1 from security") {
		t.Errorf("alice on prod:\n%s", excerpt(body))
	}
	if st, _ := env.as("dave").get("/policy/simulate?run=1&user=nobody&region_id=cn-hangzhou&db_instance_id=rm-bp1prodexample1"); st != 422 {
		t.Errorf("unknown user: %d", st)
	}
	var n int
	if err := env.pool.QueryRow(t.Context(), `SELECT count(*) FROM requests`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the simulator recorded %d requests (%v)", n, err)
	}
}

// TestEndedRequestPage: a pending request says when it expires; a request
// that ended says so and nothing more: no vote section (not even the
// requester's "you cannot approve"), no expiry, and no promise of calls to
// Alibaba Cloud that will never come.
func TestEndedRequestPage(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	r := env.file("bob", "rm-bp1demo00000003", "bob's request, to be cancelled")
	bob := env.as("bob")
	_, body := bob.get("/requests/" + r.ID.String())
	if !strings.Contains(body, `id="no-vote"`) || !strings.Contains(body, "No calls to Alibaba Cloud yet.") {
		t.Fatalf("the pending request's page:\n%s", excerpt(body))
	}
	// The default 72 h, from the filing.
	expires := r.CreatedAt.Add(72 * time.Hour).UTC().Format("2006-01-02 15:04")
	if m := regexp.MustCompile(`id="expires">[^<]*<time[^>]*>[^<]*`).FindString(body); !strings.Contains(m, expires) {
		t.Errorf("the pending request's page says %q, want its expiry %s", m, expires)
	}
	env.cancelPending("bob")
	_, body = bob.get("/requests/" + r.ID.String())
	for _, stale := range []string{`id="no-vote"`, "cannot approve", "No calls to Alibaba Cloud yet", `id="expires"`} {
		if strings.Contains(body, stale) {
			t.Errorf("the cancelled request's page still says %q", stale)
		}
	}
	if !strings.Contains(body, "No call to Alibaba Cloud was made: the request was cancelled.") {
		t.Errorf("the cancelled request's page does not say that no call was made:\n%s", excerpt(body))
	}
}

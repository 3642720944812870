package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/apptest"
	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/rdssim"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/web"
)

// simAccount is the account of the simulator's example instances.
const simAccount = app.SimAccountID

// fixedFleet is a FleetScanner that finds the same endpoints every time,
// with the failures given; it records the filters it was asked for.
type fixedFleet struct {
	targets  []request.Target
	failures []web.FleetFailure
	asked    chan web.FleetFilter
}

func (f *fixedFleet) Scan(_ context.Context, flt web.FleetFilter) (web.FleetScan, error) {
	select {
	case f.asked <- flt:
	default:
	}
	var out []request.Target
	for _, t := range f.targets {
		if flt.AccountID == "" || flt.AccountID == t.AccountID {
			out = append(out, t)
		}
	}
	return web.FleetScan{Targets: out, Failures: f.failures}, nil
}

// fixedAccounts lists accounts for the form's account select.
type fixedAccounts []policy.Account

func (a fixedAccounts) Accounts() []policy.Account { return a }

// endpoint is the simulator's example instance's public endpoint.
func endpoint(instance string) request.Target {
	suffix := ".mysql.rds.aliyuncs.com"
	if strings.HasPrefix(instance, "pgm-") {
		suffix = ".pg.rds.aliyuncs.com"
	}
	return request.Target{AccountID: simAccount, RegionID: "cn-hangzhou", DBInstanceID: instance,
		ConnectionString: instance + suffix, NetworkType: "0"}
}

// setupFleetPages is rdsgate as apptest starts it, its pages served by a
// second web.Server over the same application (database, lifecycle,
// executor, simulator) with the given fleet scanner and account list.
func setupFleetPages(t *testing.T, scanner web.FleetScanner, accounts web.AccountLister, configure func(*app.Config)) (*pagesEnv, *app.App) {
	t.Helper()
	a := apptest.Start(t, configure)
	sessions := auth.NewSessions(a.Pool, auth.SessionOptions{})
	t.Cleanup(sessions.Close)
	trail := web.AuditTrail{DB: a.Pool}
	srv := web.New(web.Deps{Service: a.Requests, Policy: a.Policy, Pages: &web.Pages{
		Sessions: sessions, Roles: auth.MustParseRoleMap(auth.DefaultRoleGroups), DevLogin: true,
		Directory: a.Policy, Eligibility: a.Policy, Timeline: trail, Audit: trail,
		Accounts: accounts, Fleet: scanner,
	}})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &pagesEnv{t: t, url: hs.URL, pool: a.Pool, eng: a.Policy, svc: a.Requests, web: srv}, a
}

var (
	targetValueRe = regexp.MustCompile(`name="target" value="([^"]+)"`)
	tableRe       = regexp.MustCompile(`<table[^>]*>`)
)

// targetValues are the endpoint checkboxes' values on a fleet page.
func targetValues(t *testing.T, body string) []string {
	t.Helper()
	var out []string
	for _, m := range targetValueRe.FindAllStringSubmatch(body, -1) {
		out = append(out, htmlUnescape(m[1]))
	}
	return out
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&#34;", `"`, "&quot;", `"`, "&amp;", "&", "&lt;", "<", "&gt;", ">", "&#43;", "+", "&#39;", "'").Replace(s)
}

// everyTableStacks fails when a table of body would not stack into one
// block per row on a narrow (390 px) screen.
func everyTableStacks(t *testing.T, what, body string) {
	t.Helper()
	tables := tableRe.FindAllString(body, -1)
	if len(tables) == 0 {
		t.Errorf("%s has no table", what)
	}
	for _, tag := range tables {
		if !strings.Contains(tag, "stack") {
			t.Errorf("%s: %s does not stack at 390 px", what, tag)
		}
	}
	for _, td := range regexp.MustCompile(`<td[^>]*>`).FindAllString(body, -1) {
		if !strings.Contains(td, "data-label=") && !strings.Contains(td, `class="review-cell"`) {
			t.Errorf("%s: cell %s has no label for the stacked layout", what, td)
			break
		}
	}
}

// bulkFleet finds five dev endpoints and a production one, and fails to
// scan a second account.
func bulkFleet() *fixedFleet {
	f := &fixedFleet{asked: make(chan web.FleetFilter, 8), failures: []web.FleetFailure{
		{AccountID: "2000000000000002", Message: "AssumeRole: EntityNotExist.Role: the role does not exist"},
		{AccountID: simAccount, RegionID: "cn-shanghai", Message: "Throttling.User: request was denied due to user flow control"},
	}}
	for _, inst := range []string{"rm-bp1demo00000001", "rm-bp1demo00000002", "rm-bp1demo00000003", "rm-bp1demo00000004", "rm-bp1prodexample1"} {
		f.targets = append(f.targets, endpoint(inst))
	}
	return f
}

// TestFleetFilesCheckedTargets: the "Public endpoints" page lists what a
// scan found, each endpoint checked, says what failed per account, and
// files exactly the checked endpoints as one bulk request, whose page shows
// the targets, the review with the payload hash and, once approved, the
// progress and each target's RequestId.
func TestFleetFilesCheckedTargets(t *testing.T) {
	t.Parallel()
	fleet := bulkFleet()
	env, _ := setupFleetPages(t, fleet, nil, nil)
	alice, bob := env.as("alice"), env.as("bob")

	st, body := alice.get("/fleet")
	if st != http.StatusOK || !strings.Contains(body, `id="fleet-scan"`) || !strings.Contains(body, "tens of seconds") ||
		!strings.Contains(body, `href="/fleet" id="nav-fleet" aria-current="page"`) {
		t.Fatalf("the fleet page before a scan: %d %s", st, excerpt(body))
	}
	if strings.Contains(body, `id="bulk-form"`) {
		t.Error("the fleet page scans before it is asked to")
	}
	st, body = alice.post("/fleet", url.Values{"scan": {"1"}, "region": {"cn-hangzhou"}, "env": {"dev"}})
	if st != http.StatusOK {
		t.Fatalf("scan: %d %s", st, excerpt(body))
	}
	if got := <-fleet.asked; got != (web.FleetFilter{RegionID: "cn-hangzhou", Environment: "dev"}) {
		t.Errorf("the scanner was asked for %+v", got)
	}
	values := targetValues(t, body)
	if len(values) != 5 || strings.Count(body, `class="target-check" checked`) != 5 {
		t.Fatalf("the scan's page offers %d endpoints, %d checked:\n%s", len(values), strings.Count(body, "checked"), body)
	}
	for _, want := range []string{"5 public endpoints found", `id="scan-failures"`, "Account 2000000000000002",
		"not scanned: AssumeRole: EntityNotExist.Role", "region cn-shanghai: Throttling.User", `id="select-all"`, `id="file-bulk"`,
		`class="badge env env-prod">production`} {
		if !strings.Contains(body, want) {
			t.Errorf("the scan's page lacks %q", want)
		}
	}
	everyTableStacks(t, "the fleet page", body)

	// Nothing picked, or a ticket the org rules refuse: nothing is filed.
	form := url.Values{"justification": {"retiring the demo endpoints"}, "ticket": {"OPS-77"}}
	if st, body := alice.post("/requests/new/bulk", form); st != http.StatusUnprocessableEntity || !strings.Contains(body, "Select at least one endpoint") {
		t.Errorf("filing nothing: %d %s", st, excerpt(body))
	}
	bad := url.Values{"justification": {"retiring the demo endpoints"}, "ticket": {"ops 77"}, "target": values[:2]}
	if st, body := alice.post("/requests/new/bulk", bad); st != http.StatusUnprocessableEntity ||
		!strings.Contains(body, `id="ticket-error"`) || len(targetValues(t, body)) != 2 {
		t.Errorf("filing with a bad ticket: %d %s", st, excerpt(body))
	}
	broken := url.Values{"justification": {"retiring the demo endpoints"}, "ticket": {"OPS-77"},
		"target": {values[0], `{"account_id":"` + simAccount + `","region_id":"cn-hangzhou","db_instance_id":"RM-BAD","connection_string":"x","network_type":"0"}`}}
	if st, body := alice.post("/requests/new/bulk", broken); st != http.StatusUnprocessableEntity ||
		!strings.Contains(body, "see the marked rows") || !strings.Contains(body, "db_instance_id: Enter an RDS instance id") {
		t.Errorf("filing an invalid endpoint: %d %s", st, excerpt(body))
	}
	if n := countRequests(t, env, "alice"); n != 0 {
		t.Fatalf("refused filings filed %d requests", n)
	}

	// The three dev endpoints the user left checked, and only those.
	picked := []string{values[0], values[2], values[3]}
	form["target"] = picked
	st, body, resp := alice.postRaw("/requests/new/bulk", form, true)
	if st != http.StatusSeeOther {
		t.Fatalf("filing: %d %s", st, excerpt(body))
	}
	loc := resp.Header.Get("Location")
	id, err := uuid.Parse(strings.TrimSuffix(strings.TrimPrefix(loc, "/requests/"), "?filed=1"))
	if err != nil {
		t.Fatalf("filing redirected to %q", loc)
	}
	d, err := env.svc.Detail(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Bulk() || d.TargetCount != 3 || d.Status != request.StatusPending {
		t.Fatalf("filed %+v", d.Request)
	}
	want := map[string]bool{}
	for _, v := range picked {
		var tg request.Target
		if err := json.Unmarshal([]byte(v), &tg); err != nil {
			t.Fatal(err)
		}
		want[tg.DBInstanceID] = true
	}
	for _, tg := range d.Targets {
		if !want[tg.DBInstanceID] || tg.AccountID != simAccount || !tg.Decision.Allow {
			t.Errorf("target %+v was not picked or not allowed", tg)
		}
		delete(want, tg.DBInstanceID)
	}
	if len(want) > 0 {
		t.Errorf("picked endpoints not filed: %v", want)
	}

	// The requester's page: the summary and the targets, waiting.
	st, body = alice.get(loc)
	for _, w := range []string{"Release 3 endpoints", "The policy allows 3 of the 3 targets", `id="targets-table"`, "rm-bp1demo00000003",
		"waits for approval", "3 endpoints: 3 allowed, 0 denied"} {
		if !strings.Contains(body, w) {
			t.Errorf("the pending bulk request's page lacks %q", w)
		}
	}
	if st != http.StatusOK || strings.Contains(body, `id="cancel-rest"`) || strings.Contains(body, `id="progress"`) {
		t.Errorf("the pending bulk request's page: %d, offers cancel-rest or progress", st)
	}
	// The approver's review: what exactly the approval covers.
	_, body = bob.get("/requests/" + id.String())
	for _, w := range []string{`id="review"`, `id="review-list"`, "3 endpoints: 3 allowed, 0 denied by the policy",
		`<code class="hash" id="review-hash">` + d.PayloadHash.String(), "rm-bp1demo00000004.mysql.rds.aliyuncs.com"} {
		if !strings.Contains(body, w) {
			t.Errorf("the review lacks %q", w)
		}
	}
	if strings.Contains(body, "rm-bp1demo00000002") || strings.Contains(body, "rm-bp1prodexample1") {
		t.Error("the review lists an endpoint that was not picked")
	}
	everyTableStacks(t, "the bulk review", body)

	if st, body := bob.post("/requests/"+id.String()+"/vote", url.Values{"decision": {"approve"}, "payload_hash": {d.PayloadHash.String()}}); st != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", st, excerpt(body))
	}
	env.waitStatus(id, request.StatusSucceeded)
	_, body = alice.get("/requests/" + id.String())
	for _, w := range []string{"Released all 3 endpoints.", `<progress id="progress-bar" max="3" value="3"`, "3 released", `data-final="true"`} {
		if !strings.Contains(body, w) {
			t.Errorf("the released bulk request's page lacks %q", w)
		}
	}
	d, _ = env.svc.Detail(context.Background(), id)
	for _, tg := range d.Targets {
		if tg.Status != request.StatusSucceeded || len(tg.Attempts) == 0 || tg.Attempts[0].AlibabaRequestID == "" {
			t.Fatalf("target %d: %+v", tg.Index, tg)
		}
		for _, w := range []string{`<code class="reqid">` + tg.Attempts[0].AlibabaRequestID + `</code>`, `href="/requests/` + tg.RequestID.String() + `"`} {
			if !strings.Contains(body, w) {
				t.Errorf("the page lacks target %d's %q", tg.Index, w)
			}
		}
		// A target's own page links back.
		_, tbody := alice.get("/requests/" + tg.RequestID.String())
		if !strings.Contains(tbody, `href="/requests/`+id.String()+`" id="parent-link"`) ||
			!strings.Contains(tbody, fmt.Sprintf("target %d of 3 of a bulk request", tg.Index+1)) {
			t.Errorf("target %d's page does not link back:\n%s", tg.Index, excerpt(tbody))
		}
	}
	for _, s := range append(stale, `id="cancel-rest"`, "waits for approval") {
		if strings.Contains(body, s) {
			t.Errorf("the released bulk request's page still shows %q", s)
		}
	}
	everyTableStacks(t, "the bulk request's page", body)
	if strings.Count(body, "Policy decided") != 1 || !strings.Contains(body, "Policy decided on 3 targets: 3 allowed, 0 denied") {
		t.Error("the timeline does not fold the targets' decisions into one line")
	}
}

// countRequests counts user's requests.
func countRequests(t *testing.T, env *pagesEnv, user string) int {
	t.Helper()
	pg, err := env.svc.List(context.Background(), lifecycle.Filter{Requester: user, Limit: lifecycle.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	return len(pg.Items)
}

// TestBulkDeniedTargets: targets the policy denies are listed with their
// reasons; a bulk request all of whose targets are denied is filed denied
// and its page says so.
func TestBulkDeniedTargets(t *testing.T) {
	t.Parallel()
	fleet := bulkFleet()
	env, _ := setupFleetPages(t, fleet, nil, nil)
	mallory := env.as("mallory")
	_, body := mallory.post("/fleet", url.Values{"scan": {"1"}})
	values := targetValues(t, body)
	prod := values[len(values)-1]
	if !strings.Contains(prod, "rm-bp1prodexample1") {
		t.Fatalf("the last endpoint is %s", prod)
	}
	form := url.Values{"justification": {"retiring the demo endpoints"}, "ticket": {"OPS-78"}, "target": {values[0], prod}}
	st, body, resp := mallory.postRaw("/requests/new/bulk", form, true)
	if st != http.StatusSeeOther {
		t.Fatalf("filing: %d %s", st, excerpt(body))
	}
	_, body = mallory.get(resp.Header.Get("Location"))
	for _, w := range []string{"The policy allows 1 of the 2 targets", "2 endpoints: 1 allowed, 1 denied", `class="target denied"`, "DenyProdRelease"} {
		if !strings.Contains(body, w) {
			t.Errorf("the partly denied bulk request's page lacks %q", w)
		}
	}
	form["target"] = []string{prod}
	st, body, resp = mallory.postRaw("/requests/new/bulk", form, true)
	if st != http.StatusSeeOther {
		t.Fatalf("filing a denied bulk request: %d %s", st, excerpt(body))
	}
	_, body = mallory.get(resp.Header.Get("Location"))
	for _, w := range []string{"The policy denied every target of this bulk request.", `data-final="true"`, "DenyProdRelease", "not released"} {
		if !strings.Contains(body, w) {
			t.Errorf("the denied bulk request's page lacks %q", w)
		}
	}
}

// TestCancelRest: "Cancel the rest" is the requester's, and only while the
// bulk request runs: the targets not yet called are withdrawn, the others
// finish, and the bulk request ends cancelled with the counts.
func TestCancelRest(t *testing.T) {
	t.Parallel()
	fleet := bulkFleet()
	env, a := setupFleetPages(t, fleet, nil, func(c *app.Config) {
		c.Executor = executor.Config{Workers: 1, MaxAttempts: 3, LimiterHorizon: 2 * time.Second, BackoffBase: 100 * time.Millisecond,
			BackoffMax: time.Second, ReconcileDelay: 200 * time.Millisecond, JobTimeout: 30 * time.Second, RescueAfter: 45 * time.Second}
	})
	// Each release takes a while, so that most targets wait their turn.
	if err := a.Sim.AddFault(rdssim.Fault{Action: "ReleaseInstanceConnection", DelayMS: 1500}); err != nil {
		t.Fatal(err)
	}
	alice, bob, carol := env.as("alice"), env.as("bob"), env.as("carol")
	_, body := alice.post("/fleet", url.Values{"scan": {"1"}})
	values := targetValues(t, body)[:4]
	st, body, resp := alice.postRaw("/requests/new/bulk", url.Values{"justification": {"retiring the demo endpoints"}, "ticket": {"OPS-79"}, "target": values}, true)
	if st != http.StatusSeeOther {
		t.Fatalf("filing: %d %s", st, excerpt(body))
	}
	page := strings.TrimSuffix(resp.Header.Get("Location"), "?filed=1")
	id := uuid.MustParse(strings.TrimPrefix(page, "/requests/"))

	// Pending: nothing to cancel the rest of.
	if st, _ := alice.post(page+"/cancel-rest", nil); st != http.StatusConflict {
		t.Errorf("cancel-rest of a pending bulk request: %d, want 409", st)
	}
	r, _ := env.svc.Get(context.Background(), id)
	if st, body := bob.post(page+"/vote", url.Values{"decision": {"approve"}, "payload_hash": {r.PayloadHash.String()}}); st != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", st, excerpt(body))
	}
	_, body = alice.get(page)
	for _, w := range []string{`id="cancel-rest"`, `action="` + page + `/cancel-rest"`, `<progress id="progress-bar" max="4"`, `id="eta"`} {
		if !strings.Contains(body, w) {
			t.Errorf("the running bulk request's page lacks %q", w)
		}
	}
	everyTableStacks(t, "the running bulk request's page", body)
	if _, body := bob.get(page); strings.Contains(body, `id="cancel-rest"`) {
		t.Error("an approver is offered to cancel someone else's bulk request")
	}
	// Neither an approver nor a requester of another request may.
	if st, _ := bob.post(page+"/cancel-rest", nil); st != http.StatusForbidden {
		t.Errorf("bob's cancel-rest: %d, want 403", st)
	}
	if st, _ := carol.post(page+"/cancel-rest", nil); st != http.StatusForbidden {
		t.Errorf("carol's cancel-rest: %d, want 403", st)
	}
	st, body, resp = alice.postRaw(page+"/cancel-rest", url.Values{"reason": {"enough for today"}}, true)
	if st != http.StatusSeeOther || resp.Header.Get("Location") != page {
		t.Fatalf("alice's cancel-rest: %d %s", st, excerpt(body))
	}
	_, body = alice.get(page)
	if !regexp.MustCompile(`Withdrew [1-4] target\(s\) not yet called`).MatchString(body) {
		t.Errorf("the page does not say what was withdrawn:\n%s", excerpt(body))
	}
	env.waitStatus(id, request.StatusCancelled)
	d, err := env.svc.Detail(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if d.Progress.Cancelled == 0 || d.Progress.Remaining != 0 || d.Progress.Succeeded+d.Progress.Cancelled != 4 {
		t.Errorf("progress after cancel-rest: %+v", d.Progress)
	}
	if st, _ := alice.post(page+"/cancel-rest", nil); st != http.StatusConflict {
		t.Errorf("cancel-rest of an ended bulk request: %d, want 409", st)
	}
	_, body = alice.get(page)
	for _, s := range append(stale, `id="cancel-rest"`) {
		if strings.Contains(body, s) {
			t.Errorf("the cancelled bulk request's page still shows %q", s)
		}
	}
}

// TestBulkVersionFollowsProgress: status.json's version changes as the
// targets are released, so that the page fetches its live part again.
func TestBulkVersionFollowsProgress(t *testing.T) {
	t.Parallel()
	env, _ := setupFleetPages(t, bulkFleet(), nil, nil)
	alice, bob := env.as("alice"), env.as("bob")
	_, body := alice.post("/fleet", url.Values{"scan": {"1"}})
	values := targetValues(t, body)[:2]
	_, _, resp := alice.postRaw("/requests/new/bulk", url.Values{"justification": {"retiring the demo endpoints"}, "ticket": {"OPS-80"}, "target": values}, true)
	page := strings.TrimSuffix(resp.Header.Get("Location"), "?filed=1")
	id := uuid.MustParse(strings.TrimPrefix(page, "/requests/"))
	pending := alice.status(id.String())
	r, _ := env.svc.Get(context.Background(), id)
	bob.post(page+"/vote", url.Values{"decision": {"approve"}, "payload_hash": {r.PayloadHash.String()}})
	env.waitStatus(id, request.StatusSucceeded)
	done := alice.status(id.String())
	if pending.Version == done.Version || !strings.Contains(done.Version, ".t2.0.0.0.") || !done.Terminal {
		t.Errorf("versions: pending %q, released %q", pending.Version, done.Version)
	}
	if _, frag := alice.get(page + "/activity"); !strings.Contains(frag, `data-version="`+done.Version+`"`) || !strings.Contains(frag, `id="targets-table"`) {
		t.Error("the live fragment does not carry the targets and the version")
	}
}

// TestAccountSelect: with accounts configured the new-request form has an
// account select, optional with one account and required with several; the
// check as you type names a missing or unknown account.
func TestAccountSelect(t *testing.T) {
	t.Parallel()
	two := fixedAccounts{{ID: simAccount, Name: "Payments", Regions: []string{"cn-hangzhou"}}, {ID: "2000000000000002", Name: "Data"}}
	env, _ := setupFleetPages(t, nil, two, nil)
	alice := env.as("alice")
	_, body := alice.get("/requests/new")
	for _, w := range []string{`<select name="account_id" id="account_id"`, `<option value="` + simAccount + `">Payments (` + simAccount + `)</option>`, "Pick an account", "Required: the Alibaba Cloud account"} {
		if !strings.Contains(body, w) {
			t.Errorf("the form lacks %q", w)
		}
	}
	check := func(account string) string {
		req, _ := http.NewRequest(http.MethodPost, env.url+"/requests/new/check.json", strings.NewReader(url.Values{
			"region_id": {"cn-hangzhou"}, "db_instance_id": {"rm-bp1devexample01"}, "connection_string": {"rm-bp1devexample01.mysql.rds.aliyuncs.com"},
			"network_type": {"0"}, "justification": {"the app moved to the VPC endpoint"}, "ticket": {"OPS-1"}, "account_id": {account}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-CSRF-Token", alice.csrf)
		_, raw, _ := alice.do(req)
		return raw
	}
	if raw := check(""); !strings.Contains(raw, `"field":"account_id"`) || !strings.Contains(raw, "Pick the account the instance belongs to.") {
		t.Errorf("check without an account: %s", raw)
	}
	if raw := check("999"); !strings.Contains(raw, "Pick one of the configured accounts.") {
		t.Errorf("check with an unknown account: %s", raw)
	}
	if raw := check(simAccount); strings.Contains(raw, `"field":"account_id"`) || !strings.Contains(raw, `"ready":true`) {
		t.Errorf("check with the account: %s", raw)
	}

	one, _ := setupFleetPages(t, nil, two[:1], nil)
	_, body = one.as("alice").get("/requests/new")
	if !strings.Contains(body, "The default account") || !strings.Contains(body, "Optional: only one account is configured.") {
		t.Error("with one account the select is not optional")
	}
	// Without a scanner the fleet page says so.
	if _, body := one.as("alice").post("/fleet", url.Values{"scan": {"1"}}); !strings.Contains(body, `id="fleet-unconfigured"`) {
		t.Error("the fleet page without a scanner does not say scanning is not configured")
	}
}

// TestBulkPageThousandTargets: a bulk request of request.MaxTargets
// targets is filed from the page (the body is over the general 64K limit)
// and its page, live fragment and status render every target in one
// reading of the request.
func TestBulkPageThousandTargets(t *testing.T) {
	t.Parallel()
	env, _ := setupFleetPages(t, bulkFleet(), nil, nil)
	alice, bob := env.as("alice"), env.as("bob")
	form := url.Values{"justification": {"retiring a thousand demo endpoints"}, "ticket": {"OPS-1000"}}
	for i := range request.MaxTargets {
		raw, _ := json.Marshal(endpoint(fmt.Sprintf("rm-bp1demo%08d", 100000+i)))
		form.Add("target", string(raw))
	}
	if n := len(form.Encode()); n < 64<<10 {
		t.Fatalf("the form is only %d bytes", n)
	}
	start := time.Now()
	st, body, resp := alice.postRaw("/requests/new/bulk", form, true)
	if st != http.StatusSeeOther {
		t.Fatalf("filing %d targets: %d %s", request.MaxTargets, st, excerpt(body))
	}
	page := strings.TrimSuffix(resp.Header.Get("Location"), "?filed=1")
	t.Logf("filed %d targets in %s", request.MaxTargets, time.Since(start))
	for _, c := range []*client{alice, bob} {
		start = time.Now()
		st, body = c.get(page)
		took := time.Since(start)
		if st != http.StatusOK || strings.Count(body, `<tr id="target-`) != request.MaxTargets {
			t.Fatalf("the page: %d, %d target rows", st, strings.Count(body, `<tr id="target-`))
		}
		t.Logf("the page of %d targets: %d KiB in %s", request.MaxTargets, len(body)>>10, took)
		if took > 5*time.Second {
			t.Errorf("the page of %d targets took %s", request.MaxTargets, took)
		}
	}
	if st := alice.status(strings.TrimPrefix(page, "/requests/")); st.Status != "pending" {
		t.Errorf("status.json: %+v", st)
	}
}

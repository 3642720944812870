package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	rdsapp "github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/apptest"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/rdssim"
	"github.com/rdsgate/rdsgate/internal/request"
)

// TestBrowserBulkE2E is issue 18's walk: alice opens "Public endpoints",
// scans the dev environment with the application's fleet scanner (the
// simulator's instances, through the aliyun client), leaves one endpoint
// out and files the rest as one bulk request; bob reviews exactly that
// list and approves once; alice's page, never reloaded, shows the progress
// bar advancing to done and each target's outcome with the RequestId the
// simulator answered. Every page of the walk fits a 390 px screen.
func TestBrowserBulkE2E(t *testing.T) {
	appl := apptest.Start(t, func(c *rdsapp.Config) {
		c.Executor = executor.Config{Workers: 2, MaxAttempts: 4, LimiterHorizon: 2 * time.Second,
			BackoffBase: 200 * time.Millisecond, BackoffMax: time.Second, ReconcileDelay: 200 * time.Millisecond,
			JobTimeout: 30 * time.Second, RescueAfter: 45 * time.Second}
	})
	if appl.Fleet == nil {
		t.Fatal("the application has no fleet scanner (app.App.Fleet)")
	}
	// One release is slow, so that the page is seen part-way.
	if err := appl.Sim.AddFault(rdssim.Fault{Instance: "rm-bp1devexample01", Action: "ReleaseInstanceConnection", DelayMS: 6000, Times: 1}); err != nil {
		t.Fatal(err)
	}
	a := &app{url: appl.URL, pool: appl.Pool, sim: appl.Sim, svc: appl.Requests, shots: screenshotDir(t)}
	fits := func(p *profile, what string) {
		t.Helper()
		p.do("390 px", chromedp.EmulateViewport(390, 844))
		if w := run(p, what+" width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 390 {
			t.Errorf("%s is %d px wide at a 390 px viewport", what, w)
		}
		p.do("desktop", chromedp.EmulateViewport(1280, 900))
	}

	alice := a.browser(t, "alice")
	alice.signIn("alice")
	alice.do("the nav's link", chromedp.Click(chromedp.ID("nav-fleet")), chromedp.WaitVisible(chromedp.ID("fleet-scan")))
	if note := alice.text("#scan-note"); !strings.Contains(note, "tens of seconds") {
		t.Errorf("the page does not say a scan takes a while: %q", note)
	}
	alice.do("pick dev", chromedp.SetValue(chromedp.ID("filter-env"), "dev"))
	if resp := alice.submit("scan", chromedp.ID("scan")); resp.Status != http.StatusOK {
		t.Fatalf("the scan answered %d", resp.Status)
	}
	alice.do("scanned", chromedp.WaitVisible(chromedp.ID("bulk-form")), chromedp.WaitVisible(chromedp.ID("select-all")))
	found := run(alice, "endpoints", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('input.target-check')).map(e => JSON.parse(e.value).db_instance_id)`))
	if len(found) != 21 || !contains(found, "rm-bp1devexample01") || contains(found, "rm-bp1prodexample1") || contains(found, "pgm-bp1stagexample") {
		t.Fatalf("the dev scan found %v", found)
	}
	// Leave one out: "Select all" turns indeterminate; clear all and check
	// all again, then leave it out for good.
	alice.do("leave one out", chromedp.Click(chromedp.ID("target-3")),
		chromedp.Poll[chromedp.Void](`document.getElementById('select-all').indeterminate`),
		chromedp.Click(chromedp.ID("select-all")),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('input.target-check:checked').length === 21`),
		chromedp.Click(chromedp.ID("select-all")),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('input.target-check:checked').length === 0`),
		chromedp.Click(chromedp.ID("select-all")),
		chromedp.Click(chromedp.ID("target-3")),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('input.target-check:checked').length === 20`))
	left := found[2]
	fits(alice, "the public endpoints page")
	alice.screenshot("bulk-fleet")
	alice.do("justify", chromedp.SendKeys(chromedp.ID("justification"), "the dev fleet moved to VPC endpoints"),
		chromedp.SendKeys(chromedp.ID("ticket"), "OPS-418"))
	if resp := alice.submit("file", chromedp.ID("file-bulk")); resp.Status != http.StatusOK {
		t.Fatalf("filing answered %d", resp.Status)
	}
	alice.do("pending", chromedp.WaitVisible(chromedp.CSS(`#status[data-status="pending"]`)), chromedp.WaitVisible(chromedp.ID("targets-table")))
	loc := run(alice, "location", chromedp.Location())
	id := strings.TrimPrefix(strings.SplitN(loc, "?", 2)[0], a.url+"/requests/")
	if n := run(alice, "rows", chromedp.Evaluate[int](`document.querySelectorAll('#targets-table tr.target').length`)); n != 20 {
		t.Errorf("the bulk request has %d targets, want 20", n)
	}
	if text := alice.text("#targets-table"); strings.Contains(text, left) {
		t.Errorf("the endpoint left out (%s) was filed", left)
	}
	fits(alice, "the pending bulk request")
	// From here on alice's page must follow by itself: a reload would lose
	// the marker.
	alice.do("mark the page", chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true`))

	bob := a.browser(t, "bob")
	bob.signIn("bob")
	bob.open("/requests/" + id)
	bob.do("review", chromedp.WaitVisible(chromedp.ID("review")), chromedp.WaitVisible(chromedp.ID("review-list")))
	if hash, want := bob.text("#review-hash"), reqPayloadHash(t, a, id); len(want) != 64 || !strings.Contains(hash, want) {
		t.Errorf("the review shows payload %q, want %s", hash, want)
	}
	if n := run(bob, "review rows", chromedp.Evaluate[int](`document.querySelectorAll('#review-list tbody tr').length`)); n != 20 {
		t.Errorf("the review lists %d targets, want 20", n)
	}
	if targets := bob.text("#review-targets"); !strings.Contains(targets, "20 endpoints: 20 allowed, 0 denied") {
		t.Errorf("the review says %q", targets)
	}
	fits(bob, "the bulk review")
	bob.screenshot("bulk-review")
	bob.do("approve", chromedp.Click(chromedp.ID("approve")), chromedp.WaitVisible(chromedp.CSS(`#status[data-status="executing"], #status[data-status="succeeded"]`)))

	// alice's page moves part-way (the slow release holds one target),
	// offering to cancel the rest, then to done.
	alice.do("part-way", chromedp.Poll[chromedp.Void](`(() => {
		const p = document.getElementById('progress-bar');
		return p && +p.value > 0 && +p.value < +p.max && document.getElementById('cancel-rest') !== null;
	})()`, chromedp.WithPollingTimeout(30*time.Second)))
	if counts := alice.text("#progress-counts"); !strings.Contains(counts, "released") || !strings.Contains(counts, "remaining") {
		t.Errorf("the progress says %q", counts)
	}
	fits(alice, "the running bulk request")
	alice.screenshot("bulk-running")
	alice.do("done", chromedp.WaitVisible(chromedp.CSS(`.live-root[data-final="true"] #status[data-status="succeeded"]`)))
	if v := run(alice, "progress", chromedp.Evaluate[[]int](`(() => { const p = document.getElementById('progress-bar'); return [+p.value, +p.max]; })()`)); v[0] != 20 || v[1] != 20 {
		t.Errorf("the final progress bar is %v, want 20 of 20", v)
	}
	if !run(alice, "not reloaded", chromedp.Evaluate[bool](`window.__notReloaded === true`)) {
		t.Error("alice's page was reloaded")
	}
	type row struct {
		Status, Instance string
		IDs              []string
	}
	rows := run(alice, "outcomes", chromedp.Evaluate[[]row](`Array.from(document.querySelectorAll('#targets-table tr.target')).map(tr => ({
		Status: tr.getAttribute('data-status'),
		Instance: tr.querySelector('td:nth-child(4)').textContent.trim(),
		IDs: Array.from(tr.querySelectorAll('code.reqid')).map(c => c.textContent.trim()),
	}))`))
	answered := map[string]string{}
	for _, c := range appl.Sim.Calls() {
		if c.Action == "ReleaseInstanceConnection" && c.Code == "" {
			answered[c.RequestID] = c.Instance
		}
	}
	for _, r := range rows {
		if r.Status != string(request.StatusSucceeded) || len(r.IDs) == 0 {
			t.Errorf("target %s: %+v", r.Instance, r)
			continue
		}
		if inst := answered[r.IDs[len(r.IDs)-1]]; inst != r.Instance {
			t.Errorf("target %s shows RequestId %s, which the simulator answered for %q", r.Instance, r.IDs[len(r.IDs)-1], inst)
		}
	}
	if len(rows) != 20 {
		t.Errorf("%d target rows, want 20", len(rows))
	}
	for _, gone := range []string{"cancel-rest", "eta", "live-note"} {
		if run(alice, "stale "+gone, chromedp.Evaluate[bool](`document.getElementById('`+gone+`') !== null`)) {
			t.Errorf("the released bulk request still shows #%s", gone)
		}
	}
	fits(alice, "the released bulk request")
	alice.screenshot("bulk-released")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

package e2e

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/rdssim"
)

const xss = `<script>alert(1)</script>`

// TestBrowserE2E is the newcomer's walk through real Chromium: alice files
// a request with the Look up button and sees the decision; her XSS
// justification renders as text; she has no Approve button and a forged
// vote and a tokenless form are refused; bob, in another profile, approves
// from his inbox and watches the release reach succeeded without
// reloading; dave finds the events by Alibaba RequestId, downloads the CSV
// and asks the policy simulator. Each page is saved as a PNG: to a temporary
// directory, or to $RDSGATE_SCREENSHOTS_DIR (`make screenshots` refreshes
// docs/screenshots/).
func TestBrowserE2E(t *testing.T) {
	a := startApp(t)
	// The first release call is throttled (its code and documented message
	// show in the timeline), the retry is slow enough to watch "Releasing
	// now" turn into "Released" without a reload.
	for _, f := range []rdssim.Fault{
		{Instance: "rm-bp1devexample01", Action: aliyun.ActionReleaseInstanceConnection, Code: aliyun.CodeThrottlingUser, Times: 1},
		{Instance: "rm-bp1devexample01", Action: aliyun.ActionReleaseInstanceConnection, DelayMS: 2500, Times: 1},
	} {
		if err := a.sim.AddFault(f); err != nil {
			t.Fatal(err)
		}
	}

	// alice, requester.
	alice := a.browser(t, "alice")
	alice.open("/signin")
	alice.do("sign-in page", chromedp.WaitVisible(chromedp.ID("signin-alice")))
	alice.screenshot("signin")
	alice.signIn("alice")

	alice.open("/requests/new")
	alice.do("fill the instance", chromedp.WaitVisible(chromedp.ID("db_instance_id")),
		chromedp.SendKeys(chromedp.ID("db_instance_id"), "rm-bp1devexample01"))
	alice.submit("look up", chromedp.ID("lookup"))
	alice.do("lookup result", chromedp.WaitVisible(chromedp.ID("lookup-result")))
	if cs := run(alice, "picked connection string", chromedp.Value(chromedp.ID("connection_string"))); cs != "rm-bp1devexample01.mysql.rds.aliyuncs.com" {
		t.Fatalf("the lookup offered %q", cs)
	}
	if nt := run(alice, "network type", chromedp.Value(chromedp.ID("network_type"))); nt != "0" {
		t.Fatalf("network type after lookup: %q", nt)
	}
	alice.do("fill the rest",
		chromedp.SendKeys(chromedp.ID("justification"), "The app moved to the VPC endpoint last week; nothing connects over the public one."),
		chromedp.SendKeys(chromedp.ID("ticket"), "OPS-42"))
	alice.screenshot("new-request")
	if resp := alice.submit("submit", chromedp.ID("submit")); resp.Status != 200 {
		t.Fatalf("submit answered %d", resp.Status)
	}
	if h := alice.text("#headline"); h != "The policy allows this release once it is approved." {
		t.Fatalf("decision headline %q", h)
	}
	if next := alice.text("#next"); !strings.Contains(next, "1 from dba") {
		t.Fatalf("what happens next: %q", next)
	}
	alice.screenshot("decision")
	reqURL := run(alice, "location", chromedp.Location())
	reqPath := strings.TrimPrefix(strings.SplitN(reqURL, "?", 2)[0], a.url)

	// The requester never sees Approve, and the server refuses a forged vote.
	if hidden := run(alice, "no approve", chromedp.Evaluate[bool](`document.getElementById('approve') === null`)); !hidden {
		t.Fatal("alice sees an Approve button on her own request")
	}
	status := run(alice, "forged vote", chromedp.Evaluate[int](`fetch(location.pathname + '/vote', {method: 'POST', body: new URLSearchParams({
		_csrf: document.querySelector('input[name=_csrf]').value, decision: 'approve',
		payload_hash: document.getElementById('payload-hash').textContent.trim()})}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if status != 403 {
		t.Fatalf("alice's forged self-approval answered %d, want 403", status)
	}

	// An XSS justification shows as text and runs nothing.
	alice.open("/requests/new")
	alice.do("fill an XSS request", chromedp.WaitVisible(chromedp.ID("db_instance_id")),
		chromedp.SendKeys(chromedp.ID("db_instance_id"), "rm-bp1demo00000001"),
		chromedp.SendKeys(chromedp.ID("connection_string"), "rm-bp1demo00000001.mysql.rds.aliyuncs.com"),
		chromedp.SendKeys(chromedp.ID("justification"), xss),
		chromedp.SendKeys(chromedp.ID("ticket"), "OPS-43"))
	alice.submit("submit XSS", chromedp.ID("submit"))
	if got := alice.text("#justification"); got != xss {
		t.Fatalf("justification renders as %q", got)
	}
	if n := run(alice, "inline scripts", chromedp.Evaluate[int](`document.querySelectorAll('script:not([src]), #justification *').length`)); n != 0 {
		t.Fatalf("%d inline script or element nodes: the justification became markup", n)
	}

	// A form posted without its CSRF token is refused.
	alice.open("/requests/new")
	alice.do("fill a form without token", chromedp.WaitVisible(chromedp.ID("db_instance_id")),
		chromedp.SendKeys(chromedp.ID("db_instance_id"), "rm-bp1demo00000002"),
		chromedp.SendKeys(chromedp.ID("connection_string"), "rm-bp1demo00000002.mysql.rds.aliyuncs.com"),
		chromedp.SendKeys(chromedp.ID("justification"), "this form lost its CSRF token"),
		chromedp.SendKeys(chromedp.ID("ticket"), "OPS-44"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#new-request input[name=_csrf]').remove()`))
	if resp := alice.submit("submit without token", chromedp.ID("submit")); resp.Status != 403 {
		t.Fatalf("a form without its CSRF token answered %d, want 403", resp.Status)
	}
	if msg := alice.text("#error-message"); !strings.Contains(msg, "could not be verified") {
		t.Fatalf("CSRF refusal says %q", msg)
	}
	if n := alice.dialogs.Load(); n != 0 {
		t.Fatalf("%d JavaScript dialogs opened in alice's browser", n)
	}
	alice.stop()
	var filed int
	if err := a.pool.QueryRow(context.Background(), `SELECT count(*) FROM requests WHERE requester = 'alice'`).Scan(&filed); err != nil || filed != 2 {
		t.Fatalf("alice has %d requests (%v), want 2: the tokenless form must not file one", filed, err)
	}

	// bob, approver, in another profile.
	bob := a.browser(t, "bob")
	bob.signIn("bob")
	bob.open("/inbox")
	bob.do("inbox", chromedp.WaitVisible(chromedp.ID("inbox")),
		chromedp.WaitVisible(chromedp.CSS(`#inbox a[href="`+reqPath+`"]`)))
	if got := bob.text("#inbox"); !strings.Contains(got, xss) {
		t.Fatalf("the inbox does not show the XSS justification as text: %q", got)
	}
	bob.screenshot("inbox")
	bob.open(reqPath)
	bob.do("review", chromedp.WaitVisible(chromedp.ID("approve")),
		chromedp.SendKeys(chromedp.ID("comment"), "Checked the connection logs: no client on the public endpoint."))
	bob.submit("approve", chromedp.ID("approve"))
	bob.do("approved", chromedp.WaitVisible(chromedp.ID("flash")),
		chromedp.Evaluate[chromedp.Void](`window.e2eNoReload = true`))
	before := run(bob, "status after approving", chromedp.AttributeValue(chromedp.ID("status"), "data-status"))
	ctx, cancel := context.WithTimeout(bob.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#status[data-status="succeeded"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#attempts code.reqid`))); err != nil {
		t.Fatalf("bob: the request did not reach succeeded on the page (it showed %v): %v", before.Value, err)
	}
	if still := run(bob, "no reload", chromedp.Evaluate[bool](`window.e2eNoReload === true`)); !still {
		t.Fatal("the page reloaded instead of updating in place")
	}
	t.Logf("status after approving: %s; then updated in place to succeeded", before.Value)
	if got := bob.text("#attempts"); !strings.Contains(got, aliyun.CodeThrottlingUser) || !strings.Contains(got, aliyun.MessageFlowControl) {
		t.Fatalf("the attempts do not show the throttled call with its documented message: %q", got)
	}
	bob.screenshot("request")
	bob.stop()

	var ali string
	if err := a.pool.QueryRow(context.Background(), `SELECT alibaba_request_id FROM audit_events
WHERE kind = 'execution.succeeded'`).Scan(&ali); err != nil || ali == "" {
		t.Fatalf("the success event has no Alibaba RequestId: %q %v", ali, err)
	}

	// dave, auditor: finds the trail and exports it.
	dave := a.browser(t, "dave")
	dave.signIn("dave")
	dave.open("/audit")
	dave.do("filter by instance", chromedp.WaitVisible(chromedp.ID("f-instance")),
		chromedp.SendKeys(chromedp.ID("f-instance"), "rm-bp1devexample01"))
	dave.submit("search", chromedp.ID("search"))
	dave.do("results", chromedp.WaitVisible(chromedp.ID("audit-events")))
	if got := dave.text("#integrity"); !strings.Contains(got, "Chain intact") {
		t.Fatalf("integrity: %q", got)
	}
	dave.screenshot("audit")
	dave.open("/audit")
	dave.do("filter by RequestId", chromedp.WaitVisible(chromedp.ID("f-reqid")), chromedp.SendKeys(chromedp.ID("f-reqid"), ali))
	dave.submit("search by RequestId", chromedp.ID("search"))
	if got := dave.text("#audit-events tbody"); !strings.Contains(got, ali) || !strings.Contains(got, "execution.succeeded") {
		t.Fatalf("searching RequestId %s found %q", ali, got)
	}
	csvText := dave.download("export CSV", chromedp.ID("export-csv"))
	rows, err := csv.NewReader(strings.NewReader(csvText)).ReadAll()
	if err != nil || len(rows) < 2 || rows[0][0] != "type" || !strings.Contains(csvText, ali) || !strings.Contains(csvText, "execution.succeeded") {
		t.Fatalf("the CSV export (%v):\n%s", err, csvText)
	}

	dave.open("/policy/simulate")
	dave.do("ask the simulator", chromedp.WaitVisible(chromedp.ID("sim-user")),
		chromedp.SetValue(chromedp.ID("sim-user"), "mallory"),
		chromedp.SendKeys(chromedp.ID("sim-instance"), "rm-bp1prodexample1"),
		chromedp.SendKeys(chromedp.ID("sim-cs"), "rm-bp1prodexample1.mysql.rds.aliyuncs.com"),
		chromedp.SendKeys(chromedp.ID("sim-ticket"), "OPS-45"))
	dave.submit("run the simulator", chromedp.ID("sim-run"))
	if v := dave.text("#sim-verdict"); v != "No — mallory would be refused." {
		t.Fatalf("simulator verdict %q", v)
	}
	if why := dave.text("#sim-result"); !strings.Contains(why, "DenyProdRelease") {
		t.Fatalf("simulator reasons: %q", why)
	}
	dave.screenshot("simulator")

	// The README's screenshots, all taken.
	for _, name := range []string{"signin", "new-request", "decision", "inbox", "request", "audit", "simulator"} {
		checkPNG(t, filepath.Join(a.shots, name+".png"))
	}
}

// download clicks a download link and returns the saved file's content.
func (p *profile) download(what string, sel chromedp.ID) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: p.dlDir, EventsEnabled: new(true)}); err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, what, err)
	}
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	if err := chromedp.Do(ctx, chromedp.Click(sel)); err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, what, err)
	}
	for ev, err := range progress {
		if err != nil {
			p.t.Fatalf("%s: %s: waiting for the download: %v", p.name, what, err)
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			b, err := os.ReadFile(filepath.Join(p.dlDir, ev.GUID))
			if err != nil {
				p.t.Fatalf("%s: %s: %v", p.name, what, err)
			}
			return string(b)
		case browser.DownloadProgressStateCanceled:
			p.t.Fatalf("%s: %s: the download was cancelled", p.name, what)
		}
	}
	p.t.Fatalf("%s: %s: no download", p.name, what)
	return ""
}

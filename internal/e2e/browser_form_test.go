package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserFormChecksE2E: in Chromium, form.js checks the new-request
// form against the policy as alice types: the ticket's and the
// justification's problems appear beside them (aria-invalid,
// aria-describedby) and go once corrected; "Check with policy" shows the
// verdict in place. Nothing is filed.
func TestBrowserFormChecksE2E(t *testing.T) {
	a := startApp(t)
	alice := a.browser(t, "alice")
	alice.signIn("alice")
	alice.open("/requests/new")
	alice.do("type a request with typos", chromedp.WaitVisible(chromedp.ID("db_instance_id")),
		chromedp.SendKeys(chromedp.ID("db_instance_id"), "rm-bp1devexample01"),
		chromedp.SendKeys(chromedp.ID("connection_string"), "rm-bp1devexample01.mysql.rds.aliyuncs.com"),
		chromedp.SendKeys(chromedp.ID("justification"), "cleanup"),
		chromedp.SendKeys(chromedp.ID("ticket"), "ops 42"))
	alice.do("the problems appear", chromedp.WaitVisible(chromedp.ID("ticket-error")), chromedp.WaitVisible(chromedp.ID("justification-error")))
	if got := alice.text("#ticket-error"); got != `"ops 42" is not a ticket in the required form: write one like OPS-123.` {
		t.Errorf("ticket problem %q", got)
	}
	if got := alice.text("#justification-error"); !strings.HasPrefix(got, "Write at least 10 characters (now 7)") {
		t.Errorf("justification problem %q", got)
	}
	attrs := run(alice, "ticket attributes", chromedp.Evaluate[string](
		`(() => { const e = document.getElementById('ticket'); return e.getAttribute('aria-invalid') + '|' + e.getAttribute('aria-describedby'); })()`))
	if attrs != "true|ticket-hint ticket-error" {
		t.Errorf("ticket aria-invalid|aria-describedby = %q", attrs)
	}
	// The untouched region and the correct fields carry no problem, and
	// typing shows no verdict box.
	if n := run(alice, "other problems", chromedp.Evaluate[int](
		`document.querySelectorAll('.field-error').length + (document.getElementById('verdict').hidden ? 0 : 10)`)); n != 2 {
		t.Errorf("%d: want the two problems and no verdict box while typing", n)
	}

	// Corrected, the ticket's problem goes.
	alice.do("correct the ticket", chromedp.Evaluate[chromedp.Void](`document.getElementById('ticket').value = ''`), chromedp.SendKeys(chromedp.ID("ticket"), "OPS-42"),
		chromedp.WaitNotPresent(chromedp.ID("ticket-error")))
	if got := run(alice, "ticket aria-invalid", chromedp.Evaluate[bool](`document.getElementById('ticket').hasAttribute('aria-invalid')`)); got {
		t.Error("the corrected ticket is still marked invalid")
	}
	// "Check with policy" answers in place: still the justification.
	alice.do("check", chromedp.Click(chromedp.ID("check")), chromedp.WaitVisible(chromedp.CSS("#verdict.verdict-bad")))
	if got := alice.text("#verdict-headline"); got != "Fix the fields marked below; nothing is filed until you submit." {
		t.Errorf("verdict %q", got)
	}
	alice.do("correct the justification and check",
		chromedp.SendKeys(chromedp.ID("justification"), ": the app moved to the VPC endpoint"),
		chromedp.Click(chromedp.ID("check")), chromedp.WaitVisible(chromedp.CSS("#verdict.verdict-ok")),
		chromedp.WaitNotPresent(chromedp.ID("justification-error")))
	if got := alice.text("#verdict-headline"); got != "The policy would allow this request. Once filed, it needs 1 approval(s): 1 from dba." {
		t.Errorf("verdict %q", got)
	}
	if path := run(alice, "location", chromedp.Evaluate[string](`location.pathname`)); path != "/requests/new" {
		t.Errorf("the check navigated to %s", path)
	}
	var filed int
	if err := a.pool.QueryRow(context.Background(), `SELECT count(*) FROM requests`).Scan(&filed); err != nil || filed != 0 {
		t.Fatalf("%d requests (%v): checking must file nothing", filed, err)
	}
	if n := alice.dialogs.Load(); n != 0 {
		t.Fatalf("%d JavaScript dialogs", n)
	}
}

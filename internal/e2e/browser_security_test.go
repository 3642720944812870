package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// TestBrowserSecurity walks three attacks in Chromium: a page on a name
// rebound to 127.0.0.1 gets no sign-in form; a form on another site posts
// a vote with the approver's session and is refused; and reading the audit
// trail leaves its own audit event.
func TestBrowserSecurity(t *testing.T) {
	a := startApp(t)
	port := a.url[strings.LastIndex(a.url, ":"):]

	// DNS rebinding: the dev sign-in answers loopback names only.
	visitor := a.browser(t, "visitor")
	ctx, cancel := context.WithTimeout(visitor.ctx, 30*time.Second)
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate("http://rebind.test"+port+"/signin"))
	cancel()
	if err != nil || resp.Status != http.StatusMisdirectedRequest {
		t.Fatalf("rebound name: %v %+v, want 421", err, resp)
	}

	// Cross-site request forgery against a signed-in approver.
	r, err := a.svc.File(context.Background(), lifecycle.Actor{Subject: "alice", Groups: []string{"developers"}},
		request.Spec{RegionID: "cn-hangzhou", DBInstanceID: "rm-bp1devexample01",
			ConnectionString: "rm-bp1devexample01.mysql.rds.aliyuncs.com", NetworkType: "0",
			Justification: "retiring the public endpoint", Ticket: "OPS-9"}, false)
	if err != nil {
		t.Fatal(err)
	}
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<html><body><form method="POST" action="%s/requests/%s/vote">
<input name="decision" value="approve"><input name="payload_hash" value="%s"></form>
<script>document.forms[0].submit()</script></body></html>`, a.url, r.ID, r.PayloadHash)
	}))
	t.Cleanup(attacker.Close)
	bob := a.browser(t, "bob")
	bob.signIn("bob")
	attackerPort := attacker.URL[strings.LastIndex(attacker.URL, ":"):]
	bob.do("attacker page", chromedp.Navigate("http://attacker.test"+attackerPort+"/"),
		chromedp.WaitVisible(chromedp.ID("error-message")))
	if msg := run(bob, "refusal", chromedp.Text(chromedp.ID("error-message"))); !strings.Contains(msg, "another site") {
		t.Errorf("the forged vote was answered %q", msg)
	}
	if raw := run(bob, "refusal's technical detail", chromedp.TextContent(chromedp.ID("error-raw"))); !strings.Contains(raw, "cross-origin") {
		t.Errorf("the refusal's technical detail is %q, want the cross-origin check named", raw)
	}
	if got, err := a.svc.Get(context.Background(), r.ID); err != nil || got.Status != request.StatusPending || len(got.Votes) != 0 {
		t.Fatalf("after the forged vote: %+v %v, want it pending without votes", got, err)
	}

	// Reading the audit trail is on the audit trail.
	dave := a.browser(t, "dave")
	dave.signIn("dave")
	dave.open("/audit?actor=alice")
	dave.do("audit page", chromedp.WaitVisible(chromedp.ID("integrity")))
	var n int
	if err := a.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE actor = 'dave' AND kind = 'audit.searched'
    AND payload->'filters'->>'actor' = 'alice'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("dave's search recorded %d times (%v)", n, err)
	}
}

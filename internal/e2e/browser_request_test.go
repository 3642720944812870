package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

var (
	aliceActor = lifecycle.Actor{Subject: "alice", Groups: []string{"developers"}}
	bobActor   = lifecycle.Actor{Subject: "bob", Groups: []string{"dba"}}
	carolActor = lifecycle.Actor{Subject: "carol", Groups: []string{"security"}}
)

// file files a request for instance as alice, through the use case.
func (a *app) file(t *testing.T, instance, justification string) *request.Request {
	t.Helper()
	r, err := a.svc.File(context.Background(), aliceActor, request.Spec{RegionID: "cn-hangzhou", DBInstanceID: instance,
		ConnectionString: instance + ".mysql.rds.aliyuncs.com", NetworkType: "0", Justification: justification, Ticket: "OPS-7"}, false)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// approve records who's approval of r, outside any page.
func (a *app) approve(t *testing.T, who lifecycle.Actor, r *request.Request) {
	t.Helper()
	if _, err := a.svc.Vote(context.Background(), who, r.ID, lifecycle.VoteInput{Decision: request.Approve,
		PayloadHash: r.PayloadHash.String()}); err != nil {
		t.Fatal(err)
	}
}

// staleParts lists what of a request page only a request that can still
// change may show: forms, "still open", promises of what comes next.
const staleParts = `(() => {
	const found = [];
	for (const sel of ['#cancel', '#vote', '#approve', '#reject', '#review', '#refresh', '#expires', '#still-open', '#live-note']) {
		if (document.querySelector(sel)) { found.push(sel); }
	}
	const text = document.getElementById('live').innerText;
	for (const s of ['Still open', 'updates by itself', 'starts within seconds', 'Nobody has voted yet', 'No calls to Alibaba Cloud yet', 'Waiting for approval']) {
		if (text.includes(s)) { found.push(s); }
	}
	return found;
})()`

// TestBrowserRequestPageFollows: a request page open in the browser follows
// changes made elsewhere without a reload. alice's pending request is
// approved by bob outside her page and released through the simulator; her
// page turns final in place and then shows no part of the pending page
// (cancel form, "still open", "updates by itself"). And bob's review keeps
// the comment he is typing when carol's approval changes the page under it.
func TestBrowserRequestPageFollows(t *testing.T) {
	a := startApp(t)
	r := a.file(t, "rm-bp1devexample01", "the app moved to the VPC endpoint")
	alice := a.browser(t, "alice")
	alice.signIn("alice")
	alice.open("/requests/" + r.ID.String())
	alice.do("pending page", chromedp.WaitVisible(chromedp.ID("cancel")), chromedp.WaitVisible(chromedp.CSS("#live-note .js-only")),
		chromedp.Evaluate[chromedp.Void](`window.e2eNoReload = true`))
	if got := run(alice, "pending parts", chromedp.Evaluate[[]string](staleParts)); len(got) < 4 {
		t.Fatalf("the pending page shows only %v of the parts a final page must not show: the check proves nothing", got)
	}

	a.approve(t, bobActor, r)
	alice.do("the page turns final by itself", chromedp.WaitVisible(chromedp.CSS(`#status[data-status="succeeded"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.live-root[data-final="true"] #attempts`)))
	if got := run(alice, "stale parts", chromedp.Evaluate[[]string](staleParts)); len(got) > 0 {
		t.Errorf("the released request's page still shows %v", got)
	}
	if h := alice.text("#headline"); h != "Released." {
		t.Errorf("headline %q", h)
	}
	if v := alice.text("#votes"); !strings.Contains(v, "bob") {
		t.Errorf("the approvals do not show bob's vote: %q", v)
	}
	if still := run(alice, "no reload", chromedp.Evaluate[bool](`window.e2eNoReload === true`)); !still {
		t.Fatal("the page reloaded instead of updating in place")
	}
	// The inserted times are localised like the rest of the page.
	if n := run(alice, "unlocalised times", chromedp.Evaluate[int](`Array.from(document.querySelectorAll('#live time.local'))
		.filter(e => e.textContent === e.getAttribute('title')).length`)); n > 0 {
		t.Errorf("%d times in the swapped-in part are still in UTC", n)
	}

	// bob reviews a production request that needs dba and security, and
	// types a comment; carol approves meanwhile.
	prod := a.file(t, "rm-bp1prodexample1", "the production endpoint is unused since the VPC move")
	bob := a.browser(t, "bob")
	bob.signIn("bob")
	bob.open("/requests/" + prod.ID.String() + "#review")
	bob.do("review", chromedp.WaitVisible(chromedp.ID("approve")), chromedp.SendKeys(chromedp.ID("comment"), "checked the logs"))
	if e := bob.text("#vote-effect"); e != "After yours, 1 more approval from security is needed." {
		t.Fatalf("before carol's approval the review says %q", e)
	}
	// The page asks every 2 s: carol's vote shows within that and the
	// round trips (5 s leaves room for a slow machine; the old 10 s poll of
	// a pending page would miss it).
	a.approve(t, carolActor, prod)
	bob.do("carol's vote arrives", chromedp.Poll[chromedp.Void](`(document.getElementById('vote-effect') || {}).textContent ===
		'Your approval completes the approvals: the release starts at once.'`, chromedp.WithPollingTimeout(5*time.Second)))
	if c := run(bob, "comment", chromedp.Value(chromedp.ID("comment"))); c != "checked the logs" {
		t.Errorf("the comment bob was typing became %q", c)
	}
	if v := bob.text("#votes"); !strings.Contains(v, "carol") {
		t.Errorf("carol's vote is not listed: %q", v)
	}
	if n := bob.dialogs.Load() + alice.dialogs.Load(); n != 0 {
		t.Fatalf("%d JavaScript dialogs opened", n)
	}
}

// TestNarrowInboxAndRequestFit: at a 390 px viewport the inbox, a review, a
// released request with its votes, timeline and attempts, My votes and a
// requester's pending request with its cancel form fit the screen: nothing
// scrolls sideways.
func TestNarrowInboxAndRequestFit(t *testing.T) {
	a := startApp(t)
	prod := a.file(t, "rm-bp1prodexample1", strings.Repeat("the production endpoint is unused since the VPC move; ", 4)+
		strings.Repeat("x", 90))
	a.file(t, "rm-bp1demo00000001", "the demo endpoint is unused")
	released := a.file(t, "rm-bp1devexample01", "the app moved to the VPC endpoint")
	a.approve(t, bobActor, released)
	a.approve(t, bobActor, prod)

	bob := a.browser(t, "bob")
	bob.signIn("bob")
	bob.do("390 px viewport", chromedp.EmulateViewport(narrowWidth, 844))
	carol := a.browser(t, "carol")
	carol.signIn("carol")
	carol.do("390 px viewport", chromedp.EmulateViewport(narrowWidth, 844))
	alice := a.browser(t, "alice")
	alice.signIn("alice")
	alice.do("390 px viewport", chromedp.EmulateViewport(narrowWidth, 844))
	for _, c := range []struct {
		p          *profile
		path, wait string
		shot       string
	}{
		{carol, "/inbox", "#inbox tbody tr", "narrow-inbox"},
		{carol, "/requests/" + prod.ID.String(), "#review", "narrow-review"},
		{bob, "/requests/" + released.ID.String(), `.live-root[data-final="true"] #attempts`, "narrow-request"},
		{bob, "/votes", "#my-votes tbody tr", "narrow-votes"},
		{alice, "/requests/" + prod.ID.String(), "#cancel", "narrow-own-request"},
	} {
		c.p.open(c.path)
		c.p.do("wait for "+c.wait, chromedp.WaitVisible(chromedp.CSS(c.wait)))
		if w := run(c.p, "scroll width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > narrowWidth {
			t.Errorf("%s at %d px: the page is %d px wide", c.path, narrowWidth, w)
		}
		if out := run(c.p, "overflowing elements", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('body *'))
			.filter(e => !e.closest('thead') && !e.closest('.visually-hidden') && e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
			.map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className)`)); len(out) > 0 {
			t.Errorf("%s: elements beyond the right edge: %v", c.path, out)
		}
		c.p.screenshot(c.shot)
	}
}

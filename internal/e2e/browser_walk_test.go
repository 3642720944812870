package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	rdsapp "github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/apptest"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/notify"
)

// delivery is one signed webhook notification the walk's receiver got.
type delivery struct {
	Type      string `json:"type"`
	RequestID string `json:"request_id"`
	URL       string `json:"url"`
}

// TestBrowserWalkE2E is issue 17's walk, in English and in Chinese:
// alice types a ticket with a typo and a short justification, sees the
// hints and the policy's check before filing, corrects and files; bob opens
// the link of the signed notification he was sent, reviews (production or
// not, the payload hash, what his vote completes) and approves; alice's
// page, open all along, turns final with no stale part. Every page of the
// walk fits a 390 px screen.
func TestBrowserWalkE2E(t *testing.T) {
	for _, lang := range []string{"en", "zh-CN"} {
		t.Run(lang, func(t *testing.T) { walk(t, lang) })
	}
}

func walk(t *testing.T, lang string) {
	secret := "walk-secret"
	got := make(chan delivery, 64)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.Verify([]byte(secret), r.Header.Get("X-Rdsgate-Signature"), r.Header.Get("X-Rdsgate-Timestamp"), body, time.Now(), time.Minute); err != nil {
			t.Errorf("a notification with a bad signature: %v", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var d delivery
		if err := json.Unmarshal(body, &d); err != nil {
			t.Errorf("notification body: %v", err)
		}
		got <- d
	}))
	t.Cleanup(recv.Close)
	appl := apptest.Start(t, func(c *rdsapp.Config) {
		c.Executor = executor.Config{Workers: 2, MaxAttempts: 4, LimiterHorizon: 2 * time.Second,
			BackoffBase: 200 * time.Millisecond, BackoffMax: time.Second, ReconcileDelay: 200 * time.Millisecond,
			JobTimeout: 30 * time.Second, RescueAfter: 45 * time.Second}
		c.Notify.Webhook = notify.Endpoint{URL: recv.URL, Secret: secret}
		c.Notify.RetryMin, c.Notify.RetryMax = 100*time.Millisecond, time.Second
	})
	a := &app{url: appl.URL, pool: appl.Pool, sim: appl.Sim, svc: appl.Requests, shots: screenshotDir(t)}
	zh := lang == "zh-CN"
	shot := func(p *profile, name string) {
		if zh {
			name = "zh-" + name
		}
		p.screenshot(name)
	}
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
	alice.open("/requests/new")
	if zh {
		alice.do("switch to Chinese", chromedp.WaitVisible(chromedp.ID("lang-switch")), chromedp.Click(chromedp.ID("lang-switch")),
			chromedp.WaitVisible(chromedp.CSS(`html[lang="zh-CN"] #db_instance_id`)))
	}
	// The org rules are hints before anything is typed.
	hint := alice.text("#ticket-hint")
	if !strings.Contains(hint, "OPS-123") {
		t.Errorf("ticket hint %q", hint)
	}
	if zh && !strings.Contains(hint, "工单") {
		t.Errorf("the Chinese page's ticket hint is %q", hint)
	}
	alice.do("type with typos", chromedp.WaitVisible(chromedp.ID("db_instance_id")),
		chromedp.SendKeys(chromedp.ID("db_instance_id"), "rm-bp1devexample01"),
		chromedp.SendKeys(chromedp.ID("connection_string"), "rm-bp1devexample01.mysql.rds.aliyuncs.com"),
		chromedp.SendKeys(chromedp.ID("justification"), "cleanup"),
		chromedp.SendKeys(chromedp.ID("ticket"), "ops 42"),
		chromedp.WaitVisible(chromedp.ID("ticket-error")), chromedp.WaitVisible(chromedp.ID("justification-error")))
	alice.do("check with policy", chromedp.Click(chromedp.ID("check")), chromedp.WaitVisible(chromedp.CSS("#verdict.verdict-bad")))
	fits(alice, "the new-request form")
	shot(alice, "walk-check")
	alice.do("correct both", chromedp.Evaluate[chromedp.Void](`document.getElementById('ticket').value = ''`),
		chromedp.SendKeys(chromedp.ID("ticket"), "OPS-42"),
		chromedp.SendKeys(chromedp.ID("justification"), ": the app moved to the VPC endpoint"),
		chromedp.Click(chromedp.ID("check")), chromedp.WaitVisible(chromedp.CSS("#verdict.verdict-ok")))
	if resp := alice.submit("file", chromedp.ID("submit")); resp.Status != http.StatusOK {
		t.Fatalf("filing answered %d", resp.Status)
	}
	reqURL := run(alice, "location", chromedp.Location())
	id := strings.TrimPrefix(strings.SplitN(reqURL, "?", 2)[0], a.url+"/requests/")
	alice.do("pending", chromedp.WaitVisible(chromedp.CSS(`#status[data-status="pending"]`)), chromedp.WaitVisible(chromedp.ID("cancel")))
	fits(alice, "the pending request")

	// bob is told, and the link opens the request.
	var link string
	for link == "" {
		select {
		case d := <-got:
			if d.Type == "request.pending" && d.RequestID == id {
				link = d.URL
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no request.pending notification reached the receiver")
		}
	}
	if link != a.url+"/requests/"+id {
		t.Fatalf("the notification links to %q, want the request's page", link)
	}
	bob := a.browser(t, "bob")
	bob.signIn("bob")
	if zh {
		bob.open("/lang/zh-CN?next=/")
	}
	bob.do("the notification's link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("review")))
	if env := bob.text("#review-env"); env == "" {
		t.Error("the review shows no environment")
	}
	if hash, want := bob.text("#review-hash"), reqPayloadHash(t, a, id); len(want) != 64 || !strings.Contains(hash, want) {
		t.Errorf("the review shows payload %q", hash)
	}
	if effect := bob.text("#vote-effect"); effect == "" {
		t.Error("the review does not say what the vote completes")
	}
	fits(bob, "the review")
	shot(bob, "walk-review")
	bob.do("approve", chromedp.Click(chromedp.ID("approve")), chromedp.WaitVisible(chromedp.CSS(`#status[data-status]`)))

	// alice's page, never reloaded, turns final and nothing on it is stale.
	alice.do("released in place", chromedp.WaitVisible(chromedp.CSS(`.live-root[data-final="true"] #status[data-status="succeeded"]`)))
	stale := run(alice, "stale parts", chromedp.Evaluate[[]string](`(() => {
		const out = [];
		for (const id of ['cancel', 'vote', 'still-open', 'expires', 'live-note', 'refresh']) {
			if (document.getElementById(id)) out.push(id);
		}
		const text = document.body.innerText;
		for (const s of ['Still open', 'updates by itself', 'within seconds', 'Nobody has voted yet', '仍需']) {
			if (text.includes(s)) out.push(s);
		}
		return out;
	})()`))
	if len(stale) > 0 {
		t.Errorf("the final page still shows %v", stale)
	}
	if zh {
		if title := alice.text("#status"); title != "已释放" {
			t.Errorf("the Chinese page's status is %q", title)
		}
	}
	notified := map[bool]string{false: "Notified through webhook: request.pending", true: "已通过 webhook 通知：request.pending"}[zh]
	if text := alice.text("#timeline"); !strings.Contains(text, notified) {
		t.Errorf("the timeline does not say %q:\n%s", notified, text)
	}
	fits(alice, "the released request")
	shot(alice, "walk-released")
	for _, want := range []string{"request.approved", "execution.succeeded"} {
		for seen := false; !seen; {
			select {
			case d := <-got:
				seen = d.Type == want && d.RequestID == id
			case <-time.After(30 * time.Second):
				t.Fatalf("no %s notification", want)
			}
		}
	}
}

// reqPayloadHash is the request's payload hash as stored.
func reqPayloadHash(t *testing.T, a *app, id string) string {
	t.Helper()
	var h string
	if err := a.pool.QueryRow(t.Context(), `SELECT encode(payload_hash, 'hex') FROM requests WHERE id = $1`, id).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/internal/i18n"
	ui "github.com/rdsgate/rdsgate/web"
)

// getIn GETs path as c with an Accept-Language header ("" sends none).
func (c *client) getIn(path, acceptLanguage string) (int, string, *http.Response) {
	c.env.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.env.url+path, nil)
	if acceptLanguage != "" {
		req.Header.Set("Accept-Language", acceptLanguage)
	}
	return c.do(req)
}

const zhAccept = "zh-CN,zh;q=0.9"

var langSwitchRe = regexp.MustCompile(`<a href="([^"]*)"[^>]*id="lang-switch"`)

// langSwitch is the footer's language switch of body: the language it
// switches to and the next address it returns to.
func langSwitch(t *testing.T, body string) (lang, next string) {
	t.Helper()
	m := langSwitchRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no language switch on the page:\n%s", excerpt(body))
	}
	u, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatalf("switch link %q: %v", m[1], err)
	}
	if !strings.HasPrefix(u.Path, "/lang/") || u.Host != "" {
		t.Fatalf("switch link %q is not /lang/…", m[1])
	}
	return strings.TrimPrefix(u.Path, "/lang/"), u.Query().Get("next")
}

// TestLanguageFromAcceptLanguage: without a choice the browser's
// Accept-Language picks the language, and every page says it varies on it.
func TestLanguageFromAcceptLanguage(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	alice := env.as("alice")

	_, body, resp := alice.getIn("/", zhAccept)
	for _, want := range []string{`<html lang="zh-CN">`, ">新建申请</a>", ">我的申请</a>", ">策略模拟</a>", "退出登录", "alice，你好", "提交释放申请"} {
		if !strings.Contains(body, want) {
			t.Errorf("zh-CN home lacks %q:\n%s", want, excerpt(body))
		}
	}
	for _, english := range []string{">New request</a>", "Hello, alice", "File a release request", "Sign out"} {
		if strings.Contains(body, english) {
			t.Errorf("zh-CN home still says %q", english)
		}
	}
	if !varies(resp) {
		t.Errorf("zh-CN home: Vary %q lacks Accept-Language", resp.Header.Values("Vary"))
	}

	for _, accept := range []string{"en", "", "fr-FR,fr;q=0.9", "en-GB,zh-CN;q=0.5"} {
		_, body, resp = alice.getIn("/", accept)
		for _, want := range []string{`<html lang="en">`, ">New request</a>", ">My requests</a>", "Hello, alice", "File a release request"} {
			if !strings.Contains(body, want) {
				t.Errorf("Accept-Language %q: the home page lacks %q", accept, want)
			}
		}
		if strings.Contains(body, "新建申请") {
			t.Errorf("Accept-Language %q: the home page is in Chinese", accept)
		}
		if !varies(resp) {
			t.Errorf("Accept-Language %q: Vary %q lacks Accept-Language", accept, resp.Header.Values("Vary"))
		}
	}
	// A region-less or script-tagged Chinese is Chinese too.
	for _, accept := range []string{"zh", "zh-Hans-CN", "de;q=0.8, zh-CN;q=0.9"} {
		if _, body, _ := alice.getIn("/", accept); !strings.Contains(body, `<html lang="zh-CN">`) {
			t.Errorf("Accept-Language %q: not Chinese", accept)
		}
	}

	// The public sign-in page is translated too, title included.
	anon := env.client()
	st, body, resp := anon.getIn("/signin", zhAccept)
	for _, want := range []string{`<html lang="zh-CN">`, "<title>登录 · rdsgate</title>", "<h1>登录 rdsgate</h1>", "开发登录", "不可用于生产", "组：", `id="dev-banner">开发登录 — 不可用于生产`} {
		if !strings.Contains(body, want) {
			t.Errorf("zh-CN sign-in page (%d) lacks %q:\n%s", st, want, excerpt(body))
		}
	}
	if strings.Contains(body, "Sign in to rdsgate") || strings.Contains(body, "Pick one of the example users") {
		t.Errorf("zh-CN sign-in page has English left:\n%s", excerpt(body))
	}
	if !varies(resp) {
		t.Errorf("sign-in page: Vary %q lacks Accept-Language", resp.Header.Values("Vary"))
	}
	if _, body, _ = anon.getIn("/signin", "en"); !strings.Contains(body, "<h1>Sign in to rdsgate</h1>") || !strings.Contains(body, "<title>Sign in · rdsgate</title>") {
		t.Errorf("en sign-in page:\n%s", excerpt(body))
	}
	if _, body, _ = anon.getIn("/signin?signed_out=1", zhAccept); !strings.Contains(body, "你已退出登录。") {
		t.Errorf("zh-CN signed-out note missing:\n%s", excerpt(body))
	}

	// The simulator: its form, its verdict and the approvals it would need.
	_, body, _ = alice.getIn("/policy/simulate?run=1&region_id=cn-hangzhou&db_instance_id=rm-bp1prodexample1&network_type=0&ticket=OPS-1", zhAccept)
	for _, want := range []string{"<title>策略模拟 · rdsgate</title>", "可以 — alice 可以提交此释放申请。", "实例 ID", "工单", "询问策略", "专有网络 VPC (0)", "策略版本"} {
		if !strings.Contains(body, want) {
			t.Errorf("zh-CN simulator lacks %q:\n%s", want, excerpt(body))
		}
	}
	// What the request would need next is the page's (the reasons are the
	// policy's own, in its words).
	if m := regexp.MustCompile(`id="sim-then">([^<]*)<`).FindStringSubmatch(body); m == nil ||
		m[1] != "提交后还需要 2 个批准："+zhList(t, "dba", "security")+"。环境：production。" {
		t.Errorf("zh-CN simulator: what next is %q", m)
	}
	_, body, _ = env.as("dave").getIn("/policy/simulate?run=1&user=mallory&region_id=cn-hangzhou&db_instance_id=rm-bp1prodexample1&network_type=0", zhAccept)
	if !strings.Contains(body, "不可以 — mallory 的申请会被拒绝。") {
		t.Errorf("zh-CN simulator, mallory:\n%s", excerpt(body))
	}
	st, body, _ = env.as("dave").getIn("/policy/simulate?run=1&user=nobody&region_id=cn-hangzhou&db_instance_id=rm-bp1prodexample1", zhAccept)
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, "策略数据中没有用户 &#34;nobody&#34;") {
		t.Errorf("zh-CN simulator, unknown user: %d\n%s", st, excerpt(body))
	}
}

// varies reports whether resp says it depends on Accept-Language.
func varies(resp *http.Response) bool {
	for _, v := range resp.Header.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "Accept-Language") {
				return true
			}
		}
	}
	return false
}

// TestLanguageSwitch: /lang/{en|zh-CN} remembers the choice in a cookie that
// wins over Accept-Language and returns to the page it was clicked on, on
// this site only; the switch on every page names the other language and
// the page itself.
func TestLanguageSwitch(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	bob := env.as("bob")

	st, _, resp := bob.getIn("/lang/zh-CN?next=/inbox", "en")
	if st != http.StatusSeeOther || resp.Header.Get("Location") != "/inbox" {
		t.Fatalf("/lang/zh-CN?next=/inbox: %d to %q", st, resp.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "rdsgate_lang" {
			ck = c
		}
	}
	if ck == nil {
		t.Fatalf("no rdsgate_lang cookie: %q", resp.Header.Values("Set-Cookie"))
	}
	if ck.Value != "zh-CN" || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.MaxAge <= 0 {
		t.Errorf("rdsgate_lang cookie: %+v (Set-Cookie %q)", ck, resp.Header.Values("Set-Cookie"))
	}

	// The cookie wins over Accept-Language.
	_, body, _ := bob.getIn("/inbox", "en-US,en;q=0.9")
	if !strings.Contains(body, `<html lang="zh-CN">`) || !strings.Contains(body, ">待审批</a>") {
		t.Errorf("with the zh-CN cookie and Accept-Language en the inbox is not Chinese:\n%s", excerpt(body))
	}
	// The switch points to the other language and back to this page.
	if lang, next := langSwitch(t, body); lang != "en" || next != "/inbox" {
		t.Errorf("zh-CN inbox: switch to %q, next %q; want en, /inbox", lang, next)
	}
	_, body, _ = bob.getIn("/requests?status=pending", "en")
	if lang, next := langSwitch(t, body); lang != "en" || next != "/requests?status=pending" {
		t.Errorf("zh-CN my requests: switch to %q, next %q", lang, next)
	}

	// Back to English, Accept-Language Chinese: the cookie still wins.
	st, _, resp = bob.getIn("/lang/en?next=/", zhAccept)
	if st != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("/lang/en: %d to %q", st, resp.Header.Get("Location"))
	}
	_, body, _ = bob.getIn("/inbox", zhAccept)
	if !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, ">Inbox</a>") {
		t.Errorf("with the en cookie and Accept-Language zh-CN the inbox is not English:\n%s", excerpt(body))
	}
	if lang, next := langSwitch(t, body); lang != "zh-CN" || next != "/inbox" {
		t.Errorf("en inbox: switch to %q, next %q; want zh-CN, /inbox", lang, next)
	}

	// No open redirect: only a path on this site is a return address.
	anon := env.client()
	for _, next := range []string{"https://evil.example/", "//evil.example", "/\\evil.example", "evil.example", "javascript:alert(1)", ""} {
		st, _, resp := anon.getIn("/lang/zh-CN?next="+url.QueryEscape(next), "")
		if st != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Errorf("next=%q: %d to %q, want / ", next, st, resp.Header.Get("Location"))
		}
	}
	// Only the interface's languages.
	for _, lang := range []string{"fr", "de-DE", "zh-TW-x", "xx"} {
		if st, _, _ := anon.getIn("/lang/"+lang+"?next=/inbox", ""); st != http.StatusNotFound {
			t.Errorf("/lang/%s: %d, want 404", lang, st)
		}
	}
	// An anonymous visitor's choice carries to the public sign-in page.
	if _, body, _ := anon.getIn("/signin", "en"); !strings.Contains(body, "<h1>登录 rdsgate</h1>") {
		t.Errorf("anonymous zh-CN choice not kept on /signin:\n%s", excerpt(body))
	}
}

// TestErrorMessagesAndTimesInLanguage: an Alibaba Cloud error code is
// explained in the page's language from the catalogue, and times are
// <time> elements in UTC that app.js shows in the viewer's zone.
func TestErrorMessagesAndTimesInLanguage(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	env.seedAudit(0)
	dave := env.as("dave")
	const q = "/audit?error_code=Throttling.User&kind=execution.failed"

	_, body, _ := dave.getIn(q, zhAccept)
	if !regexp.MustCompile(`<code[^>]*>Throttling\.User</code>`).MatchString(body) || !strings.Contains(body, "请求因用户流控被拒绝。") {
		t.Errorf("zh-CN audit page lacks the Chinese message of Throttling.User:\n%s", excerpt(body))
	}
	if strings.Contains(body, "Request was denied due to user flow control.") {
		t.Errorf("zh-CN audit page shows the English message")
	}
	_, body, _ = dave.getIn(q, "en")
	if !strings.Contains(body, "Request was denied due to user flow control.") || strings.Contains(body, "请求因用户流控被拒绝。") {
		t.Errorf("en audit page lacks the English message of Throttling.User:\n%s", excerpt(body))
	}

	// The seeded failure happened at 2025-03-01 09:04:00 UTC.
	want := `<time class="local" datetime="2025-03-01T09:04:00Z" title="2025-03-01 09:04:00 UTC">2025-03-01 09:04:00 UTC</time>`
	for _, accept := range []string{"en", zhAccept} {
		if _, body, _ := dave.getIn(q, accept); !strings.Contains(body, want) {
			t.Errorf("Accept-Language %q: no %s in:\n%s", accept, want, excerpt(body))
		}
	}
	for _, m := range regexp.MustCompile(`<time[^>]*>`).FindAllString(body, -1) {
		if !regexp.MustCompile(`^<time class="local" datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC">$`).MatchString(m) {
			t.Errorf("time element %s is not a UTC <time class=\"local\">", m)
		}
	}
}

// zhList is "1 from <group>" for each group joined as the zh-CN catalogue
// says, so that the test does not restate another page's translations.
func zhList(t *testing.T, groups ...string) string {
	t.Helper()
	cat, err := i18n.Load(ui.I18n, "i18n")
	if err != nil {
		t.Fatal(err)
	}
	pr := cat.Printer(i18n.Chinese)
	out := pr.Sprintf("%d from %s", 1, groups[0])
	for i, g := range groups[1:] {
		if i == len(groups)-2 {
			out = pr.Sprintf("%s and %s", out, pr.Sprintf("%d from %s", 1, g))
		} else {
			out = pr.Sprintf("%s, %s", out, pr.Sprintf("%d from %s", 1, g))
		}
	}
	if strings.Contains(out, "from") {
		t.Fatalf("the zh-CN catalogue does not translate \"%%d from %%s\": %q", out)
	}
	return out
}

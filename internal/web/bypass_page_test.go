package web_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// trailAccount is the simulator's account (app.SimAccountID).
const trailAccount = "1234567890123456"

// consoleRelease is a release made from the console, around rdsgate.
func consoleRelease(id, instance, requestID string, at time.Time) lifecycle.TrailEvent {
	return lifecycle.TrailEvent{AccountID: trailAccount, RegionID: "cn-hangzhou", EventID: id,
		EventName: "ReleaseInstancePublicConnection", EventTime: at, AlibabaRequestID: requestID, DBInstanceID: instance,
		ConnectionString: instance + ".mysql.rds.aliyuncs.com", UserType: "ram-user", UserName: "<b>dave-console</b>",
		PrincipalID: "20389100234567890", AccessKeyID: "LTAI****x9Q", SourceIP: "203.0.113.9"}
}

// getIn fetches path as c in lang.
func getIn(c *client, path, lang string) (int, string) {
	c.env.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.env.url+path, nil)
	req.Header.Set("Accept-Language", lang)
	st, body, _ := c.do(req)
	return st, body
}

// TestBypassPage: releases the trail recorded that rdsgate did not make
// are listed for auditors (who, from where, which API, the RequestId),
// newest first, filtered by instance and paged; the reads are audited;
// nobody else may see them; rdsgate's own release, which the trail
// confirms, is marked so on its request page and in its timeline; and
// all of it speaks Chinese too.
func TestBypassPage(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{noTrail: true})
	ctx := context.Background()
	dave := env.as("dave")

	if st, body := dave.get("/audit/bypasses"); st != http.StatusOK ||
		!strings.Contains(body, "No release has been made around rdsgate since the trail was first read.") ||
		!strings.Contains(body, "see docs/BYPASS.md") && !strings.Contains(body, "See docs/BYPASS.md") {
		t.Fatalf("empty bypass page: %d\n%s", st, excerpt(body))
	}

	// A release through rdsgate: filed, approved, released by the
	// simulator.
	r := env.file("alice", "rm-bp1devexample01", "retiring the endpoint")
	if _, err := env.svc.Vote(ctx, lifecycle.Actor{Subject: "bob", Groups: env.eng.UserGroups("bob")}, r.ID,
		lifecycle.VoteInput{Decision: request.Approve, PayloadHash: r.PayloadHash.String()}); err != nil {
		t.Fatal(err)
	}
	env.waitStatus(r.ID, request.StatusSucceeded)
	d, err := env.svc.Detail(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	own := ""
	for _, a := range d.Attempts {
		if a.Operation == request.OpRelease && a.AlibabaRequestID != "" {
			own = a.AlibabaRequestID
		}
	}
	if own == "" {
		t.Fatalf("no release attempt with a RequestId: %+v", d.Attempts)
	}

	// The trail holds that release and one made from the console; a later
	// read, a failed call by a role session.
	called := time.Date(2025, 6, 2, 8, 30, 15, 0, time.UTC)
	confirmedAt := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	res, err := env.svc.RecordTrail(ctx, lifecycle.TrailRead{AccountID: trailAccount, RegionID: "cn-hangzhou", Until: time.Now(),
		Events: []lifecycle.TrailEvent{
			{AccountID: trailAccount, RegionID: "cn-hangzhou", EventID: "ev-own", EventName: "ReleaseInstanceConnection",
				EventTime: confirmedAt, AlibabaRequestID: own, DBInstanceID: r.DBInstanceID, ConnectionString: r.ConnectionString,
				UserType: "assumed-role", UserName: "rdsgate-release:rdsgate"},
			consoleRelease("ev-console", "rm-bp1other0001", "5D0F3C1A-1111-4C7E-9A51-0123456789AB", called),
		}})
	if err != nil || res.Confirmed != 1 || len(res.Bypasses) != 1 {
		t.Fatalf("first read: %+v %v", res, err)
	}
	failed := consoleRelease("ev-failed", "rm-bp1other0002", "5D0F3C1A-2222-4C7E-9A51-0123456789AB", called.Add(time.Hour))
	failed.EventName, failed.UserType, failed.UserName, failed.SourceIP = "ReleaseInstanceConnection", "assumed-role", "ops-admin:terraform", "198.51.100.20"
	failed.ErrorCode = "IncorrectDBInstanceState"
	failed.AccountID = "5555666677778888" // a role session of another account
	if res, err := env.svc.RecordTrail(ctx, lifecycle.TrailRead{AccountID: trailAccount, RegionID: "cn-hangzhou", Until: time.Now(),
		Events: []lifecycle.TrailEvent{failed}}); err != nil || len(res.Bypasses) != 1 {
		t.Fatalf("second read: %+v %v", res, err)
	}

	st, body := dave.get("/audit/bypasses")
	if st != http.StatusOK {
		t.Fatalf("bypass page: %d\n%s", st, excerpt(body))
	}
	rows := regexp.MustCompile(`(?s)<tr class="bypass[^"]*">.*?</tr>`).FindAllString(body, -1)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want the 2 bypasses (not rdsgate's own release):\n%s", len(rows), excerpt(body))
	}
	for i, wants := range [][]string{
		// Newest first: the second read's.
		{"rm-bp1other0002", "ReleaseInstanceConnection", "ops-admin:terraform", "RAM role session", "198.51.100.20",
			"5D0F3C1A-2222-4C7E-9A51-0123456789AB", "IncorrectDBInstanceState", "call failed", `class="bypass bypass-failed"`,
			"of account 5555666677778888"},
		{"rm-bp1other0001", "rm-bp1other0001.mysql.rds.aliyuncs.com", "ReleaseInstancePublicConnection",
			"&lt;b&gt;dave-console&lt;/b&gt;", "RAM user", "<code>ram-user</code>", "20389100234567890", "LTAI****x9Q",
			"203.0.113.9", "5D0F3C1A-1111-4C7E-9A51-0123456789AB", trailAccount, "cn-hangzhou",
			`datetime="2025-06-02T08:30:15Z"`, "Released", `href="/audit?alibaba_request_id=5D0F3C1A-1111-4C7E-9A51-0123456789AB"`},
	} {
		for _, w := range wants {
			if !strings.Contains(rows[i], w) {
				t.Errorf("row %d lacks %q:\n%s", i, w, rows[i])
			}
		}
	}
	if strings.Contains(body, "<b>dave-console</b>") || strings.Contains(body, own) {
		t.Errorf("the page shows markup unescaped, or rdsgate's own release:\n%s", excerpt(body))
	}
	if !strings.Contains(body, `id="nav-bypasses" aria-current="page"`) || !strings.Contains(body, "Bypasses 1–2 of 2") {
		t.Errorf("nav or count:\n%s", excerpt(body))
	}
	everyTableStacks(t, "the bypass page", body)

	// By instance.
	_, body = dave.get("/audit/bypasses?instance=rm-bp1other0001")
	if n := strings.Count(body, `<tr class="bypass`); n != 1 || !strings.Contains(body, "ev-console") && !strings.Contains(body, "rm-bp1other0001") {
		t.Errorf("instance filter: %d rows\n%s", n, excerpt(body))
	}
	if _, body = dave.get("/audit/bypasses?instance=rm-bp1devexample01"); !strings.Contains(body,
		"No release of rm-bp1devexample01 has been made around rdsgate since the trail was first read.") {
		t.Errorf("rdsgate's own release listed as a bypass:\n%s", excerpt(body))
	}
	if st, body := dave.get("/audit/bypasses?cursor=zzz"); st != http.StatusUnprocessableEntity || !strings.Contains(body, `class="note bad"`) {
		t.Errorf("bad cursor: %d", st)
	}

	// Each read of the page is a read of the audit trail, on record.
	var searched int
	if err := env.pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE actor = 'dave' AND kind = 'audit.searched'
		AND payload->'filters'->>'kind' = 'bypass.detected'`).Scan(&searched); err != nil || searched != 4 {
		t.Errorf("dave's reads of the bypass page on record: %d (%v), want 4", searched, err)
	}

	// Auditors only.
	for _, who := range []string{"alice", "bob", "mallory"} {
		c := env.as(who)
		if st, _ := c.get("/audit/bypasses"); st != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", who, st)
		}
		if _, body := c.get("/"); strings.Contains(body, `id="nav-bypasses"`) || strings.Contains(body, `id="go-bypasses"`) {
			t.Errorf("%s's home page links the bypass page", who)
		}
	}
	if _, body := dave.get("/"); !strings.Contains(body, `id="nav-bypasses"`) || !strings.Contains(body, `id="go-bypasses"`) {
		t.Errorf("the auditor's home page does not link the bypass page:\n%s", excerpt(body))
	}
	if st, _ := env.as("erin").get("/audit/bypasses"); st != http.StatusOK {
		t.Errorf("admin: %d", st)
	}

	// The audit log says who did what for both kinds.
	_, body = dave.get("/audit?kind=bypass.detected&instance=rm-bp1other0001")
	for _, w := range []string{"Bypass: release made around rdsgate", "Caller:</span> &lt;b&gt;dave-console&lt;/b&gt; (RAM user)",
		"API:</span> ReleaseInstancePublicConnection", "Source IP:</span> 203.0.113.9", "Account:</span> " + trailAccount,
		"Called at:</span> 2025-06-02 08:30:15 UTC", "Connection string:</span> rm-bp1other0001.mysql.rds.aliyuncs.com",
		`href="/audit/bypasses"`} {
		if !strings.Contains(body, w) {
			t.Errorf("audit log's bypass row lacks %q", w)
		}
	}
	_, body = dave.get("/audit?kind=execution.confirmed")
	for _, w := range []string{"Release confirmed by ActionTrail", "API:</span> ReleaseInstanceConnection", "Attempt:</span> ",
		"ActionTrail event:</span> ev-own", `href="/requests/` + r.ID.String() + `"`, own} {
		if !strings.Contains(body, w) {
			t.Errorf("audit log's confirmation row lacks %q", w)
		}
	}

	// The request page: the attempt is confirmed, with the trail's time;
	// the timeline says so.
	alice := env.as("alice")
	_, body = alice.get("/requests/" + r.ID.String())
	conf := regexp.MustCompile(`(?s)<div class="trail-confirmed small" id="trail-confirmed-\d+"[^>]*>.*?</div></div>`).FindString(body)
	if !strings.Contains(conf, "confirmed by ActionTrail") || !strings.Contains(conf, `datetime="`+confirmedAt.Format(time.RFC3339)+`"`) {
		t.Errorf("the release attempt is not marked confirmed (%q):\n%s", conf, excerpt(body))
	}
	for _, w := range []string{"Confirmed by ActionTrail",
		fmt.Sprintf("ActionTrail recorded the ReleaseInstanceConnection call at %s", confirmedAt.Format("2006-01-02 15:04:05 UTC")),
		"trail event ev-own"} {
		if !strings.Contains(body, w) {
			t.Errorf("the request's timeline lacks %q", w)
		}
	}
	if _, frag := alice.get("/requests/" + r.ID.String() + "/activity"); !strings.Contains(frag, `data-version="succeeded.1.`) ||
		!strings.Contains(frag, `.c1"`) {
		t.Errorf("the live version does not count the confirmation:\n%s", excerpt(frag))
	}

	// 简体中文.
	_, body = getIn(dave, "/audit/bypasses", "zh-CN")
	for _, w := range []string{"<title>绕过网关的释放 · rdsgate</title>", "RAM 用户", "RAM 角色会话", "调用失败", "发现于",
		"第 1–2 条，共 2 条绕过网关的释放", "docs/BYPASS.md"} {
		if !strings.Contains(body, w) {
			t.Errorf("zh-CN bypass page lacks %q", w)
		}
	}
	_, body = getIn(alice, "/requests/"+r.ID.String(), "zh-CN")
	if !strings.Contains(body, "操作审计已确认") || !strings.Contains(body, "操作审计记录了 ReleaseInstanceConnection 调用") {
		t.Errorf("zh-CN request page lacks the confirmation:\n%s", excerpt(body))
	}
	_, body = getIn(dave, "/audit?kind=bypass.detected", "zh-CN")
	if !strings.Contains(body, "绕过网关：未经 rdsgate 的释放") || !strings.Contains(body, "调用者:</span>") {
		t.Errorf("zh-CN audit log lacks the bypass's words:\n%s", excerpt(body))
	}
}

// TestBypassPagePaging: 50 bypasses a page, the filter kept on the way
// down and back.
func TestBypassPagePaging(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{noTrail: true})
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	var evs []lifecycle.TrailEvent
	for i := range 55 {
		evs = append(evs, consoleRelease(fmt.Sprintf("ev-%02d", i), "rm-bp1paged000001", fmt.Sprintf("REQ-%02d", i), at.Add(time.Duration(i)*time.Minute)))
	}
	evs = append(evs, consoleRelease("ev-other", "rm-bp1elsewhere01", "REQ-other", at))
	if _, err := env.svc.RecordTrail(context.Background(), lifecycle.TrailRead{AccountID: trailAccount, RegionID: "cn-hangzhou",
		Until: time.Now(), Events: evs}); err != nil {
		t.Fatal(err)
	}
	dave := env.as("dave")
	first, count, newer, older := bypassPage(t, dave, "/audit/bypasses?instance=rm-bp1paged000001")
	if first != 50 || count != "Bypasses 1–50 of 55" || newer != "" || !strings.Contains(older, "instance=rm-bp1paged000001") {
		t.Fatalf("first page: %d rows, %q, newer %q, older %q", first, count, newer, older)
	}
	second, count, newer, older := bypassPage(t, dave, older)
	if second != 5 || count != "Bypasses 51–55 of 55" || older != "" || !strings.HasPrefix(newer, "/audit/bypasses?") {
		t.Fatalf("second page: %d rows, %q, newer %q, older %q", second, count, newer, older)
	}
	if back, count, _, _ := bypassPage(t, dave, newer); back != 50 || count != "Bypasses 1–50 of 55" {
		t.Errorf("back: %d rows, %q", back, count)
	}
}

var bypassCountRe = regexp.MustCompile(`<p class="pager-count" id="bypass-count">([^<]*)</p>`)

// bypassPage reads one page of the bypass list: its rows, its count line
// and its links both ways.
func bypassPage(t *testing.T, c *client, path string) (rows int, count, newer, older string) {
	t.Helper()
	st, body := c.get(path)
	if st != http.StatusOK {
		t.Fatalf("%s: %d\n%s", path, st, excerpt(body))
	}
	if m := bypassCountRe.FindStringSubmatch(body); m != nil {
		count = m[1]
	}
	link := func(id string) string {
		if m := pageLinkRe(id).FindStringSubmatch(body); m != nil {
			return strings.ReplaceAll(m[1], "&amp;", "&")
		}
		return ""
	}
	return strings.Count(body, `<tr class="bypass`), count, link("newer"), link("older")
}

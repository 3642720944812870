package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/internal/request"
)

// stale are the parts of a request page that only a request that can still
// change may show: a final page showing any of them contradicts itself.
var stale = []string{`id="cancel"`, `id="vote"`, `id="approve"`, `id="review"`, "Still open", "updates by itself",
	"starts within seconds", "Nobody has voted yet", `id="refresh"`, `id="expires"`, "No calls to Alibaba Cloud yet"}

// status is a request's status.json.
type status struct {
	Status, Label, Headline, Next, Version string
	Terminal                               bool
}

func (c *client) status(id string) status {
	c.env.t.Helper()
	st, raw := c.get("/requests/" + id + "/status.json")
	var s status
	if err := json.Unmarshal([]byte(raw), &s); st != http.StatusOK || err != nil {
		c.env.t.Fatalf("status.json: %d %v %s", st, err, raw)
	}
	return s
}

// TestLiveFragment: the live fragment (GET /requests/:id/activity) is the
// whole changeable part of the page. While a request can change it offers
// what may still be done; once the request is final, whatever made it
// final (an approval and the release, a rejection, a cancel, the policy),
// neither the fragment nor the page offers a form or says anything that
// waits for more.
func TestLiveFragment(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	alice, bob := env.as("alice"), env.as("bob")
	released := env.file("alice", "rm-bp1devexample01", "retiring the endpoint")
	id := released.ID.String()

	// Pending: the requester may cancel, the approver may review and vote,
	// and both pages say that they update by themselves.
	_, body := alice.get("/requests/" + id + "/activity")
	for _, want := range []string{`id="cancel"`, "Still open: 1 from dba.", "Nobody has voted yet.", "updates by itself", `data-version="pending.0.0.0"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the pending request's fragment lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<html") || strings.Contains(body, `data-final`) || strings.Contains(body, `id="vote"`) {
		t.Errorf("the fragment is a whole page, says final or offers alice a vote:\n%s", body)
	}
	_, body = bob.get("/requests/" + id + "/activity")
	for _, want := range []string{`id="review"`, `id="vote"`, `name="_csrf" value="` + bob.csrf + `"`, `name="payload_hash" value="` + released.PayloadHash.String() + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("bob's fragment of the pending request lacks %q", want)
		}
	}
	before := alice.status(id)
	if before.Status != "pending" || before.Terminal || before.Version != "pending.0.0.0" {
		t.Fatalf("status.json of the pending request: %+v", before)
	}

	// Approved by bob; the simulator releases the endpoint.
	if st, body := bob.post("/requests/"+id+"/vote", url.Values{"decision": {"approve"}, "payload_hash": {released.PayloadHash.String()}}); st != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", st, excerpt(body))
	}
	if after := alice.status(id); after.Version == before.Version {
		t.Errorf("the version did not change with the vote: %+v", after)
	}
	env.waitStatus(released.ID, request.StatusSucceeded)
	if s := alice.status(id); !s.Terminal || s.Version != "succeeded.1.1.1" || s.Headline != "Released." {
		t.Errorf("status.json of the released request: %+v", s)
	}

	rejected := env.file("alice", "rm-bp1demo00000001", "to be rejected")
	if st, _ := bob.post("/requests/"+rejected.ID.String()+"/vote", url.Values{"decision": {"reject"}, "payload_hash": {rejected.PayloadHash.String()}}); st != http.StatusSeeOther {
		t.Fatalf("reject: %d", st)
	}
	cancelled := env.file("alice", "rm-bp1demo00000002", "to be cancelled")
	if st, _ := alice.post("/requests/"+cancelled.ID.String()+"/cancel", nil); st != http.StatusSeeOther {
		t.Fatalf("cancel: %d", st)
	}
	denied := env.file("mallory", "rm-bp1prodexample1", "mallory may not release production")
	if denied.Status != request.StatusDenied {
		t.Fatalf("mallory's production request is %s", denied.Status)
	}

	for _, tc := range []struct {
		name     string
		id, user string
		want     []string
	}{
		{"released", id, "alice", []string{"Released.", `id="attempts"`, `id="votes"`}},
		{"released", id, "bob", []string{"Released.", `id="attempts"`}},
		{"rejected", rejected.ID.String(), "alice", []string{"An approver rejected this request", "No call to Alibaba Cloud was made: the request was rejected."}},
		{"cancelled", cancelled.ID.String(), "alice", []string{"Cancelled.", "Nobody voted.", "No call to Alibaba Cloud was made: the request was cancelled."}},
		{"cancelled", cancelled.ID.String(), "bob", []string{"Cancelled."}},
		{"denied", denied.ID.String(), "mallory", []string{"The policy denied this request.", `id="edit-again"`, `href="/requests/new?from=` + denied.ID.String() + `"`}},
		{"denied", denied.ID.String(), "bob", []string{"The policy denied this request."}},
	} {
		c := env.as(tc.user)
		for _, path := range []string{"/requests/" + tc.id + "/activity", "/requests/" + tc.id} {
			st, body := c.get(path)
			if st != http.StatusOK {
				t.Fatalf("%s %s as %s: %d", tc.name, path, tc.user, st)
			}
			for _, s := range stale {
				if strings.Contains(body, s) {
					t.Errorf("%s request, %s as %s: still shows %q", tc.name, path, tc.user, s)
				}
			}
			for _, want := range append(tc.want, `data-final="true"`) {
				if !strings.Contains(body, want) {
					t.Errorf("%s request, %s as %s: lacks %q", tc.name, path, tc.user, want)
				}
			}
			if tc.user == "bob" && strings.Contains(body, `id="edit-again"`) {
				t.Errorf("%s request, %s: bob may edit and file again someone else's request", tc.name, path)
			}
		}
	}
	// Only a denied request is filed again from its page.
	if _, body := alice.get("/requests/" + cancelled.ID.String()); strings.Contains(body, `id="edit-again"`) {
		t.Error("a cancelled request offers Edit and file again")
	}
}

// TestLiveTextsInPageLanguage: what status.json hands to the page and the
// fragment are in the page's language.
func TestLiveTextsInPageLanguage(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	r := env.file("alice", "rm-bp1devexample01", "retiring the endpoint")
	alice := env.as("alice")
	get := func(path string) string {
		req, _ := http.NewRequest(http.MethodGet, env.url+path, nil)
		req.Header.Set("Accept-Language", "zh-CN,zh;q=0.9")
		st, body, _ := alice.do(req)
		if st != http.StatusOK {
			t.Fatalf("%s: %d", path, st)
		}
		return body
	}
	var s status
	if err := json.Unmarshal([]byte(get("/requests/"+r.ID.String()+"/status.json")), &s); err != nil {
		t.Fatal(err)
	}
	if s.Label != "等待审批" || s.Headline != "策略允许此释放，待审批通过后执行。" || !strings.HasPrefix(s.Next, "还需要 1 个批准：dba 组 1 人。") {
		t.Errorf("status.json in zh-CN: %+v", s)
	}
	body := get("/requests/" + r.ID.String() + "/activity")
	for _, want := range []string{"取消此申请", "尚缺：dba 组 1 人。", "时间线", "申请已提交"} {
		if !strings.Contains(body, want) {
			t.Errorf("the zh-CN fragment lacks %q", want)
		}
	}
}

// TestReviewBeforeVoting: the inbox has no Approve or Reject; each request
// links to its review, which shows the environment (production in red),
// the instance, the connection string, the requester, the justification,
// the whole payload hash and what this approval completes.
func TestReviewBeforeVoting(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	prod := env.file("alice", "rm-bp1prodexample1", "the production endpoint is unused since the VPC move")
	dev := env.file("alice", "rm-bp1devexample01", "the dev endpoint is unused")
	bob, carol := env.as("bob"), env.as("carol")

	_, body := bob.get("/inbox")
	if strings.Contains(body, `action="/requests/`) || strings.Contains(body, `name="decision"`) {
		t.Errorf("the inbox still votes in one click:\n%s", excerpt(body))
	}
	for _, r := range []*request.Request{prod, dev} {
		if !strings.Contains(body, `href="/requests/`+r.ID.String()+`#review"`) {
			t.Errorf("the inbox does not link %s to its review", r.DBInstanceID)
		}
	}
	row := regexp.MustCompile(`(?s)<tr class="inbox-item prod" id="item-` + prod.ID.String() + `">.*?</tr>`).FindString(body)
	if !strings.Contains(row, `class="badge env env-prod"`) || !strings.Contains(row, ">production<") {
		t.Errorf("the production request's row does not show production in red:\n%s", row)
	}
	if strings.Contains(regexp.MustCompile(`(?s)<tr class="inbox-item" id="item-`+dev.ID.String()+`">.*?</tr>`).FindString(body), "env-prod") {
		t.Error("the dev request is marked production")
	}

	review := func(c *client, r *request.Request) string {
		t.Helper()
		_, body := c.get("/requests/" + r.ID.String())
		sec := regexp.MustCompile(`(?s)<section class="card review[^"]*" id="review">.*?</section>`).FindString(body)
		if sec == "" {
			t.Fatalf("no review section for %s:\n%s", r.DBInstanceID, excerpt(body))
		}
		return sec
	}
	sec := review(bob, prod)
	for _, want := range []string{`review-prod`, `class="badge env env-prod"`, "Production: applications", prod.DBInstanceID,
		prod.ConnectionString, "<dd>alice</dd>", prod.Justification, `id="review-hash">` + prod.PayloadHash.String() + `<`,
		"After yours, 1 more approval from security is needed.", `id="approve"`, `id="reject"`, `id="comment"`} {
		if !strings.Contains(sec, want) {
			t.Errorf("bob's review of the production request lacks %q:\n%s", want, sec)
		}
	}
	if sec := review(carol, prod); !strings.Contains(sec, "After yours, 1 more approval from dba is needed.") {
		t.Errorf("carol's review of the production request:\n%s", sec)
	}
	sec = review(bob, dev)
	if !strings.Contains(sec, "Your approval completes the approvals: the release starts at once.") || strings.Contains(sec, "env-prod") {
		t.Errorf("bob's review of the dev request:\n%s", sec)
	}
	if st, _ := bob.post("/requests/"+prod.ID.String()+"/vote", url.Values{"decision": {"approve"}, "payload_hash": {prod.PayloadHash.String()}}); st != http.StatusSeeOther {
		t.Fatalf("bob's approval: %d", st)
	}
	if sec := review(carol, prod); !strings.Contains(sec, "Your approval completes the approvals") {
		t.Errorf("after bob's approval carol's completes it:\n%s", sec)
	}
	if _, body := env.as("alice").get("/requests/" + prod.ID.String()); strings.Contains(body, `id="review"`) {
		t.Error("the requester is offered a review of her own request")
	}
}

var inboxCountRe = regexp.MustCompile(`id="inbox-count"[^>]*>(\d+)<`)

// inboxCount is the number on the navigation's Inbox badge of path as c
// sees it, -1 without a badge.
func (c *client) inboxCount(path string) int {
	c.env.t.Helper()
	_, body := c.get(path)
	m := inboxCountRe.FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestInboxCountInNavigation: every page an approver sees counts the
// requests waiting for their vote, as many as their inbox lists: the
// policy's groups decide, a vote takes one off; requesters and auditors
// have no badge.
func TestInboxCountInNavigation(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	bob, carol, erin, alice, dave := env.as("bob"), env.as("carol"), env.as("erin"), env.as("alice"), env.as("dave")
	if n := bob.inboxCount("/"); n != -1 {
		t.Errorf("an empty inbox shows a badge of %d", n)
	}
	dev := env.file("alice", "rm-bp1devexample01", "the dev endpoint is unused")
	env.file("alice", "rm-bp1prodexample1", "the production endpoint is unused")
	env.file("mallory", "rm-bp1demo00000001", "the demo endpoint is unused")
	rows := func(c *client) int {
		_, body := c.get("/inbox")
		return strings.Count(body, `<tr class="inbox-item`)
	}
	for _, tc := range []struct {
		name string
		c    *client
		want int
	}{{"bob", bob, 3}, {"carol", carol, 1}, {"erin", erin, 3}, {"alice", alice, -1}, {"dave", dave, -1}} {
		for _, path := range []string{"/", "/votes", "/requests/" + dev.ID.String(), "/inbox"} {
			if tc.want < 0 && (path == "/votes" || path == "/inbox") {
				continue // not theirs
			}
			if got := tc.c.inboxCount(path); got != tc.want {
				t.Errorf("%s on %s: badge %d, want %d", tc.name, path, got, tc.want)
			}
		}
		if tc.want > 0 && rows(tc.c) != tc.want {
			t.Errorf("%s: the inbox lists %d requests, the badge says %d", tc.name, rows(tc.c), tc.want)
		}
	}
	if _, body := alice.get("/"); strings.Contains(body, `id="nav-inbox"`) || strings.Contains(body, `href="/votes"`) {
		t.Error("a requester has Inbox or My votes in the navigation")
	}
	if st, _ := bob.post("/requests/"+dev.ID.String()+"/vote", url.Values{"decision": {"approve"}, "payload_hash": {dev.PayloadHash.String()}}); st != http.StatusSeeOther {
		t.Fatalf("vote: %d", st)
	}
	if n := bob.inboxCount("/"); n != 2 {
		t.Errorf("after bob's vote his badge says %d, want 2", n)
	}
	if n := erin.inboxCount("/"); n != 2 {
		t.Errorf("after bob's vote completed the dev request, erin's badge says %d, want 2", n)
	}
	if n := carol.inboxCount("/"); n != 1 {
		t.Errorf("carol's badge says %d, want 1", n)
	}
}

// TestMyVotes: an approver's votes, the latest first, each with the vote
// (decision, group, comment) and the request's status now.
func TestMyVotes(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	bob := env.as("bob")
	if _, body := bob.get("/votes"); !strings.Contains(body, `id="votes-empty"`) {
		t.Errorf("no votes yet:\n%s", excerpt(body))
	}
	approved := env.file("alice", "rm-bp1devexample01", "the dev endpoint is unused")
	rejected := env.file("mallory", "rm-bp1demo00000001", "the demo endpoint is unused")
	notVoted := env.file("mallory", "rm-bp1demo00000002", "not voted on")
	for _, v := range []struct {
		r        *request.Request
		decision string
	}{{approved, "approve"}, {rejected, "reject"}} {
		if st, _ := bob.post("/requests/"+v.r.ID.String()+"/vote", url.Values{"decision": {v.decision}, "comment": {"checked <b>logs</b>"},
			"payload_hash": {v.r.PayloadHash.String()}}); st != http.StatusSeeOther {
			t.Fatalf("vote: %d", st)
		}
	}
	env.waitStatus(approved.ID, request.StatusSucceeded)
	_, body := bob.get("/votes")
	rowOf := func(r *request.Request) string {
		return regexp.MustCompile(`(?s)<tr class="vote-item" id="vote-` + r.ID.String() + `">.*?</tr>`).FindString(body)
	}
	if a, b := strings.Index(body, `id="vote-`+rejected.ID.String()), strings.Index(body, `id="vote-`+approved.ID.String()); a < 0 || b < 0 || a > b {
		t.Errorf("the votes are not listed latest first:\n%s", excerpt(body))
	}
	for _, tc := range []struct {
		r    *request.Request
		want []string
	}{
		{approved, []string{`badge vote-approve`, "as dba", "checked &lt;b&gt;logs&lt;/b&gt;", `badge status-succeeded">Released<`, approved.ConnectionString}},
		{rejected, []string{`badge vote-reject`, `badge status-rejected">Rejected<`, rejected.ConnectionString}},
	} {
		row := rowOf(tc.r)
		for _, want := range tc.want {
			if !strings.Contains(row, want) {
				t.Errorf("the row of %s lacks %q:\n%s", tc.r.DBInstanceID, want, row)
			}
		}
	}
	if strings.Contains(body, notVoted.ID.String()) || strings.Contains(body, `id="older-votes"`) {
		t.Errorf("a request bob did not vote on, or a next page of two votes:\n%s", excerpt(body))
	}
	if _, body := env.as("carol").get("/votes"); strings.Contains(body, "vote-item") {
		t.Error("carol sees bob's votes")
	}
	if st, _ := bob.get("/votes?cursor=forged"); st != http.StatusUnprocessableEntity {
		t.Errorf("a forged cursor: %d", st)
	}
}

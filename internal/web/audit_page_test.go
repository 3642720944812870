package web_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/audit"
)

// auditFixture appends and seals events of the kinds the audit log must
// describe, with the payloads their writers give them, plus n filler
// sign-ins of "filler" for paging.
func (e *pagesEnv) auditFixture(rid uuid.UUID, n int) {
	e.t.Helper()
	ctx := context.Background()
	t0 := time.Date(2025, 4, 1, 9, 0, 0, 0, time.UTC)
	spec := map[string]any{"region_id": "cn-hangzhou", "db_instance_id": "rm-bp1auditpage01",
		"connection_string": "rm-bp1auditpage01.mysql.rds.aliyuncs.com", "justification": "=HYPERLINK(\"http://evil\")", "ticket": "OPS-77"}
	recs := []audit.Record{
		{Kind: audit.KindTokenCreated, Actor: "cli", At: t0, Payload: map[string]any{"token_id": 9, "subject": "ci-bot",
			"groups": []string{"ci", "deployers"}, "expires_at": "2025-05-01T09:00:00Z"}},
		{Kind: audit.KindRequestCreated, Actor: "alice", RequestID: rid, DBInstanceID: "rm-bp1auditpage01", At: t0.Add(time.Minute),
			Payload: map[string]any{"spec": spec, "status": "pending", "environment": "prod"}},
		{Kind: audit.KindApprovalGranted, Actor: "bob", RequestID: rid, DBInstanceID: "rm-bp1auditpage01", At: t0.Add(2 * time.Minute),
			Payload: map[string]any{"decision": "approve", "comment": "<b>looks fine</b>", "group": "dba"}},
		{Kind: audit.KindExecutionFailed, Actor: "rdsgate", RequestID: rid, DBInstanceID: "rm-bp1auditpage01", At: t0.Add(3 * time.Minute),
			ErrorCode: "IncorrectDBInstanceState", AlibabaRequestID: "7C3D1A2B-BBBB-4C7E-9A51-0123456789AB",
			Payload: map[string]any{"attempt": 2, "http_status": 403, "error_message": "the instance is busy", "status": "failed"}},
	}
	for i := 0; i < n; i++ {
		recs = append(recs, audit.Record{Kind: audit.KindSignedIn, Actor: "filler", At: t0.Add(-time.Duration(i+1) * time.Second),
			Payload: map[string]any{"method": "dev", "groups": []string{"developers"}, "roles": []string{"requester"}, "source_ip": "192.0.2.7"}})
	}
	if err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error { return audit.Append(ctx, tx, recs...) }); err != nil {
		e.t.Fatal(err)
	}
	if _, err := audit.Seal(ctx, e.pool, 10000); err != nil {
		e.t.Fatal(err)
	}
}

var (
	auditRowRe   = regexp.MustCompile(`(?s)<tr>\s*<td data-label="Seq">(\d+)</td>.*?</tr>`)
	auditCountRe = regexp.MustCompile(`<p class="pager-count" id="audit-count">([^<]*)</p>`)
	pageLinkRe   = func(id string) *regexp.Regexp {
		return regexp.MustCompile(`<a href="([^"]+)" class="button" id="` + id + `"`)
	}
)

// auditPage reads one page of the log: the seqs of its rows, its count
// line and its links both ways.
func auditPage(t *testing.T, c *client, path string) (seqs []string, count, newer, older string) {
	t.Helper()
	st, body := c.get(path)
	if st != http.StatusOK {
		t.Fatalf("%s: %d\n%s", path, st, excerpt(body))
	}
	for _, m := range auditRowRe.FindAllStringSubmatch(body, -1) {
		seqs = append(seqs, m[1])
	}
	if m := auditCountRe.FindStringSubmatch(body); m != nil {
		count = m[1]
	}
	unescape := func(m []string) string {
		if m == nil {
			return ""
		}
		return strings.ReplaceAll(m[1], "&amp;", "&")
	}
	return seqs, count, unescape(pageLinkRe("newer").FindStringSubmatch(body)), unescape(pageLinkRe("older").FindStringSubmatch(body))
}

// TestAuditLogPagesBothWays: 120 matching events, 50 a page: the count
// says where each page is, "Older →" and "← Newer" walk down and back up
// to the same pages, and the first and last pages have no way further.
func TestAuditLogPagesBothWays(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	env.auditFixture(uuid.New(), 120)
	dave := env.as("dave")
	first, count, newer, older := auditPage(t, dave, "/audit?actor=filler")
	if len(first) != 50 || count != "Events 1–50 of 120" || newer != "" || older == "" {
		t.Fatalf("first page: %d rows, count %q, newer %q, older %q", len(first), count, newer, older)
	}
	second, count, newer, older := auditPage(t, dave, older)
	if len(second) != 50 || count != "Events 51–100 of 120" || newer == "" || older == "" || second[0] == first[0] {
		t.Fatalf("second page: %d rows, count %q, newer %q, older %q", len(second), count, newer, older)
	}
	third, count, newer3, older := auditPage(t, dave, older)
	if len(third) != 20 || count != "Events 101–120 of 120" || newer3 == "" || older != "" {
		t.Fatalf("last page: %d rows, count %q, newer %q, older %q", len(third), count, newer3, older)
	}
	// Three pages, no event twice.
	seen := map[string]bool{}
	for _, seq := range append(append(append([]string(nil), first...), second...), third...) {
		if seen[seq] {
			t.Fatalf("seq %s on two pages", seq)
		}
		seen[seq] = true
	}
	back, count, _, _ := auditPage(t, dave, newer3)
	if diff := cmp.Diff(second, back); diff != "" || count != "Events 51–100 of 120" {
		t.Errorf("back from the last page: count %q (-second +got):\n%s", count, diff)
	}
	top, count, newer, _ := auditPage(t, dave, newer)
	if diff := cmp.Diff(first, top); diff != "" || count != "Events 1–50 of 120" || newer != "" {
		t.Errorf("back to the first page: count %q, newer %q (-first +got):\n%s", count, newer, diff)
	}
	// The count follows the filters, and speaks the page's language.
	req, _ := http.NewRequest(http.MethodGet, env.url+"/audit?actor=filler&kind=auth.signed_in&from=2025-04-01T08:59", nil)
	req.Header.Set("Accept-Language", "zh-CN")
	_, body, _ := dave.do(req)
	if m := auditCountRe.FindStringSubmatch(body); m == nil || m[1] != "第 1–50 条，共 60 条事件" {
		t.Errorf("zh-CN count with a time filter: %q", m)
	}
}

// TestAuditLogColumns: every kind says who and what; request ids are
// whole; the payload's text is escaped.
func TestAuditLogColumns(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	rid := uuid.MustParse("0193b7b0-1111-7000-8000-00000000abcd")
	env.auditFixture(rid, 0)
	dave := env.as("dave")
	_, body := dave.get("/audit?from=2025-04-01T08:00&to=2025-04-02T00:00")
	rows := map[string]string{}
	for _, m := range regexp.MustCompile(`(?s)<tr>.*?<code class="kind">([a-z._]+)</code>.*?</tr>`).FindAllStringSubmatch(body, -1) {
		rows[m[1]] = m[0]
	}
	for kind, wants := range map[string][]string{
		audit.KindTokenCreated: {"API token created", "cli", `Subject:</span> ci-bot`, `Groups:</span> ci, deployers`,
			`Expires:</span> 2025-05-01T09:00:00Z`},
		audit.KindRequestCreated: {"Request filed", `<code class="id">` + rid.String() + `</code>`, `href="/requests/` + rid.String() + `"`,
			`<code class="id" title="Instance">rm-bp1auditpage01</code>`, `Environment:</span> prod`,
			`Connection string:</span> rm-bp1auditpage01.mysql.rds.aliyuncs.com`, `Justification:</span> =HYPERLINK(&#34;http://evil&#34;)`,
			`Ticket:</span> OPS-77`},
		audit.KindApprovalGranted: {"Vote: approve", "bob", `Decision:</span> approve`, `Approver group:</span> dba`,
			`Comment:</span> &lt;b&gt;looks fine&lt;/b&gt;`},
		audit.KindExecutionFailed: {"Release attempt failed", `<code class="id">IncorrectDBInstanceState</code>`,
			"7C3D1A2B-BBBB-4C7E-9A51-0123456789AB", `Attempt:</span> 2`, `HTTP status:</span> 403`, `Error:</span> the instance is busy`},
	} {
		row, ok := rows[kind]
		if !ok {
			t.Errorf("no %s row in\n%s", kind, excerpt(body))
			continue
		}
		for _, w := range wants {
			if !strings.Contains(row, w) {
				t.Errorf("%s row lacks %q:\n%s", kind, w, row)
			}
		}
	}
	if strings.Contains(body, "<b>looks fine</b>") {
		t.Error("a comment's markup reached the page unescaped")
	}
	// The searches of the log are on it too, with their filters.
	_, body = dave.get("/audit?kind=audit.searched&actor=dave")
	if !regexp.MustCompile(`Filters:</span> [^<]*from=2025-04-01T08:00:00Z`).MatchString(body) || !strings.Contains(body, "Audit log searched") {
		t.Errorf("audit.searched row without its filters:\n%s", excerpt(body))
	}
}

// TestAuditCSVColumns: the CSV export has a column for each field
// auditors filter on, beside the payload, formula-safe.
func TestAuditCSVColumns(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	rid := uuid.New()
	env.auditFixture(rid, 0)
	dave := env.as("dave")
	req, _ := http.NewRequest(http.MethodGet, env.url+"/audit/export.csv?from=2025-04-01T08:00&to=2025-04-02T00:00", nil)
	st, raw, resp := dave.do(req)
	if st != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %d %s", st, resp.Header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(audit.CSVHeader(), rows[0]); diff != "" {
		t.Fatalf("header (-want +got):\n%s", diff)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, name := range []string{"payload", "justification", "ticket", "comment", "decision", "environment", "subject", "groups",
		"db_instance_id", "connection_string", "alibaba_request_id", "error_code", "expires_at", "attempt"} {
		if _, ok := col[name]; !ok {
			t.Errorf("no %s column", name)
		}
	}
	got := map[string]map[string]string{}
	for _, r := range rows[1:] {
		m := map[string]string{}
		for name, i := range col {
			m[name] = r[i]
		}
		got[r[col["kind"]]] = m
	}
	if len(rows) != 5 {
		t.Fatalf("%d rows, want the header and 4 events: %q", len(rows), rows)
	}
	for _, c := range []struct{ kind, column, want string }{
		{audit.KindTokenCreated, "subject", "ci-bot"},
		{audit.KindTokenCreated, "groups", "ci; deployers"},
		{audit.KindTokenCreated, "expires_at", "2025-05-01T09:00:00Z"},
		{audit.KindRequestCreated, "environment", "prod"},
		{audit.KindRequestCreated, "connection_string", "rm-bp1auditpage01.mysql.rds.aliyuncs.com"},
		{audit.KindRequestCreated, "justification", `'=HYPERLINK("http://evil")`}, // defused
		{audit.KindRequestCreated, "ticket", "OPS-77"},
		{audit.KindRequestCreated, "request_id", rid.String()},
		{audit.KindRequestCreated, "db_instance_id", "rm-bp1auditpage01"},
		{audit.KindApprovalGranted, "decision", "approve"},
		{audit.KindApprovalGranted, "comment", "<b>looks fine</b>"},
		{audit.KindExecutionFailed, "error_code", "IncorrectDBInstanceState"},
		{audit.KindExecutionFailed, "alibaba_request_id", "7C3D1A2B-BBBB-4C7E-9A51-0123456789AB"},
		{audit.KindExecutionFailed, "attempt", "2"},
		{audit.KindExecutionFailed, "error_message", "the instance is busy"},
	} {
		if v := got[c.kind][c.column]; v != c.want {
			t.Errorf("%s: %s = %q, want %q", c.kind, c.column, v, c.want)
		}
	}
	// Nothing lost: the payload is still whole.
	if p := got[audit.KindApprovalGranted]["payload"]; !strings.Contains(p, `"comment":"\u003cb\u003elooks fine\u003c/b\u003e"`) &&
		!strings.Contains(p, `"comment":"<b>looks fine</b>"`) {
		t.Errorf("payload column: %s", p)
	}
}

// TestAuditAPIPagesBack: the API's search answers prev_cursor beside
// next_cursor, and following it returns the page before.
func TestAuditAPIPagesBack(t *testing.T) {
	t.Parallel()
	env := setupAPI(t)
	for i := 0; i < 3; i++ {
		if status, out := env.call(t, "alice", "POST", "/api/v1/requests", validBody()); status != 201 {
			t.Fatalf("create: %d %v", status, out)
		}
	}
	ids := func(out map[string]any) []any {
		var ids []any
		items, _ := out["items"].([]any)
		for _, it := range items {
			ids = append(ids, it.(map[string]any)["id"])
		}
		return ids
	}
	const q = "/api/v1/audit?actor=alice&limit=2"
	status, first := env.call(t, "dave", "GET", q, nil)
	next, _ := first["next_cursor"].(string)
	if status != 200 || next == "" || first["prev_cursor"] != nil {
		t.Fatalf("first page: %d %v", status, first)
	}
	status, second := env.call(t, "dave", "GET", q+"&cursor="+next, nil)
	prev, _ := second["prev_cursor"].(string)
	if status != 200 || prev == "" {
		t.Fatalf("second page: %d %v", status, second)
	}
	status, back := env.call(t, "dave", "GET", q+"&cursor="+prev, nil)
	if diff := cmp.Diff(ids(first), ids(back)); status != 200 || diff != "" || back["prev_cursor"] != nil {
		t.Errorf("back to the first page: %d, prev_cursor %v (-first +got):\n%s", status, back["prev_cursor"], diff)
	}
}

package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rdsgate/rdsgate/internal/auth"
)

// kindsBy counts the events of each kind by actor.
func kindsBy(t *testing.T, pool *pgxpool.Pool, actor string) map[string]int {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT kind, count(*) FROM audit_events WHERE actor = $1 GROUP BY kind`, actor)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	return out
}

// Who reads the audit trail, and who signs in, out or fails to, is itself
// on the audit trail (PCI DSS 10.2).
func TestAccessToTheTrailIsAudited(t *testing.T) {
	t.Parallel()
	api := setupAPI(t)
	if status, out := api.call(t, "dave", "GET", "/api/v1/audit?kind=request.created", nil); status != 200 {
		t.Fatalf("search: %d %v", status, out)
	}
	if st := api.status(t, "dave", "/api/v1/audit/export?format=csv"); st != 200 {
		t.Fatalf("export: %d", st)
	}
	if status, out := api.call(t, "dave", "GET", "/api/v1/audit/integrity", nil); status != 200 {
		t.Fatalf("integrity: %d %v", status, out)
	}
	got := kindsBy(t, api.pool, "dave")
	if got["audit.searched"] != 1 || got["audit.exported"] != 1 || got["audit.integrity_checked"] != 1 {
		t.Fatalf("dave's API reads on record: %v", got)
	}

	pages := setupPages(t, pagesOptions{})
	dave := pages.as("dave")
	if st, _ := dave.get("/audit?actor=alice"); st != http.StatusOK {
		t.Fatalf("audit page: %d", st)
	}
	if st, _ := dave.get("/audit/export.jsonl"); st != http.StatusOK {
		t.Fatalf("audit page export: %d", st)
	}
	if st, _, _ := dave.postRaw("/signout", nil, true); st != http.StatusSeeOther {
		t.Fatalf("sign out: %d", st)
	}
	c := pages.client()
	c.get("/signin")
	if st, _ := c.post("/signin/dev", url.Values{"user": {"nosuchuser"}}); st != http.StatusUnprocessableEntity {
		t.Fatalf("unknown user: %d", st)
	}
	got = kindsBy(t, pages.pool, "dave")
	if got["auth.signed_in"] != 1 || got["audit.searched"] != 1 || got["audit.exported"] != 1 || got["auth.signed_out"] != 1 {
		t.Fatalf("dave's page visits on record: %v", got)
	}
	if n := kindsBy(t, pages.pool, "nosuchuser")["auth.sign_in_failed"]; n != 1 {
		t.Fatalf("failed sign-in on record %d times", n)
	}
}

// Token creation and revocation show on the audit page with the subject and
// the groups.
func TestTokenEventsOnTheAuditPage(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	ctx := context.Background()
	if _, err := auth.CreateToken(ctx, env.pool, auth.Identity{Subject: "zed", Groups: []string{"dba"}}, "cli", 0); err != nil {
		t.Fatal(err)
	}
	if n, err := auth.RevokeTokens(ctx, env.pool, 0, "zed", "cli"); err != nil || n != 1 {
		t.Fatalf("revoke: %d %v", n, err)
	}
	_, body := env.as("dave").get("/audit?actor=cli")
	for _, want := range []string{"API token created", "API token revoked", "Subject:</span> zed", "Groups:</span> dba"} {
		if !strings.Contains(body, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
}

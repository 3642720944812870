package web_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var myRequestRe = regexp.MustCompile(`<td data-label="Filed"><a href="/requests/([0-9a-f-]{36})">`)

// requestsPage reads one page of My requests: its request ids and its
// links both ways.
func requestsPage(t *testing.T, c *client, path string) (ids []string, newer, older string) {
	t.Helper()
	st, body := c.get(path)
	if st != http.StatusOK {
		t.Fatalf("%s: %d\n%s", path, st, excerpt(body))
	}
	for _, m := range myRequestRe.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	link := func(id string) string {
		m := pageLinkRe(id).FindStringSubmatch(body)
		if m == nil {
			return ""
		}
		return strings.ReplaceAll(m[1], "&amp;", "&")
	}
	return ids, link("newer"), link("older")
}

// TestMyRequestsPagesBothWays: 60 requests, 25 a page, walked down with
// "Older →" and back up with "← Newer" to the same pages.
func TestMyRequestsPagesBothWays(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	var filed []string
	for i := 0; i < 60; i++ {
		filed = append([]string{env.file("alice", "rm-bp1devexample01", "paging").ID.String()}, filed...)
	}
	alice := env.as("alice")
	p1, newer, older := requestsPage(t, alice, "/requests")
	if diff := cmp.Diff(filed[:25], p1); diff != "" || newer != "" || older == "" {
		t.Fatalf("first page: newer %q, older %q (-want +got):\n%s", newer, older, diff)
	}
	p2, newer2, older := requestsPage(t, alice, older)
	if diff := cmp.Diff(filed[25:50], p2); diff != "" || newer2 != "/requests" || older == "" {
		t.Fatalf("second page: newer %q, older %q (-want +got):\n%s", newer2, older, diff)
	}
	p3, newer3, older := requestsPage(t, alice, older)
	if diff := cmp.Diff(filed[50:], p3); diff != "" || newer3 == "" || older != "" {
		t.Fatalf("last page: newer %q, older %q (-want +got):\n%s", newer3, older, diff)
	}
	back, newer, _ := requestsPage(t, alice, newer3)
	if diff := cmp.Diff(p2, back); diff != "" || newer != "/requests" {
		t.Errorf("back up from the last page: newer %q (-want +got):\n%s", newer, diff)
	}
	// Another requester sees none of them.
	if ids, _, _ := requestsPage(t, env.as("mallory"), "/requests"); len(ids) != 0 {
		t.Errorf("mallory sees %d of alice's requests", len(ids))
	}
}

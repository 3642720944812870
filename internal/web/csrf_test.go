package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The CSRF token is the session's own: another session's token, a token in
// the query string and a cross-origin form are refused even with a valid
// token; a signed-in user's token changes at sign-in.
func TestCSRFBoundToSession(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	alice, bob := env.as("alice"), env.as("bob")
	r := env.file("alice", "rm-bp1devexample01", "retiring the public endpoint")
	vote := url.Values{"decision": {"approve"}, "payload_hash": {r.PayloadHash.String()}}
	path := "/requests/" + r.ID.String() + "/vote"

	// Alice's token in Bob's session.
	form := url.Values{"_csrf": {alice.csrf}}
	for k, v := range vote {
		form[k] = v
	}
	if st, _, _ := bob.postRaw(path, form, false); st != http.StatusForbidden {
		t.Errorf("another session's token: %d, want 403", st)
	}
	// Bob's own token, but in the query string.
	req, _ := http.NewRequest(http.MethodPost, env.url+path+"?_csrf="+url.QueryEscape(bob.csrf), strings.NewReader(vote.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if st, _, _ := bob.do(req); st != http.StatusForbidden {
		t.Errorf("token in the query string: %d, want 403", st)
	}
	// Bob's own token from a page of another origin.
	form.Set("_csrf", bob.csrf)
	req, _ = http.NewRequest(http.MethodPost, env.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://attacker.example")
	if st, _, _ := bob.do(req); st != http.StatusForbidden {
		t.Errorf("cross-origin form: %d, want 403", st)
	}
	req, _ = http.NewRequest(http.MethodPost, env.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", env.url)
	if st, _, _ := bob.do(req); st != http.StatusSeeOther {
		t.Errorf("same-origin form with the session's token: %d, want 303", st)
	}
	// Sign-in renews the token.
	c := env.client()
	c.get("/signin")
	before := c.csrf
	if st, _ := c.post("/signin/dev", url.Values{"user": {"dave"}}); st != http.StatusSeeOther {
		t.Fatal(st)
	}
	c.get("/signin")
	if c.csrf == "" || c.csrf == before {
		t.Errorf("token after sign-in %q, before %q: want a new one", c.csrf, before)
	}
}

package web_test

import (
	"net/http"
	"strings"
	"testing"
)

// A route asked with a method it does not take answers 405 with the methods
// it does take in Allow, in the API and on the pages.
func TestWrongMethodIs405(t *testing.T) {
	t.Parallel()
	env := setupAPI(t)
	for _, tc := range []struct{ method, path, allow string }{
		{"PUT", "/api/v1/audit/integrity", "OPTIONS, GET"},
		{"DELETE", "/api/v1/requests", "OPTIONS, GET, POST"},
		{"PATCH", "/api/v1/requests/0193b7b0-0000-7000-8000-000000000001", "OPTIONS, GET"},
		{"GET", "/api/v1/requests/0193b7b0-0000-7000-8000-000000000001/approvals", "OPTIONS, POST"},
		{"POST", "/healthz", "OPTIONS, GET"},
		{"PUT", "/signin", "OPTIONS, GET"},
	} {
		req, _ := http.NewRequest(tc.method, env.url+tc.path, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+env.tokens["dave"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d, Allow %q; want 405, Allow %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.allow)
		}
	}
	// An unknown path is still 404.
	if st := env.status(t, "dave", "/api/v1/nothing-here"); st != http.StatusNotFound {
		t.Errorf("unknown path: %d", st)
	}
}

package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// The fuzz targets send hostile text (NUL bytes, invalid UTF-8, markup,
// huge and empty values) to every handler that takes text. None may answer
// 500: bad input is a 400 (malformed JSON) or a 422 naming the field, and
// nothing is half-written. `make test` runs the seed corpus; `go test
// -fuzz FuzzFileRequest ./internal/web` explores further.

var hostile = []string{"", "\x00", "a\x00b", "\xff", "\xc3\x28", "%00", "<script>", "\u202e", "rm-\x00bp1", "ok"}

func noServerError(t *testing.T, what string, status int, out map[string]any) {
	t.Helper()
	if status >= 500 {
		t.Fatalf("%s: %d %v", what, status, out)
	}
}

func FuzzFileRequest(f *testing.F) {
	env := setupAPI(f)
	for _, h := range hostile {
		f.Add(h, h)
	}
	f.Fuzz(func(t *testing.T, justification, ticket string) {
		body := validBody()
		body["justification"], body["ticket"] = justification, ticket
		status, out := env.call(t, "alice", "POST", "/api/v1/requests", body)
		noServerError(t, "file", status, out)
		// The raw bytes too, which JSON encoding would have escaped.
		status, out = env.call(t, "alice", "POST", "/api/v1/requests",
			`{"region_id": "cn-hangzhou", "db_instance_id": "rm-bp1devexample01", "connection_string": "`+ticket+
				`", "network_type": "0", "justification": "`+justification+`"}`)
		noServerError(t, "file raw", status, out)
	})
}

func FuzzVoteAndCancel(f *testing.F) {
	env := setupAPI(f)
	status, r := env.call(f, "alice", "POST", "/api/v1/requests", validBody())
	if status != 201 {
		f.Fatalf("file: %d %v", status, r)
	}
	path := "/api/v1/requests/" + r["id"].(string)
	for _, h := range hostile {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, text string) {
		status, out := env.call(t, "bob", "POST", path+"/approvals", map[string]any{"decision": text, "comment": text})
		noServerError(t, "vote", status, out)
		status, out = env.call(t, "alice", "POST", path+"/cancel", map[string]any{"reason": text + "\x00"})
		noServerError(t, "cancel", status, out)
	})
}

func FuzzSearchFilters(f *testing.F) {
	env := setupAPI(f)
	for _, h := range hostile {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, p := range []string{"actor", "kind", "request_id", "db_instance_id", "error_code", "alibaba_request_id", "cursor", "from"} {
			q := url.Values{p: {v}}.Encode()
			status, out := env.call(t, "dave", "GET", "/api/v1/audit?"+q, nil)
			noServerError(t, "audit "+p, status, out)
			if status := env.status(t, "dave", "/api/v1/audit/export?format=csv&"+q); status >= 500 || (status == 200 && p != "cursor" && v != "" && !validText(v)) {
				t.Fatalf("audit export %s=%q: %d", p, v, status)
			}
		}
		for _, p := range []string{"requester", "db_instance_id", "status", "cursor", "limit"} {
			status, out := env.call(t, "bob", "GET", "/api/v1/requests?"+url.Values{p: {v}}.Encode(), nil)
			noServerError(t, "list "+p, status, out)
		}
		status, out := env.call(t, "bob", "GET", "/api/v1/requests/"+url.PathEscape(v), nil)
		noServerError(t, "get by id", status, out)
	})
}

// validText is what the boundary accepts: UTF-8 without NUL.
func validText(v string) bool { return utf8.ValidString(v) && !strings.ContainsRune(v, 0) }

// status GETs path as user and returns the status alone (exports are not
// JSON).
func (e apiEnv) status(t testing.TB, user, path string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", e.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.tokens[user])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A NUL or invalid UTF-8 in a text input is a 422 naming the field, in the
// API and on the pages, and writes nothing.
func TestBadTextNamesTheField(t *testing.T) {
	t.Parallel()
	env := setupAPI(t)
	body := validBody()
	body["justification"] = "retiring\x00the endpoint"
	status, out := env.call(t, "alice", "POST", "/api/v1/requests", body)
	if code, field := errField(out); status != 422 || code != "invalid" || field != "justification" {
		t.Fatalf("NUL justification: %d %v", status, out)
	}
	status, out = env.call(t, "dave", "GET", "/api/v1/audit?kind=%FF", nil)
	if _, field := errField(out); status != 422 || field != "kind" {
		t.Fatalf("invalid UTF-8 kind: %d %v", status, out)
	}
	status, out = env.call(t, "bob", "GET", "/api/v1/requests?db_instance_id=%FF", nil)
	if _, field := errField(out); status != 422 || field != "db_instance_id" {
		t.Fatalf("invalid UTF-8 instance filter: %d %v", status, out)
	}
	var n int
	if err := env.pool.QueryRow(t.Context(), `SELECT count(*) FROM requests`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d requests written (%v)", n, err)
	}
	pages := setupPages(t, pagesOptions{})
	if st, body := pages.as("dave").get("/audit?actor=%00"); st != http.StatusUnprocessableEntity {
		t.Fatalf("audit page with a NUL actor: %d\n%s", st, excerpt(body))
	}
	alice := pages.as("alice")
	st, page := alice.post("/requests/new", url.Values{"region_id": {"cn-hangzhou"}, "db_instance_id": {"rm-bp1devexample01"},
		"connection_string": {"rm-bp1devexample01.mysql.rds.aliyuncs.com"}, "network_type": {"0"},
		"justification": {"long enough\x00"}, "ticket": {"OPS-1"}})
	if st != http.StatusUnprocessableEntity || !strings.Contains(page, "NUL") {
		t.Fatalf("new-request form with a NUL: %d\n%s", st, excerpt(page))
	}
}

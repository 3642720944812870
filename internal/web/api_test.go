package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/apptest"
	"github.com/rdsgate/rdsgate/internal/auth"
)

type apiEnv struct {
	url    string
	tokens map[string]string
	pool   *pgxpool.Pool
}

func setupAPI(t testing.TB) apiEnv { return setupAPIWith(t, nil) }

// setupAPIWith starts the application with configure's changes and mints
// the example users' tokens.
func setupAPIWith(t testing.TB, configure func(*app.Config)) apiEnv {
	t.Helper()
	a := apptest.Start(t, configure)
	env := apiEnv{url: a.URL, tokens: map[string]string{}, pool: a.Pool}
	for name, groups := range map[string][]string{"alice": {"developers"}, "bob": {"dba"}, "carol": {"security"}, "erin": {"dba", "admins"}, "mallory": {"developers"}, "dave": {"auditors"}} {
		tok, err := auth.CreateToken(context.Background(), a.Pool, auth.Identity{Subject: name, Groups: groups}, "test", 0)
		if err != nil {
			t.Fatal(err)
		}
		env.tokens[name] = tok
	}
	return env
}

// call sends body (a string or a value to marshal) as user and decodes the
// response into a generic map.
func (e apiEnv) call(t testing.TB, user, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if user != "" {
		tok, ok := e.tokens[user]
		if !ok {
			tok = user // a raw header value
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: non-JSON body %q", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

// waitStatus polls the request until it reaches status (the executor works
// in the background), failing after 20 s.
func (e apiEnv) waitStatus(t *testing.T, id, status string) { e.waitStatusAs(t, "alice", id, status) }

// waitStatusAs is waitStatus reading as user.
func (e apiEnv) waitStatusAs(t *testing.T, user, id, status string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, out := e.call(t, user, "GET", "/api/v1/requests/"+id, nil)
		if out["status"] == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s is %v after 20 s, want %s", id, out["status"], status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func validBody() map[string]any {
	return map[string]any{"region_id": "cn-hangzhou", "db_instance_id": "rm-bp1devexample01",
		"connection_string": "rm-bp1devexample01.mysql.rds.aliyuncs.com", "network_type": "0",
		"justification": "retiring the public endpoint", "ticket": "OPS-7"}
}

func errField(out map[string]any) (code, field string) {
	e, _ := out["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return code, field
}

func TestAPIAuth(t *testing.T) {
	t.Parallel()
	env := setupAPI(t)
	for _, user := range []string{"", "rdsg_not-a-token"} {
		status, out := env.call(t, user, "GET", "/api/v1/requests", nil)
		if code, _ := errField(out); status != 401 || code != "unauthenticated" {
			t.Errorf("user %q: %d %v", user, status, out)
		}
	}
	req, _ := http.NewRequest("GET", env.url+"/api/v1/requests", nil)
	req.Header.Set("Authorization", "Basic YWxpY2U6eA==")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("basic auth: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	for _, p := range []string{"/healthz", "/readyz"} {
		if status, _ := env.call(t, "", "GET", p, nil); status != 200 {
			t.Errorf("%s: %d", p, status)
		}
	}
}

func TestAPIValidation(t *testing.T) {
	t.Parallel()
	env := setupAPI(t)
	cases := []struct {
		field  string
		value  any
		status int
	}{
		{"region_id", "", 422}, {"region_id", "Hangzhou!", 422},
		{"db_instance_id", "", 422}, {"db_instance_id", "i-abc", 422}, {"db_instance_id", "RM-ABCDEF", 422},
		{"connection_string", "", 422}, {"connection_string", "not a host", 422},
		{"network_type", "2", 422}, {"network_type", 0, 400},
		{"justification", "  ", 422}, {"justification", strings.Repeat("x", 2001), 422},
		{"ticket", strings.Repeat("T", 101), 422},
		{"surprise", "x", 400},
	}
	for _, tc := range cases {
		b := validBody()
		b[tc.field] = tc.value
		status, out := env.call(t, "alice", "POST", "/api/v1/requests", b)
		if _, field := errField(out); status != tc.status || field != tc.field {
			t.Errorf("%s=%v: %d %v, want %d naming the field", tc.field, tc.value, status, out, tc.status)
		}
	}
	if status, out := env.call(t, "alice", "POST", "/api/v1/requests", "{not json"); status != 400 {
		t.Errorf("bad JSON: %d %v", status, out)
	}
	big := validBody()
	big["justification"] = strings.Repeat("x", 1100*1024) // filings may be bulk: their limit is BulkBodyLimit
	if status, out := env.call(t, "alice", "POST", "/api/v1/requests", big); status != 413 {
		t.Errorf("large body: %d %v", status, out)
	}
	if status, out := env.call(t, "alice", "GET", "/api/v1/requests?status=bogus", nil); status != 422 {
		t.Errorf("bad status filter: %d %v", status, out)
	} else if _, f := errField(out); f != "status" {
		t.Errorf("field %q", f)
	}
	if status, _ := env.call(t, "alice", "GET", "/api/v1/requests?cursor=zzz", nil); status != 422 {
		t.Errorf("bad cursor: %d", status)
	}
	if status, _ := env.call(t, "alice", "GET", "/api/v1/requests/not-a-uuid", nil); status != 404 {
		t.Errorf("bad id: %d", status)
	}
	if status, _ := env.call(t, "alice", "GET", "/api/v1/requests/0193b7b0-0000-7000-8000-000000000000", nil); status != 404 {
		t.Errorf("unknown id: %d", status)
	}
}

func TestAPIWholeLife(t *testing.T) {
	t.Parallel()
	env := setupAPI(t)
	status, r := env.call(t, "alice", "POST", "/api/v1/requests", validBody())
	if status != 201 || r["status"] != "pending" || r["required_approvals"] != float64(1) || r["decision"] == nil {
		t.Fatalf("create: %d %v", status, r)
	}
	id := r["id"].(string)
	hash := r["payload_hash"].(string)
	path := "/api/v1/requests/" + id

	if status, out := env.call(t, "alice", "POST", path+"/approvals", map[string]any{"decision": "approve"}); status != 403 {
		t.Fatalf("self approval: %d %v", status, out)
	}
	if status, out := env.call(t, "bob", "POST", path+"/approvals", map[string]any{"decision": "maybe"}); status != 422 {
		t.Fatalf("bad decision: %d %v", status, out)
	}
	if status, out := env.call(t, "bob", "POST", path+"/cancel", nil); status != 403 {
		t.Fatalf("cancel by non-requester: %d %v", status, out)
	}
	status, out := env.call(t, "bob", "POST", path+"/approvals", map[string]any{"decision": "approve", "comment": "fine", "payload_hash": hash})
	if status != 200 || out["status"] != "approved" {
		t.Fatalf("approve: %d %v", status, out)
	}
	if status, out := env.call(t, "bob", "POST", path+"/approvals", map[string]any{"decision": "approve"}); status != 409 {
		t.Fatalf("double vote: %d %v", status, out)
	}
	if status, out := env.call(t, "alice", "POST", path+"/cancel", nil); status != 409 {
		t.Fatalf("cancel approved: %d %v", status, out)
	}
	// The executor releases the endpoint through the simulator; the detail
	// lists the vote and the call with the simulator's RequestId.
	env.waitStatus(t, id, "succeeded")
	status, got := env.call(t, "carol", "GET", path, nil)
	votes, _ := got["approvals"].([]any)
	attempts, _ := got["attempts"].([]any)
	if status != 200 || got["status"] != "succeeded" || len(votes) != 1 || len(attempts) != 1 {
		t.Fatalf("get: %d %v", status, got)
	}
	if v := votes[0].(map[string]any); v["payload_hash"] != hash || v["approver"] != "bob" {
		t.Fatalf("vote %v", v)
	}
	if a := attempts[0].(map[string]any); a["operation"] != "ReleaseInstanceConnection" || a["outcome"] != "succeeded" || a["alibaba_request_id"] == "" {
		t.Fatalf("attempt %v", a)
	}
}

func TestAPIDoubleVoteBeforeQuorum(t *testing.T) {
	t.Parallel()
	env := setupAPI(t)
	b := validBody()
	b["db_instance_id"], b["connection_string"] = "rm-bp1prodexample1", "rm-bp1prodexample1.mysql.rds.aliyuncs.com"
	status, r := env.call(t, "alice", "POST", "/api/v1/requests", b)
	if status != 201 || r["required_approvals"] != float64(2) {
		t.Fatalf("create: %d %v", status, r)
	}
	path := "/api/v1/requests/" + r["id"].(string) + "/approvals"
	if status, out := env.call(t, "bob", "POST", path, map[string]any{"decision": "approve"}); status != 200 || out["status"] != "pending" {
		t.Fatalf("first vote: %d %v", status, out)
	}
	if status, out := env.call(t, "bob", "POST", path, map[string]any{"decision": "approve"}); status != 409 {
		t.Fatalf("second vote by bob: %d %v", status, out)
	}
	if status, out := env.call(t, "erin", "POST", path, map[string]any{"decision": "approve"}); status != 403 {
		t.Fatalf("a second dba cannot fill the security requirement: %d %v", status, out)
	}
	if status, out := env.call(t, "carol", "POST", path, map[string]any{"decision": "approve"}); status != 200 || out["status"] != "approved" {
		t.Fatalf("security vote: %d %v", status, out)
	}
}

func TestAPIDenied(t *testing.T) {
	t.Parallel()
	env := setupAPI(t)
	b := validBody()
	b["db_instance_id"], b["connection_string"] = "rm-bp1prodexample1", "rm-bp1prodexample1.mysql.rds.aliyuncs.com"
	status, out := env.call(t, "mallory", "POST", "/api/v1/requests", b)
	e, _ := out["error"].(map[string]any)
	reasons, _ := e["reasons"].([]any)
	if status != 403 || e["code"] != "denied" || len(reasons) == 0 {
		t.Fatalf("denied: %d %v", status, out)
	}
	rec, _ := e["request"].(map[string]any)
	status, got := env.call(t, "mallory", "GET", "/api/v1/requests/"+fmt.Sprint(rec["id"]), nil)
	if status != 200 || got["status"] != "denied" {
		t.Fatalf("denied request recorded: %d %v", status, got)
	}
}

func TestAPIListPagination(t *testing.T) {
	t.Parallel()
	env := setupAPI(t)
	for i := 0; i < 5; i++ {
		b := validBody()
		b["db_instance_id"] = fmt.Sprintf("rm-bp1demo000000%02d", i+1)
		b["connection_string"] = fmt.Sprintf("rm-bp1demo000000%02d.mysql.rds.aliyuncs.com", i+1)
		if status, out := env.call(t, "alice", "POST", "/api/v1/requests", b); status != 201 {
			t.Fatalf("create %d: %d %v", i, status, out)
		}
	}
	seen := map[string]bool{}
	cursor := ""
	pages := 0
	for {
		status, out := env.call(t, "bob", "GET", "/api/v1/requests?limit=2&status=pending&requester=alice"+cursor, nil)
		if status != 200 {
			t.Fatalf("list: %d %v", status, out)
		}
		pages++
		for _, it := range out["items"].([]any) {
			seen[it.(map[string]any)["id"].(string)] = true
		}
		next, _ := out["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = "&cursor=" + next
	}
	if len(seen) != 5 || pages != 3 {
		t.Fatalf("saw %d requests in %d pages", len(seen), pages)
	}
	status, out := env.call(t, "bob", "GET", "/api/v1/requests?db_instance_id=rm-bp1demo00000003", nil)
	if items := out["items"].([]any); status != 200 || len(items) != 1 {
		t.Fatalf("filter by instance: %d %v", status, out)
	}
}

func TestAPIPolicySimulate(t *testing.T) {
	t.Parallel()
	env := setupAPI(t)
	in := map[string]any{
		"principal": map[string]any{"subject": "mallory", "groups": []string{"developers"}},
		"request": map[string]any{"region_id": "cn-hangzhou", "db_instance_id": "rm-bp1prodexample1",
			"connection_string": "rm-bp1prodexample1.mysql.rds.aliyuncs.com", "network_type": "0",
			"justification": "why was I denied?", "ticket": "OPS-1"},
		"context": map[string]any{"source_ip": "10.0.0.1", "current_time": "2026-11-26T10:00:00Z", "secure_transport": true},
	}
	status, d := env.call(t, "bob", "POST", "/api/v1/policy/simulate", in)
	ram, _ := d["ram"].(map[string]any)
	if status != 200 || d["allow"] != false || ram["effect"] != "ExplicitDeny" || len(d["reasons"].([]any)) == 0 {
		t.Fatalf("simulate: %d %v", status, d)
	}
	in["principal"] = map[string]any{"subject": "alice", "groups": []string{"developers"}}
	status, d = env.call(t, "alice", "POST", "/api/v1/policy/simulate", in)
	if status != 200 || d["allow"] != true || d["required_approvals"] != float64(2) {
		t.Fatalf("simulate alice: %d %v", status, d)
	}
	// Nothing was recorded.
	status, out := env.call(t, "bob", "GET", "/api/v1/requests", nil)
	if status != 200 || len(out["items"].([]any)) != 0 {
		t.Fatalf("simulation recorded requests: %v", out)
	}
	if status, out := env.call(t, "alice", "POST", "/api/v1/policy/simulate", `{"principal": 5}`); status != 400 {
		t.Fatalf("bad input: %d %v", status, out)
	}
}

// Filing needs the requester role and voting the approver role, from the
// token's groups: a caller without it gets 403, writes no request and
// leaves one access.denied event.
func TestAPIRolesForFilingAndVoting(t *testing.T) {
	t.Parallel()
	env := setupAPI(t)
	pool := env.pool
	for name, groups := range map[string][]string{"approver-only": {"dba"}, "nobody": {}, "erin-requester": {"developers"}} {
		tok, err := auth.CreateToken(context.Background(), pool, auth.Identity{Subject: name, Groups: groups}, "test", 0)
		if err != nil {
			t.Fatal(err)
		}
		env.tokens[name] = tok
	}
	for _, user := range []string{"approver-only", "nobody"} {
		if status, out := env.call(t, user, "POST", "/api/v1/requests", validBody()); status != 403 {
			t.Fatalf("%s files: %d %v, want 403", user, status, out)
		}
	}
	status, r := env.call(t, "alice", "POST", "/api/v1/requests", validBody())
	if status != 201 {
		t.Fatalf("alice files: %d %v", status, r)
	}
	path := "/api/v1/requests/" + r["id"].(string) + "/approvals"
	if status, out := env.call(t, "erin-requester", "POST", path, map[string]any{"decision": "approve"}); status != 403 {
		t.Fatalf("a requester-only token votes: %d %v, want 403", status, out)
	}
	var requests, denied int
	if err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM requests),
    (SELECT count(*) FROM audit_events WHERE kind = 'access.denied')`).Scan(&requests, &denied); err != nil {
		t.Fatal(err)
	}
	if requests != 1 || denied != 3 {
		t.Fatalf("%d requests and %d access.denied events, want 1 and 3", requests, denied)
	}
	if status, out := env.call(t, "bob", "POST", path, map[string]any{"decision": "approve"}); status != 200 {
		t.Fatalf("bob (approver) votes: %d %v", status, out)
	}
}

// The requester cancels a pending request, with or without a reason; a
// cancelled request takes no second cancel and no vote.
func TestAPICancel(t *testing.T) {
	t.Parallel()
	env := setupAPI(t)
	for _, body := range []any{nil, map[string]any{"reason": "filed against the wrong instance"}} {
		status, r := env.call(t, "alice", "POST", "/api/v1/requests", validBody())
		if status != 201 {
			t.Fatalf("create: %d %v", status, r)
		}
		path := "/api/v1/requests/" + r["id"].(string)
		if status, out := env.call(t, "alice", "POST", path+"/cancel", body); status != 200 || out["status"] != "cancelled" {
			t.Fatalf("cancel with body %v: %d %v", body, status, out)
		}
		if status, out := env.call(t, "alice", "POST", path+"/cancel", body); status != 409 {
			t.Fatalf("second cancel: %d %v", status, out)
		}
		if status, out := env.call(t, "bob", "POST", path+"/approvals", map[string]any{"decision": "approve"}); status != 409 {
			t.Fatalf("vote on a cancelled request: %d %v", status, out)
		}
	}
}

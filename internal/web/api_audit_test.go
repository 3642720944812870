package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestAPIAuditEndpoints(t *testing.T) {
	t.Parallel()
	env := setupAPI(t)
	status, r := env.call(t, "alice", "POST", "/api/v1/requests", validBody())
	if status != 201 {
		t.Fatalf("create: %d %v", status, r)
	}
	id := r["id"].(string)
	if status, out := env.call(t, "bob", "POST", "/api/v1/requests/"+id+"/approvals", map[string]any{"decision": "approve"}); status != 200 {
		t.Fatalf("approve: %d %v", status, out)
	}
	// The executor releases the endpoint through the simulator; its two
	// events complete the request's trail.
	env.waitStatus(t, id, "succeeded")

	// Trail-wide endpoints are for auditors (admin implies it) only.
	for _, user := range []string{"alice", "bob"} {
		for _, p := range []string{"/api/v1/audit", "/api/v1/audit/integrity", "/api/v1/audit/export"} {
			if status, _ := env.call(t, user, "GET", p, nil); status != 403 {
				t.Errorf("%s GET %s: %d, want 403", user, p, status)
			}
		}
	}
	status, out := env.call(t, "dave", "GET", "/api/v1/audit?request_id="+id, nil)
	items, _ := out["items"].([]any)
	if status != 200 || len(items) != 6 {
		t.Fatalf("search by request: %d %v", status, out)
	}
	kinds := map[string]bool{}
	for _, it := range items {
		kinds[it.(map[string]any)["kind"].(string)] = true
	}
	for _, k := range []string{"policy.decided", "request.created", "approval.granted", "request.approved", "execution.started", "execution.succeeded"} {
		if !kinds[k] {
			t.Errorf("missing %s in %v", k, kinds)
		}
	}
	if status, out := env.call(t, "erin", "GET", "/api/v1/audit?actor=bob&kind=approval.granted", nil); status != 200 || len(out["items"].([]any)) != 1 {
		t.Errorf("admin search by actor and kind: %d %v", status, out)
	}
	for _, q := range []string{"from=yesterday", "limit=0", "request_id=nope"} {
		status, out := env.call(t, "dave", "GET", "/api/v1/audit?"+q, nil)
		field := strings.SplitN(q, "=", 2)[0]
		if _, f := errField(out); status != 422 || f != field {
			t.Errorf("%s: %d %v, want 422 naming %s", q, status, out, field)
		}
	}
	// Any token holder reads one request's timeline, oldest first.
	status, out = env.call(t, "alice", "GET", "/api/v1/requests/"+id+"/timeline", nil)
	evs, _ := out["events"].([]any)
	if status != 200 || len(evs) != 6 || evs[0].(map[string]any)["kind"] != "policy.decided" {
		t.Fatalf("timeline: %d %v", status, out)
	}
	if status, out := env.call(t, "dave", "GET", "/api/v1/audit/integrity", nil); status != 200 {
		t.Fatalf("integrity: %d %v", status, out)
	}
	req, _ := http.NewRequest("GET", env.url+"/api/v1/audit/export?format=csv&request_id="+id, nil)
	req.Header.Set("Authorization", "Bearer "+env.tokens["dave"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || len(lines) != 7 {
		t.Fatalf("csv export: %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if status, out := env.call(t, "dave", "GET", "/api/v1/audit/export?format=xml", nil); status != 422 {
		t.Errorf("bad format: %d %v", status, out)
	}
}

// Every API route that reads × every role: who may read what is checked on
// the server, for tokens as for sessions.
func TestAPIRouteRoles(t *testing.T) {
	t.Parallel()
	env := setupAPI(t)
	status, r := env.call(t, "alice", "POST", "/api/v1/requests", validBody())
	if status != 201 {
		t.Fatalf("create: %d %v", status, r)
	}
	id := r["id"].(string)
	simulateOther := map[string]any{"principal": map[string]any{"subject": "mallory"},
		"request": map[string]any{"region_id": "cn-hangzhou", "db_instance_id": "rm-bp1devexample01"}}
	routes := []struct {
		method, path string
		body         any
		want         map[string]int // user → status
	}{
		{"GET", "/api/v1/requests/" + id, nil, map[string]int{"alice": 200, "mallory": 404, "bob": 200, "dave": 200, "erin": 200}},
		{"GET", "/api/v1/requests/" + id + "/timeline", nil, map[string]int{"alice": 200, "mallory": 404, "bob": 200, "dave": 200, "erin": 200}},
		{"GET", "/api/v1/requests", nil, map[string]int{"alice": 200, "mallory": 200, "bob": 200, "dave": 200, "erin": 200}},
		{"GET", "/api/v1/requests?requester=alice", nil, map[string]int{"alice": 200, "mallory": 403, "bob": 200, "dave": 200}},
		{"POST", "/api/v1/policy/simulate", simulateOther, map[string]int{"alice": 403, "mallory": 200, "bob": 200, "dave": 200, "erin": 200}},
		{"GET", "/api/v1/audit", nil, map[string]int{"alice": 403, "mallory": 403, "bob": 403, "dave": 200, "erin": 200}},
		{"GET", "/api/v1/audit/integrity", nil, map[string]int{"alice": 403, "bob": 403, "dave": 200, "erin": 200}},
		{"GET", "/api/v1/audit/export?format=xml", nil, map[string]int{"alice": 403, "bob": 403, "dave": 422, "erin": 422}},
	}
	for _, rt := range routes {
		for user, want := range rt.want {
			if status, out := env.call(t, user, rt.method, rt.path, rt.body); status != want {
				t.Errorf("%s %s %s: %d, want %d (%v)", user, rt.method, rt.path, status, want, out)
			}
		}
	}
	// A requester's list holds only their own requests.
	_, out := env.call(t, "mallory", "GET", "/api/v1/requests", nil)
	if items := out["items"].([]any); len(items) != 0 {
		t.Errorf("mallory sees %d requests of others", len(items))
	}
}

package web_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestAPIBulkRequest files one bulk request through the JSON API, approves
// it once, and follows it until every target is released through the
// simulator, each with its Alibaba RequestId.
func TestAPIBulkRequest(t *testing.T) {
	t.Parallel()
	env := setupAPI(t)
	var targets []map[string]any
	for i := 5; i >= 1; i-- { // out of order: the answer lists them canonically
		id := fmt.Sprintf("rm-bp1demo%08d", i)
		targets = append(targets, map[string]any{"region_id": "cn-hangzhou", "db_instance_id": id,
			"connection_string": id + ".mysql.rds.aliyuncs.com", "network_type": "0"})
	}
	// mallory's RAM denies production instances: that target is listed
	// with its reasons and the rest proceed.
	targets = append(targets, map[string]any{"region_id": "cn-hangzhou", "db_instance_id": "rm-bp1prodexample1",
		"connection_string": "rm-bp1prodexample1.mysql.rds.aliyuncs.com", "network_type": "0"})
	body := map[string]any{"targets": targets, "justification": "incident 7: closing the public endpoints", "ticket": "OPS-7"}

	// The endpoint fields belong in the targets.
	bad := map[string]any{"targets": targets, "region_id": "cn-hangzhou", "justification": "x"}
	if status, out := env.call(t, "mallory", "POST", "/api/v1/requests", bad); status != 422 {
		t.Fatalf("top-level endpoint field beside targets: %d %v", status, out)
	} else if _, f := errField(out); f != "region_id" {
		t.Errorf("field %q, want region_id", f)
	}

	status, out := env.call(t, "mallory", "POST", "/api/v1/requests", body)
	if status != 201 || out["status"] != "pending" || out["target_count"] != float64(6) {
		t.Fatalf("file: %d %v", status, out)
	}
	id := out["id"].(string)
	ts := out["targets"].([]any)
	if first := ts[0].(map[string]any); first["db_instance_id"] != "rm-bp1demo00000001" {
		t.Errorf("first target %v, want the canonical order", first)
	}
	last := ts[5].(map[string]any)
	if dec := last["decision"].(map[string]any); last["db_instance_id"] != "rm-bp1prodexample1" || dec["allow"] != false ||
		len(dec["reasons"].([]any)) == 0 {
		t.Errorf("production target %v, want denied with reasons", last)
	}
	if p := out["progress"].(map[string]any); p["total"] != float64(5) || p["denied"] != float64(1) || p["remaining"] != float64(5) {
		t.Errorf("progress %v", p)
	}

	if status, out := env.call(t, "bob", "POST", "/api/v1/requests/"+id+"/approvals",
		map[string]any{"decision": "approve", "payload_hash": out["payload_hash"]}); status != 200 || out["status"] != "executing" {
		t.Fatalf("approve: %d %v", status, out)
	}
	env.waitStatusAs(t, "mallory", id, "succeeded")
	_, out = env.call(t, "mallory", "GET", "/api/v1/requests/"+id, nil)
	if p := out["progress"].(map[string]any); p["succeeded"] != float64(5) || p["remaining"] != float64(0) || p["failed"] != float64(0) {
		t.Errorf("progress %v", p)
	}
	for _, raw := range out["targets"].([]any)[:5] {
		tg := raw.(map[string]any)
		as, _ := tg["attempts"].([]any)
		if tg["status"] != "succeeded" || len(as) != 1 || as[0].(map[string]any)["alibaba_request_id"] == "" {
			t.Errorf("target %v", tg)
		}
	}
	// The targets are not listed as requests of their own.
	_, list := env.call(t, "mallory", "GET", "/api/v1/requests", nil)
	if items := list["items"].([]any); len(items) != 1 {
		t.Errorf("mallory's list has %d items, want the bulk request only", len(items))
	}
	// Nothing left to cancel.
	if status, out := env.call(t, "mallory", "POST", "/api/v1/requests/"+id+"/cancel-rest", nil); status != 409 ||
		!strings.Contains(fmt.Sprint(out), "is succeeded") {
		t.Errorf("cancel-rest of a finished bulk request: %d %v", status, out)
	}
}

// TestAPIBulkCancelRest: right after the approval of 20 targets (two
// seconds of one account's quota), "cancel the rest" withdraws those not
// yet called, and the bulk request ends cancelled once the rest finished.
func TestAPIBulkCancelRest(t *testing.T) {
	t.Parallel()
	env := setupAPI(t)
	var targets []map[string]any
	for i := 1; i <= 20; i++ {
		id := fmt.Sprintf("rm-bp1demo%08d", i)
		targets = append(targets, map[string]any{"region_id": "cn-hangzhou", "db_instance_id": id,
			"connection_string": id + ".mysql.rds.aliyuncs.com", "network_type": "0"})
	}
	status, out := env.call(t, "alice", "POST", "/api/v1/requests",
		map[string]any{"targets": targets, "justification": "closing the demo endpoints", "ticket": "OPS-8"})
	if status != 201 {
		t.Fatalf("file: %d %v", status, out)
	}
	id := out["id"].(string)
	if status, out := env.call(t, "bob", "POST", "/api/v1/requests/"+id+"/approvals",
		map[string]any{"decision": "approve", "payload_hash": out["payload_hash"]}); status != 200 {
		t.Fatalf("approve: %d %v", status, out)
	}
	if status, out := env.call(t, "bob", "POST", "/api/v1/requests/"+id+"/cancel-rest", nil); status != 403 {
		t.Errorf("cancel-rest by another user: %d %v", status, out)
	}
	status, out = env.call(t, "alice", "POST", "/api/v1/requests/"+id+"/cancel-rest", map[string]any{"reason": "owners answered"})
	n, _ := out["cancelled"].(float64)
	if status != 200 || n < 1 || out["progress"] == nil {
		t.Fatalf("cancel-rest: %d %v", status, out)
	}
	env.waitStatusAs(t, "alice", id, "cancelled")
	_, out = env.call(t, "alice", "GET", "/api/v1/requests/"+id, nil)
	p := out["progress"].(map[string]any)
	if p["cancelled"] != n || p["remaining"] != float64(0) || p["succeeded"].(float64)+n != 20 {
		t.Errorf("progress %v after cancelling %v", p, n)
	}
}

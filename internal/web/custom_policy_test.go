package web_test

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/policies"
)

// The worked examples of the organisation's own rules, given as the policy
// directory, take part in filing, in the simulator and on the pages: the
// PCI instance needs security's approval too, with the note for the
// approvers; the nightly quiet period denies without break glass.
func TestCustomPolicyExamples(t *testing.T) {
	t.Parallel()
	env := setupAPIWith(t, func(c *app.Config) { c.PolicyDir = filepath.Join("..", "..", "policies", "examples", "custom") })
	body := map[string]any{"region_id": "cn-hangzhou", "db_instance_id": "pgm-bp1stagexample",
		"connection_string": "pgm-bp1stagexample.pg.rds.aliyuncs.com", "network_type": "0",
		"justification": "retiring the public endpoint", "ticket": "OPS-9"}
	// At a time of day outside the quiet period, or it would deny.
	in := map[string]any{"principal": map[string]any{"subject": "alice", "groups": []string{"developers"}}, "request": body,
		"context": map[string]any{"current_time": "2026-12-04T03:00:00Z"}}
	status, d := env.call(t, "alice", "POST", "/api/v1/policy/simulate", in)
	if status != 200 || d["allow"] != true || !slices.Contains(d["reasons"].([]any), any("custom: the instance is tagged pci=true (1 from security)")) {
		t.Fatalf("simulate the PCI instance: %d %v", status, d)
	}
	if notes, _ := d["notes"].([]any); len(notes) != 1 {
		t.Fatalf("notes %v", d["notes"])
	}
	reqs := d["approver_requirements"].([]any)
	if len(reqs) != 2 || d["required_approvals"] != float64(2) {
		t.Fatalf("requirements %v, %v approvals: want dba and security", reqs, d["required_approvals"])
	}
	// 23:30 in Beijing: denied, with the rule's sentence; break glass passes.
	in["context"] = map[string]any{"current_time": "2026-12-04T15:30:00Z"}
	status, d = env.call(t, "alice", "POST", "/api/v1/policy/simulate", in)
	if status != 200 || d["allow"] != false ||
		!slices.Contains(d["reasons"].([]any), any("custom: no releases between 22:00 and 06:00 Beijing time without break glass")) {
		t.Fatalf("simulate in the quiet period: %d %v", status, d)
	}
	body["break_glass"] = true
	if status, d = env.call(t, "alice", "POST", "/api/v1/policy/simulate", in); status != 200 || d["allow"] != true {
		t.Fatalf("simulate with break glass in the quiet period: %d %v", status, d)
	}
}

// A copy of a shipped module with one rule changed, given as the policy
// directory, replaces the shipped one in the decisions the server makes.
func TestPolicyDirReplacesAShippedModule(t *testing.T) {
	t.Parallel()
	src, err := policies.FS.ReadFile("org/org.rego")
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.ReplaceAll(string(src), "data.org.justification_min_length", "200")
	if edited == string(src) {
		t.Fatal("the edit changed nothing")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "org"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "org", "org.rego"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	env := setupAPIWith(t, func(c *app.Config) { c.PolicyDir = dir })
	status, out := env.call(t, "alice", "POST", "/api/v1/requests", validBody())
	reasons, _ := out["error"].(map[string]any)["reasons"].([]any)
	if status != http.StatusForbidden || !slices.Contains(reasons, any("org: justification shorter than 200 characters")) {
		t.Fatalf("filing under the edited rule: %d %v", status, out)
	}
}

// The request page shows the custom rule's reason and its note for the
// approvers (only the PCI example, whose outcome does not depend on the
// time of day).
func TestCustomPolicyOnThePages(t *testing.T) {
	t.Parallel()
	src, err := policies.FS.ReadFile("examples/custom/pci.rego")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pci.rego"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	env := setupPages(t, pagesOptions{policyDir: dir})
	r := env.file("alice", "pgm-bp1stagexample", "retiring the public endpoint")
	st, body := env.as("bob").get("/requests/" + r.ID.String())
	for _, want := range []string{"custom: the instance is tagged pci=true (1 from security)", "Notes for the approvers",
		"PCI scope: check with the payments team"} {
		if st != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("request page lacks %q: %d\n%s", want, st, excerpt(body))
		}
	}
}

package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// With a decision log every decision, release and vote, is one line of
// OPA's decision-log format, with the revision as the bundle's.
func TestDecisionLog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	e, err := New(context.Background(), Options{DecisionLog: &buf})
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Decide(context.Background(), request("alice", "rm-bp1devexample01"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.MayApprove(context.Background(), ApproveInput{Approver: Principal{Subject: "bob", Groups: []string{"dba"}},
		Requester: "alice", Requirements: []Requirement{{Group: "dba", Count: 1}}, Environment: "dev"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.String())
	}
	var entry struct {
		DecisionID string `json:"decision_id"`
		Path       string `json:"path"`
		Input      struct {
			Principal struct {
				Subject string `json:"subject"`
			} `json:"principal"`
		} `json:"input"`
		Result struct {
			Allow bool `json:"allow"`
		} `json:"result"`
		Bundles map[string]struct {
			Revision string `json:"revision"`
		} `json:"bundles"`
		Timestamp string `json:"timestamp"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &entry); err != nil {
		t.Fatal(err)
	}
	if entry.DecisionID != d.DecisionID || entry.Path != "rdsgate/release/decision" || entry.Input.Principal.Subject != "alice" ||
		entry.Result.Allow != d.Allow || entry.Bundles["rdsgate"].Revision != e.Revision() || entry.Timestamp == "" {
		t.Fatalf("release decision entry %s", lines[0])
	}
	if !strings.Contains(lines[1], `"path":"rdsgate/approve/decision"`) {
		t.Fatalf("vote decision entry %s", lines[1])
	}
}

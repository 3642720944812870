package app_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/apptest"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// RDSGATE_DECISION_LOG: a filing's decision lands in the file, in OPA's
// format, besides the audit trail.
func TestDecisionLogFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "decisions.jsonl")
	a := apptest.Start(t, func(c *app.Config) { c.DecisionLog = file })
	r, err := a.Requests.File(context.Background(), lifecycle.Actor{Subject: "alice", Groups: []string{"developers"}},
		request.Spec{RegionID: "cn-hangzhou", DBInstanceID: "rm-bp1devexample01", ConnectionString: "rm-bp1devexample01.mysql.rds.aliyuncs.com",
			NetworkType: "0", Justification: "retiring the endpoint", Ticket: "OPS-1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"path":"rdsgate/release/decision"`) || !strings.Contains(string(raw), `"revision":"`+r.PolicyRevision+`"`) {
		t.Fatalf("decision log:\n%s", raw)
	}
	if info, err := os.Stat(file); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("decision log mode %v, %v: want 0600, it holds every input", info.Mode(), err)
	}
}

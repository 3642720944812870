package policy

import (
	"context"
	"io/fs"
	"testing"

	"github.com/rdsgate/rdsgate/policies"
)

// minCoverage is the share of policy lines the Rego unit tests must reach.
const minCoverage = 90

// TestRegoUnitTests is `opa test --coverage` and `opa fmt --list` for
// policies/, through OPA's Go packages: it fails on a failing Rego test,
// coverage below minCoverage or a file opa fmt would change.
func TestRegoUnitTests(t *testing.T) {
	t.Parallel()
	report, err := RunRegoTests(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d Rego tests passed; coverage %.1f%%", report.Passed, report.Coverage)
	if report.Passed == 0 {
		t.Error("no Rego tests ran")
	}
	for _, f := range report.Failures {
		t.Errorf("Rego test failed: %s", f)
	}
	if report.Coverage < minCoverage {
		t.Errorf("Rego coverage %.1f%% is below %d%%; not covered: %v", report.Coverage, minCoverage, report.NotCovered)
	}
	for _, f := range report.Unformatted {
		t.Errorf("opa fmt would change %s", f)
	}
}

// TestCustomExamples runs the worked examples of the organisation's own
// rules (policies/examples/custom) with their tests, beside the shipped
// modules, as `rdsgate policy test --policy-dir` does.
func TestCustomExamples(t *testing.T) {
	t.Parallel()
	own, err := fs.Sub(policies.FS, "examples/custom")
	if err != nil {
		t.Fatal(err)
	}
	report, err := RunRegoTests(context.Background(), own, nil)
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := RunRegoTests(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if report.Passed < shipped.Passed+4 {
		t.Errorf("%d Rego tests passed with the examples, %d without: the examples' own did not run", report.Passed, shipped.Passed)
	}
	for _, f := range report.Failures {
		t.Errorf("Rego test failed: %s", f)
	}
	for _, f := range report.Unformatted {
		t.Errorf("opa fmt would change %s", f)
	}
}

// TestGatedActionMatchesRego keeps the compiler's pruning and the policy
// asking about the same action.
func TestGatedActionMatchesRego(t *testing.T) {
	t.Parallel()
	src, err := policies.FS.ReadFile("ram/ram.rego")
	if err != nil {
		t.Fatal(err)
	}
	c, err := compileModules(map[string][]byte{"ram/ram.rego": src, "ram/conditions.rego": mustRead(t, "ram/conditions.rego")}, false)
	if err != nil {
		t.Fatal(err)
	}
	rule := c.GetRulesExact(mustRef(t, "data.rdsgate.ram.action"))
	if len(rule) != 1 || rule[0].Head.Value.String() != `"`+GatedAction+`"` {
		t.Fatalf("data.rdsgate.ram.action = %v, want %q", rule, GatedAction)
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := policies.FS.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

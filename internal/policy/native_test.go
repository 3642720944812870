package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/rego"
)

// checkMatchesReference decides every input with e and with the policies
// evaluated as written over e's full data (referenceQuery: no index, no Go
// answers), and fails on any difference. It returns the engine's decisions.
func checkMatchesReference(t *testing.T, e *Engine, inputs []Input) []Decision {
	t.Helper()
	ref := referenceQuery(t, e, decideQuery)
	ctx := context.Background()
	out := make([]Decision, 0, len(inputs))
	for _, in := range inputs {
		d, err := e.Decide(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := ref.Eval(ctx, rego.EvalParsedInput(decideInput(in)), rego.EvalGenerateJSON(keepAST))
		if err != nil {
			t.Fatal(err)
		}
		want, err := decisionOf(rs)
		if err != nil {
			t.Fatal(err)
		}
		got := d
		got.Revision, got.DecisionID, got.Path, got.Timestamp = "", "", "", want.Timestamp
		if diff := cmp.Diff(want, got); diff != "" {
			in, _ := json.Marshal(in)
			t.Fatalf("engine differs from the policy as written on %s (-policy +engine):\n%s", in, diff)
		}
		out = append(out, d)
	}
	return out
}

// TestNativeAnswersMatchRegoConditions holds the Go answer to
// rdsgate.ram's conditions over every operator (and an unknown one) on
// every key family, with values present, absent and malformed.
func TestNativeAnswersMatchRegoConditions(t *testing.T) {
	t.Parallel()
	ops := append(slices.Clone(conditionOperators), "StringEqualsAnyCase")
	keys := []string{"acs:SourceIp", "acs:CurrentTime", "acs:SecureTransport", "acs:MFAPresent",
		"rds:ResourceTag/Tier", "rds:ResourceTag/missing", "acs:SourceVpc"}
	general := []any{"10.0.0.0/8", "2001:db8::/32", "203.0.113.10", "true", "FALSE", 2, "2.0", "10", "1e1",
		"2026-11-26T09:00:00Z", "2026-11-27", "2025-01-01T00:00:00+08:00", "pay*", "PROD", "prod", "ment?", "*", "fe80::1%eth0/64"}
	numbers := []any{1, "2", "2.0", "3", "1e1", "x", "Inf", "NaN"}
	dates := []any{"2026-11-26T09:00:00Z", "2026-11-27", "2025-01-01T00:00:00+08:00", "2026-11-26T08:00:00Z", "x"}
	rng := rand.New(rand.NewPCG(3, 5))
	policies := map[string]any{}
	users := map[string]any{}
	for i, op := range ops {
		for j, key := range keys {
			pool := general
			switch {
			case strings.HasPrefix(op, "Numeric"):
				pool = numbers
			case strings.HasPrefix(op, "Date"):
				pool = dates
			}
			for variant := range 4 {
				values := pool // every value: what can match does
				if variant != 2 {
					values = make([]any, 1+rng.IntN(3))
					for k := range values {
						values[k] = pool[rng.IntN(len(pool))]
					}
				}
				statements := []any{map[string]any{"Effect": "Allow", "Action": "rds:ReleaseInstanceConnection", "Resource": "*",
					"Condition": map[string]any{op: map[string]any{key: values}}}}
				if variant >= 2 { // the same condition on a Deny, over a plain Allow
					statements = append([]any{map[string]any{"Effect": "Allow", "Action": "rds:*", "Resource": "*"}},
						map[string]any{"Effect": "Deny", "Action": "rds:Release*", "Resource": "acs:rds:*:*:dbinstance/rm-?",
							"Condition": map[string]any{op: map[string]any{key: values}}})
				}
				name := fmt.Sprintf("u-%d-%d-%d", i, j, variant)
				policies[name] = map[string]any{"Version": "1", "Statement": statements}
				users[name] = map[string]any{"policies": []string{name}}
			}
		}
	}
	ram, err := json.Marshal(map[string]any{"account_id": "1234567890123456", "policies": policies, "users": users})
	if err != nil {
		t.Fatal(err)
	}
	org := `{"default_environment":"dev","environments":{"dev":{"approvers":[{"group":"dba","count":1}]}},
		"instance_tags":{"rm-1":{"tier":"2","team":"payments"},"rm-2":{"tier":"not a number","team":"PROD"}}}`
	e, err := New(context.Background(), Options{Dir: writeData(t, string(ram), org)})
	if err != nil {
		t.Fatal(err)
	}
	if !e.cur.Load().native {
		t.Fatal("the shipped modules do not take the Go answers")
	}
	contexts := []Context{
		{SourceIP: "10.1.2.3", CurrentTime: demoTime, SecureTransport: true},
		{SourceIP: "2001:db8::1", CurrentTime: demoTime.Add(48 * time.Hour), MFAPresent: true},
		{SourceIP: "::ffff:10.9.9.9", CurrentTime: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
		{SourceIP: "10.0.0.0/24", CurrentTime: demoTime},
		{SourceIP: "not an address", CurrentTime: demoTime, SecureTransport: true, MFAPresent: true},
		{CurrentTime: demoTime.Add(-time.Hour)},
	}
	var inputs []Input
	for _, u := range e.Users() {
		for _, instance := range []string{"rm-1", "rm-2", "rm-30"} {
			for _, c := range contexts {
				in := request(u, instance)
				in.Context = c
				inputs = append(inputs, in)
			}
		}
	}
	decisions := checkMatchesReference(t, e, inputs)

	// The matrix must exercise both answers of every operator the policy
	// knows, or agreeing would prove little.
	seen := map[string]map[string]bool{}
	for i, d := range decisions {
		var op int
		fmt.Sscanf(inputs[i].Principal.Subject, "u-%d-", &op)
		if seen[ops[op]] == nil {
			seen[ops[op]] = map[string]bool{}
		}
		seen[ops[op]][d.RAM.Effect] = true
	}
	for _, op := range conditionOperators {
		if !seen[op][EffectAllow] || !seen[op][EffectImplicitDeny] || !seen[op][EffectExplicitDeny] {
			t.Errorf("operator %s: the matrix saw only %v", op, seen[op])
		}
	}
}

// TestNativeAnswersMatchRegoOrgRules holds the Go answer to rdsgate.org's
// rules over placements, freezes, break glass and request hygiene.
func TestNativeAnswersMatchRegoOrgRules(t *testing.T) {
	t.Parallel()
	var orgDoc map[string]any
	if err := json.Unmarshal(mustRead(t, "examples/org.json"), &orgDoc); err != nil {
		t.Fatal(err)
	}
	orgDoc["freeze_windows"] = append(orgDoc["freeze_windows"].([]any),
		map[string]any{"start": "2025-12-24T00:00:00Z", "end": "2025-12-27T00:00:00Z", "reason": "holidays"},
		map[string]any{"start": "2025-12-24T00:00:00Z", "end": "2025-12-27T00:00:00Z", "reason": "holidays"})
	strict, err := json.Marshal(orgDoc)
	if err != nil {
		t.Fatal(err)
	}
	orgDoc["max_pending_requests"], orgDoc["ticket_pattern"], orgDoc["justification_min_length"] = 0, "", 0
	lenient, err := json.Marshal(orgDoc)
	if err != nil {
		t.Fatal(err)
	}
	ram := string(mustRead(t, "examples/ram.json"))
	freeze := time.Date(2025, 12, 25, 12, 0, 0, 0, time.UTC)
	for name, org := range map[string][]byte{"strict": strict, "lenient": lenient} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e, err := New(context.Background(), Options{Dir: writeData(t, ram, string(org))})
			if err != nil {
				t.Fatal(err)
			}
			var inputs []Input
			instances := []string{"rm-bp1devexample01", "pgm-bp1stagexample", "rm-bp1prodexample1", "rm-bp1demo00000003",
				"rm-bp1demo00000017", "rm-bp1demo00000020", "rm-x-prod-2", "rm-unknown", ""}
			variants := []func(*Input){
				func(*Input) {},
				func(in *Input) { in.Context.CurrentTime = freeze },
				func(in *Input) { in.Context.CurrentTime = freeze; in.Request.BreakGlass = true },
				func(in *Input) { in.Request.BreakGlass = true },
				func(in *Input) { in.Request.Justification = "  short   " },
				func(in *Input) { in.Request.Justification = "ünïcödé ok" },
				func(in *Input) { in.Request.Ticket = "ops-1" },
				func(in *Input) { in.Request.Ticket = "" },
				func(in *Input) { in.PendingRequests = 4 },
				func(in *Input) { in.PendingRequests = 5 },
				func(in *Input) { in.PendingRequests = 9; in.Request.Ticket = "x"; in.Context.CurrentTime = freeze },
				func(in *Input) { in.Request.RegionID = "" },
			}
			for _, u := range append(e.Users(), "nobody") {
				for _, instance := range instances {
					for _, v := range variants {
						in := request(u, instance)
						v(&in)
						inputs = append(inputs, in)
					}
				}
			}
			checkMatchesReference(t, e, inputs)
		})
	}
}

// TestNativeOperatorsAreRegos checks that the Go answer implements exactly
// the condition operators rdsgate.ram knows.
func TestNativeOperatorsAreRegos(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	rs, err := referenceQuery(t, e, "x := data.rdsgate.ram.operators").Eval(context.Background())
	if err != nil || len(rs) != 1 {
		t.Fatalf("operators: %v %v", rs, err)
	}
	var rego []string
	for _, op := range rs[0].Bindings["x"].([]any) {
		rego = append(rego, op.(string))
	}
	slices.Sort(rego)
	goOps := slices.Sorted(slices.Values(conditionOperators))
	if diff := cmp.Diff(rego, goOps); diff != "" {
		t.Errorf("operators (-rego +go):\n%s", diff)
	}
	for op := range negatedOperators {
		if !slices.Contains(goOps, op) {
			t.Errorf("negated operator %s is not an operator", op)
		}
	}
}

// TestEditedModulesAreEvaluatedAsWritten checks that the Go answers stand in
// only for the shipped modules: a copy of them keeps the Go answers, an edit
// is evaluated as written.
func TestEditedModulesAreEvaluatedAsWritten(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	policyDir := t.TempDir()
	for name, src := range mustModules(t) {
		path := filepath.Join(policyDir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, string(src))
	}
	e, err := New(ctx, Options{PolicyDir: policyDir})
	if err != nil {
		t.Fatal(err)
	}
	if !e.cur.Load().native {
		t.Fatal("a copy of the shipped modules does not take the Go answers")
	}
	in := request("alice", "rm-bp1devexample01")
	in.Request.Justification = "short"
	const before, after = "org: justification shorter than", "org: justification is shorter than"
	if d, err := e.Decide(ctx, in); err != nil || d.Allow || !strings.HasPrefix(d.Reasons[len(d.Reasons)-1], before) {
		t.Fatalf("before the edit: %q %v", d.Reasons, err)
	}
	org := strings.Replace(string(mustRead(t, "org/org.rego")), before, after, 1)
	writeFile(t, filepath.Join(policyDir, "org/org.rego"), org)
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if e.cur.Load().native {
		t.Fatal("edited modules take the Go answers")
	}
	d, err := e.Decide(ctx, in)
	if err != nil || d.Allow || !strings.HasPrefix(d.Reasons[len(d.Reasons)-1], after) {
		t.Fatalf("after the edit: %q %v", d.Reasons, err)
	}
}

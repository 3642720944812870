package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// analysisQuery evaluates rdsgate.ram's analysis (policies/ram/analysis.rego).
const analysisQuery = "x := data.rdsgate.ram.analysis(input.statements, input.action, input.resource)"

// Analyzer evaluates the RAM mirror rdsgate decides with (rdsgate.ram) for
// any principal's statements, action and resource: who may call an action,
// rather than whether one request may. It is what `rdsgate ram analyze`
// asks; the semantics are the Rego's alone (analysis.rego beside ram.rego
// and conditions.rego). It is safe for concurrent use.
type Analyzer struct {
	query rego.PreparedEvalQuery
}

// NewAnalyzer compiles the shipped Rego modules, with policyDir's own beside
// them as the engine loads them (a file of the same path replaces a shipped
// one; "" adds none).
func NewAnalyzer(ctx context.Context, policyDir string) (*Analyzer, error) {
	shipped, err := shippedModules()
	if err != nil {
		return nil, err
	}
	modules := maps.Clone(shipped)
	if policyDir != "" {
		own, err := readModules(os.DirFS(policyDir), "")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", policyDir, err)
		}
		maps.Copy(modules, own)
	}
	compiler, err := compileModules(modules, false)
	if err != nil {
		return nil, err
	}
	pq, err := rego.New(
		rego.Query(analysisQuery),
		rego.Compiler(compiler),
		rego.Store(inmem.New()),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare %s: %w", analysisQuery, err)
	}
	return &Analyzer{query: pq}, nil
}

// Statement is one statement of a RAM policy, compiled as rdsgate.ram reads
// statements (policies/README.md): every statement, whatever its action.
type Statement struct {
	// Policy is the policy's name and Index the statement's number in it,
	// from 1.
	Policy string
	Index  int
	// Effect is "Allow" or "Deny".
	Effect string
	// Resources are the Resource patterns as written.
	Resources []string
	term      *ast.Term
}

// CompilePolicy compiles a RAM policy document in Alibaba's format (as
// GetPolicy's DefaultPolicyVersion.PolicyDocument holds it) into its
// statements, in order. It refuses what the decision's data refuses
// (policies/README.md), except that a statement's Sid is ignored.
func CompilePolicy(name string, document []byte) ([]Statement, error) {
	var doc map[string]json.RawMessage
	if err := decodeStrict(document, &doc); err != nil {
		return nil, fmt.Errorf("policy %s: %w", name, err)
	}
	for k := range doc {
		if k != "Version" && k != "Statement" {
			return nil, fmt.Errorf("policy %s: unknown policy element %q", name, k)
		}
	}
	var version string
	if err := json.Unmarshal(doc["Version"], &version); err != nil || version != "1" {
		return nil, fmt.Errorf(`policy %s: version must be "1"`, name)
	}
	var raws []map[string]json.RawMessage
	if s := bytes.TrimSpace(doc["Statement"]); len(s) > 0 && s[0] == '{' {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(s, &one); err != nil {
			return nil, fmt.Errorf("policy %s: statement: %w", name, err)
		}
		raws = append(raws, one)
	} else if err := json.Unmarshal(s, &raws); err != nil {
		return nil, fmt.Errorf("policy %s: statement must be a list of objects: %w", name, err)
	}
	out := make([]Statement, 0, len(raws))
	for i, raw := range raws {
		delete(raw, "Sid")
		c, err := compileStatement(raw)
		if err != nil {
			return nil, fmt.Errorf("policy %s: statement %d: %w", name, i+1, err)
		}
		resources := make([]any, len(c.resources))
		for j, r := range c.resources {
			resources[j] = globPattern(r)
		}
		conditions := c.conditions
		if conditions == nil {
			conditions = []any{}
		}
		notActions := c.notActions
		if notActions == nil {
			notActions = []any{}
		}
		v, err := ast.InterfaceToValue(map[string]any{
			"policy": name, "index": i + 1, "effect": c.effect,
			"actions": c.actions, "not_actions": notActions,
			"resources": resources, "conditions": conditions, "problems": []any{},
		})
		if err != nil {
			return nil, fmt.Errorf("policy %s: statement %d: %w", name, i+1, err)
		}
		out = append(out, Statement{Policy: name, Index: i + 1, Effect: c.effect, Resources: c.resources, term: ast.NewTerm(v)})
	}
	return out, nil
}

// Condition is a condition of a statement whose outcome depends on the
// request: its operator as written, its key lower-cased, its values.
type Condition struct {
	Operator string
	Key      string
	Values   []string
}

// Grant is a statement that may take effect for the principal analysed:
// its policy, number, the Resource patterns it lists, and its open
// conditions (those a request may or may not satisfy).
type Grant struct {
	Policy     string
	Statement  int
	Resources  []string
	Conditions []Condition
}

// Analysis is rdsgate.ram's verdict for a principal, an action and a
// resource (policies/ram/analysis.rego).
type Analysis struct {
	// Effect is "Allow" (some Allow may take effect), "ExplicitDeny" (a Deny
	// without open conditions matches) or "ImplicitDeny".
	Effect string
	// By is the statement that decides; nil for an implicit deny.
	By *Grant
	// Allows are every Allow that may take effect, in RAM's order.
	Allows []Grant
	// Limits are the matching Deny statements with open conditions: they
	// deny the requests that satisfy them.
	Limits []Grant
}

// Analyze evaluates rdsgate.ram's analysis of statements (the principal's,
// all its policies' together) for action (as RAM writes it, e.g.
// "rds:ReleaseInstanceConnection") on resource (an ARN, or a pattern
// standing for the resources it names), for the principal principalARN (the
// value of acs:PrincipalARN; "" for none).
func (a *Analyzer) Analyze(ctx context.Context, statements []Statement, action, resource, principalARN string) (Analysis, error) {
	terms := make([]*ast.Term, len(statements))
	for i, st := range statements {
		if st.term == nil {
			return Analysis{}, errors.New("analyze: statement not made by CompilePolicy")
		}
		terms[i] = st.term
	}
	contextObj := ast.NewObject()
	if principalARN != "" {
		contextObj.Insert(ast.StringTerm("principal_arn"), ast.StringTerm(principalARN))
	}
	input := ast.NewObject(
		ast.Item(ast.StringTerm("statements"), ast.ArrayTerm(terms...)),
		ast.Item(ast.StringTerm("action"), ast.StringTerm(strings.ToLower(action))),
		ast.Item(ast.StringTerm("resource"), ast.StringTerm(resource)),
		ast.Item(ast.StringTerm("context"), ast.NewTerm(contextObj)),
	)
	rs, err := a.query.Eval(ctx, rego.EvalParsedInput(input), rego.EvalMetrics(noMetrics))
	if err != nil {
		return Analysis{}, fmt.Errorf("analyze: %w", err)
	}
	if len(rs) != 1 {
		return Analysis{}, fmt.Errorf("analyze: rdsgate.ram.analysis gave %d results", len(rs))
	}
	raw, err := json.Marshal(rs[0].Bindings["x"])
	if err != nil {
		return Analysis{}, fmt.Errorf("analyze: %w", err)
	}
	var out struct {
		Effect string      `json:"effect"`
		By     *regoGrant  `json:"by"`
		Allows []regoGrant `json:"allows"`
		Limits []regoGrant `json:"limits"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return Analysis{}, fmt.Errorf("analyze: %w", err)
	}
	res := Analysis{Effect: out.Effect}
	if out.By != nil {
		g := out.By.grant()
		res.By = &g
	}
	for _, g := range out.Allows {
		res.Allows = append(res.Allows, g.grant())
	}
	for _, g := range out.Limits {
		res.Limits = append(res.Limits, g.grant())
	}
	return res, nil
}

// regoGrant is a grant as analysis.rego returns it.
type regoGrant struct {
	Policy     string   `json:"policy"`
	Statement  int      `json:"statement"`
	Resources  []string `json:"resources"`
	Conditions []struct {
		Op     string   `json:"op"`
		Key    string   `json:"key"`
		Values []string `json:"values"`
	} `json:"conditions"`
}

func (g regoGrant) grant() Grant {
	out := Grant{Policy: g.Policy, Statement: g.Statement}
	for _, r := range g.Resources {
		out.Resources = append(out.Resources, unglob(r))
	}
	for _, c := range g.Conditions {
		out.Conditions = append(out.Conditions, Condition{Operator: c.Op, Key: c.Key, Values: c.Values})
	}
	return out
}

// unglob is the inverse of globPattern: the pattern as RAM writes it.
func unglob(p string) string {
	if !strings.Contains(p, `\`) {
		return p
	}
	var b strings.Builder
	escaped := false
	for _, r := range p {
		if r == '\\' && !escaped {
			escaped = true
			continue
		}
		escaped = false
		b.WriteRune(r)
	}
	return b.String()
}

package policy

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// stage evaluates, when a revision loads, the functions of rdsgate.ram that
// do not depend on the request, so that no decision evaluates them again:
// applies(st), whether a statement concerns the gated action, and
// condition_problems(conditions), the conditions it cannot evaluate. The
// answers come from the revision's own Rego; Go only remembers them, once per
// distinct action list or condition list (statements share those terms, see
// interner), so 10,000 users cost a handful of evaluations.
type stage struct {
	ctx      context.Context
	applies  rego.PreparedEvalQuery
	problems rego.PreparedEvalQuery

	appliesMemo  map[[2]*ast.Term]bool
	problemsMemo map[*ast.Term][]string
}

func newStage(ctx context.Context, compiler *ast.Compiler) (*stage, error) {
	prepare := func(query string) (rego.PreparedEvalQuery, error) {
		pq, err := rego.New(
			rego.Query(query),
			rego.Compiler(compiler),
			rego.Store(inmem.New()),
		).PrepareForEval(ctx)
		if err != nil {
			return pq, fmt.Errorf("prepare %s: %w", query, err)
		}
		return pq, nil
	}
	s := &stage{
		ctx:          ctx,
		appliesMemo:  map[[2]*ast.Term]bool{},
		problemsMemo: map[*ast.Term][]string{},
	}
	var err error
	if s.applies, err = prepare("data.rdsgate.ram.applies(input)"); err != nil {
		return nil, err
	}
	if s.problems, err = prepare("x := data.rdsgate.ram.condition_problems(input)"); err != nil {
		return nil, err
	}
	return s, nil
}

// appliesTo reports rdsgate.ram's applies for a statement with these
// (interned) actions and not_actions.
func (s *stage) appliesTo(actions, notActions *ast.Term) (bool, error) {
	key := [2]*ast.Term{actions, notActions}
	if ok, found := s.appliesMemo[key]; found {
		return ok, nil
	}
	st := ast.NewObject(
		ast.Item(ast.InternedTerm("actions"), actions),
		ast.Item(ast.InternedTerm("not_actions"), notActions),
	)
	rs, err := s.applies.Eval(s.ctx, rego.EvalParsedInput(st))
	if err != nil {
		return false, fmt.Errorf("rdsgate.ram.applies: %w", err)
	}
	s.appliesMemo[key] = len(rs) > 0
	return len(rs) > 0, nil
}

// problemsOf returns rdsgate.ram's condition_problems for an (interned)
// condition list.
func (s *stage) problemsOf(conditions *ast.Term) ([]string, error) {
	if p, found := s.problemsMemo[conditions]; found {
		return p, nil
	}
	rs, err := s.problems.Eval(s.ctx, rego.EvalParsedInput(conditions.Value))
	if err != nil {
		return nil, fmt.Errorf("rdsgate.ram.condition_problems: %w", err)
	}
	if len(rs) != 1 {
		return nil, fmt.Errorf("rdsgate.ram.condition_problems: %d results", len(rs))
	}
	list, _ := rs[0].Bindings["x"].([]any)
	out := make([]string, 0, len(list))
	for _, p := range list {
		ps, ok := p.(string)
		if !ok {
			return nil, fmt.Errorf("rdsgate.ram.condition_problems: %T, not a string", p)
		}
		out = append(out, ps)
	}
	s.problemsMemo[conditions] = out
	return out, nil
}

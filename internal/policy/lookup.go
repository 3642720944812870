package policy

import (
	"github.com/gobwas/glob"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/types"
)

// rdsgate.ram's lookup(subject, arn), "the statements of user subject, in
// order, one of whose Resource patterns matches arn", answered from an index
// built at load time: the engine's prepared release query replaces the Rego
// function with the builtin below (see the package documentation).
const (
	lookupBuiltin = "rdsgate.ram_lookup"
	lookupRef     = "data.rdsgate.ram.lookup"
)

var lookupDecl = &rego.Function{
	Name:        lookupBuiltin,
	Description: "rdsgate.ram.lookup(subject, arn) from the engine's index",
	Decl:        types.NewFunction(types.Args(types.S, types.S), types.NewArray(nil, types.A)),
	Memoize:     false,
}

// ramIndex holds every user's statements about GatedAction in the order RAM
// reports them, in a compact form: the AST of a statement is built only when
// a lookup returns it.
type ramIndex struct {
	users map[string][]*indexedStatement
}

// indexedStatement is one compiled statement. The AST parts that many
// statements share (actions, conditions) are interned terms.
type indexedStatement struct {
	resources []resource // the Resource patterns, compiled
	policy    *ast.Term  // policy name
	index     *ast.Term  // statement number, from 1
	effect    *ast.Term  // "Allow" or "Deny"
	actions   *ast.Term  // see compiledStatement
	notAction *ast.Term  // [] unless NotAction
	conds     *ast.Term  // [] without conditions
	problems  *ast.Term  // conditions that cannot be evaluated, as sentences
	// conditions and problemList are conds and problems for the Go answer.
	conditions  []condition
	problemList []string
}

// term returns the statement as rdsgate.ram reads it (policies/README.md).
func (s *indexedStatement) term() *ast.Term {
	return ast.ObjectTerm(
		ast.Item(ast.InternedTerm("policy"), s.policy),
		ast.Item(ast.InternedTerm("index"), s.index),
		ast.Item(ast.InternedTerm("effect"), s.effect),
		ast.Item(ast.InternedTerm("actions"), s.actions),
		ast.Item(ast.InternedTerm("not_actions"), s.notAction),
		ast.Item(ast.InternedTerm("resources"), patternsTerm(s.resources)),
		ast.Item(ast.InternedTerm("conditions"), s.conds),
		ast.Item(ast.InternedTerm("problems"), s.problems),
	)
}

func patternsTerm(resources []resource) *ast.Term {
	terms := make([]*ast.Term, len(resources))
	for i, r := range resources {
		terms[i] = ast.StringTerm(r.pattern)
	}
	return ast.ArrayTerm(terms...)
}

// lookup is the builtin: the statements of subject matching arn.
func (x *ramIndex) lookup(_ rego.BuiltinContext, subject, arn *ast.Term) (*ast.Term, error) {
	sub, ok1 := subject.Value.(ast.String)
	res, ok2 := arn.Value.(ast.String)
	if !ok1 || !ok2 {
		return nil, nil // undefined, as the Rego definition would be
	}
	var out []*ast.Term
	for _, st := range x.users[string(sub)] {
		if st.matches(string(res)) {
			out = append(out, st.term())
		}
	}
	return ast.ArrayTerm(out...), nil
}

// matches reports whether one of the statement's resources matches arn.
func (s *indexedStatement) matches(arn string) bool {
	for i := range s.resources {
		if s.resources[i].match(arn) {
			return true
		}
	}
	return false
}

// resource is a statement's Resource pattern as rdsgate.ram's lookup reads
// it: the glob.match pattern (globPattern), compiled as glob.match compiles
// it (gobwas/glob, no delimiters), so the index matches exactly what the
// Rego would.
type resource struct {
	pattern string
	glob    *glob.Pattern // nil when it does not compile: glob.match fails, which matches nothing
}

func compileResource(ram string) resource {
	r := resource{pattern: globPattern(ram)}
	r.glob, _ = glob.Compile(r.pattern)
	return r
}

func (r *resource) match(s string) bool { return r.glob != nil && r.glob.Match(s) }

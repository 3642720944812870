package policy

import (
	"strings"
	"unicode/utf8"

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
	resources []wildcard // the Resource patterns, compiled
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

func patternsTerm(resources []wildcard) *ast.Term {
	terms := make([]*ast.Term, len(resources))
	for i, r := range resources {
		terms[i] = ast.StringTerm(globPattern(r.pattern))
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

// wildcard is a RAM pattern (* and ? are wildcards) compiled for matching: a pattern without ? is
// matched by its literal parts between the stars, in order (the first one a
// prefix, the last one a suffix), which the usual ARN patterns make a few
// string searches; one with ? goes through wildcardMatch.
type wildcard struct {
	pattern string
	parts   []string // split at *; nil when the pattern has a ?
}

func compileWildcard(p string) wildcard {
	w := wildcard{pattern: p}
	if !strings.Contains(p, "?") {
		w.parts = strings.Split(p, "*")
	}
	return w
}

func (w *wildcard) match(s string) bool {
	switch n := len(w.parts); n {
	case 0:
		return wildcardMatch(w.pattern, s)
	case 1:
		return s == w.pattern
	default:
		first, last := w.parts[0], w.parts[n-1]
		if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
			return false
		}
		s = s[len(first) : len(s)-len(last)]
		for _, part := range w.parts[1 : n-1] {
			i := strings.Index(s, part)
			if i < 0 {
				return false
			}
			s = s[i+len(part):]
		}
		return true
	}
}

// wildcardMatch reports whether s matches RAM pattern p, where * is any run
// of characters (also across : and /) and ? exactly one character; every
// other character is literal. It is glob.match(globPattern(p), null, s), which
// TestWildcardMatchIsGlobMatch checks.
func wildcardMatch(p, s string) bool {
	if !strings.ContainsAny(p, "*?") {
		return p == s
	}
	if strings.IndexByte(p, '?') < 0 && strings.IndexByte(p, '*') == len(p)-1 {
		return strings.HasPrefix(s, p[:len(p)-1])
	}
	// Iterative matching with one backtrack point (the last star).
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		if pi < len(p) {
			switch c := p[pi]; {
			case c == '*':
				star, mark = pi, si
				pi++
				continue
			case c == '?':
				_, n := utf8.DecodeRuneInString(s[si:])
				pi++
				si += n
				continue
			default:
				// A literal character matches the same bytes (glob.match
				// compares bytes: U+FFFD in p must not match an invalid
				// byte in s).
				_, pn := utf8.DecodeRuneInString(p[pi:])
				if strings.HasPrefix(s[si:], p[pi:pi+pn]) {
					pi += pn
					si += pn
					continue
				}
			}
		}
		if star < 0 {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[mark:])
		mark += n
		pi, si = star+1, mark
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

package policy

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// condition is one compiled RAM condition, as rdsgate.ram's condition_holds
// reads it (policies/ram/conditions.rego): the operator, the lower-cased key
// and the values prepared by compileConditions.
type condition struct {
	op, key string
	// supported is false for an operator or key that condition_problems
	// reports: such a condition never holds.
	supported bool
	values    []string
	lower     []string
	likes     []wildcard // the values as StringLike patterns
	numbers   []*ast.Term
	dates     []*ast.Term
	cidrs     []*net.IPNet
	cidrTerms []*ast.Term
}

// negatedOperators hold for a key the request lacks (condition_holds' first
// rule).
var negatedOperators = map[string]bool{
	"StringNotEquals": true, "StringNotEqualsIgnoreCase": true, "StringNotLike": true,
	"NumericNotEquals": true, "DateNotEquals": true, "NotIpAddress": true,
}

// conditionOperators are the operators holds implements;
// TestNativeOperatorsAreRegos checks them against rdsgate.ram's operators.
var conditionOperators = []string{
	"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
	"StringLike", "StringNotLike",
	"NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
	"NumericGreaterThan", "NumericGreaterThanEquals",
	"DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals",
	"DateGreaterThan", "DateGreaterThanEquals",
	"Bool", "IpAddress", "NotIpAddress",
}

// newCondition compiles one entry of compileConditions' list.
func newCondition(m map[string]any, supported bool) (condition, error) {
	c := condition{supported: supported}
	c.op, _ = m["op"].(string)
	c.key, _ = m["key"].(string)
	strs := func(field string) []string {
		items, _ := m[field].([]any)
		out := make([]string, 0, len(items))
		for _, it := range items {
			s, _ := it.(string)
			out = append(out, s)
		}
		return out
	}
	terms := func(field string) ([]*ast.Term, error) {
		items, _ := m[field].([]any)
		out := make([]*ast.Term, 0, len(items))
		for _, it := range items {
			v, err := ast.InterfaceToValue(it)
			if err != nil {
				return nil, err
			}
			out = append(out, ast.NewTerm(v))
		}
		return out, nil
	}
	c.values, c.lower = strs("values"), strs("lower")
	for _, p := range c.values {
		c.likes = append(c.likes, compileWildcard(p))
	}
	var err error
	if c.numbers, err = terms("numbers"); err != nil {
		return c, err
	}
	if c.dates, err = terms("dates"); err != nil {
		return c, err
	}
	for _, s := range strs("cidrs") {
		_, n, _ := net.ParseCIDR(s) // nil contains nothing, as the builtin's error
		c.cidrs = append(c.cidrs, n)
		c.cidrTerms = append(c.cidrTerms, ast.StringTerm(s))
	}
	return c, nil
}

// holds is condition_holds(c.op, c, value) for the request's value of c.key:
// a string, or absent (nil).
func (c *condition) holds(bctx rego.BuiltinContext, value *string) bool {
	if !c.supported {
		return false
	}
	if value == nil {
		return negatedOperators[c.op]
	}
	s := *value
	switch c.op {
	case "StringEquals":
		return slices.Contains(c.values, s)
	case "StringNotEquals":
		return !slices.Contains(c.values, s)
	case "StringEqualsIgnoreCase", "Bool":
		return slices.Contains(c.lower, strings.ToLower(s))
	case "StringNotEqualsIgnoreCase":
		return !slices.Contains(c.lower, strings.ToLower(s))
	case "StringLike":
		return c.like(s)
	case "StringNotLike":
		return !c.like(s)
	case "IpAddress":
		return c.anyCIDRContains(bctx, s)
	case "NotIpAddress":
		return !c.anyCIDRContains(bctx, s)
	}
	if strings.HasPrefix(c.op, "Numeric") {
		n, ok := callBuiltin(bctx, "to_number", ast.StringTerm(s))
		return ok && compareIn(c.op[len("Numeric"):], n, c.numbers)
	}
	if strings.HasPrefix(c.op, "Date") {
		t, ok := callBuiltin(bctx, "time.parse_rfc3339_ns", ast.StringTerm(s))
		return ok && compareIn(c.op[len("Date"):], t, c.dates)
	}
	return false
}

// like is `some pattern in c.globs; glob.match(pattern, null, s)`.
func (c *condition) like(s string) bool {
	for i := range c.likes {
		if c.likes[i].match(s) {
			return true
		}
	}
	return false
}

// anyCIDRContains is `some cidr in c.cidrs; net.cidr_contains(cidr, s)`; an
// address that does not parse leaves it to OPA's builtin (a network, or an
// error: not contained).
func (c *condition) anyCIDRContains(bctx rego.BuiltinContext, s string) bool {
	if ip := net.ParseIP(s); ip != nil {
		return slices.ContainsFunc(c.cidrs, func(n *net.IPNet) bool { return n != nil && n.Contains(ip) })
	}
	for _, cidr := range c.cidrTerms {
		if r, ok := callBuiltin(bctx, "net.cidr_contains", cidr, ast.StringTerm(s)); ok && r.Value.Compare(ast.Boolean(true)) == 0 {
			return true
		}
	}
	return false
}

// compareIn applies a Numeric or Date comparison (the operator without its
// family) of v to the condition's values: membership for Equals and
// NotEquals, the largest value for LessThan(Equals), the smallest for
// GreaterThan(Equals), as conditions.rego does.
func compareIn(cmp string, v *ast.Term, values []*ast.Term) bool {
	in := slices.ContainsFunc(values, func(x *ast.Term) bool { return ast.Compare(v.Value, x.Value) == 0 })
	switch cmp {
	case "Equals":
		return in
	case "NotEquals":
		return !in
	}
	if len(values) == 0 {
		return false // max([]) and min([]) are undefined
	}
	wantMax := strings.HasPrefix(cmp, "Less")
	bound := values[0]
	for _, x := range values[1:] {
		if c := ast.Compare(x.Value, bound.Value); (wantMax && c > 0) || (!wantMax && c < 0) {
			bound = x
		}
	}
	c := ast.Compare(v.Value, bound.Value)
	switch cmp {
	case "LessThan":
		return c < 0
	case "LessThanEquals":
		return c <= 0
	case "GreaterThan":
		return c > 0
	case "GreaterThanEquals":
		return c >= 0
	}
	return false
}

// requestValue is request_value(key) for the input: the value, or nil for an
// absent one; ok is false for a key rdsgate does not know.
func (n *native) requestValue(key string, ctx ast.Object, instance string) (value *string, ok bool) {
	switch key {
	case "acs:sourceip":
		if s, ok := stringField(ctx, keySourceIP); ok && s != "" {
			return &s, true
		}
		return nil, true
	case "acs:currenttime":
		if s, ok := stringField(ctx, keyCurrentTime); ok {
			return &s, true
		}
		return nil, true
	case "acs:securetransport":
		return boolString(isTrue(ctx, keySecureTransport)), true
	case "acs:mfapresent":
		return boolString(isTrue(ctx, keyMFAPresent)), true
	}
	if strings.HasPrefix(key, tagKeyPrefix) {
		if v, found := n.tags[instance][key]; found {
			return &v, true
		}
		return nil, true
	}
	return nil, false
}

var trueString, falseString = "true", "false"

func boolString(b bool) *string {
	if b {
		return &trueString
	}
	return &falseString
}

// statementHolds reports whether every condition of st holds.
func (n *native) statementHolds(bctx rego.BuiltinContext, st *indexedStatement, ctx ast.Object, instance string) bool {
	for i := range st.conditions {
		c := &st.conditions[i]
		v, known := n.requestValue(c.key, ctx, instance)
		if !known || !c.holds(bctx, v) {
			return false
		}
	}
	return true
}

var (
	keyResult      = ast.InternedTerm("result")
	keyReasons     = ast.InternedTerm("reasons")
	keyEffect      = ast.InternedTerm("effect")
	keyPolicy      = ast.InternedTerm("policy")
	keyStatement   = ast.InternedTerm("statement")
	keyUnsupported = ast.InternedTerm("unsupported")
)

// ramAnswer is rdsgate.ram.answer for input: {"result": {"effect", "policy",
// "statement", "unsupported"}, "reasons": [...]}.
func (n *native) ramAnswer(bctx rego.BuiltinContext, input *ast.Term) (*ast.Term, error) {
	in, _ := input.Value.(ast.Object)
	subject, _ := stringField(objectField(in, keyPrincipal), keySubject)
	req, ctx := objectField(in, keyRequest), objectField(in, keyContext)
	region, _ := stringField(req, keyRegionID)
	instance, _ := stringField(req, keyDBInstanceID)
	arn := "acs:rds:" + region + ":" + n.accountID + ":dbinstance/" + instance

	var deny, allow *indexedStatement
	var unsupported []string
	for _, st := range n.index.users[subject] {
		if !st.matches(arn) {
			continue
		}
		unsupported = append(unsupported, st.problemList...)
		switch {
		case deny != nil:
		case st.effect.Value.Compare(ast.String("Deny")) == 0:
			if n.statementHolds(bctx, st, ctx, instance) {
				deny = st
			}
		case allow == nil:
			if n.statementHolds(bctx, st, ctx, instance) {
				allow = st
			}
		}
	}
	slices.Sort(unsupported)
	unsupported = slices.Compact(unsupported)

	var effect, verdict string
	decider := deny
	switch {
	case deny != nil:
		effect = EffectExplicitDeny
		verdict = fmt.Sprintf("RAM: explicit deny by policy %s statement %s", string(deny.policy.Value.(ast.String)), deny.index)
	case allow != nil:
		effect, decider = EffectAllow, allow
		verdict = fmt.Sprintf("RAM: allowed by policy %s statement %s", string(allow.policy.Value.(ast.String)), allow.index)
	default:
		effect = EffectImplicitDeny
		if _, known := n.index.users[subject]; !known {
			verdict = fmt.Sprintf("RAM: user %q is not defined in the RAM data, so RAM denies implicitly", subject)
		} else {
			verdict = fmt.Sprintf("RAM: implicit deny: no statement in the policies of %s allows rds:ReleaseInstanceConnection on %s", subject, arn)
		}
	}
	policy, statement := ast.InternedTerm(""), ast.InternedTerm(0)
	if decider != nil {
		policy, statement = decider.policy, decider.index
	}
	reasons := make([]*ast.Term, 0, 1+len(unsupported))
	reasons = append(reasons, ast.StringTerm(verdict))
	problems := make([]*ast.Term, len(unsupported))
	for i, u := range unsupported {
		problems[i] = ast.StringTerm(u)
		reasons = append(reasons, ast.StringTerm("RAM: "+u+"; the statement was ignored"))
	}
	return ast.ObjectTerm(
		ast.Item(keyResult, ast.ObjectTerm(
			ast.Item(keyEffect, ast.InternedTerm(effect)),
			ast.Item(keyPolicy, policy),
			ast.Item(keyStatement, statement),
			ast.Item(keyUnsupported, ast.SetTerm(problems...)),
		)),
		ast.Item(keyReasons, ast.ArrayTerm(reasons...)),
	), nil
}

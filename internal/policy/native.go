package policy

import (
	"bytes"
	"errors"
	"maps"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/types"

	"github.com/rdsgate/rdsgate/policies"
)

// The release decision's two answers, rdsgate.ram.answer and
// rdsgate.org.answer, computed in Go for the shipped modules (see the package
// documentation). The prepared query then asks rdsgate.release.compose, the
// Rego that turns the two answers into the decision, with the builtins'
// results.
const (
	ramAnswerBuiltin = "rdsgate.ram_answer"
	orgAnswerBuiltin = "rdsgate.org_answer"
	nativeQuery      = "data.rdsgate.release.compose(input.request, " +
		ramAnswerBuiltin + "(input), " + orgAnswerBuiltin + "(input))"
)

var (
	ramAnswerDecl = &rego.Function{
		Name:        ramAnswerBuiltin,
		Description: "rdsgate.ram.answer for the input document, computed in Go",
		Decl:        types.NewFunction(types.Args(types.A), types.A),
	}
	orgAnswerDecl = &rego.Function{
		Name:        orgAnswerBuiltin,
		Description: "rdsgate.org.answer for the input document, computed in Go",
		Decl:        types.NewFunction(types.Args(types.A), types.A),
	}
)

// customBuiltins are the engine's own builtins, for the compiler.
func customBuiltins() map[string]*ast.Builtin {
	out := map[string]*ast.Builtin{}
	for _, f := range []*rego.Function{lookupDecl, ramAnswerDecl, orgAnswerDecl} {
		out[f.Name] = &ast.Builtin{Name: f.Name, Decl: f.Decl}
	}
	return out
}

// shippedModules are the Rego modules built into rdsgate (the example
// custom modules under policies/examples are not among them).
var shippedModules = sync.OnceValues(func() (map[string][]byte, error) {
	modules, err := readModules(policies.FS, policies.ExamplesDir)
	if err == nil && len(modules) == 0 {
		err = errors.New("read policies: no .rego modules")
	}
	return modules, err
})

// isShipped reports whether modules are exactly the shipped ones. Only then
// do the Go answers stand in for the Rego: an edited module (Options.PolicyDir)
// is evaluated as written.
func isShipped(modules map[string][]byte) bool {
	shipped, err := shippedModules()
	return err == nil && maps.EqualFunc(modules, shipped, bytes.Equal)
}

// native holds what the Go answers read: the RAM index and tags and the
// compiled org rules of one revision.
type native struct {
	accountID string
	index     *ramIndex
	// tags are the instances' tags by condition key: rds:resourcetag/<key>.
	tags map[string]map[string]string
	org  *orgRules
}

// The input document's fields, as the engine builds it (decideInput), and
// the fields of the answers and the decision.
var (
	keyAllow                = ast.InternedTerm("allow")
	keyRAM                  = ast.InternedTerm("ram")
	keyApproverRequirements = ast.InternedTerm("approver_requirements")
	keyGroup                = ast.InternedTerm("group")
	keyCount                = ast.InternedTerm("count")
	keyPrincipal            = ast.InternedTerm("principal")
	keySubject              = ast.InternedTerm("subject")
	keyRequest              = ast.InternedTerm("request")
	keyRegionID             = ast.InternedTerm("region_id")
	keyDBInstanceID         = ast.InternedTerm("db_instance_id")
	keyJustification        = ast.InternedTerm("justification")
	keyTicket               = ast.InternedTerm("ticket")
	keyBreakGlass           = ast.InternedTerm("break_glass")
	keyContext              = ast.InternedTerm("context")
	keySourceIP             = ast.InternedTerm("source_ip")
	keyCurrentTime          = ast.InternedTerm("current_time")
	keySecureTransport      = ast.InternedTerm("secure_transport")
	keyMFAPresent           = ast.InternedTerm("mfa_present")
	keyPending              = ast.InternedTerm("pending_requests")
)

// objectField returns obj[key] as an object, nil when it is absent or not one.
func objectField(obj ast.Object, key *ast.Term) ast.Object {
	o, _ := field(obj, key).(ast.Object)
	return o
}

// stringField returns obj[key] when it is a string.
func stringField(obj ast.Object, key *ast.Term) (string, bool) {
	s, ok := field(obj, key).(ast.String)
	return string(s), ok
}

// isTrue reports obj[key] == true.
func isTrue(obj ast.Object, key *ast.Term) bool { return field(obj, key) == ast.Boolean(true) }

// callBuiltin calls OPA's own implementation of builtin name, so that the Go
// answers read values exactly as the Rego does; ok is false when the builtin
// is undefined or fails, as the Rego expression would be.
func callBuiltin(bctx topdown.BuiltinContext, name string, args ...*ast.Term) (out *ast.Term, ok bool) {
	f := topdown.GetBuiltin(name)
	if f == nil {
		return nil, false
	}
	err := f(bctx, args, func(t *ast.Term) error {
		out = t
		return nil
	})
	return out, err == nil && out != nil
}

func stringsTerm(ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = ast.StringTerm(s)
	}
	return ast.ArrayTerm(terms...)
}

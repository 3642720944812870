package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gobwas/glob"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// orgRules is data.org in the form the Go answer reads: the same values
// compileOrg puts in the document, compiled.
type orgRules struct {
	instances    map[string]placement
	patterns     []patternPlacement
	anyPattern   *glob.Pattern
	defaultPlace placement
	environments map[string]*envRules
	justMin      int
	ticket       *regexp.Regexp
	ticketSource string
	maxPending   int
	pendingLimit int64
}

// placement is an instance's environment and the words saying how it was
// found.
type placement struct{ environment, source string }

type patternPlacement struct {
	glob *glob.Pattern
	placement
}

type envRules struct {
	usual, breakGlass approval
	freezes           []freeze
}

// approval is one approval path, with its requirements as the term the
// answer carries.
type approval struct {
	approvers *ast.Term
	required  *ast.Term
	note      string
}

type freeze struct {
	startNS, endNS           int64
	denyNote, breakGlassNote string
}

// noRulesApproval is rdsgate.org's approval for an environment without rules.
var noRulesApproval = approval{approvers: ast.ArrayTerm(), required: ast.InternedTerm(0), note: "org: no approvals are configured"}

var (
	keyEnvironment       = ast.InternedTerm("environment")
	keyApproval          = ast.InternedTerm("approval")
	keyApprovers         = ast.InternedTerm("approvers")
	keyRequiredApprovals = ast.InternedTerm("required_approvals")
	keyDenials           = ast.InternedTerm("denials")
	keyNotes             = ast.InternedTerm("notes")
	emptyDenials         = ast.ArrayTerm()
)

// orgAnswer is rdsgate.org.answer for input: {"environment", "approval":
// {"approvers", "required_approvals"}, "denials": [...], "notes": [...]}.
func (n *native) orgAnswer(bctx rego.BuiltinContext, input *ast.Term) (*ast.Term, error) {
	o := n.org
	in, _ := input.Value.(ast.Object)
	req, ctx := objectField(in, keyRequest), objectField(in, keyContext)
	instance, _ := stringField(req, keyDBInstanceID)

	place, named := o.instances[instance]
	if !named {
		place = o.defaultPlace
		if o.anyPattern.Match(instance) {
			if i := slices.IndexFunc(o.patterns, func(p patternPlacement) bool { return p.glob.Match(instance) }); i >= 0 {
				place = o.patterns[i].placement
			}
		}
	}
	rules := o.environments[place.environment]

	var now int64
	nowOK := false
	if s, ok := stringField(ctx, keyCurrentTime); ok {
		if t, ok := callBuiltin(bctx, "time.parse_rfc3339_ns", ast.StringTerm(s)); ok {
			now, nowOK = astInt64(t.Value)
		}
	}
	var active []*freeze // freezes in effect now, in order
	if rules != nil && nowOK {
		for i := range rules.freezes {
			if f := &rules.freezes[i]; f.startNS <= now && now < f.endNS {
				active = append(active, f)
			}
		}
	}
	askedBreakGlass := isTrue(req, keyBreakGlass)
	breakGlass := askedBreakGlass && len(active) > 0

	path := noRulesApproval
	switch {
	case rules != nil && breakGlass:
		path = rules.breakGlass
	case rules != nil:
		path = rules.usual
	}

	var denials []string
	if !nowOK {
		denials = append(denials, "org: the request has no valid current_time (RFC 3339), so change freezes cannot be checked")
	}
	if rules == nil {
		denials = append(denials, fmt.Sprintf("org: environment %s has no approval rules in the org data", place.environment))
	}
	if !askedBreakGlass {
		for _, f := range active {
			denials = append(denials, f.denyNote)
		}
	}
	justification, _ := stringField(req, keyJustification)
	if utf8.RuneCountInString(strings.TrimSpace(justification)) < o.justMin {
		denials = append(denials, fmt.Sprintf("org: justification shorter than %d characters", o.justMin))
	}
	ticket, _ := stringField(req, keyTicket)
	if !o.ticket.MatchString(ticket) {
		denials = append(denials, fmt.Sprintf("org: ticket %q does not match the required pattern %s", ticket, o.ticketSource))
	}
	if pending := pendingOf(in); pending >= o.pendingLimit {
		subject, _ := stringField(objectField(in, keyPrincipal), keySubject)
		denials = append(denials, fmt.Sprintf("org: %s already has %d pending requests (limit %d)", subject, pending, o.maxPending))
	}
	denialsTerm := emptyDenials
	if len(denials) > 0 {
		slices.Sort(denials)
		denialsTerm = stringsTerm(slices.Compact(denials))
	}

	notes := []*ast.Term{
		ast.StringTerm(fmt.Sprintf("org: %s is in environment %s (by %s)", instance, place.environment, place.source)),
		ast.StringTerm(path.note),
	}
	if breakGlass {
		notes = append(notes, ast.StringTerm(active[0].breakGlassNote))
	}
	return ast.ObjectTerm(
		ast.Item(keyEnvironment, ast.StringTerm(place.environment)),
		ast.Item(keyApproval, ast.ObjectTerm(
			ast.Item(keyApprovers, path.approvers),
			ast.Item(keyRequiredApprovals, path.required),
		)),
		ast.Item(keyDenials, denialsTerm),
		ast.Item(keyNotes, ast.ArrayTerm(notes...)),
	), nil
}

// pendingOf is the input's pending_requests, 0 when absent.
func pendingOf(in ast.Object) int64 {
	n, _ := astInt64(field(in, keyPending))
	return n
}

func astInt64(v ast.Value) (int64, bool) {
	n, ok := v.(ast.Number)
	if !ok {
		return 0, false
	}
	return n.Int64()
}

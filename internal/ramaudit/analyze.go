package ramaudit

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/rdsgate/rdsgate/internal/policy"
)

// Actions are the RAM actions that release an instance's endpoint: the one
// rdsgate gates, and its sibling that Terraform's alicloud_db_connection and
// Alibaba's OOS template call.
var Actions = []string{"rds:ReleaseInstanceConnection", "rds:ReleaseInstancePublicConnection"}

// assumeAction is the action a user needs, on a role's ARN, to assume it.
const assumeAction = "sts:AssumeRole"

// Principal types of a finding.
const (
	TypeUser  = "user"
	TypeGroup = "group"
	TypeRole  = "role"
)

// Finding is one way a principal may call an action: one JSON object of
// `rdsgate ram analyze`'s output.
type Finding struct {
	Principal     string `json:"principal"`
	PrincipalType string `json:"principal_type"`
	// PrincipalARN is the user's or role's ARN ("" for a group).
	PrincipalARN string `json:"principal_arn,omitempty"`
	Action       string `json:"action"`
	// Resource is the statement's Resource patterns that name the account's
	// instances, comma-separated (e.g. "*").
	Resource   string `json:"resource"`
	Policy     string `json:"policy"`
	PolicyType string `json:"policy_type"`
	// Statement is the statement's number in the policy, from 1.
	Statement int `json:"statement"`
	// Conditions are the conditions a request must meet, in words ("only
	// from 203.0.113.0/24"); "" when none.
	Conditions string `json:"conditions"`
	// Via is the group (for a user) or the role the user may assume that
	// grants it; "" when the principal's own policy does.
	Via string `json:"via"`
	// Members are a group's users.
	Members []string `json:"members,omitempty"`
	// AssumableBy are who may assume a role: this account's users (by name)
	// whose policies allow sts:AssumeRole on it and whom its trust policy
	// names, and the other principals its trust policy names as written
	// (services, other accounts).
	AssumableBy []string `json:"assumable_by,omitempty"`
	// Expected is true for the gateway's own role (and the --expected
	// principals): not a bypass.
	Expected bool `json:"expected"`
}

// Options configure Analyze.
type Options struct {
	// GatewayRole is the ARN (or name) of the gateway's own role: its
	// findings are expected.
	GatewayRole string
	// Expected are more principal ARNs whose findings are expected.
	Expected []string
	// ControlPolicies are Resource Directory control policy documents that
	// apply to the account: their statements are added to every user's,
	// group's and role's (RAM evaluates them with the identity's; with the
	// default FullAliyunAccess attached, only their Deny statements matter).
	ControlPolicies [][]byte
}

// principal is a user, group or role with its statements.
type principal struct {
	name, typ, arn string
	statements     []policy.Statement
	// via names, for each policy (by name), the group it comes through (""
	// when the principal's own).
	via map[string]string
	// policyType is each policy's type, by name.
	policyType map[string]string
}

// Analyze lists every way a principal of acct may call either of Actions:
// each user (through its own policies, its groups' and the roles it may
// assume), each group (with its members) and each role (with who may
// assume it). Findings are sorted: users, groups, roles, each by name.
func Analyze(ctx context.Context, a *policy.Analyzer, acct *Account, opts Options) ([]Finding, error) {
	compiled := map[PolicyRef][]policy.Statement{}
	statementsOf := func(ref PolicyRef) ([]policy.Statement, error) {
		if st, ok := compiled[ref]; ok {
			return st, nil
		}
		st, err := policy.CompilePolicy(ref.Name, acct.Documents[ref])
		if err != nil {
			return nil, fmt.Errorf("%s policy: %w", ref.Type, err)
		}
		compiled[ref] = st
		return st, nil
	}
	var control []policy.Statement
	for i, doc := range opts.ControlPolicies {
		st, err := policy.CompilePolicy(fmt.Sprintf("control-policy-%d", i+1), doc)
		if err != nil {
			return nil, err
		}
		control = append(control, st...)
	}
	build := func(name, typ, arn string, own []PolicyRef, groups []string) (*principal, error) {
		p := &principal{name: name, typ: typ, arn: arn, via: map[string]string{}, policyType: map[string]string{}}
		seen := map[PolicyRef]bool{}
		add := func(refs []PolicyRef, via string) error {
			for _, ref := range refs {
				if seen[ref] {
					continue
				}
				seen[ref] = true
				st, err := statementsOf(ref)
				if err != nil {
					return err
				}
				p.via[ref.Name] = via
				p.statements = append(p.statements, st...)
				p.policyType[ref.Name] = ref.Type
			}
			return nil
		}
		if err := add(own, ""); err != nil {
			return nil, err
		}
		for _, g := range groups {
			i := slices.IndexFunc(acct.Groups, func(x Group) bool { return x.Name == g })
			if i < 0 {
				continue
			}
			if err := add(acct.Groups[i].Policies, g); err != nil {
				return nil, err
			}
		}
		p.statements = append(p.statements, control...)
		return p, nil
	}

	expected := map[string]bool{}
	for _, e := range opts.Expected {
		expected[strings.ToLower(e)] = true
	}
	isGateway := func(r Role) bool {
		g := strings.ToLower(opts.GatewayRole)
		return g != "" && (g == strings.ToLower(r.ARN) || g == strings.ToLower(r.Name))
	}

	var out []Finding
	users := make([]*principal, 0, len(acct.Users))
	for _, u := range acct.Users {
		p, err := build(u.Name, TypeUser, userARN(acct.ID, u.Name), u.Policies, u.Groups)
		if err != nil {
			return nil, fmt.Errorf("user %s: %w", u.Name, err)
		}
		users = append(users, p)
		f, err := findings(ctx, a, acct.ID, p)
		if err != nil {
			return nil, err
		}
		for i := range f {
			f[i].Expected = expected[strings.ToLower(p.arn)]
		}
		out = append(out, f...)
	}
	for _, g := range acct.Groups {
		p, err := build(g.Name, TypeGroup, "", g.Policies, nil)
		if err != nil {
			return nil, fmt.Errorf("group %s: %w", g.Name, err)
		}
		f, err := findings(ctx, a, acct.ID, p)
		if err != nil {
			return nil, err
		}
		for i := range f {
			f[i].Members = slices.Clone(g.Members)
			if f[i].Members == nil {
				f[i].Members = []string{}
			}
		}
		out = append(out, f...)
	}
	for _, r := range acct.Roles {
		p, err := build(r.Name, TypeRole, r.ARN, r.Policies, nil)
		if err != nil {
			return nil, fmt.Errorf("role %s: %w", r.Name, err)
		}
		f, err := findings(ctx, a, acct.ID, p)
		if err != nil {
			return nil, err
		}
		if len(f) == 0 {
			continue
		}
		trust, err := parseTrust(r.TrustPolicy)
		if err != nil {
			return nil, fmt.Errorf("role %s: trust policy: %w", r.Name, err)
		}
		assumers := trust.others(acct.ID)
		gateway := isGateway(r) || expected[strings.ToLower(r.ARN)]
		for _, u := range users {
			trusted, trustConds := trust.trusts(acct.ID, u.name)
			if !trusted {
				continue
			}
			may, err := a.Analyze(ctx, u.statements, assumeAction, r.ARN, u.arn)
			if err != nil {
				return nil, err
			}
			if may.Effect != "Allow" {
				continue
			}
			assumers = append(assumers, u.name)
			how := describeAllow(may.By.Conditions)
			if len(trustConds) > 0 {
				how = join(how, "trust policy: "+strings.Join(trustConds, " and "))
			}
			how = join(how, describeLimits(may.Limits))
			for _, rf := range f {
				uf := rf
				uf.Principal, uf.PrincipalType, uf.PrincipalARN, uf.Via = u.name, TypeUser, u.arn, r.Name
				if how != "" {
					uf.Conditions = join(rf.Conditions, "to assume "+r.Name+": "+how)
				}
				uf.Expected = expected[strings.ToLower(u.arn)]
				out = append(out, uf)
			}
		}
		slices.Sort(assumers)
		for i := range f {
			f[i].AssumableBy = slices.Clone(assumers)
			if f[i].AssumableBy == nil {
				f[i].AssumableBy = []string{}
			}
			f[i].Expected = gateway
		}
		out = append(out, f...)
	}
	typeOrder := map[string]int{TypeUser: 0, TypeGroup: 1, TypeRole: 2}
	slices.SortStableFunc(out, func(x, y Finding) int {
		return cmp.Or(
			cmp.Compare(typeOrder[x.PrincipalType], typeOrder[y.PrincipalType]),
			cmp.Compare(x.Principal, y.Principal),
			cmp.Compare(x.Action, y.Action),
			cmp.Compare(x.Via, y.Via),
			cmp.Compare(x.Policy, y.Policy),
			cmp.Compare(x.Statement, y.Statement),
		)
	})
	return out, nil
}

// findings asks the mirror about each action for p's own statements, on
// the account's instances and on each instance pattern its Allow
// statements name (probes): one finding per allowing statement, with the
// Resource patterns that match an allowed probe.
func findings(ctx context.Context, a *policy.Analyzer, account string, p *principal) ([]Finding, error) {
	type key struct {
		action, policy string
		statement      int
	}
	var out []Finding
	index := map[key]int{}
	for _, action := range Actions {
		for _, probe := range probes(account, p.statements) {
			res, err := a.Analyze(ctx, p.statements, action, probe, p.arn)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", p.typ, p.name, err)
			}
			if res.Effect != "Allow" {
				continue
			}
			for _, g := range res.Allows {
				var matched []string
				for _, r := range g.Resources {
					if wildcardMatch(r, probe) {
						matched = append(matched, r)
					}
				}
				k := key{action, g.Policy, g.Statement}
				if i, ok := index[k]; ok {
					for _, r := range matched {
						if !slices.Contains(strings.Split(out[i].Resource, ", "), r) {
							out[i].Resource += ", " + r
						}
					}
					continue
				}
				index[k] = len(out)
				out = append(out, Finding{
					Principal: p.name, PrincipalType: p.typ, PrincipalARN: p.arn,
					Action: action, Resource: strings.Join(matched, ", "),
					Policy: g.Policy, PolicyType: p.policyType[g.Policy], Statement: g.Statement,
					Conditions: join(describeAllow(g.Conditions), describeLimits(res.Limits)),
					Via:        p.via[g.Policy],
				})
			}
		}
	}
	return out, nil
}

// probes are the resources asked about: every instance of the account
// (acs:rds:*:<account>:dbinstance/*), and each Allow statement's Resource
// pattern that may name some of them (acs:rds:cn-hangzhou:<account>:
// dbinstance/rm-1, or …/dbinstance/*prod*). A pattern stands for the
// instances it names: a statement covers it when its own pattern matches
// the probe's text, wildcards included.
func probes(account string, statements []policy.Statement) []string {
	all := "acs:rds:*:" + account + ":dbinstance/*"
	out := []string{all}
	for _, st := range statements {
		if st.Effect != "Allow" {
			continue
		}
		for _, r := range st.Resources {
			if (wildcardMatch(all, r) || wildcardMatch(r, all)) && !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}

// wildcardMatch reports whether RAM pattern p (* any run, ? one character)
// matches s. It only chooses what to ask the mirror about and which of a
// statement's patterns to show; the mirror decides.
func wildcardMatch(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if wildcardMatch(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			p, s = p[1:], s[1:]
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
			p, s = p[1:], s[1:]
		}
	}
	return s == ""
}

func userARN(account, name string) string { return "acs:ram::" + account + ":user/" + name }

// trustPolicy is a role's AssumeRolePolicyDocument.
type trustPolicy struct {
	Statement []trustStatement
}

type trustStatement struct {
	Effect    string
	Action    stringList
	Principal struct {
		RAM       stringList
		Service   stringList
		Federated stringList
	}
	Condition map[string]map[string]stringList
}

// stringList reads a single string or a list of them.
type stringList []string

// UnmarshalJSON implements json.Unmarshaler.
func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*l = many
	return nil
}

func parseTrust(doc []byte) (trustPolicy, error) {
	var t trustPolicy
	if len(doc) == 0 {
		return t, nil
	}
	err := json.Unmarshal(doc, &t)
	return t, err
}

// assumes reports whether a statement's Action covers sts:AssumeRole.
func (s trustStatement) assumes() bool {
	for _, a := range s.Action {
		if wildcardMatch(strings.ToLower(a), strings.ToLower(assumeAction)) {
			return true
		}
	}
	return false
}

// trusts reports whether the trust policy lets user of account assume the
// role: an Allow statement for sts:AssumeRole naming the account
// (acs:ram::<uid>:root, which any RAM user of the account allowed
// sts:AssumeRole on the role matches) or the user, and no Deny naming
// them. It returns the trust statement's conditions in words.
func (t trustPolicy) trusts(account, user string) (bool, []string) {
	names := func(s trustStatement) bool {
		for _, p := range s.Principal.RAM {
			p = strings.ToLower(p)
			if p == strings.ToLower("acs:ram::"+account+":root") || p == account ||
				p == strings.ToLower(userARN(account, user)) {
				return true
			}
		}
		return false
	}
	var conds []string
	allowed := false
	for _, s := range t.Statement {
		if !s.assumes() || !names(s) {
			continue
		}
		switch s.Effect {
		case "Deny":
			if len(s.Condition) == 0 {
				return false, nil
			}
		case "Allow":
			if !allowed || len(s.Condition) == 0 {
				conds = describeTrustConditions(s.Condition)
			}
			allowed = true
		}
	}
	return allowed, conds
}

// others are the principals the trust policy names that are not this
// account's users: services, federated identity providers and other
// accounts, as written.
func (t trustPolicy) others(account string) []string {
	var out []string
	for _, s := range t.Statement {
		if s.Effect != "Allow" || !s.assumes() {
			continue
		}
		for _, p := range s.Principal.Service {
			out = append(out, "service:"+p)
		}
		for _, p := range s.Principal.Federated {
			out = append(out, "federated:"+p)
		}
		for _, p := range s.Principal.RAM {
			l := strings.ToLower(p)
			if l == strings.ToLower("acs:ram::"+account+":root") || l == account ||
				strings.HasPrefix(l, strings.ToLower("acs:ram::"+account+":user/")) {
				continue
			}
			out = append(out, p)
		}
	}
	return out
}

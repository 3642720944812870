package policy

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gobwas/glob"
	"github.com/open-policy-agent/opa/v1/ast"
)

// GatedAction is the one RAM action rdsgate decides, lower-cased as the
// compiled data holds actions. rdsgate.ram asks about the same action.
const GatedAction = "rds:releaseinstanceconnection"

// ramFile is ram.json (or ram/<account_id>.json): the account, its custom
// policies, users and groups.
type ramFile struct {
	AccountID string                     `json:"account_id"`
	Policies  map[string]json.RawMessage `json:"policies"`
	Users     map[string]ramUser         `json:"users"`
	Groups    map[string]ramGroup        `json:"groups"`
}

type ramUser struct {
	Groups   []string `json:"groups"`
	Policies []string `json:"policies"`
}

type ramGroup struct {
	Policies []string `json:"policies"`
}

// ramData is the RAM data of every account compiled for rdsgate.ram, plus
// what the engine answers from Go.
type ramData struct {
	// defaultAccount is the account of a request that names none; "" when
	// there is none (several accounts, none chosen).
	defaultAccount string
	// accounts are accounts.json's, nil without it.
	accounts []Account
	// store is data.ram as the engine's OPA store holds it: users have their
	// groups only, since their statements are in index.
	store map[string]any
	index *ramIndex
	// full is data.ram with every user's statements, as the Rego definition
	// of lookup reads it (Engine.Data, an OPA server).
	full       func() map[string]any
	users      []string            // the default account's user names, sorted
	userGroups map[string][]string // the default account's: user name -> groups
}

// compiledPolicy is a policy's statements about GatedAction, compiled once
// and shared by every user the policy is attached to.
type compiledPolicy struct {
	byAction  []*indexedStatement // statements whose Action lists GatedAction exactly
	byGlob    []*indexedStatement // statements whose Action matches it by a wildcard only
	notAction []*indexedStatement // NotAction statements that do not exclude it
}

// interner shares equal AST values (conditions, action lists, group lists)
// between the statements and users that hold them: 10,000 users with the
// same few conditions hold one copy, which keeps the live heap, and the
// garbage collector's work, small.
type interner map[string]*ast.Term

func (in interner) term(v any) (*ast.Term, error) {
	key, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if t, ok := in[string(key)]; ok {
		return t, nil
	}
	val, err := ast.InterfaceToValue(v)
	if err != nil {
		return nil, err
	}
	t := ast.NewTerm(val)
	in[string(key)] = t
	return t, nil
}

// ramFileData is one RAM data file (ram.json or ram/<id>.json) compiled.
// Accounts that share a file share its compiled form: a statement does not
// depend on the account, whose id the Rego puts in the ARN.
type ramFileData struct {
	accountID  string                         // the file's account_id, "" when absent
	statements map[string][]*indexedStatement // user name -> statements
	users      [][2]*ast.Term                 // user name -> {"groups": [...]}
	usersObj   ast.Object                     // users as an object
	names      []string                       // user names, sorted
	userGroups map[string][]string            // user name -> groups
}

// compileRAM compiles the RAM data of every account: with accounts.json
// (accounts not nil), each account's ram/<id>.json, else ram.json; without
// it, ram.json for its one account (override, Options.AccountID, in place of
// its account_id). The result is data.ram as policies/ram expects it
// (policies/README.md describes it):
//
//	{"account_id": DEFAULT, "accounts_json": BOOL,
//	 "accounts": {ID: {"name": "...", "regions": [...], "users": USERS}},
//	 "users": USERS of DEFAULT ({} without one),
//	 "resource_tags": {INSTANCE: {"rds:resourcetag/" + lower(tag key): value}}}
//
// where USERS is {NAME: {"groups": [...], "statements": [STMT...]}}, the
// statements only in full (the engine keeps them in index).
func compileRAM(s sources, accounts []Account, system map[string]json.RawMessage, tags map[string]map[string]string, st *stage) (ramData, error) {
	shared := interner{}
	compiledSystem := make(map[string]compiledPolicy, len(system))
	for name, doc := range system {
		c, err := compilePolicy(name, doc, shared, st)
		if err != nil {
			return ramData{}, fmt.Errorf("RAM system policy %s: %w", name, err)
		}
		compiledSystem[name] = c
	}
	files := map[string]*ramFileData{} // by file name, each compiled once
	file := func(name string, raw []byte) (*ramFileData, error) {
		if f, ok := files[name]; ok {
			return f, nil
		}
		f, err := compileRAMFile(raw, system, compiledSystem, shared, st)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		files[name] = f
		return f, nil
	}

	out := ramData{accounts: accounts}
	byAccount := map[string]*ramFileData{}
	if accounts == nil {
		for _, name := range slices.Sorted(maps.Keys(s.accountRAM)) {
			return ramData{}, fmt.Errorf("%s/%s: there is no %s, so rdsgate reads %s alone", ramDirName, name, accountsFileName, ramFileName)
		}
		f, err := file(ramFileName, s.ram)
		if err != nil {
			return ramData{}, err
		}
		out.defaultAccount = cmp.Or(s.accountID, f.accountID)
		if out.defaultAccount == "" {
			return ramData{}, errors.New("ram.json: account_id is required")
		}
		byAccount[out.defaultAccount] = f
	} else {
		known := make(map[string]bool, len(accounts))
		for _, a := range accounts {
			known[a.ID] = true
		}
		for _, name := range slices.Sorted(maps.Keys(s.accountRAM)) {
			if id := strings.TrimSuffix(name, ".json"); !known[id] {
				return ramData{}, fmt.Errorf("%s/%s: account %s is not in %s", ramDirName, name, id, accountsFileName)
			}
		}
		for _, a := range accounts {
			name, raw := ramDirName+"/"+a.ID+".json", s.accountRAM[a.ID+".json"]
			if raw == nil {
				if s.ram == nil {
					return ramData{}, fmt.Errorf("%s: account %s has neither %s nor a %s", accountsFileName, a.ID, name, ramFileName)
				}
				name, raw = ramFileName, s.ram
			}
			f, err := file(name, raw)
			if err != nil {
				return ramData{}, err
			}
			if name != ramFileName && f.accountID != "" && f.accountID != a.ID {
				return ramData{}, fmt.Errorf("%s: account_id %s is not the account of the file, %s", name, f.accountID, a.ID)
			}
			byAccount[a.ID] = f
		}
		var ramAccount string
		if s.ram != nil {
			f, err := file(ramFileName, s.ram)
			if err != nil {
				return ramData{}, err
			}
			ramAccount = f.accountID
		}
		var err error
		if out.defaultAccount, err = defaultAccount(accounts, s.accountID, ramAccount); err != nil {
			return ramData{}, err
		}
	}

	out.index = &ramIndex{accounts: make(map[string]map[string][]*indexedStatement, len(byAccount))}
	docs := make([][2]*ast.Term, 0, len(byAccount))
	for _, id := range slices.Sorted(maps.Keys(byAccount)) {
		f := byAccount[id]
		out.index.accounts[id] = f.statements
		name, regions := id, []string{}
		if i := slices.IndexFunc(accounts, func(a Account) bool { return a.ID == id }); i >= 0 {
			name, regions = accounts[i].Name, accounts[i].Regions
		}
		docs = append(docs, ast.Item(ast.StringTerm(id), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("name"), ast.StringTerm(name)),
			ast.Item(ast.InternedTerm("regions"), ast.NewTerm(ast.MustInterfaceToValue(stringsAny(regions)))),
			ast.Item(ast.InternedTerm("users"), ast.NewTerm(f.usersObj)),
		)))
	}
	defaultUsers := ast.NewObject()
	if f := byAccount[out.defaultAccount]; f != nil {
		defaultUsers = f.usersObj
		out.users, out.userGroups = f.names, f.userGroups
	}

	resourceTags := make(map[string]any, len(tags))
	for instance, kv := range tags {
		prefixed := make(map[string]string, len(kv))
		for k, v := range kv {
			prefixed[tagKeyPrefix+strings.ToLower(k)] = v
		}
		resourceTags[instance] = prefixed
	}
	out.store = map[string]any{
		"account_id":    out.defaultAccount,
		"accounts_json": accounts != nil,
		"accounts":      ast.NewObject(docs...),
		"users":         defaultUsers,
		"resource_tags": resourceTags,
	}
	out.full = func() map[string]any {
		full := map[*ramFileData]ast.Object{} // users with statements, once per file
		withStatements := make([][2]*ast.Term, len(docs))
		for i, d := range docs {
			f := byAccount[string(d[0].Value.(ast.String))]
			users, ok := full[f]
			if !ok {
				users = f.full()
				full[f] = users
			}
			acct := d[1].Value.(ast.Object).Copy()
			acct.Insert(ast.InternedTerm("users"), ast.NewTerm(users))
			withStatements[i] = ast.Item(d[0], ast.NewTerm(acct))
		}
		doc := maps.Clone(out.store)
		doc["accounts"] = ast.NewObject(withStatements...)
		return doc
	}
	return out, nil
}

// compileRAMFile checks one RAM data file against the system policies and
// compiles it. A user's statements are those of its policies (its own, then
// its groups') that can concern GatedAction: the ones whose Action lists it
// exactly, then the ones whose Action matches it by a wildcard, then the
// NotAction ones that do not exclude it, each in policy order.
//
// A policy name that neither the file nor the system policies define, a
// malformed document or an unknown statement element refuses the data.
func compileRAMFile(raw []byte, system map[string]json.RawMessage, compiledSystem map[string]compiledPolicy, shared interner, st *stage) (*ramFileData, error) {
	var f ramFile
	if err := decodeStrict(raw, &f); err != nil {
		return nil, err
	}
	compiled := maps.Clone(compiledSystem)
	for name, doc := range f.Policies {
		if _, ok := system[name]; ok {
			return nil, fmt.Errorf("policy %s has the name of a RAM system policy", name)
		}
		c, err := compilePolicy(name, doc, shared, st)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", name, err)
		}
		compiled[name] = c
	}
	for g, grp := range f.Groups {
		for _, p := range grp.Policies {
			if _, ok := compiled[p]; !ok {
				return nil, fmt.Errorf("group %s: policy %s is not defined", g, p)
			}
		}
	}

	out := &ramFileData{
		accountID:  f.AccountID,
		statements: make(map[string][]*indexedStatement, len(f.Users)),
		users:      make([][2]*ast.Term, 0, len(f.Users)),
		userGroups: make(map[string][]string, len(f.Users)),
	}
	lists := map[string][]*indexedStatement{} // users with the same policies share the list
	for name, u := range f.Users {
		var names []string
		for _, p := range u.Policies {
			if _, ok := compiled[p]; !ok {
				return nil, fmt.Errorf("user %s: policy %s is not defined", name, p)
			}
			if !slices.Contains(names, p) {
				names = append(names, p)
			}
		}
		for _, g := range u.Groups {
			for _, p := range f.Groups[g].Policies {
				if !slices.Contains(names, p) {
					names = append(names, p)
				}
			}
		}
		key := strings.Join(names, "\x00")
		list, ok := lists[key]
		if !ok {
			for _, p := range names {
				list = append(list, compiled[p].byAction...)
			}
			for _, p := range names {
				list = append(list, compiled[p].byGlob...)
			}
			for _, p := range names {
				list = append(list, compiled[p].notAction...)
			}
			lists[key] = list
		}
		groups, err := shared.term(stringsAny(u.Groups))
		if err != nil {
			return nil, fmt.Errorf("user %s: %w", name, err)
		}
		out.users = append(out.users, ast.Item(ast.StringTerm(name), ast.ObjectTerm(ast.Item(ast.InternedTerm("groups"), groups))))
		out.statements[name] = list
		out.userGroups[name] = slices.Clone(u.Groups)
		out.names = append(out.names, name)
	}
	sort.Strings(out.names)
	out.usersObj = ast.NewObject(out.users...)
	return out, nil
}

// full returns the file's users with their statements, as the Rego
// definition of lookup reads them.
func (f *ramFileData) full() ast.Object {
	users := make([][2]*ast.Term, 0, len(f.users))
	for _, u := range f.users {
		list := f.statements[string(u[0].Value.(ast.String))]
		statements := make([]*ast.Term, 0, len(list))
		for _, st := range list {
			statements = append(statements, st.term())
		}
		user := u[1].Value.(ast.Object).Copy()
		user.Insert(ast.InternedTerm("statements"), ast.ArrayTerm(statements...))
		users = append(users, ast.Item(u[0], ast.NewTerm(user)))
	}
	return ast.NewObject(users...)
}

// emptyArray is the one [] that statements without conditions share.
var emptyArray = ast.ArrayTerm()

// tagKeyPrefix names an instance tag as a condition key:
// rds:ResourceTag/<tag key>, lower-cased.
const tagKeyPrefix = "rds:resourcetag/"

// compilePolicy checks one RAM policy document and compiles its statements
// about GatedAction, each numbered as in the document (from 1). Statements
// that rdsgate.ram's applies says do not concern GatedAction are dropped,
// since rdsgate never asks about another action; each kept statement carries
// rdsgate.ram's condition_problems for its conditions.
func compilePolicy(name string, raw json.RawMessage, shared interner, st *stage) (compiledPolicy, error) {
	var out compiledPolicy
	var doc map[string]json.RawMessage
	if err := decodeStrict(raw, &doc); err != nil {
		return out, err
	}
	for k := range doc {
		if k != "Version" && k != "Statement" {
			return out, fmt.Errorf("unknown policy element %q", k)
		}
	}
	var version string
	if err := json.Unmarshal(doc["Version"], &version); err != nil || version != "1" {
		return out, fmt.Errorf(`version must be "1"`)
	}
	var statements []map[string]json.RawMessage
	if s := bytes.TrimSpace(doc["Statement"]); len(s) > 0 && s[0] == '{' {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(s, &one); err != nil {
			return out, fmt.Errorf("statement: %w", err)
		}
		statements = append(statements, one)
	} else if err := json.Unmarshal(s, &statements); err != nil {
		return out, fmt.Errorf("statement must be a list of objects: %w", err)
	}
	policy := ast.StringTerm(name)
	for i, raw := range statements {
		c, err := compileStatement(raw)
		if err != nil {
			return out, fmt.Errorf("statement %d: %w", i+1, err)
		}
		is, err := c.index(policy, i+1, shared, st)
		if err != nil {
			return out, fmt.Errorf("statement %d: %w", i+1, err)
		}
		if is == nil {
			continue
		}
		switch c.match {
		case exactMatch:
			out.byAction = append(out.byAction, is)
		case globMatch:
			out.byGlob = append(out.byGlob, is)
		default:
			out.notAction = append(out.notAction, is)
		}
	}
	return out, nil
}

// index turns the statement numbered n of policy into its indexed form, nil
// when it does not concern GatedAction.
func (c compiledStatement) index(policy *ast.Term, n int, shared interner, st *stage) (*indexedStatement, error) {
	is := &indexedStatement{
		resources: make([]wildcard, len(c.resources)),
		policy:    policy,
		index:     ast.InternedTerm(n),
		effect:    ast.InternedTerm(c.effect),
		conds:     emptyArray,
		problems:  emptyArray,
	}
	for i, r := range c.resources {
		is.resources[i] = compileWildcard(r)
	}
	var err error
	if is.actions, err = shared.term(c.actions); err != nil {
		return nil, err
	}
	if is.notAction, err = shared.term(append([]any{}, c.notActions...)); err != nil {
		return nil, err
	}
	if ok, err := st.appliesTo(is.actions, is.notAction); err != nil || !ok {
		return nil, err
	}
	if len(c.conditions) == 0 {
		return is, nil
	}
	conds := make([]any, len(c.conditions))
	for j, cond := range c.conditions {
		conds[j] = cond
	}
	if is.conds, err = shared.term(conds); err != nil {
		return nil, err
	}
	problems, err := st.problemsOf(is.conds)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		sentences := make([]*ast.Term, len(problems))
		for i, p := range problems {
			sentences[i] = ast.StringTerm(fmt.Sprintf("policy %s statement %d: %s", string(policy.Value.(ast.String)), n, p))
		}
		is.problems = ast.ArrayTerm(sentences...)
	}
	return is, nil
}

// Where a statement comes in a user's list: RAM reports the statements that
// list the action exactly first, then those that match it by a wildcard,
// then the NotAction ones.
type actionMatch int

const (
	exactMatch     actionMatch = iota // Action lists GatedAction itself
	globMatch                         // Action lists patterns only (or other actions)
	notActionMatch                    // NotAction
)

// compiledStatement is one statement as rdsgate.ram reads it.
type compiledStatement struct {
	match  actionMatch
	effect string
	// actions are an Action statement's patterns. A NotAction statement
	// applies to every action its list does not match: actions ["*"], and
	// notActions the list.
	actions, notActions []any
	resources           []string // as written
	conditions          []any
}

// compileStatement compiles one statement for rdsgate.ram and says how its
// action matches GatedAction.
func compileStatement(st map[string]json.RawMessage) (compiledStatement, error) {
	var out compiledStatement
	for k := range st {
		switch k {
		case "Effect", "Action", "NotAction", "Resource", "Condition":
		default:
			return out, fmt.Errorf("unsupported statement element %q", k)
		}
	}
	if err := json.Unmarshal(st["Effect"], &out.effect); err != nil || (out.effect != "Allow" && out.effect != "Deny") {
		return out, errors.New(`effect must be "Allow" or "Deny"`)
	}

	actionKey := "Action"
	_, hasAction := st["Action"]
	_, hasNotAction := st["NotAction"]
	switch {
	case hasAction == hasNotAction:
		return out, errors.New("exactly one of Action and NotAction is required")
	case hasNotAction:
		actionKey = "NotAction"
	}
	actions, err := stringList(st[actionKey])
	if err != nil {
		return out, fmt.Errorf("%s: %w", actionKey, err)
	}
	// The patterns are kept as glob.match patterns: lower-cased (actions
	// match case-insensitively) and escaped. A statement listing GatedAction
	// literally is reported before one matching it by a wildcard; whether a
	// statement concerns GatedAction at all is rdsgate.ram's applies.
	patterns := make([]any, len(actions))
	literal := false
	for i, a := range actions {
		a = strings.ToLower(a)
		if isPattern(a) {
			if _, err := glob.Compile(globPattern(a)); err != nil {
				return out, fmt.Errorf("%s %q: %w", actionKey, a, err)
			}
		}
		patterns[i] = globPattern(a)
		literal = literal || a == GatedAction
	}
	switch {
	case hasNotAction:
		out.match, out.actions, out.notActions = notActionMatch, []any{"*"}, patterns
	case literal:
		out.match, out.actions = exactMatch, patterns
	default:
		out.match, out.actions = globMatch, patterns
	}

	if _, ok := st["Resource"]; !ok {
		return out, errors.New("resource is required")
	}
	if out.resources, err = stringList(st["Resource"]); err != nil {
		return out, fmt.Errorf("resource: %w", err)
	}
	if raw, ok := st["Condition"]; ok {
		if out.conditions, err = compileConditions(raw); err != nil {
			return out, fmt.Errorf("condition: %w", err)
		}
	}
	return out, nil
}

// compileConditions flattens {OPERATOR: {KEY: VALUES}} into a list of
// {"op", "key", "values", "globs"} sorted by operator and key. Operators are
// kept as written (rdsgate.ram decides which it knows); keys are lower-cased.
func compileConditions(raw json.RawMessage) ([]any, error) {
	var block map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &block); err != nil {
		return nil, err
	}
	ops := make([]string, 0, len(block))
	for op := range block {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var out []any
	for _, op := range ops {
		keys := make([]string, 0, len(block[op]))
		for k := range block[op] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			values, err := stringList(block[op][k])
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", op, k, err)
			}
			globs, lowered := make([]any, len(values)), make([]any, len(values))
			numbers, dates, cidrs := []any{}, []any{}, []any{}
			for i, v := range values {
				globs[i] = globPattern(v)
				lowered[i] = strings.ToLower(v)
				if n, err := strconv.ParseFloat(v, 64); err == nil && !math.IsInf(n, 0) && !math.IsNaN(n) {
					numbers = append(numbers, json.Number(strconv.FormatFloat(n, 'f', -1, 64)))
				}
				if t, ok := parseDate(v); ok {
					dates = append(dates, t.UnixNano())
				}
				if c, ok := parseCIDR(v); ok {
					cidrs = append(cidrs, c)
				}
			}
			out = append(out, map[string]any{
				"op":      op,
				"key":     strings.ToLower(k),
				"values":  stringsAny(values),
				"lower":   lowered,
				"globs":   globs,
				"numbers": numbers,
				"dates":   dates,
				"cidrs":   cidrs,
			})
		}
	}
	return out, nil
}

// parseDate reads an ISO 8601 time as RAM conditions write them: RFC 3339,
// or a plain date (midnight UTC).
func parseDate(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// parseCIDR reads an IP address (as a one-address network) or a network;
// an IPv6 zone is neither.
func parseCIDR(s string) (string, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.String(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", false
	}
	return netip.PrefixFrom(a, a.BitLen()).String(), true
}

// stringList reads a RAM value: a single value or a list of them. Numbers
// and booleans, which condition values may be, become their JSON text.
func stringList(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, errors.New("a value is required")
	}
	var items []json.RawMessage
	if raw[0] == '[' {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
	} else {
		items = []json.RawMessage{raw}
	}
	if len(items) == 0 {
		return nil, errors.New("a value is required")
	}
	out := make([]string, 0, len(items))
	for _, item := range items {
		var v any
		if err := json.Unmarshal(item, &v); err != nil {
			return nil, err
		}
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case float64:
			out = append(out, string(bytes.TrimSpace(item)))
		case bool:
			out = append(out, strconv.FormatBool(v))
		default:
			return nil, fmt.Errorf("value %s is not a string, number or boolean", item)
		}
	}
	return out, nil
}

// isPattern reports whether s uses RAM's wildcards.
func isPattern(s string) bool { return strings.ContainsAny(s, "*?") }

// globPattern turns a RAM wildcard pattern into a glob.match pattern (run
// without delimiters): RAM's * and ? keep their meaning, and the characters
// that are special only to glob.match ([ ] { } and the backslash; , ! and -
// are special only inside brackets and braces) are escaped.
func globPattern(s string) string {
	if !strings.ContainsAny(s, `\[]{}`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\[]{}`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func stringsAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// decodeStrict decodes JSON, refusing unknown fields and trailing data.
func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

package policy

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// accountsFileName is the optional list of Alibaba Cloud accounts in the data
// directory; ramDirName holds the accounts' own RAM data, ram/<id>.json.
const (
	accountsFileName = "accounts.json"
	ramDirName       = "ram"
)

// Account is one Alibaba Cloud account of accounts.json.
type Account struct {
	// ID is the account's UID, digits only.
	ID string `json:"id"`
	// Name is the account's display name; its ID when accounts.json names
	// none.
	Name string `json:"name"`
	// RoleARN is the RAM role rdsgate assumes in the account,
	// acs:ram::<ID>:role/<name>; "" for the one account of a data
	// directory without accounts.json.
	RoleARN string `json:"role_arn"`
	// Regions are the region ids of the account's instances (cn-hangzhou,
	// ...); nil without accounts.json.
	Regions []string `json:"regions"`
}

func (a Account) clone() Account {
	a.Regions = slices.Clone(a.Regions)
	return a
}

// accountsFile is accounts.json.
type accountsFile struct {
	Accounts map[string]accountEntry `json:"accounts"`
}

type accountEntry struct {
	Name    string   `json:"name"`
	RoleARN string   `json:"role_arn"`
	Regions []string `json:"regions"`
}

var (
	// accountIDPattern is an Alibaba Cloud UID: digits (16 today; any
	// length up to 32 is accepted).
	accountIDPattern = regexp.MustCompile(`^[0-9]{1,32}$`)
	// roleARNPattern is a RAM role's ARN: acs:ram::<uid>:role/<name>, the
	// name up to 64 letters, digits, '.' and '-'.
	roleARNPattern = regexp.MustCompile(`^acs:ram::([0-9]{1,32}):role/([A-Za-z0-9.-]{1,64})$`)
	// regionPattern is a region id: cn-hangzhou, ap-southeast-1,
	// cn-shanghai-finance-1.
	regionPattern = regexp.MustCompile(`^[a-z]+(-[a-z0-9]+)+$`)
)

// parseAccounts reads and checks accounts.json; the accounts come back sorted
// by ID. Every error names the field at fault.
func parseAccounts(raw []byte) ([]Account, error) {
	var f accountsFile
	if err := decodeStrict(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", accountsFileName, err)
	}
	if len(f.Accounts) == 0 {
		return nil, fmt.Errorf("%s: accounts: at least one account is required", accountsFileName)
	}
	ids := make([]string, 0, len(f.Accounts))
	for id := range f.Accounts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]Account, 0, len(ids))
	for _, id := range ids {
		a, err := checkAccount(id, f.Accounts[id])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", accountsFileName, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// checkAccount checks the entry of account id.
func checkAccount(id string, e accountEntry) (Account, error) {
	where := fmt.Sprintf("accounts.%q", id)
	if !accountIDPattern.MatchString(id) {
		return Account{}, fmt.Errorf("%s: the account id must be an Alibaba Cloud UID, 1 to 32 digits", where)
	}
	switch m := roleARNPattern.FindStringSubmatch(e.RoleARN); {
	case e.RoleARN == "":
		return Account{}, fmt.Errorf("%s.role_arn: required, acs:ram::%s:role/<name>", where, id)
	case m == nil:
		return Account{}, fmt.Errorf("%s.role_arn: %q is not acs:ram::%s:role/<name> (a role name is up to 64 letters, digits, '.' and '-')", where, e.RoleARN, id)
	case m[1] != id:
		return Account{}, fmt.Errorf("%s.role_arn: %q is a role of account %s, not of %s", where, e.RoleARN, m[1], id)
	}
	if len(e.Regions) == 0 {
		return Account{}, fmt.Errorf("%s.regions: at least one region id (such as cn-hangzhou) is required", where)
	}
	for i, r := range e.Regions {
		if len(r) > 64 || !regionPattern.MatchString(r) {
			return Account{}, fmt.Errorf("%s.regions[%d]: %q is not a region id such as cn-hangzhou", where, i, r)
		}
		if slices.Contains(e.Regions[:i], r) {
			return Account{}, fmt.Errorf("%s.regions[%d]: %s is listed twice", where, i, r)
		}
	}
	name := e.Name
	if name == "" {
		name = id
	}
	return Account{ID: id, Name: name, RoleARN: e.RoleARN, Regions: slices.Clone(e.Regions)}, nil
}

// Accounts returns the accounts of accounts.json sorted by ID, nil when the
// data directory has no accounts.json.
func (e *Engine) Accounts() []Account {
	accounts := e.cur.Load().accounts
	if accounts == nil {
		return nil
	}
	out := make([]Account, len(accounts))
	for i, a := range accounts {
		out[i] = a.clone()
	}
	return out
}

// Account returns the account id names among those a decision accepts: an
// entry of accounts.json or, without accounts.json, the one configured
// account (ID and Name its id, no RoleARN or Regions). An empty id is the
// default account (DefaultAccountID). ok is false for any other id.
func (e *Engine) Account(id string) (Account, bool) {
	rev := e.cur.Load()
	if id == "" {
		id = rev.defaultAccount
	}
	if id == "" {
		return Account{}, false
	}
	if rev.accounts == nil {
		if id != rev.defaultAccount {
			return Account{}, false
		}
		return Account{ID: id, Name: id}, true
	}
	i, found := slices.BinarySearchFunc(rev.accounts, id, func(a Account, id string) int {
		switch {
		case a.ID < id:
			return -1
		case a.ID > id:
			return 1
		}
		return 0
	})
	if !found {
		return Account{}, false
	}
	return rev.accounts[i].clone(), true
}

// DefaultAccountID returns the account of a request that names none:
// Options.AccountID (RDSGATE_ACCOUNT_ID) when set; else, with accounts.json,
// its only account, or ram.json's account_id when it is one of several, and
// otherwise "" (such a request is denied); without accounts.json, ram.json's
// account_id.
func (e *Engine) DefaultAccountID() string { return e.cur.Load().defaultAccount }

// environmentQuery is the smallest query that gives a decision's environment.
const environmentQuery = "data.rdsgate.org.environment"

// EnvironmentOf returns the environment the policies assign to instance
// instanceID of region regionID in account accountID, as a decision on it
// reports it (Decision.Environment): data.rdsgate.org.environment, which
// the shipped rules take from org.json (instance tags, environment patterns,
// the default) whatever the account and region. It evaluates that rule
// alone, for fleet scans that filter by environment without a decision per
// instance. It returns "" when the policies give none.
func (e *Engine) EnvironmentOf(accountID, regionID, instanceID string) string {
	rev := e.cur.Load()
	req := [][2]*ast.Term{
		ast.Item(keyRegionID, ast.StringTerm(regionID)),
		ast.Item(keyDBInstanceID, ast.StringTerm(instanceID)),
	}
	if accountID != "" {
		req = append(req, ast.Item(keyAccountID, ast.StringTerm(accountID)))
	}
	ctx := context.Background()
	rs, err := rev.environment.Eval(ctx,
		rego.EvalParsedInput(ast.NewObject(ast.Item(keyRequest, ast.ObjectTerm(req...)))),
		rego.EvalInterQueryBuiltinValueCache(rev.cache),
		rego.EvalMetrics(noMetrics),
	)
	if err != nil {
		e.log.Warn("policy: environment of an instance", slog.String("instance", instanceID), slog.Any("error", err))
		return ""
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return ""
	}
	env, _ := rs[0].Expressions[0].Value.(string)
	return env
}

// defaultAccount picks the default account (DefaultAccountID) among accounts
// (nil without accounts.json): override (Options.AccountID), which must be
// one of them; else the only one; else ramAccount (ram.json's account_id)
// when it is one of them; else none.
func defaultAccount(accounts []Account, override, ramAccount string) (string, error) {
	has := func(id string) bool {
		return slices.ContainsFunc(accounts, func(a Account) bool { return a.ID == id })
	}
	switch {
	case override != "":
		if !has(override) {
			return "", fmt.Errorf("the account id option %s (RDSGATE_ACCOUNT_ID) is not in %s", override, accountsFileName)
		}
		return override, nil
	case len(accounts) == 1:
		return accounts[0].ID, nil
	case ramAccount != "" && has(ramAccount):
		return ramAccount, nil
	}
	return "", nil
}

package policy

import (
	"context"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rdsgate/rdsgate/policies"
)

// The accounts of policies/examples/multi.
const (
	prodAccount    = "1234567890123456" // ram/1234567890123456.json: alice is read-only
	stagingAccount = "2345678901234567" // ram/2345678901234567.json: alice may release
	sandboxAccount = "3456789012345678" // ram.json, whose account_id makes it the default
)

// copyMulti copies policies/examples/multi into a new temporary directory.
func copyMulti(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(policies.FS, "examples/multi", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, "examples/multi"), "/")
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o700)
		}
		b, err := policies.FS.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func newMultiEngine(t *testing.T, opts Options) (*Engine, string) {
	t.Helper()
	dir := copyMulti(t)
	opts.Dir = dir
	e, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return e, dir
}

func inAccount(subject, instance, account string) Input {
	in := request(subject, instance)
	in.Request.AccountID = account
	return in
}

func TestAccountsOfTheMultiExample(t *testing.T) {
	t.Parallel()
	e, _ := newMultiEngine(t, Options{})
	want := []Account{
		{ID: prodAccount, Name: "production", RoleARN: "acs:ram::" + prodAccount + ":role/rdsgate-release", Regions: []string{"cn-hangzhou", "cn-shanghai"}},
		{ID: stagingAccount, Name: "staging", RoleARN: "acs:ram::" + stagingAccount + ":role/rdsgate-release", Regions: []string{"cn-hangzhou"}},
		{ID: sandboxAccount, Name: "sandbox", RoleARN: "acs:ram::" + sandboxAccount + ":role/rdsgate-release", Regions: []string{"cn-hangzhou", "ap-southeast-1"}},
	}
	if diff := cmp.Diff(want, e.Accounts()); diff != "" {
		t.Errorf("Accounts (-want +got):\n%s", diff)
	}
	e.Accounts()[0].Regions[0] = "changed" // a copy
	if a, ok := e.Account(prodAccount); !ok || !cmp.Equal(a, want[0]) {
		t.Errorf("Account(%s) = %+v, %v", prodAccount, a, ok)
	}
	if _, ok := e.Account("999"); ok {
		t.Error("Account(999) is configured")
	}
	if a, ok := e.Account(""); !ok || a.ID != sandboxAccount {
		t.Errorf(`Account("") = %+v, %v; want the default`, a, ok)
	}
	if e.DefaultAccountID() != sandboxAccount || e.AccountID() != sandboxAccount {
		t.Errorf("default account %s, AccountID %s; want %s (ram.json's)", e.DefaultAccountID(), e.AccountID(), sandboxAccount)
	}
	// Users and UserGroups are the default account's.
	if diff := cmp.Diff([]string{"alice", "bob", "carol", "dave"}, e.Users()); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
}

func TestDecideInEachAccount(t *testing.T) {
	t.Parallel()
	e, _ := newMultiEngine(t, Options{})
	ctx := context.Background()
	tests := []struct {
		name    string
		in      Input
		effect  string
		allow   bool
		policy  string
		reasons []string // the RAM reasons
	}{
		{"alice may release in staging", inAccount("alice", "rm-bp1devexample01", stagingAccount), EffectAllow, true, "ReleaseStagingEndpoints", nil},
		{"alice may not in production", inAccount("alice", "rm-bp1devexample01", prodAccount), EffectImplicitDeny, false, "",
			[]string{"RAM: implicit deny: no statement in the policies of alice allows rds:ReleaseInstanceConnection on acs:rds:cn-hangzhou:" + prodAccount + ":dbinstance/rm-bp1devexample01"}},
		{"alice in the sandbox by ram.json", inAccount("alice", "rm-bp1devexample01", sandboxAccount), EffectAllow, true, "ReleaseAnyEndpoint", nil},
		{"no account is the default (sandbox)", request("alice", "rm-bp1devexample01"), EffectAllow, true, "ReleaseAnyEndpoint", nil},
		{"dave is only in the sandbox", inAccount("dave", "rm-bp1devexample01", stagingAccount), EffectImplicitDeny, false, "",
			[]string{`RAM: user "dave" is not defined in the RAM data, so RAM denies implicitly`}},
		{"bob in production", inAccount("bob", "rm-bp1prodexample1", prodAccount), EffectAllow, true, "AliyunRDSFullAccess", nil},
		{"an account not in accounts.json", inAccount("bob", "rm-bp1devexample01", "999"), EffectImplicitDeny, false, "",
			[]string{"RAM: account 999 is not in accounts.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := e.Decide(ctx, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tt.allow || d.RAM.Effect != tt.effect || d.RAM.Policy != tt.policy {
				t.Errorf("allow %v, RAM %+v; want %v %s %s; reasons %q", d.Allow, d.RAM, tt.allow, tt.effect, tt.policy, d.Reasons)
			}
			for _, r := range tt.reasons {
				if !contains(d.Reasons, r) {
					t.Errorf("reasons %q lack %q", d.Reasons, r)
				}
			}
		})
	}
	// The index answers as the Rego definition of lookup over the whole
	// data does, in every account.
	var inputs []Input
	for _, account := range []string{"", prodAccount, stagingAccount, sandboxAccount, "999"} {
		for _, in := range lookupInputs(append(e.Users(), "erin")) {
			in.Request.AccountID = account
			inputs = append(inputs, in)
		}
	}
	checkMatchesReference(t, e, inputs)
}

// The resource ARN carries the request's account: the staging policy's
// Resource names its own account.
func TestARNCarriesTheAccount(t *testing.T) {
	t.Parallel()
	dir := copyMulti(t)
	// The sandbox uses staging's RAM data: ReleaseStagingEndpoints names
	// the staging account in its Resource, so it allows nothing there.
	b, err := os.ReadFile(filepath.Join(dir, "ram", stagingAccount+".json"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "ram.json"), strings.Replace(string(b), `"account_id": "`+stagingAccount+`",`, "", 1))
	e, err := New(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Decide(context.Background(), inAccount("alice", "rm-1", sandboxAccount))
	if err != nil {
		t.Fatal(err)
	}
	want := "RAM: implicit deny: no statement in the policies of alice allows rds:ReleaseInstanceConnection on acs:rds:cn-hangzhou:" + sandboxAccount + ":dbinstance/rm-1"
	if d.Allow || !contains(d.Reasons, want) {
		t.Errorf("allow %v, reasons %q; want a deny with %q", d.Allow, d.Reasons, want)
	}
	// ram.json now names no account: with three accounts there is no
	// default, and a request that names none is denied.
	if e.DefaultAccountID() != "" || e.Users() != nil {
		t.Errorf("default account %q, users %v", e.DefaultAccountID(), e.Users())
	}
	if _, ok := e.Account(""); ok {
		t.Error(`Account("") without a default account`)
	}
	d, err = e.Decide(context.Background(), request("alice", "rm-1"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Allow || !strings.Contains(strings.Join(d.Reasons, "\n"), "names no account") {
		t.Errorf("no account: allow %v, reasons %q", d.Allow, d.Reasons)
	}
	// RDSGATE_ACCOUNT_ID chooses it.
	e2, err := New(context.Background(), Options{Dir: dir, AccountID: stagingAccount})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := e2.Decide(context.Background(), request("alice", "rm-1")); err != nil || !d.Allow {
		t.Errorf("default staging: %+v %v", d, err)
	}
}

func TestSingleAccountNamedInTheRequest(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx := context.Background()
	if e.Accounts() != nil {
		t.Errorf("Accounts without accounts.json: %v", e.Accounts())
	}
	if a, ok := e.Account("1234567890123456"); !ok || !cmp.Equal(a, Account{ID: "1234567890123456", Name: "1234567890123456"}) {
		t.Errorf("Account = %+v, %v", a, ok)
	}
	if _, ok := e.Account("999"); ok {
		t.Error("Account(999) without accounts.json")
	}
	if e.DefaultAccountID() != "1234567890123456" {
		t.Errorf("default account %s", e.DefaultAccountID())
	}
	named, err := e.Decide(ctx, inAccount("alice", "rm-bp1devexample01", "1234567890123456"))
	if err != nil {
		t.Fatal(err)
	}
	unnamed, err := e.Decide(ctx, request("alice", "rm-bp1devexample01"))
	if err != nil {
		t.Fatal(err)
	}
	if !named.Allow || !cmp.Equal(named.Reasons, unnamed.Reasons) {
		t.Errorf("the configured account named: %v %q; unnamed %q", named.Allow, named.Reasons, unnamed.Reasons)
	}
	other, err := e.Decide(ctx, inAccount("alice", "rm-bp1devexample01", "999"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "RAM: account 999 is not the configured account 1234567890123456"; other.Allow || !contains(other.Reasons, want) {
		t.Errorf("another account: allow %v, reasons %q; want %q", other.Allow, other.Reasons, want)
	}
}

func TestMayApproveInAnAccount(t *testing.T) {
	t.Parallel()
	dir := copyMulti(t)
	// In production, carol is a dba.
	writeFile(t, filepath.Join(dir, "ram", prodAccount+".json"), `{"users":{"carol":{"groups":["dba"]}}}`)
	e, err := New(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	in := ApproveInput{Approver: Principal{Subject: "carol"}, Requester: "alice",
		Requirements: []Requirement{{Group: "dba", Count: 1}}, Environment: "dev"}
	for account, group := range map[string]string{prodAccount: "dba", "": "", stagingAccount: "", "999": ""} {
		in.AccountID = account
		d, err := e.MayApprove(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allow != (group != "") || d.Group != group {
			t.Errorf("account %q: allow %v group %q, reasons %q", account, d.Allow, d.Group, d.Reasons)
		}
	}
}

func TestAccountsAreChecked(t *testing.T) {
	t.Parallel()
	account := func(id, body string) string { return `{"accounts":{"` + id + `":` + body + `}}` }
	good := `{"role_arn":"acs:ram::111:role/rdsgate","regions":["cn-hangzhou"]}`
	tests := []struct {
		name     string
		accounts string
		files    map[string]string // more files
		noRAM    bool              // remove ram.json
		option   string            // Options.AccountID
		want     string
	}{
		{name: "no accounts", accounts: `{"accounts":{}}`, want: "accounts.json: accounts: at least one account is required"},
		{name: "unknown field", accounts: account("111", `{"role_arn":"acs:ram::111:role/r","regions":["cn-hangzhou"],"region":"x"}`), want: `accounts.json: json: unknown field "region"`},
		{name: "id not digits", accounts: account("abc", good), want: `accounts."abc": the account id must be an Alibaba Cloud UID`},
		{name: "id too long", accounts: account(strings.Repeat("1", 33), good), want: "the account id must be an Alibaba Cloud UID, 1 to 32 digits"},
		{name: "no role_arn", accounts: account("111", `{"regions":["cn-hangzhou"]}`), want: `accounts."111".role_arn: required`},
		{name: "role_arn of a user", accounts: account("111", `{"role_arn":"acs:ram::111:user/r","regions":["cn-hangzhou"]}`), want: `accounts."111".role_arn: "acs:ram::111:user/r" is not acs:ram::111:role/<name>`},
		{name: "role_arn of another account", accounts: account("111", `{"role_arn":"acs:ram::222:role/r","regions":["cn-hangzhou"]}`), want: `accounts."111".role_arn: "acs:ram::222:role/r" is a role of account 222, not of 111`},
		{name: "role name too long", accounts: account("111", `{"role_arn":"acs:ram::111:role/`+strings.Repeat("r", 65)+`","regions":["cn-hangzhou"]}`), want: `accounts."111".role_arn`},
		{name: "role name character", accounts: account("111", `{"role_arn":"acs:ram::111:role/a_b","regions":["cn-hangzhou"]}`), want: `accounts."111".role_arn`},
		{name: "no regions", accounts: account("111", `{"role_arn":"acs:ram::111:role/r"}`), want: `accounts."111".regions: at least one region id`},
		{name: "bad region", accounts: account("111", `{"role_arn":"acs:ram::111:role/r","regions":["cn-hangzhou","Hangzhou"]}`), want: `accounts."111".regions[1]: "Hangzhou" is not a region id`},
		{name: "region twice", accounts: account("111", `{"role_arn":"acs:ram::111:role/r","regions":["cn-hangzhou","cn-hangzhou"]}`), want: `accounts."111".regions[1]: cn-hangzhou is listed twice`},
		{name: "RAM data of an unknown account", accounts: account("111", good), files: map[string]string{"ram/222.json": `{}`}, want: "ram/222.json: account 222 is not in accounts.json"},
		{name: "RAM data not named by an account", accounts: account("111", good), files: map[string]string{"ram/prod.json": `{}`}, want: "ram/prod.json: account prod is not in accounts.json"},
		{name: "RAM data of another account", accounts: account("111", good), files: map[string]string{"ram/111.json": `{"account_id":"222"}`}, want: "ram/111.json: account_id 222 is not the account of the file, 111"},
		{name: "bad RAM data names its file", accounts: account("111", good), files: map[string]string{"ram/111.json": `{"users":{"u":{"policies":["Nope"]}}}`}, want: "ram/111.json: user u: policy Nope is not defined"},
		{name: "no RAM data", accounts: account("111", good), noRAM: true, want: "accounts.json: account 111 has neither ram/111.json nor a ram.json"},
		{name: "option not an account", accounts: account("111", good), option: "222", want: "the account id option 222 (RDSGATE_ACCOUNT_ID) is not in accounts.json"},
		{name: "RAM data without accounts.json", files: map[string]string{"ram/111.json": `{}`}, want: "ram/111.json: there is no accounts.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writeData(t, `{"account_id":"1"}`, `{"default_environment":"dev","environments":{"dev":{}}}`)
			if tt.accounts != "" {
				writeFile(t, filepath.Join(dir, accountsFileName), tt.accounts)
			}
			for name, content := range tt.files {
				if err := os.MkdirAll(filepath.Join(dir, path.Dir(name)), 0o700); err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(dir, name), content)
			}
			if tt.noRAM {
				if err := os.Remove(filepath.Join(dir, ramFileName)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := New(context.Background(), Options{Dir: dir, AccountID: tt.option})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestAccountsWithoutRAMJSON(t *testing.T) {
	t.Parallel()
	dir := writeData(t, "", `{"default_environment":"dev","environments":{"dev":{}}}`)
	if err := os.Remove(filepath.Join(dir, ramFileName)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, accountsFileName), `{"accounts":{"111":{"role_arn":"acs:ram::111:role/r","regions":["cn-hangzhou"]}}}`)
	if err := os.Mkdir(filepath.Join(dir, ramDirName), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, ramDirName, "111.json"), `{"users":{"u":{"policies":["AliyunRDSFullAccess"]}}}`)
	writeFile(t, filepath.Join(dir, ramDirName, "README.md"), "not data")
	e, err := New(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// One account is the default; its name defaults to its id.
	if a, ok := e.Account(""); !ok || a.ID != "111" || a.Name != "111" || e.DefaultAccountID() != "111" {
		t.Errorf("Account(\"\") = %+v, %v; default %q", a, ok, e.DefaultAccountID())
	}
	d, err := e.Decide(context.Background(), request("u", "rm-1"))
	if err != nil || !d.Allow {
		t.Errorf("decision %+v, %v", d, err)
	}
}

func TestReloadFollowsAccounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := make(reloads, 8)
	e, dir := newMultiEngine(t, Options{OnReload: r.onReload})
	first := e.Revision()
	in := inAccount("alice", "rm-bp1devexample01", prodAccount)
	if d, err := e.Decide(ctx, in); err != nil || d.Allow {
		t.Fatalf("before: %+v %v", d, err)
	}

	// A changed accounts.json is a new revision.
	accounts := filepath.Join(dir, accountsFileName)
	b, err := os.ReadFile(accounts)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, accounts, strings.Replace(string(b), `"name": "production"`, `"name": "prod"`, 1))
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := r.next(t); ev.err != nil || ev.revision == first {
		t.Fatalf("reload %+v", ev)
	}
	if a, _ := e.Account(prodAccount); a.Name != "prod" {
		t.Errorf("renamed account %+v", a)
	}

	// A broken accounts.json is refused; the revision before it serves.
	serving := e.Revision()
	writeFile(t, accounts, strings.Replace(string(b), "acs:ram::1234567890123456:role", "acs:ram::1:role", 1))
	if err := e.Reload(ctx); err == nil || !strings.Contains(err.Error(), `accounts."1234567890123456".role_arn`) {
		t.Fatalf("broken accounts.json: %v", err)
	}
	if ev := r.next(t); ev.err == nil || e.Revision() != serving {
		t.Fatalf("refused reload %+v, serving %s", ev, e.Revision())
	}

	// Removing the production account denies its requests.
	writeFile(t, accounts, `{"accounts":{"`+stagingAccount+`":{"role_arn":"acs:ram::`+stagingAccount+`:role/r","regions":["cn-hangzhou"]},`+
		`"`+sandboxAccount+`":{"role_arn":"acs:ram::`+sandboxAccount+`:role/r","regions":["cn-hangzhou"]}}}`)
	if err := os.Remove(filepath.Join(dir, ramDirName, prodAccount+".json")); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	r.next(t)
	if got := len(e.Accounts()); got != 2 {
		t.Errorf("%d accounts after the reload", got)
	}
	d, err := e.Decide(ctx, inAccount("bob", "rm-bp1prodexample1", prodAccount))
	if err != nil {
		t.Fatal(err)
	}
	if d.Allow || !contains(d.Reasons, "RAM: account "+prodAccount+" is not in accounts.json") {
		t.Errorf("removed account: allow %v, reasons %q", d.Allow, d.Reasons)
	}

	// Removing accounts.json is the single account of ram.json again.
	if err := os.Remove(accounts); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, ramDirName)); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	r.next(t)
	if e.Accounts() != nil || e.DefaultAccountID() != sandboxAccount {
		t.Errorf("without accounts.json: %v, default %s", e.Accounts(), e.DefaultAccountID())
	}
}

// Watch reloads when an account's RAM data changes, and when ram/ appears.
func TestWatchFollowsAccountRAM(t *testing.T) {
	t.Parallel()
	r := make(reloads, 16)
	dir := writeData(t, string(mustRead(t, "examples/ram.json")), exampleOrg(t))
	e, err := New(context.Background(), Options{Dir: dir, OnReload: r.onReload})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	e.watching = func() { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Watch(ctx) }()
	<-ready

	// ram/ appears, then a file in it: accounts.json comes last.
	ramDir := filepath.Join(dir, ramDirName)
	if err := os.Mkdir(ramDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(ramDir, "111.json"), `{"users":{"u":{"policies":["AliyunRDSFullAccess"]}}}`)
	// Without accounts.json the file is refused, naming it.
	ev := r.until(t, func(ev reloadEvent) bool { return ev.err != nil })
	if !strings.Contains(ev.err.Error(), "ram/111.json") {
		t.Errorf("reload error %v", ev.err)
	}
	writeFile(t, filepath.Join(dir, accountsFileName), `{"accounts":{"111":{"role_arn":"acs:ram::111:role/r","regions":["cn-hangzhou"]}}}`)
	r.until(t, func(ev reloadEvent) bool { return ev.err == nil && len(e.Accounts()) == 1 })

	// A change of the account's RAM data alone.
	before := e.Revision()
	writeFile(t, filepath.Join(ramDir, "111.json"), `{"users":{"u":{"policies":["AliyunRDSReadOnlyAccess"]}}}`)
	r.until(t, func(ev reloadEvent) bool { return ev.err == nil && ev.revision != before })
	d, err := e.Decide(context.Background(), inAccount("u", "rm-1", "111"))
	if err != nil || d.Allow {
		t.Errorf("after the change: %+v %v", d, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch returned %v", err)
	}
}

func TestEnvironmentOf(t *testing.T) {
	t.Parallel()
	for name, e := range map[string]*Engine{"examples": newEngine(t), "multi": func() *Engine { e, _ := newMultiEngine(t, Options{}); return e }()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for instance, want := range map[string]string{
				"rm-bp1devexample01": "dev",        // tag
				"pgm-bp1stagexample": "staging",    // tag
				"rm-bp1demo00000017": "dev",        // pattern
				"rm-bp1demo00000020": "dev",        // exact name
				"rm-otherprod":       "production", // *prod*
				"rm-unknown":         "production", // default
			} {
				for _, account := range []string{"", prodAccount, "999"} {
					if got := e.EnvironmentOf(account, "cn-hangzhou", instance); got != want {
						t.Errorf("EnvironmentOf(%q, %s) = %q, want %q", account, instance, got, want)
					}
					d, err := e.Decide(context.Background(), inAccount("bob", instance, account))
					if err != nil {
						t.Fatal(err)
					}
					if d.Environment != want {
						t.Errorf("Decide's environment of %s is %q, EnvironmentOf %q", instance, d.Environment, want)
					}
				}
			}
		})
	}
}

// A custom org module that classifies by account is what EnvironmentOf
// answers.
func TestEnvironmentOfFollowsTheRego(t *testing.T) {
	t.Parallel()
	policyDir := t.TempDir()
	org := string(mustRead(t, "org/org.rego"))
	org = strings.Replace(org, "environment := placement.environment", `environment := "dev" if {
	input.request.account_id == "`+stagingAccount+`"
} else := placement.environment`, 1)
	if err := os.Mkdir(filepath.Join(policyDir, "org"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(policyDir, "org", "org.rego"), org)
	e, _ := newMultiEngine(t, Options{PolicyDir: policyDir})
	got := []string{e.EnvironmentOf(stagingAccount, "cn-hangzhou", "rm-x"), e.EnvironmentOf(prodAccount, "cn-hangzhou", "rm-x")}
	if !slices.Equal(got, []string{"dev", "production"}) {
		t.Errorf("environments %v", got)
	}
}

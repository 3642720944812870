package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/internal/ramaudit"
	"github.com/rdsgate/rdsgate/internal/rdssim"
	"github.com/rdsgate/rdsgate/internal/rdssim/simtest"
)

const (
	ramTestAccount = "1234567890123456"
	ramGateway     = "acs:ram::1234567890123456:role/rdsgate-gateway"
	exampleExport  = "../../policies/lockdown/example-export"
)

// ramEnv serves a simulator over TLS whose base key acts as account
// 1000000000000009 and whose account 1234567890123456 has ram (the example
// RAM when nil), reached through accounts.json's role rdsgate-gateway, the
// way `rdsgate ram export` runs in production.
func ramEnv(t *testing.T, ram *rdssim.RAMState) *rdssim.Server {
	t.Helper()
	st := ram
	if st == nil {
		ex, err := rdssim.ExampleRAM(ramTestAccount)
		if err != nil {
			t.Fatal(err)
		}
		st = &ex
	}
	const ak, secret = "LTAIramcli00000000000001", "ram-cli-secret"
	sim, err := rdssim.New(rdssim.Config{
		Accounts: []rdssim.Account{{AccessKeyID: ak, AccessKeySecret: secret, AccountID: "1000000000000009"}},
		Roles:    map[string][]string{ramTestAccount: {"rdsgate-gateway"}},
		RAM:      map[string]rdssim.RAMState{ramTestAccount: *st},
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := simtest.Start(t, sim)

	dir := t.TempDir()
	accounts := `{"accounts":{"` + ramTestAccount + `":{"name":"prod","role_arn":"` + ramGateway + `","regions":["cn-hangzhou"]}}}`
	for name, body := range map[string]string{"accounts.json": accounts} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"ram.json", "org.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "policies", "examples", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	caFile := filepath.Join(t.TempDir(), "sim-ca.pem")
	if err := os.WriteFile(caFile, sim.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID":     ak,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret,
		"RDSGATE_POLICY_DATA":             dir,
		"RDSGATE_RAM_ENDPOINT":            addr,
		"RDSGATE_RDS_PROTOCOL":            "https",
		"RDSGATE_STS_ENDPOINT":            addr,
		"RDSGATE_CA_FILE":                 caFile,
		"RDSGATE_ACCOUNT_ID":              "",
	} {
		t.Setenv(k, v)
	}
	return sim
}

// withoutRequestID is an answer with its RequestIds removed.
func withoutRequestID(t *testing.T, b []byte) any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	delete(v, "RequestId")
	return v
}

// TestCLIRAMExportIsTheExample exports the simulator's example RAM through
// the RAM API, as the account's role of accounts.json: the directory is
// policies/lockdown/example-export, file for file (request ids aside).
func TestCLIRAMExportIsTheExample(t *testing.T) {
	sim := ramEnv(t, nil)
	out := filepath.Join(t.TempDir(), "export")
	stdout, stderr, err := rdsgate(t, "ram", "export", "--account", ramTestAccount, "--out", out)
	if err != nil {
		t.Fatalf("ram export: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "as role "+ramGateway+": 8 users, 3 groups, 3 roles, 10 policies") {
		t.Fatalf("stdout %q", stdout)
	}
	var assumed, ramCalls int
	for _, c := range sim.Calls() {
		switch {
		case c.Action == "AssumeRole":
			assumed++
		case c.KeyKind == rdssim.KeyKindSTS && c.AccountID == ramTestAccount:
			ramCalls++
		}
	}
	if assumed != 1 || ramCalls != 39 {
		t.Fatalf("%d AssumeRole, %d RAM calls as the role; want 1 and 39", assumed, ramCalls)
	}
	var got, want []string
	for dir, list := range map[string]*[]string{out: &got, exampleExport: &want} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(dir, p)
				*list = append(*list, rel)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("files:\n%v\nwant:\n%v", got, want)
	}
	for _, f := range want {
		a, _ := os.ReadFile(filepath.Join(out, f))
		b, _ := os.ReadFile(filepath.Join(exampleExport, f))
		ga, gb := withoutRequestID(t, a), withoutRequestID(t, b)
		ja, _ := json.Marshal(ga)
		jb, _ := json.Marshal(gb)
		if string(ja) != string(jb) {
			t.Errorf("%s differs from the example:\n%s\nwant\n%s", f, ja, jb)
		}
	}
}

// analyze runs `rdsgate ram analyze` and reads its JSON Lines.
func analyze(t *testing.T, args ...string) ([]ramaudit.Finding, string, error) {
	t.Helper()
	stdout, stderr, err := rdsgate(t, append([]string{"ram", "analyze"}, args...)...)
	var out []ramaudit.Finding
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if line == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		var f ramaudit.Finding
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, f)
	}
	return out, stderr, err
}

func exitCode(err error) int {
	var ee exitError
	if errors.As(err, &ee) {
		return int(ee)
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestCLIRAMAnalyzeExample lists the example's bypasses: a direct custom
// policy, a group through a system policy, a user only through a role it
// may assume, a NotAction statement, a condition, and the gateway's role
// as expected; the read-only user is not there. It exits 1.
func TestCLIRAMAnalyzeExample(t *testing.T) {
	findings, stderr, err := analyze(t, "--export", exampleExport, "--gateway-role", ramGateway)
	if exitCode(err) != 1 {
		t.Fatalf("exit %v, want 1\n%s", err, stderr)
	}
	type key struct{ principal, typ, action, via, policy string }
	got := map[key]ramaudit.Finding{}
	for _, f := range findings {
		got[key{f.Principal, f.PrincipalType, strings.TrimPrefix(f.Action, "rds:"), f.Via, f.Policy}] = f
	}
	const rel, pub = "ReleaseInstanceConnection", "ReleaseInstancePublicConnection"
	for _, k := range []key{
		{"alice", "user", rel, "", "ReleasePublicEndpoints"},
		{"bob", "user", rel, "dba", "AliyunRDSFullAccess"},
		{"bob", "user", pub, "dba", "AliyunRDSFullAccess"},
		{"erin", "user", pub, "dba", "AliyunRDSFullAccess"},
		{"frank", "user", rel, "rds-operator", "RdsOperatorRelease"},
		{"frank", "user", pub, "rds-operator", "RdsOperatorRelease"},
		{"grace", "user", rel, "", "AllButECS"},
		{"grace", "user", pub, "rds-operator", "RdsOperatorRelease"},
		{"heidi", "user", pub, "", "ReleaseFromOffice"},
		{"ivan", "user", rel, "legacy-admin", "AdministratorAccess"},
		{"ivan", "user", rel, "rds-operator", "RdsOperatorRelease"},
		{"dba", "group", rel, "", "AliyunRDSFullAccess"},
		{"rds-operator", "role", pub, "", "RdsOperatorRelease"},
		{"legacy-admin", "role", rel, "", "AdministratorAccess"},
		{"rdsgate-gateway", "role", rel, "", "RdsgateGateway"},
	} {
		if _, ok := got[k]; !ok {
			t.Errorf("no finding %+v", k)
		}
	}
	if len(findings) != 25 {
		t.Errorf("%d findings, want 25", len(findings))
	}
	for _, f := range findings {
		if f.Principal == "carol" || f.Principal == "security" || f.Principal == "developers" {
			t.Errorf("unexpected finding %+v", f)
		}
		if f.Expected != (f.Principal == "rdsgate-gateway") {
			t.Errorf("%s %s: expected %v", f.Principal, f.Action, f.Expected)
		}
	}
	if _, ok := got[key{"alice", "user", pub, "", "ReleasePublicEndpoints"}]; ok {
		t.Error("alice's policy lists only ReleaseInstanceConnection")
	}
	heidi := got[key{"heidi", "user", rel, "", "ReleaseFromOffice"}]
	if heidi.Statement != 2 || heidi.Conditions != "only from 203.0.113.0/24" || heidi.Resource != "acs:rds:*:1234567890123456:dbinstance/*" {
		t.Errorf("heidi: %+v", heidi)
	}
	grace := got[key{"grace", "user", rel, "", "AllButECS"}]
	if grace.Statement != 1 || grace.Resource != "*" || grace.Conditions != "" || grace.PolicyType != "Custom" {
		t.Errorf("grace: %+v", grace)
	}
	if dba := got[key{"dba", "group", rel, "", "AliyunRDSFullAccess"}]; !slices.Equal(dba.Members, []string{"bob", "erin"}) || dba.PolicyType != "System" {
		t.Errorf("dba: %+v", dba)
	}
	// The account's root in the trust policy lets in the users allowed
	// sts:AssumeRole on the role; a user named in a trust policy without
	// that permission (carol, legacy-admin) cannot.
	if op := got[key{"rds-operator", "role", rel, "", "RdsOperatorRelease"}]; !slices.Equal(op.AssumableBy, []string{"frank", "grace", "ivan"}) {
		t.Errorf("rds-operator: %+v", op)
	}
	if la := got[key{"legacy-admin", "role", rel, "", "AdministratorAccess"}]; !slices.Equal(la.AssumableBy, []string{"ivan"}) {
		t.Errorf("legacy-admin: %+v", la)
	}
	if gw := got[key{"rdsgate-gateway", "role", pub, "", "RdsgateGateway"}]; !gw.Expected || !slices.Equal(gw.AssumableBy, []string{"service:ecs.aliyuncs.com"}) {
		t.Errorf("gateway: %+v", gw)
	}
	if !strings.Contains(stderr, "25 findings, 23 bypasses") {
		t.Errorf("stderr %q", stderr)
	}

	table, _, err := rdsgate(t, "ram", "analyze", "--export", exampleExport, "--gateway-role", "rdsgate-gateway", "--format", "table")
	if exitCode(err) != 1 || !strings.Contains(table, "only from 203.0.113.0/24") || !strings.Contains(table, "assumable by: frank,grace,ivan") {
		t.Errorf("table (%v):\n%s", err, table)
	}
}

// TestCLIRAMAnalyzeLockdown applies policies/lockdown as its README says:
// the deny policy attached to every user, group and role but the gateway's
// role (exported again from the simulator), or the control policy. Either
// way only the gateway's role remains and the exit status is 0.
func TestCLIRAMAnalyzeLockdown(t *testing.T) {
	deny, err := os.ReadFile("../../policies/lockdown/deny-release.json")
	if err != nil {
		t.Fatal(err)
	}
	st, err := rdssim.ExampleRAM(ramTestAccount)
	if err != nil {
		t.Fatal(err)
	}
	st.Policies = append(st.Policies, rdssim.RAMPolicy{Name: "RdsgateDenyRelease", Document: deny})
	for i := range st.Users {
		st.Users[i].Policies = append(st.Users[i].Policies, "RdsgateDenyRelease")
	}
	for i := range st.Groups {
		st.Groups[i].Policies = append(st.Groups[i].Policies, "RdsgateDenyRelease")
	}
	for i := range st.Roles {
		if st.Roles[i].Name != "rdsgate-gateway" {
			st.Roles[i].Policies = append(st.Roles[i].Policies, "RdsgateDenyRelease")
		}
	}
	ramEnv(t, &st)
	out := filepath.Join(t.TempDir(), "locked")
	if _, stderr, err := rdsgate(t, "ram", "export", "--account", ramTestAccount, "--out", out); err != nil {
		t.Fatalf("ram export: %v\n%s", err, stderr)
	}
	check := func(name string, args ...string) {
		t.Helper()
		findings, stderr, err := analyze(t, args...)
		if err != nil {
			t.Fatalf("%s: exit %v\n%s", name, err, stderr)
		}
		if len(findings) != 2 {
			t.Fatalf("%s: %d findings, want the gateway's two: %+v", name, len(findings), findings)
		}
		for _, f := range findings {
			if f.Principal != "rdsgate-gateway" || !f.Expected {
				t.Errorf("%s: %+v", name, f)
			}
		}
	}
	check("deny attached", "--export", out, "--gateway-role", ramGateway)
	check("control policy", "--export", exampleExport, "--gateway-role", ramGateway, "--control-policy", "../../policies/lockdown/control-policy.json")

	// Without --gateway-role even the gateway is a bypass.
	if _, _, err := analyze(t, "--export", out); exitCode(err) != 1 {
		t.Errorf("without --gateway-role: %v, want exit 1", err)
	}
}

func TestCLIRAMUsage(t *testing.T) {
	if _, _, err := rdsgate(t, "ram"); exitCode(err) != 2 {
		t.Errorf("ram: %v", err)
	}
	for _, args := range [][]string{{"ram", "--help"}, {"ram", "export", "--help"}, {"ram", "analyze", "--help"}} {
		if out, errOut, err := rdsgate(t, args...); err != nil || out+errOut == "" {
			t.Errorf("%v: %v", args, err)
		}
	}
	if _, _, err := rdsgate(t, "ram", "nonsense"); exitCode(err) != 2 {
		t.Errorf("ram nonsense: %v", err)
	}
	if _, _, err := rdsgate(t, "ram", "analyze"); err == nil || !strings.Contains(err.Error(), "--export is required") {
		t.Errorf("analyze without --export: %v", err)
	}
	if _, _, err := rdsgate(t, "ram", "analyze", "--export", exampleExport, "--format", "csv"); err == nil {
		t.Error("--format csv accepted")
	}
	if _, _, err := rdsgate(t, "ram", "export", "--account", "1"); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("export without --out: %v", err)
	}
}

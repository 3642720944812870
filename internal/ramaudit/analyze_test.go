package ramaudit

import (
	"context"
	"testing"

	"github.com/rdsgate/rdsgate/internal/policy"
)

// TestAnalyzeResourcesAndLimits checks the probes: a grant on one instance
// is found with that instance as its resource, a Deny on some instances
// leaves the grant on the others, a conditional Deny is shown as an
// exception, and a trust policy's condition is shown on the user's finding
// through the role.
func TestAnalyzeResourcesAndLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, err := policy.NewAnalyzer(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	custom := func(name string) PolicyRef { return PolicyRef{Type: "Custom", Name: name} }
	acct := &Account{
		ID: "111",
		Users: []User{
			{Name: "one", Policies: []PolicyRef{custom("OneInstance")}},
			{Name: "notprod", Policies: []PolicyRef{custom("All"), custom("DenyProd")}},
			{Name: "onsite", Policies: []PolicyRef{custom("All"), custom("DenyOffSite"), custom("Assume")}},
		},
		Roles: []Role{{Name: "op", ARN: "acs:ram::111:role/op", Policies: []PolicyRef{custom("All")},
			TrustPolicy: []byte(`{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole",
				"Principal":{"RAM":"acs:ram::111:user/onsite"},"Condition":{"Bool":{"acs:MFAPresent":"true"}}}]}`)}},
		Documents: map[PolicyRef][]byte{
			custom("OneInstance"): []byte(`{"Version":"1","Statement":[{"Effect":"Allow","Action":"rds:ReleaseInstanceConnection",
				"Resource":"acs:rds:cn-hangzhou:111:dbinstance/rm-one"}]}`),
			custom("All"): []byte(`{"Version":"1","Statement":[{"Effect":"Allow","Action":"rds:ReleaseInstanceConnection","Resource":"*"}]}`),
			custom("DenyProd"): []byte(`{"Version":"1","Statement":[{"Effect":"Deny","Action":"rds:*",
				"Resource":"acs:rds:*:111:dbinstance/*prod*"}]}`),
			custom("DenyOffSite"): []byte(`{"Version":"1","Statement":[{"Effect":"Deny","Action":"rds:*","Resource":"*",
				"Condition":{"NotIpAddress":{"acs:SourceIp":"10.0.0.0/8"}}}]}`),
			custom("Assume"): []byte(`{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`),
		},
	}
	findings, err := Analyze(ctx, a, acct, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Finding{}
	for _, f := range findings {
		got[f.Principal+"|"+f.Via] = f
	}
	if f := got["one|"]; f.Resource != "acs:rds:cn-hangzhou:111:dbinstance/rm-one" || f.Policy != "OneInstance" {
		t.Errorf("one: %+v", f)
	}
	if f := got["notprod|"]; f.Resource != "*" || f.Conditions != "" {
		t.Errorf("notprod (denied on *prod* only, so still a bypass): %+v", f)
	}
	if f := got["onsite|"]; f.Conditions != "except not from 10.0.0.0/8 (DenyOffSite statement 1)" {
		t.Errorf("onsite: %+v", f)
	}
	if f := got["onsite|op"]; f.Conditions != "to assume op: trust policy: with MFA" || f.Policy != "All" {
		t.Errorf("onsite via op: %+v", f)
	}
	if f := got["op|"]; len(f.AssumableBy) != 1 || f.AssumableBy[0] != "onsite" {
		t.Errorf("op: %+v", f)
	}
	if len(findings) != 5 {
		t.Errorf("%d findings: %+v", len(findings), findings)
	}
}

func TestWildcardMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"acs:rds:*:1:dbinstance/*", "acs:rds:*:1:dbinstance/*prod*", true},
		{"acs:rds:*:1:dbinstance/*prod*", "acs:rds:*:1:dbinstance/*", false},
		{"rm-?", "rm-1", true},
		{"rm-?", "rm-12", false},
	} {
		if got := wildcardMatch(tc.p, tc.s); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}

package policy

import (
	"context"
	"slices"
	"testing"
)

// TestAnalyzerEvaluatesTheMirror runs the analysis on compiled documents:
// the order RAM reports statements in, NotAction, an unconditional Deny, an
// open condition, acs:PrincipalARN, and statements about other actions.
func TestAnalyzerEvaluatesTheMirror(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, err := NewAnalyzer(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	compile := func(name, doc string) []Statement {
		t.Helper()
		st, err := CompilePolicy(name, []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	full := compile("AliyunRDSFullAccess", `{"Version":"1","Statement":[{"Action":"rds:*","Resource":"*","Effect":"Allow"}]}`)
	notECS := compile("AllButECS", `{"Version":"1","Statement":{"Effect":"Allow","NotAction":"ecs:*","Resource":"*"}}`)
	office := compile("FromOffice", `{"Version":"1","Statement":[
		{"Sid":"describe","Effect":"Allow","Action":"rds:Describe*","Resource":"*"},
		{"Effect":"Allow","Action":["rds:ReleaseInstanceConnection"],"Resource":"acs:rds:*:111:dbinstance/*",
		 "Condition":{"IpAddress":{"acs:SourceIp":"203.0.113.0/24"}}}]}`)
	deny := compile("RdsgateDenyRelease", `{"Version":"1","Statement":[{"Effect":"Deny",
		"Action":["rds:ReleaseInstanceConnection","rds:ReleaseInstancePublicConnection"],"Resource":"*"}]}`)
	control := compile("Control", `{"Version":"1","Statement":[{"Effect":"Deny",
		"Action":["rds:ReleaseInstanceConnection","rds:ReleaseInstancePublicConnection"],"Resource":"*",
		"Condition":{"StringNotLike":{"acs:PrincipalARN":"acs:ram:*:111:role/rdsgate-gateway"}}}]}`)
	if len(office) != 2 || office[1].Index != 2 || office[1].Resources[0] != "acs:rds:*:111:dbinstance/*" {
		t.Fatalf("compiled %+v", office)
	}
	probe := "acs:rds:*:111:dbinstance/*"
	analyze := func(sts []Statement, action, arn string) Analysis {
		t.Helper()
		res, err := a.Analyze(ctx, sts, action, arn, "")
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	got := analyze(slices.Concat(notECS, office, full), "rds:ReleaseInstanceConnection", probe)
	var order []string
	for _, g := range got.Allows {
		order = append(order, g.Policy)
	}
	if got.Effect != "Allow" || !slices.Equal(order, []string{"FromOffice", "AliyunRDSFullAccess", "AllButECS"}) {
		t.Fatalf("analysis %+v", got)
	}
	if c := got.By.Conditions; got.By.Statement != 2 || len(c) != 1 || c[0].Operator != "IpAddress" || c[0].Key != "acs:sourceip" || c[0].Values[0] != "203.0.113.0/24" {
		t.Fatalf("by %+v", got.By)
	}
	if got := analyze(office, "rds:ReleaseInstancePublicConnection", probe); got.Effect != "ImplicitDeny" || got.By != nil {
		t.Fatalf("public connection: %+v", got)
	}
	if got := analyze(slices.Concat(full, deny), "rds:ReleaseInstancePublicConnection", probe); got.Effect != "ExplicitDeny" || got.By.Policy != "RdsgateDenyRelease" {
		t.Fatalf("deny: %+v", got)
	}
	for arn, want := range map[string]string{
		"acs:ram::111:user/alice":           "ExplicitDeny",
		"acs:ram::111:role/rdsgate-gateway": "Allow",
	} {
		res, err := a.Analyze(ctx, slices.Concat(full, control), "rds:ReleaseInstanceConnection", probe, arn)
		if err != nil || res.Effect != want {
			t.Errorf("%s under the control policy: %+v, %v; want %s", arn, res, err, want)
		}
	}
	if _, err := CompilePolicy("Bad", []byte(`{"Version":"1","Statement":[{"Effect":"Allow","Action":"x","NotResource":"*"}]}`)); err == nil {
		t.Error("NotResource compiled")
	}
	if unglob(globPattern(`acs:rds:*:1:dbinstance/rm-[x]{y}`)) != `acs:rds:*:1:dbinstance/rm-[x]{y}` {
		t.Error("unglob does not invert globPattern")
	}
}

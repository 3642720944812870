package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDecideExamples(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx := context.Background()
	prod := []Requirement{{Group: "dba", Count: 1}, {Group: "security", Count: 1}}
	dev := []Requirement{{Group: "dba", Count: 1}}
	tests := []struct {
		name      string
		in        Input
		allow     bool
		ram       RAMResult
		env       string
		approvals int
		reqs      []Requirement
		reason    string // one of the reasons
	}{
		{"alice on a dev instance", request("alice", "rm-bp1devexample01"), true,
			RAMResult{Effect: EffectAllow, Policy: "ReleasePublicEndpoints", Statement: 1}, "dev", 1, dev,
			"org: dev needs 1 approval(s): 1 from dba"},
		{"alice on a demo instance", request("alice", "rm-bp1demo00000017"), true,
			RAMResult{Effect: EffectAllow, Policy: "ReleasePublicEndpoints", Statement: 1}, "dev", 1, dev,
			"org: rm-bp1demo00000017 is in environment dev (by name pattern rm-bp1demo0000001[0-9])"},
		{"demo 20 by its name", request("alice", "rm-bp1demo00000020"), true,
			RAMResult{Effect: EffectAllow, Policy: "ReleasePublicEndpoints", Statement: 1}, "dev", 1, dev,
			"org: rm-bp1demo00000020 is in environment dev (by its name)"},
		{"demo 21 is unknown, so production", request("alice", "rm-bp1demo00000021"), true,
			RAMResult{Effect: EffectAllow, Policy: "ReleasePublicEndpoints", Statement: 1}, "production", 2, prod,
			"org: production needs 2 approval(s): 1 from dba and 1 from security"},
		{"alice on staging", request("alice", "pgm-bp1stagexample"), true,
			RAMResult{Effect: EffectAllow, Policy: "ReleasePublicEndpoints", Statement: 1}, "staging", 1, dev,
			"org: pgm-bp1stagexample is in environment staging (by tag env)"},
		{"bob by the system policy", request("bob", "rm-bp1prodexample1"), true,
			RAMResult{Effect: EffectAllow, Policy: "AliyunRDSFullAccess", Statement: 1}, "production", 2, prod,
			"RAM: allowed by policy AliyunRDSFullAccess statement 1"},
		{"erin by the system policy", request("erin", "rm-bp1devexample01"), true,
			RAMResult{Effect: EffectAllow, Policy: "AliyunRDSFullAccess", Statement: 1}, "dev", 1, dev, ""},
		{"carol is read-only", request("carol", "rm-bp1devexample01"), false,
			RAMResult{Effect: EffectImplicitDeny}, "dev", 1, dev,
			"RAM: implicit deny: no statement in the policies of carol allows rds:ReleaseInstanceConnection on acs:rds:cn-hangzhou:1234567890123456:dbinstance/rm-bp1devexample01"},
		{"dave is read-only", request("dave", "rm-bp1devexample01"), false,
			RAMResult{Effect: EffectImplicitDeny}, "dev", 1, dev, ""},
		{"mallory on dev", request("mallory", "rm-bp1devexample01"), true,
			RAMResult{Effect: EffectAllow, Policy: "ReleasePublicEndpoints", Statement: 1}, "dev", 1, dev, ""},
		{"mallory on a prod name", request("mallory", "rm-bp1prodexample1"), false,
			RAMResult{Effect: EffectExplicitDeny, Policy: "DenyProdRelease", Statement: 1}, "production", 2, prod,
			"RAM: explicit deny by policy DenyProdRelease statement 1"},
		{"mallory on any *prod* instance", request("mallory", "rm-otherprod"), false,
			RAMResult{Effect: EffectExplicitDeny, Policy: "DenyProdRelease", Statement: 1}, "production", 2, prod, ""},
		{"unknown user", request("zed", "rm-bp1devexample01"), false,
			RAMResult{Effect: EffectImplicitDeny}, "dev", 1, dev,
			`RAM: user "zed" is not defined in the RAM data, so RAM denies implicitly`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := e.Decide(ctx, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got := struct {
				Allow     bool
				RAM       RAMResult
				Env       string
				Approvals int
				Reqs      []Requirement
			}{d.Allow, d.RAM, d.Environment, d.RequiredApprovals, d.ApproverRequirements}
			want := struct {
				Allow     bool
				RAM       RAMResult
				Env       string
				Approvals int
				Reqs      []Requirement
			}{tt.allow, tt.ram, tt.env, tt.approvals, tt.reqs}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decision (-want +got):\n%s\nreasons: %q", diff, d.Reasons)
			}
			if tt.reason != "" && !contains(d.Reasons, tt.reason) {
				t.Errorf("reasons %q lack %q", d.Reasons, tt.reason)
			}
			if d.Revision != e.Revision() || d.DecisionID == "" || d.Path != DecidePath || d.Timestamp.IsZero() {
				t.Errorf("log fields: revision %q decision id %q path %q timestamp %v", d.Revision, d.DecisionID, d.Path, d.Timestamp)
			}
		})
	}
}

func TestDecideOrgRules(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx := context.Background()
	mod := func(f func(*Input)) Input {
		in := request("alice", "rm-bp1prodexample1")
		f(&in)
		return in
	}
	freeze := time.Date(2025, 12, 24, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		in      Input
		allow   bool
		reason  string
		reqs    []Requirement
		approve int
	}{
		{"short justification", mod(func(in *Input) { in.Request.Justification = "too short" }), false,
			"org: justification shorter than 10 characters", nil, 0},
		{"ticket pattern", mod(func(in *Input) { in.Request.Ticket = "ops 1" }), false,
			`org: ticket "ops 1" does not match the required pattern ^[A-Z]+-[0-9]+$`, nil, 0},
		{"pending limit", mod(func(in *Input) { in.PendingRequests = 5 }), false,
			"org: alice already has 5 pending requests (limit 5)", nil, 0},
		{"below the pending limit", mod(func(in *Input) { in.PendingRequests = 4 }), true, "", nil, 0},
		{"freeze", mod(func(in *Input) { in.Context.CurrentTime = freeze }), false,
			`org: change freeze "year-end change freeze 2025" (2025-12-20T00:00:00Z to 2026-01-05T00:00:00Z) is in effect for production; only a break-glass request may proceed`,
			nil, 0},
		{"break glass during the freeze", mod(func(in *Input) { in.Context.CurrentTime = freeze; in.Request.BreakGlass = true }), true,
			`org: break glass during change freeze "year-end change freeze 2025" adds 1 from admins`,
			[]Requirement{{Group: "dba", Count: 1}, {Group: "security", Count: 1}, {Group: "admins", Count: 1}}, 3},
		{"freeze does not cover dev", func() Input {
			in := request("alice", "rm-bp1devexample01")
			in.Context.CurrentTime = freeze
			return in
		}(), true, "", nil, 0},
		{"missing instance", mod(func(in *Input) { in.Request.DBInstanceID = "" }), false, "request: db_instance_id is required", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := e.Decide(ctx, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tt.allow || (tt.reason != "" && !contains(d.Reasons, tt.reason)) {
				t.Errorf("allow %v, reasons %q; want allow %v with %q", d.Allow, d.Reasons, tt.allow, tt.reason)
			}
			if tt.reqs != nil {
				if diff := cmp.Diff(tt.reqs, d.ApproverRequirements); diff != "" || d.RequiredApprovals != tt.approve {
					t.Errorf("requirements (-want +got):\n%s; required %d, want %d", diff, d.RequiredApprovals, tt.approve)
				}
			}
		})
	}
}

func TestDecideUsesNowWithoutTime(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	in := request("alice", "rm-bp1devexample01")
	in.Context.CurrentTime = time.Time{}
	d, err := e.Decide(context.Background(), in)
	if err != nil || !d.Allow {
		t.Fatalf("allow %v, err %v, reasons %q", d.Allow, err, d.Reasons)
	}
}

// ramCase evaluates one policy document for user u on instance rm-1.
type ramCase struct {
	name        string
	statements  string // the Statement list of policy P
	instance    string
	ctx         Context
	tags        string // instance_tags of rm-1, JSON
	effect      string
	statement   int
	unsupported []string
}

func TestRAMFeatures(t *testing.T) {
	t.Parallel()
	ctxOK := Context{SourceIP: "10.1.2.3", CurrentTime: demoTime, SecureTransport: true, MFAPresent: true}
	tests := []ramCase{
		{name: "single string and one-element list", statements: `[{"Effect":"Allow","Action":"rds:ReleaseInstanceConnection","Resource":["*"]}]`,
			effect: EffectAllow, statement: 1},
		{name: "single statement object", statements: `{"Effect":"Allow","Action":["rds:ReleaseInstanceConnection"],"Resource":"*"}`,
			effect: EffectAllow, statement: 1},
		{name: "explicit deny over allow", statements: `[
			{"Effect":"Allow","Action":"rds:*","Resource":"*"},
			{"Effect":"Deny","Action":"rds:ReleaseInstanceConnection","Resource":"acs:rds:*:*:dbinstance/rm-1"}]`,
			effect: EffectExplicitDeny, statement: 2},
		{name: "no matching allow", statements: `[{"Effect":"Allow","Action":"rds:Describe*","Resource":"*"}]`,
			effect: EffectImplicitDeny},
		{name: "action star", statements: `[{"Effect":"Allow","Action":"rds:Release*","Resource":"*"}]`, effect: EffectAllow, statement: 1},
		{name: "action question mark", statements: `[{"Effect":"Allow","Action":"rds:ReleaseInstanceConnectio?","Resource":"*"}]`,
			effect: EffectAllow, statement: 1},
		{name: "question mark is one character", statements: `[{"Effect":"Allow","Action":"rds:ReleaseInstanceConnection?","Resource":"*"}]`,
			effect: EffectImplicitDeny},
		{name: "action is case-insensitive", statements: `[{"Effect":"Allow","Action":"RDS:releaseINSTANCEconnection","Resource":"*"}]`,
			effect: EffectAllow, statement: 1},
		{name: "action wildcard is case-insensitive", statements: `[{"Effect":"Allow","Action":"RDS:RELEASE*","Resource":"*"}]`,
			effect: EffectAllow, statement: 1},
		{name: "everything", statements: `[{"Effect":"Allow","Action":"*","Resource":"*"}]`, effect: EffectAllow, statement: 1},
		{name: "NotAction allows the rest", statements: `[{"Effect":"Allow","NotAction":["rds:Delete*","ecs:*"],"Resource":"*"}]`,
			effect: EffectAllow, statement: 1},
		{name: "NotAction naming the action", statements: `[{"Effect":"Allow","NotAction":"rds:ReleaseInstanceConnection","Resource":"*"}]`,
			effect: EffectImplicitDeny},
		{name: "NotAction deny", statements: `[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","NotAction":"rds:Describe*","Resource":"*"}]`,
			effect: EffectExplicitDeny, statement: 2},
		{name: "resource exact", statements: `[{"Effect":"Allow","Action":"rds:ReleaseInstanceConnection","Resource":"acs:rds:cn-hangzhou:1234567890123456:dbinstance/rm-1"}]`,
			effect: EffectAllow, statement: 1},
		{name: "resource is case-sensitive", statements: `[{"Effect":"Allow","Action":"rds:ReleaseInstanceConnection","Resource":"acs:rds:cn-hangzhou:1234567890123456:dbinstance/RM-1"}]`,
			effect: EffectImplicitDeny},
		{name: "resource other account", statements: `[{"Effect":"Allow","Action":"rds:ReleaseInstanceConnection","Resource":"acs:rds:*:999:dbinstance/*"}]`,
			effect: EffectImplicitDeny},
		{name: "resource question mark", statements: `[{"Effect":"Allow","Action":"rds:ReleaseInstanceConnection","Resource":"acs:rds:cn-????????:*:dbinstance/rm-?"}]`,
			effect: EffectAllow, statement: 1},
		{name: "resource brackets are literal", statements: `[{"Effect":"Allow","Action":"rds:ReleaseInstanceConnection","Resource":"acs:rds:*:*:dbinstance/rm-[1]"}]`,
			effect: EffectImplicitDeny},
		{name: "IpAddress CIDR", statements: cond(`"IpAddress":{"acs:SourceIp":["192.168.0.0/16","10.0.0.0/8"]}`), ctx: ctxOK, effect: EffectAllow, statement: 1},
		{name: "IpAddress single address", statements: cond(`"IpAddress":{"acs:SourceIp":"10.1.2.3"}`), ctx: ctxOK, effect: EffectAllow, statement: 1},
		{name: "IpAddress outside", statements: cond(`"IpAddress":{"acs:SourceIp":"192.168.0.0/16"}`), ctx: ctxOK, effect: EffectImplicitDeny},
		{name: "NotIpAddress", statements: cond(`"NotIpAddress":{"acs:SourceIp":"192.168.0.0/16"}`), ctx: ctxOK, effect: EffectAllow, statement: 1},
		{name: "NotIpAddress inside", statements: cond(`"NotIpAddress":{"acs:SourceIp":"10.0.0.0/8"}`), ctx: ctxOK, effect: EffectImplicitDeny},
		{name: "IpAddress without a source address", statements: cond(`"IpAddress":{"acs:SourceIp":"10.0.0.0/8"}`),
			ctx: Context{CurrentTime: demoTime}, effect: EffectImplicitDeny},
		{name: "DateLessThan", statements: cond(`"DateLessThan":{"acs:CurrentTime":"2027-01-01T00:00:00+08:00"}`), ctx: ctxOK, effect: EffectAllow, statement: 1},
		{name: "DateGreaterThan a plain date", statements: cond(`"DateGreaterThan":{"acs:CurrentTime":"2026-11-27"}`), ctx: ctxOK, effect: EffectImplicitDeny},
		{name: "Bool MFA", statements: cond(`"Bool":{"acs:MFAPresent":true}`), ctx: ctxOK, effect: EffectAllow, statement: 1},
		{name: "Bool secure transport missing", statements: cond(`"Bool":{"acs:SecureTransport":"true"}`),
			ctx: Context{CurrentTime: demoTime}, effect: EffectImplicitDeny},
		{name: "several keys and operators are ANDed", statements: cond(`"Bool":{"acs:MFAPresent":"true","acs:SecureTransport":"true"},"IpAddress":{"acs:SourceIp":"10.0.0.0/8"}`),
			ctx: ctxOK, effect: EffectAllow, statement: 1},
		{name: "one failing key fails the statement", statements: cond(`"Bool":{"acs:MFAPresent":"true","acs:SecureTransport":"false"}`),
			ctx: ctxOK, effect: EffectImplicitDeny},
		{name: "StringEqualsIgnoreCase on a tag", statements: cond(`"StringEqualsIgnoreCase":{"rds:ResourceTag/Env":"PROD"}`),
			tags: `{"env":"prod"}`, effect: EffectAllow, statement: 1},
		{name: "StringEquals is case-sensitive", statements: cond(`"StringEquals":{"rds:ResourceTag/env":"PROD"}`),
			tags: `{"env":"prod"}`, effect: EffectImplicitDeny},
		{name: "StringLike on a tag", statements: cond(`"StringLike":{"rds:ResourceTag/team":"pay*"}`),
			tags: `{"team":"payments"}`, effect: EffectAllow, statement: 1},
		{name: "NumericLessThan on a tag", statements: cond(`"NumericLessThan":{"rds:ResourceTag/tier":3}`),
			tags: `{"tier":"2"}`, effect: EffectAllow, statement: 1},
		{name: "NumericGreaterThanEquals on a tag", statements: cond(`"NumericGreaterThanEquals":{"rds:ResourceTag/tier":"3"}`),
			tags: `{"tier":"2"}`, effect: EffectImplicitDeny},
		{name: "unknown operator never allows", statements: cond(`"StringEqualsAnyCase":{"acs:SourceIp":"10.1.2.3"}`), ctx: ctxOK,
			effect: EffectImplicitDeny, unsupported: []string{`policy P statement 1: unknown condition operator "StringEqualsAnyCase"`}},
		{name: "unknown key never allows", statements: cond(`"StringEquals":{"acs:SourceVpc":"vpc-1"}`), ctx: ctxOK,
			effect: EffectImplicitDeny, unsupported: []string{`policy P statement 1: unknown condition key "acs:sourcevpc"`}},
		{name: "unknown operator in a deny is reported", statements: `[
			{"Effect":"Allow","Action":"rds:ReleaseInstanceConnection","Resource":"*"},
			{"Effect":"Deny","Action":"rds:ReleaseInstanceConnection","Resource":"*","Condition":{"Foo":{"acs:SourceIp":"x"}}}]`,
			ctx: ctxOK, effect: EffectAllow, statement: 1, unsupported: []string{`policy P statement 2: unknown condition operator "Foo"`}},
		{name: "statements about other actions are not reported", statements: `[
			{"Effect":"Allow","Action":"rds:ReleaseInstanceConnection","Resource":"*"},
			{"Effect":"Allow","Action":"ram:CreateServiceLinkedRole","Resource":"*","Condition":{"StringEquals":{"ram:ServiceName":"x"}}}]`,
			ctx: ctxOK, effect: EffectAllow, statement: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tags := tt.tags
			if tags == "" {
				tags = "{}"
			}
			ram := fmt.Sprintf(`{"account_id":"1234567890123456","policies":{"P":{"Version":"1","Statement":%s}},"users":{"u":{"policies":["P"]}}}`, tt.statements)
			org := fmt.Sprintf(`{"default_environment":"dev","environments":{"dev":{"approvers":[{"group":"dba","count":1}]}},"instance_tags":{"rm-1":%s}}`, tags)
			e, err := New(context.Background(), Options{Dir: writeData(t, ram, org)})
			if err != nil {
				t.Fatal(err)
			}
			in := Input{Principal: Principal{Subject: "u"}, Request: RequestInput{RegionID: "cn-hangzhou", DBInstanceID: "rm-1"}, Context: tt.ctx}
			if in.Context.CurrentTime.IsZero() {
				in.Context.CurrentTime = demoTime
			}
			d, err := e.Decide(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			want := RAMResult{Effect: tt.effect, Statement: tt.statement, Unsupported: tt.unsupported}
			if tt.statement > 0 {
				want.Policy = "P"
			}
			if diff := cmp.Diff(want, d.RAM); diff != "" {
				t.Errorf("RAM (-want +got):\n%s\nreasons %q", diff, d.Reasons)
			}
			if d.Allow != (tt.effect == EffectAllow) {
				t.Errorf("allow %v with RAM %s; reasons %q", d.Allow, d.RAM.Effect, d.Reasons)
			}
			for _, u := range tt.unsupported {
				if !contains(d.Reasons, "RAM: "+u+"; the statement was ignored") {
					t.Errorf("reasons %q do not report %q", d.Reasons, u)
				}
			}
		})
	}
}

// cond is an Allow statement for the action with the given Condition body.
func cond(body string) string {
	return `[{"Effect":"Allow","Action":"rds:ReleaseInstanceConnection","Resource":"*","Condition":{` + body + `}}]`
}

func TestDataIsRefused(t *testing.T) {
	t.Parallel()
	org := `{"default_environment":"dev","environments":{"dev":{"approvers":[]}}}`
	user := `"users":{"u":{"policies":["P"]}}`
	tests := []struct{ name, ram, org, want string }{
		{"unknown policy", `{"account_id":"1","users":{"u":{"policies":["Nope"]}}}`, org, "policy Nope is not defined"},
		{"system policy name", `{"account_id":"1","policies":{"AliyunRDSFullAccess":{"Version":"1","Statement":[]}}}`, org, "name of a RAM system policy"},
		{"no account", `{"policies":{}}`, org, "account_id is required"},
		{"bad version", `{"account_id":"1","policies":{"P":{"Version":"2","Statement":[]}},` + user + `}`, org, `version must be "1"`},
		{"bad effect", `{"account_id":"1","policies":{"P":{"Version":"1","Statement":[{"Effect":"allow","Action":"*","Resource":"*"}]}},` + user + `}`, org, "effect"},
		{"both Action and NotAction", `{"account_id":"1","policies":{"P":{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","NotAction":"*","Resource":"*"}]}},` + user + `}`, org, "exactly one of Action and NotAction"},
		{"NotResource", `{"account_id":"1","policies":{"P":{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","NotResource":"*"}]}},` + user + `}`, org, `unsupported statement element "NotResource"`},
		{"no resource", `{"account_id":"1","policies":{"P":{"Version":"1","Statement":[{"Effect":"Allow","Action":"*"}]}},` + user + `}`, org, "resource is required"},
		{"unknown field", `{"account_id":"1","user":{}}`, org, "unknown field"},
		{"unknown default environment", `{"account_id":"1"}`, `{"default_environment":"qa","environments":{"dev":{}}}`, `environment "qa" has no rules`},
		{"bad ticket pattern", `{"account_id":"1"}`, `{"default_environment":"dev","environments":{"dev":{}},"ticket_pattern":"("}`, "ticket_pattern"},
		{"freeze ends before it starts", `{"account_id":"1"}`, `{"default_environment":"dev","environments":{"dev":{}},"freeze_windows":[{"start":"2026-02-01T00:00:00Z","end":"2026-01-01T00:00:00Z"}]}`, "end must be after start"},
		{"tag names an unknown environment", `{"account_id":"1"}`, `{"default_environment":"dev","environment_tag":"env","instance_tags":{"rm-1":{"env":"qa"}},"environments":{"dev":{}}}`, `environment "qa"`},
		{"tags one apart in case", `{"account_id":"1"}`, `{"default_environment":"dev","environments":{"dev":{}},"instance_tags":{"rm-1":{"Env":"dev","env":"prod"}}}`, `tags "Env" and "env" differ only in case`},
		{"requirement without group", `{"account_id":"1"}`, `{"default_environment":"dev","environments":{"dev":{"approvers":[{"count":1}]}}}`, "a group and a count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(context.Background(), Options{Dir: writeData(t, tt.ram, tt.org)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestOrgYAML(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir+"/ram.json", string(mustRead(t, "examples/ram.json")))
	writeFile(t, dir+"/org.yaml", "default_environment: dev\nenvironments:\n  dev:\n    required_approvals: 2\n    approvers:\n      - {group: dba, count: 1}\n")
	e, err := New(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Decide(context.Background(), request("alice", "rm-x"))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allow || d.RequiredApprovals != 2 || d.Environment != "dev" {
		t.Errorf("decision %+v", d)
	}
	writeFile(t, dir+"/org.json", "{}")
	if _, err := New(context.Background(), Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "keep one") {
		t.Errorf("two org files: error %v", err)
	}
}

func TestMayApprove(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	prod := []Requirement{{Group: "dba", Count: 1}, {Group: "security", Count: 1}}
	approved := func(who, group string) Vote { return Vote{Approver: who, Group: group, Decision: "approve"} }
	tests := []struct {
		name   string
		in     ApproveInput
		allow  bool
		group  string
		reason string
	}{
		{"dba from ram.json", ApproveInput{Approver: Principal{Subject: "bob"}, Requester: "alice", Requirements: prod, Environment: "production"},
			true, "dba", "approval: bob may approve for dba"},
		{"security from ram.json", ApproveInput{Approver: Principal{Subject: "carol"}, Requester: "alice", Requirements: prod, Environment: "production"},
			true, "security", ""},
		{"group from the token", ApproveInput{Approver: Principal{Subject: "sso-user", Groups: []string{"security"}}, Requester: "alice", Requirements: prod, Environment: "production"},
			true, "security", ""},
		{"own request", ApproveInput{Approver: Principal{Subject: "bob"}, Requester: "bob", Requirements: prod, Environment: "production"},
			false, "", "approval: requesters may not approve their own request"},
		{"already voted", ApproveInput{Approver: Principal{Subject: "erin"}, Requester: "alice", Requirements: prod, Votes: []Vote{approved("erin", "dba")}, Environment: "production"},
			false, "", "approval: erin has already voted on this request"},
		{"requirement met", ApproveInput{Approver: Principal{Subject: "bob"}, Requester: "alice", Requirements: prod, Votes: []Vote{approved("erin", "dba")}, Environment: "production"},
			false, "", "approval: the requirements for dba are already met"},
		{"other requirement still open", ApproveInput{Approver: Principal{Subject: "carol"}, Requester: "alice", Requirements: prod, Votes: []Vote{approved("erin", "dba")}, Environment: "production"},
			true, "security", ""},
		{"not an approver", ApproveInput{Approver: Principal{Subject: "dave"}, Requester: "alice", Requirements: prod, Environment: "production"},
			false, "", "approval: dave is in none of the approver groups (dba, security)"},
		{"everything met", ApproveInput{Approver: Principal{Subject: "erin"}, Requester: "alice", Requirements: prod, Votes: []Vote{approved("bob", "dba"), approved("carol", "security")}, Environment: "production"},
			false, "", "approval: every approver requirement is already met"},
		{"environment's requirements", ApproveInput{Approver: Principal{Subject: "bob"}, Requester: "alice", Environment: "dev"},
			true, "dba", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := e.MayApprove(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tt.allow || d.Group != tt.group || (tt.reason != "" && !contains(d.Reasons, tt.reason)) {
				t.Errorf("got allow %v group %q reasons %q; want %v %q with %q", d.Allow, d.Group, d.Reasons, tt.allow, tt.group, tt.reason)
			}
			if d.Revision != e.Revision() || d.DecisionID == "" || d.Path != ApprovePath {
				t.Errorf("log fields %+v", d)
			}
		})
	}
}

func TestUsersAndGroups(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	if diff := cmp.Diff([]string{"alice", "bob", "carol", "dave", "erin", "mallory"}, e.Users()); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"dba", "admins"}, e.UserGroups("erin")); diff != "" {
		t.Errorf("erin's groups (-want +got):\n%s", diff)
	}
	if g := e.UserGroups("zed"); g != nil {
		t.Errorf("unknown user's groups %v", g)
	}
}

func TestLogEntry(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	in := request("alice", "rm-bp1devexample01")
	d, err := e.Decide(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(d.LogEntry(in))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"decision_id", "path", "input", "result", "revision", "timestamp"} {
		if _, ok := got[k]; !ok {
			t.Errorf("log entry lacks %q: %s", k, b)
		}
	}
	if got["path"] != DecidePath || got["result"].(map[string]any)["allow"] != true {
		t.Errorf("log entry %s", b)
	}
	a, err := e.MayApprove(context.Background(), ApproveInput{Approver: Principal{Subject: "bob"}, Requester: "alice", Environment: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if le := a.LogEntry(nil); le.Path != ApprovePath || le.DecisionID != a.DecisionID {
		t.Errorf("approve log entry %+v", le)
	}
}

func TestDecideCancelledContext(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx, cancel := context.WithCancel(context.Background())
	d, err := e.Decide(ctx, request("alice", "rm-bp1devexample01"))
	if err != nil || !d.Allow {
		t.Fatalf("live context: %v %v", d.Allow, err)
	}
	cancel()
	if _, err := e.Decide(ctx, request("alice", "rm-bp1devexample01")); err == nil {
		t.Error("a cancelled context decided")
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// RDSGATE_ACCOUNT_ID (Options.AccountID) replaces ram.json's account_id in
// the ARNs: a policy granting the example account's instances no longer
// matches another account's.
func TestAccountIDOverride(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	def, err := New(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(ctx, Options{AccountID: "9999999999999999"})
	if err != nil {
		t.Fatal(err)
	}
	if def.AccountID() != "1234567890123456" || other.AccountID() != "9999999999999999" || def.Revision() == other.Revision() {
		t.Fatalf("account ids %q %q, revisions %s %s", def.AccountID(), other.AccountID(), def.Revision(), other.Revision())
	}
	in := Input{Principal: Principal{Subject: "alice", Groups: []string{"developers"}},
		Request: RequestInput{RegionID: "cn-hangzhou", DBInstanceID: "rm-bp1devexample01",
			ConnectionString: "rm-bp1devexample01.mysql.rds.aliyuncs.com", NetworkType: "0",
			Justification: "retiring the endpoint", Ticket: "OPS-1"},
		Context: Context{CurrentTime: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}}
	d1, err := def.Decide(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := other.Decide(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	// alice's policy names the example account in its Resource.
	if d1.RAM.Effect != EffectAllow || d2.RAM.Effect != EffectImplicitDeny || d2.Allow {
		t.Fatalf("default %s, other account %s (%v)", d1.RAM.Effect, d2.RAM.Effect, d2.Reasons)
	}
}

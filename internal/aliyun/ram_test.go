package aliyun_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/rdssim"
)

// ramSim serves the simulator's example RAM for account 1234567890123456
// over HTTP and returns a RAM client of that account's key.
func ramSim(t *testing.T, secret string) *aliyun.RAMClient {
	t.Helper()
	sim, err := rdssim.New(rdssim.Config{Accounts: []rdssim.Account{
		{AccessKeyID: "LTAIramtest0000000000001", AccessKeySecret: "ram-secret", AccountID: "1234567890123456"}}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(sim)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.Start()
	t.Cleanup(ts.Close)
	c, err := aliyun.NewRAM(aliyun.Config{Endpoint: ts.Listener.Addr().String(), Protocol: "http",
		AccessKeyID: "LTAIramtest0000000000001", AccessKeySecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRAMClientAgainstTheSimulator calls each RAM action the export needs,
// signed as the RDS calls are, with RAM's version: pages by Marker, the
// documents as JSON strings, RAM's errors as *APIError.
func TestRAMClientAgainstTheSimulator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := ramSim(t, "ram-secret")

	var names []string
	marker := ""
	for pages := 0; ; pages++ {
		p, err := c.ListUsers(ctx, marker, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range p.Users.User {
			names = append(names, u.UserName)
		}
		if p.RequestId == "" || pages > 5 {
			t.Fatalf("page %+v", p)
		}
		if !p.IsTruncated {
			if pages != 2 || p.Marker != "" {
				t.Fatalf("%d pages, last marker %q", pages+1, p.Marker)
			}
			break
		}
		marker = p.Marker
	}
	if !slices.Equal(names, []string{"alice", "bob", "erin", "carol", "frank", "grace", "heidi", "ivan"}) {
		t.Fatalf("users %v", names)
	}

	groups, err := c.ListGroupsForUser(ctx, "bob")
	if err != nil || len(groups.Groups.Group) != 1 || groups.Groups.Group[0].GroupName != "dba" {
		t.Fatalf("bob's groups: %+v, %v", groups, err)
	}
	attached, err := c.ListPoliciesForGroup(ctx, "dba")
	if err != nil || len(attached.Policies.Policy) != 1 || attached.Policies.Policy[0].PolicyType != aliyun.PolicyTypeSystem {
		t.Fatalf("dba's policies: %+v, %v", attached, err)
	}
	role, err := c.GetRole(ctx, "rds-operator")
	if err != nil || role.Role.Arn != "acs:ram::1234567890123456:role/rds-operator" {
		t.Fatalf("role: %+v, %v", role, err)
	}
	var trust map[string]any
	if err := json.Unmarshal([]byte(role.Role.AssumeRolePolicyDocument), &trust); err != nil || trust["Version"] != "1" {
		t.Fatalf("trust policy %q: %v", role.Role.AssumeRolePolicyDocument, err)
	}
	roles, err := c.ListRoles(ctx, "", 0)
	if err != nil || len(roles.Roles.Role) != 3 || roles.Roles.Role[0].AssumeRolePolicyDocument != "" {
		t.Fatalf("roles (ListRoles carries no trust policy): %+v, %v", roles, err)
	}
	custom, err := c.ListPolicies(ctx, aliyun.PolicyTypeCustom, "", 0)
	if err != nil || len(custom.Policies.Policy) != 7 {
		t.Fatalf("custom policies: %+v, %v", custom, err)
	}
	pol, err := c.GetPolicy(ctx, aliyun.PolicyTypeCustom, "ReleaseFromOffice")
	if err != nil || pol.DefaultPolicyVersion.VersionId != "v1" || !json.Valid([]byte(pol.DefaultPolicyVersion.PolicyDocument)) {
		t.Fatalf("policy: %+v, %v", pol, err)
	}
	v, err := c.GetPolicyVersion(ctx, aliyun.PolicyTypeCustom, "ReleaseFromOffice", "v1")
	if err != nil || v.PolicyVersion.PolicyDocument != pol.DefaultPolicyVersion.PolicyDocument {
		t.Fatalf("version: %+v, %v", v, err)
	}

	for _, tc := range []struct {
		call func() error
		code string
	}{
		{func() error { _, err := c.ListGroupsForUser(ctx, "nobody"); return err }, "EntityNotExist.User"},
		{func() error { _, err := c.GetPolicy(ctx, aliyun.PolicyTypeSystem, "ReleaseFromOffice"); return err }, "EntityNotExist.Policy"},
		{func() error { _, err := c.ListUsers(ctx, "bogus", 0); return err }, "InvalidParameter"},
	} {
		var apiErr *aliyun.APIError
		if err := tc.call(); !errors.As(err, &apiErr) || apiErr.Code != tc.code {
			t.Errorf("err %v, want %s", err, tc.code)
		}
	}
	var apiErr *aliyun.APIError
	if _, err := ramSim(t, "wrong-secret").ListUsers(ctx, "", 0); !errors.As(err, &apiErr) || apiErr.Code != aliyun.CodeSignatureDoesNotMatch {
		t.Errorf("wrong secret: %v", err)
	}
}

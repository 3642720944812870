package auth

import (
	"slices"
	"testing"
)

func TestRoleMap(t *testing.T) {
	t.Parallel()
	m, err := ParseRoleMap(DefaultRoleGroups)
	if err != nil {
		t.Fatal(err)
	}
	if m.String() != DefaultRoleGroups {
		t.Errorf("round trip: %q", m.String())
	}
	cases := []struct {
		groups []string
		want   []Role
	}{
		{[]string{"developers"}, []Role{RoleRequester}},
		{[]string{"dba"}, []Role{RoleApprover}},
		{[]string{"security", "auditors"}, []Role{RoleApprover, RoleAuditor}},
		{[]string{"dba", "admins"}, AllRoles},
		{[]string{"visitors"}, nil},
		{nil, nil},
	}
	for _, tc := range cases {
		if got := m.Roles(tc.groups); !slices.Equal(got, tc.want) {
			t.Errorf("%v: %v, want %v", tc.groups, got, tc.want)
		}
	}
	for _, bad := range []string{"", "boss=admins", "requester", "requester=", "requester=a,,b", ";;"} {
		if _, err := ParseRoleMap(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	m2, err := ParseRoleMap(" requester = devs , ops ; auditor=compliance ")
	if err != nil || !slices.Equal(m2[RoleRequester], []string{"devs", "ops"}) || len(m2[RoleApprover]) != 0 {
		t.Errorf("spaces: %v %v", m2, err)
	}
}

func TestUserHas(t *testing.T) {
	t.Parallel()
	var nobody *User
	if nobody.Has(RoleRequester) {
		t.Error("nil user has a role")
	}
	admin := &User{Roles: []Role{RoleAdmin}}
	if !admin.Has(RoleAuditor) || !admin.HasAny(RoleApprover) {
		t.Error("admin implies every role")
	}
	req := &User{Roles: []Role{RoleRequester}}
	if req.Has(RoleApprover) || !req.HasAny(RoleAuditor, RoleRequester) {
		t.Error("requester roles")
	}
}

func TestClaimPaths(t *testing.T) {
	t.Parallel()
	claims := map[string]any{
		"groups":       []any{"dba", 7, "", "security"},
		"realm_access": map[string]any{"roles": []any{"admins"}},
		"csv":          "a, b c",
		"amr":          []any{"pwd", "mfa"},
	}
	for path, want := range map[string][]string{
		"groups": {"dba", "security"}, "realm_access.roles": {"admins"}, "csv": {"a", "b", "c"}, "missing": nil, "groups.x": nil,
	} {
		if got := stringsAt(claims, path); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", path, got, want)
		}
	}
}

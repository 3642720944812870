package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Role is what a browser user may do in rdsgate's pages. Roles come from
// groups (see RoleMap); the policy still decides every release and vote.
type Role string

// The roles. Admin implies the other three.
const (
	// RoleRequester files release requests and follows their own.
	RoleRequester Role = "requester"
	// RoleApprover sees the inbox and votes on requests of others.
	RoleApprover Role = "approver"
	// RoleAuditor reads every request and searches and exports the audit log.
	RoleAuditor Role = "auditor"
	// RoleAdmin may do everything the other roles may.
	RoleAdmin Role = "admin"
)

// AllRoles lists the roles in display order.
var AllRoles = []Role{RoleRequester, RoleApprover, RoleAuditor, RoleAdmin}

// DefaultRoleGroups is the default RDSGATE_ROLE_GROUPS: it matches the
// example RAM data in policies/examples.
const DefaultRoleGroups = "requester=developers;approver=dba,security;auditor=auditors;admin=admins"

// RoleMap maps each role to the groups that grant it.
type RoleMap map[Role][]string

// ParseRoleMap parses "role=group,group;role=group": every role named must
// be one of AllRoles and every group non-empty. Roles not named are granted
// by no group.
func ParseRoleMap(s string) (RoleMap, error) {
	m := RoleMap{}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, groups, ok := strings.Cut(part, "=")
		role := Role(strings.TrimSpace(name))
		if !ok || !slices.Contains(AllRoles, role) {
			return nil, fmt.Errorf("role groups %q: want role=group[,group] with role one of requester, approver, auditor, admin", part)
		}
		for _, g := range strings.Split(groups, ",") {
			g = strings.TrimSpace(g)
			if g == "" {
				return nil, fmt.Errorf("role groups %q: empty group name", part)
			}
			if !slices.Contains(m[role], g) {
				m[role] = append(m[role], g)
			}
		}
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("role groups %q: no role is granted to any group", s)
	}
	return m, nil
}

// MustParseRoleMap is ParseRoleMap for constants; it panics on error.
func MustParseRoleMap(s string) RoleMap {
	m, err := ParseRoleMap(s)
	if err != nil {
		panic(err)
	}
	return m
}

// Roles returns the roles that groups grant, in AllRoles order. Admin
// implies every other role.
func (m RoleMap) Roles(groups []string) []Role {
	var out []Role
	for _, r := range AllRoles {
		for _, g := range m[r] {
			if slices.Contains(groups, g) {
				out = append(out, r)
				break
			}
		}
	}
	if slices.Contains(out, RoleAdmin) {
		return slices.Clone(AllRoles)
	}
	return out
}

// String renders m in the syntax ParseRoleMap reads.
func (m RoleMap) String() string {
	var parts []string
	for _, r := range AllRoles {
		if gs := m[r]; len(gs) > 0 {
			parts = append(parts, string(r)+"="+strings.Join(gs, ","))
		}
	}
	return strings.Join(parts, ";")
}

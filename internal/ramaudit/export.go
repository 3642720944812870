// Package ramaudit answers "who can go around the gate": which RAM users,
// groups and roles of an Alibaba Cloud account may call
// rds:ReleaseInstanceConnection or rds:ReleaseInstancePublicConnection
// themselves, by which policy and statement, on which resources and under
// which conditions (`rdsgate ram analyze`).
//
// Its input is an export: a directory of the RAM API's own JSON answers
// (version 2015-05-01), which Export collects through the RAM API
// (`rdsgate ram export`) and Load reads. docs/BYPASS.md documents the
// layout. The evaluation is the Rego RAM mirror rdsgate decides with
// (policy.Analyzer); this package only gathers each principal's statements,
// works out who may assume which role, chooses the resources to ask about
// and reports.
package ramaudit

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/policies"
)

// ManifestFile is the export's own file: the account and the API version.
const ManifestFile = "export.json"

// Manifest is export.json: {"account_id":"…","api_version":"2015-05-01"}.
type Manifest struct {
	AccountID  string `json:"account_id"`
	APIVersion string `json:"api_version"`
}

// API is the part of the RAM API an export reads (aliyun.RAMClient).
type API interface {
	ListUsers(ctx context.Context, marker string, maxItems int) (*aliyun.ListUsersResponse, error)
	ListGroups(ctx context.Context, marker string, maxItems int) (*aliyun.ListGroupsResponse, error)
	ListGroupsForUser(ctx context.Context, user string) (*aliyun.ListGroupsResponse, error)
	ListRoles(ctx context.Context, marker string, maxItems int) (*aliyun.ListRolesResponse, error)
	GetRole(ctx context.Context, role string) (*aliyun.GetRoleResponse, error)
	ListPolicies(ctx context.Context, policyType, marker string, maxItems int) (*aliyun.ListPoliciesResponse, error)
	ListPoliciesForUser(ctx context.Context, user string) (*aliyun.ListPoliciesResponse, error)
	ListPoliciesForGroup(ctx context.Context, group string) (*aliyun.ListPoliciesResponse, error)
	ListPoliciesForRole(ctx context.Context, role string) (*aliyun.ListPoliciesResponse, error)
	GetPolicy(ctx context.Context, policyType, name string) (*aliyun.GetPolicyResponse, error)
}

// pageSize is the MaxItems of the List calls.
const pageSize = aliyun.MaxRAMItems

// ExportStats counts what Export wrote.
type ExportStats struct {
	Users, Groups, Roles, Policies, Calls int
}

// Export collects account's RAM through api into dir (created if needed):
// the List answers with their pages merged (IsTruncated false, the first
// page's RequestId), each user's groups and policies, each group's and
// role's policies, each role (GetRole: its trust policy) and each policy
// attached to someone or custom (GetPolicy: its default version's
// document). Files of an earlier export in dir are overwritten, not
// removed: export into an empty directory.
func Export(ctx context.Context, api API, account, dir string) (ExportStats, error) {
	var st ExportStats
	w := writer{dir: dir}
	if err := w.write(ManifestFile, Manifest{AccountID: account, APIVersion: aliyun.RAMAPIVersion}); err != nil {
		return st, err
	}

	var users aliyun.ListUsersResponse
	if err := pages(ctx, &st, func(m string) (string, bool, error) {
		p, err := api.ListUsers(ctx, m, pageSize)
		if err != nil {
			return "", false, err
		}
		users.RequestId = cmp.Or(users.RequestId, p.RequestId)
		users.Users.User = append(users.Users.User, p.Users.User...)
		return p.Marker, p.IsTruncated, nil
	}); err != nil {
		return st, err
	}
	var groups aliyun.ListGroupsResponse
	if err := pages(ctx, &st, func(m string) (string, bool, error) {
		p, err := api.ListGroups(ctx, m, pageSize)
		if err != nil {
			return "", false, err
		}
		groups.RequestId = cmp.Or(groups.RequestId, p.RequestId)
		groups.Groups.Group = append(groups.Groups.Group, p.Groups.Group...)
		return p.Marker, p.IsTruncated, nil
	}); err != nil {
		return st, err
	}
	var roles aliyun.ListRolesResponse
	if err := pages(ctx, &st, func(m string) (string, bool, error) {
		p, err := api.ListRoles(ctx, m, pageSize)
		if err != nil {
			return "", false, err
		}
		roles.RequestId = cmp.Or(roles.RequestId, p.RequestId)
		roles.Roles.Role = append(roles.Roles.Role, p.Roles.Role...)
		return p.Marker, p.IsTruncated, nil
	}); err != nil {
		return st, err
	}
	var all aliyun.ListPoliciesResponse
	if err := pages(ctx, &st, func(m string) (string, bool, error) {
		p, err := api.ListPolicies(ctx, "", m, pageSize)
		if err != nil {
			return "", false, err
		}
		all.RequestId = cmp.Or(all.RequestId, p.RequestId)
		all.Policies.Policy = append(all.Policies.Policy, p.Policies.Policy...)
		return p.Marker, p.IsTruncated, nil
	}); err != nil {
		return st, err
	}
	for name, v := range map[string]any{"ListUsers.json": users, "ListGroups.json": groups, "ListRoles.json": roles, "ListPolicies.json": all} {
		if err := w.write(name, v); err != nil {
			return st, err
		}
	}
	st.Users, st.Groups, st.Roles = len(users.Users.User), len(groups.Groups.Group), len(roles.Roles.Role)

	needed := map[policyKey]bool{}
	for _, p := range all.Policies.Policy {
		if p.PolicyType == aliyun.PolicyTypeCustom {
			needed[policyKey{p.PolicyType, p.PolicyName}] = true
		}
	}
	attached := func(file string, list *aliyun.ListPoliciesResponse) error {
		for _, p := range list.Policies.Policy {
			needed[policyKey{p.PolicyType, p.PolicyName}] = true
		}
		return w.write(file, list)
	}
	for _, u := range users.Users.User {
		if err := safeName(u.UserName); err != nil {
			return st, fmt.Errorf("user %w", err)
		}
		g, err := api.ListGroupsForUser(ctx, u.UserName)
		st.Calls++
		if err != nil {
			return st, fmt.Errorf("ListGroupsForUser %s: %w", u.UserName, err)
		}
		if err := w.write(filepath.Join(aliyun.ActionListGroupsForUser, u.UserName+".json"), g); err != nil {
			return st, err
		}
		p, err := api.ListPoliciesForUser(ctx, u.UserName)
		st.Calls++
		if err != nil {
			return st, fmt.Errorf("ListPoliciesForUser %s: %w", u.UserName, err)
		}
		if err := attached(filepath.Join(aliyun.ActionListPoliciesForUser, u.UserName+".json"), p); err != nil {
			return st, err
		}
	}
	for _, g := range groups.Groups.Group {
		if err := safeName(g.GroupName); err != nil {
			return st, fmt.Errorf("group %w", err)
		}
		p, err := api.ListPoliciesForGroup(ctx, g.GroupName)
		st.Calls++
		if err != nil {
			return st, fmt.Errorf("ListPoliciesForGroup %s: %w", g.GroupName, err)
		}
		if err := attached(filepath.Join(aliyun.ActionListPoliciesForGrp, g.GroupName+".json"), p); err != nil {
			return st, err
		}
	}
	for _, r := range roles.Roles.Role {
		if err := safeName(r.RoleName); err != nil {
			return st, fmt.Errorf("role %w", err)
		}
		got, err := api.GetRole(ctx, r.RoleName)
		st.Calls++
		if err != nil {
			return st, fmt.Errorf("GetRole %s: %w", r.RoleName, err)
		}
		if err := w.write(filepath.Join(aliyun.ActionGetRole, r.RoleName+".json"), got); err != nil {
			return st, err
		}
		p, err := api.ListPoliciesForRole(ctx, r.RoleName)
		st.Calls++
		if err != nil {
			return st, fmt.Errorf("ListPoliciesForRole %s: %w", r.RoleName, err)
		}
		if err := attached(filepath.Join(aliyun.ActionListPoliciesForRole, r.RoleName+".json"), p); err != nil {
			return st, err
		}
	}
	keys := make([]policyKey, 0, len(needed))
	for k := range needed {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b policyKey) int { return cmp.Or(cmp.Compare(a.typ, b.typ), cmp.Compare(a.name, b.name)) })
	for _, k := range keys {
		if k.typ != aliyun.PolicyTypeCustom && k.typ != aliyun.PolicyTypeSystem {
			return st, fmt.Errorf("policy %s: type %q: want Custom or System", k.name, k.typ)
		}
		if err := safeName(k.name); err != nil {
			return st, fmt.Errorf("policy %w", err)
		}
		got, err := api.GetPolicy(ctx, k.typ, k.name)
		st.Calls++
		if err != nil {
			return st, fmt.Errorf("GetPolicy %s %s: %w", k.typ, k.name, err)
		}
		if err := w.write(filepath.Join(aliyun.ActionGetPolicy, k.typ, k.name+".json"), got); err != nil {
			return st, err
		}
		st.Policies++
	}
	return st, nil
}

// pages calls page with each Marker until the answer is not truncated.
func pages(ctx context.Context, st *ExportStats, page func(marker string) (next string, truncated bool, err error)) error {
	marker := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		next, truncated, err := page(marker)
		st.Calls++
		if err != nil {
			return err
		}
		if !truncated {
			return nil
		}
		if next == "" || next == marker {
			return errors.New("the API answered IsTruncated without a new Marker")
		}
		marker = next
	}
}

// safeName refuses a name that cannot be a file name of the export. RAM's
// names are letters, digits, '.', '_', '-' and '@'.
func safeName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) || strings.ContainsRune(name, 0) {
		return fmt.Errorf("%q: not a name this export can store", name)
	}
	return nil
}

type writer struct{ dir string }

func (w writer) write(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	p := filepath.Join(w.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil { //nolint:gosec // an export holds no secrets
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

type policyKey struct{ typ, name string }

// Account is an export as read: the account, its users, groups and roles
// with what is attached to them, and the documents of their policies.
type Account struct {
	ID     string
	Users  []User
	Groups []Group
	Roles  []Role
	// Documents are the policies' documents, by type and name.
	Documents map[PolicyRef][]byte
}

// PolicyRef names a policy: its type (Custom or System) and name.
type PolicyRef struct {
	Type, Name string
}

// User is a RAM user, its groups (in ListGroupsForUser's order) and its own
// policies.
type User struct {
	Name     string
	Groups   []string
	Policies []PolicyRef
}

// Group is a RAM group, its members and its policies.
type Group struct {
	Name     string
	Members  []string
	Policies []PolicyRef
}

// Role is a RAM role, its ARN, its trust policy and its policies.
type Role struct {
	Name, ARN   string
	TrustPolicy []byte
	Policies    []PolicyRef
}

// Load reads an export directory. A policy attached to someone must have
// its GetPolicy answer in the export, except a system policy rdsgate knows
// (policies/ram/system/policies.json), whose document is taken from there.
func Load(dir string) (*Account, error) {
	fsys := os.DirFS(dir)
	var man Manifest
	if err := readJSON(fsys, ManifestFile, &man); err != nil {
		return nil, err
	}
	if man.AccountID == "" {
		return nil, fmt.Errorf("%s: account_id is required", ManifestFile)
	}
	if man.APIVersion != aliyun.RAMAPIVersion {
		return nil, fmt.Errorf("%s: api_version %q: want %s", ManifestFile, man.APIVersion, aliyun.RAMAPIVersion)
	}
	acct := &Account{ID: man.AccountID, Documents: map[PolicyRef][]byte{}}
	var users aliyun.ListUsersResponse
	var groups aliyun.ListGroupsResponse
	var roles aliyun.ListRolesResponse
	for name, v := range map[string]any{"ListUsers.json": &users, "ListGroups.json": &groups, "ListRoles.json": &roles} {
		if err := readJSON(fsys, name, v); err != nil {
			return nil, err
		}
	}
	policiesOf := func(action, name string) ([]PolicyRef, error) {
		var list aliyun.ListPoliciesResponse
		if err := readJSON(fsys, action+"/"+name+".json", &list); err != nil {
			return nil, err
		}
		out := make([]PolicyRef, 0, len(list.Policies.Policy))
		for _, p := range list.Policies.Policy {
			out = append(out, PolicyRef{Type: p.PolicyType, Name: p.PolicyName})
		}
		return out, nil
	}
	members := map[string][]string{}
	for _, u := range users.Users.User {
		if err := safeName(u.UserName); err != nil {
			return nil, fmt.Errorf("ListUsers.json: user %w", err)
		}
		var g aliyun.ListGroupsResponse
		if err := readJSON(fsys, aliyun.ActionListGroupsForUser+"/"+u.UserName+".json", &g); err != nil {
			return nil, err
		}
		user := User{Name: u.UserName}
		for _, grp := range g.Groups.Group {
			user.Groups = append(user.Groups, grp.GroupName)
			members[grp.GroupName] = append(members[grp.GroupName], u.UserName)
		}
		var err error
		if user.Policies, err = policiesOf(aliyun.ActionListPoliciesForUser, u.UserName); err != nil {
			return nil, err
		}
		acct.Users = append(acct.Users, user)
	}
	for _, g := range groups.Groups.Group {
		if err := safeName(g.GroupName); err != nil {
			return nil, fmt.Errorf("ListGroups.json: group %w", err)
		}
		grp := Group{Name: g.GroupName, Members: members[g.GroupName]}
		var err error
		if grp.Policies, err = policiesOf(aliyun.ActionListPoliciesForGrp, g.GroupName); err != nil {
			return nil, err
		}
		acct.Groups = append(acct.Groups, grp)
	}
	for _, r := range roles.Roles.Role {
		if err := safeName(r.RoleName); err != nil {
			return nil, fmt.Errorf("ListRoles.json: role %w", err)
		}
		var got aliyun.GetRoleResponse
		if err := readJSON(fsys, aliyun.ActionGetRole+"/"+r.RoleName+".json", &got); err != nil {
			return nil, err
		}
		role := Role{Name: r.RoleName, ARN: cmp.Or(got.Role.Arn, r.Arn), TrustPolicy: []byte(got.Role.AssumeRolePolicyDocument)}
		var err error
		if role.Policies, err = policiesOf(aliyun.ActionListPoliciesForRole, r.RoleName); err != nil {
			return nil, err
		}
		acct.Roles = append(acct.Roles, role)
	}

	var known map[string]json.RawMessage
	if b, err := fs.ReadFile(policies.FS, policies.SystemPoliciesFile); err == nil {
		_ = json.Unmarshal(b, &known)
	}
	need := func(refs []PolicyRef) error {
		for _, ref := range refs {
			if _, ok := acct.Documents[ref]; ok {
				continue
			}
			if err := safeName(ref.Name); err != nil || (ref.Type != aliyun.PolicyTypeCustom && ref.Type != aliyun.PolicyTypeSystem) {
				return fmt.Errorf("policy %s %q: not a policy this export can hold", ref.Type, ref.Name)
			}
			file := aliyun.ActionGetPolicy + "/" + ref.Type + "/" + ref.Name + ".json"
			var got aliyun.GetPolicyResponse
			err := readJSON(fsys, file, &got)
			switch {
			case err == nil:
				acct.Documents[ref] = []byte(got.DefaultPolicyVersion.PolicyDocument)
			case errors.Is(err, fs.ErrNotExist) && ref.Type == aliyun.PolicyTypeSystem && known[ref.Name] != nil:
				acct.Documents[ref] = known[ref.Name]
			default:
				return err
			}
		}
		return nil
	}
	for _, u := range acct.Users {
		if err := need(u.Policies); err != nil {
			return nil, err
		}
	}
	for _, g := range acct.Groups {
		if err := need(g.Policies); err != nil {
			return nil, err
		}
	}
	for _, r := range acct.Roles {
		if err := need(r.Policies); err != nil {
			return nil, err
		}
	}
	return acct, nil
}

func readJSON(fsys fs.FS, name string, v any) error {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	return nil
}

package rdssim

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/rdsgate/rdsgate/internal/aliyun"
)

// The simulator's RAM (Resource Access Management, version 2015-05-01):
// per account, users, groups, roles with their trust policies, and
// policies with their documents, read by the RAM API's List and Get
// actions as `rdsgate ram export` calls them.
const (
	// RAMHostID is the HostId of RAM error bodies.
	RAMHostID = "ram.aliyuncs.com"
	// ramDate is the CreateDate (and every other date) of the simulated
	// entities: fixed, so that an export of the same state is the same.
	ramDate = "2026-01-01T00:00:00Z"
	// defaultRAMItems is a List page's size without MaxItems.
	defaultRAMItems = 100
)

// RAM error codes the simulator answers, as RAM names them.
const (
	CodeRAMEntityNotExistUser    = "EntityNotExist.User"
	CodeRAMEntityNotExistGroup   = "EntityNotExist.Group"
	CodeRAMEntityNotExistRole    = "EntityNotExist.Role"
	CodeRAMEntityNotExistPolicy  = "EntityNotExist.Policy"
	CodeRAMEntityNotExistVersion = "EntityNotExist.PolicyVersion"
	CodeRAMMissingParameter      = "MissingParameter"
	CodeRAMInvalidParameter      = "InvalidParameter"
)

func init() {
	for code, e := range map[string]simError{
		CodeRAMEntityNotExistUser:    {http.StatusNotFound, "The user does not exist."},
		CodeRAMEntityNotExistGroup:   {http.StatusNotFound, "The group does not exist."},
		CodeRAMEntityNotExistRole:    {http.StatusNotFound, "The role does not exist."},
		CodeRAMEntityNotExistPolicy:  {http.StatusNotFound, "The policy does not exist."},
		CodeRAMEntityNotExistVersion: {http.StatusNotFound, "The policy version does not exist."},
		CodeRAMMissingParameter:      {http.StatusBadRequest, "A required parameter is missing."},
		CodeRAMInvalidParameter:      {http.StatusBadRequest, "A parameter is not valid."},
	} {
		simErrors[code] = e
	}
}

// RAMState is one account's RAM, the JSON of a state file's
// accounts.<uid>.ram and of POST /_sim/ram:
//
//	{"users":[{"name":"alice","groups":["dba"],"policies":["ReleaseAny"]}],
//	 "groups":[{"name":"dba","policies":["AliyunRDSFullAccess"]}],
//	 "roles":[{"name":"op","trust_policy":{...},"policies":["..."]}],
//	 "policies":[{"name":"ReleaseAny","type":"Custom","document":{...}}]}
//
// Attachments name policies of "policies" (custom or system, which RAM
// keeps in one namespace per type; names here are unique).
type RAMState struct {
	Users    []RAMUser   `json:"users"`
	Groups   []RAMGroup  `json:"groups"`
	Roles    []RAMRole   `json:"roles"`
	Policies []RAMPolicy `json:"policies"`
}

// RAMUser is a RAM user, its groups and its own policies.
type RAMUser struct {
	Name        string   `json:"name"`
	DisplayName string   `json:"display_name,omitempty"`
	Groups      []string `json:"groups,omitempty"`
	Policies    []string `json:"policies,omitempty"`
}

// RAMGroup is a RAM user group and its policies.
type RAMGroup struct {
	Name     string   `json:"name"`
	Comments string   `json:"comments,omitempty"`
	Policies []string `json:"policies,omitempty"`
}

// RAMRole is a RAM role: its trust policy (AssumeRolePolicyDocument) and
// its policies.
type RAMRole struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	TrustPolicy json.RawMessage `json:"trust_policy"`
	Policies    []string        `json:"policies,omitempty"`
}

// RAMPolicy is a policy: Custom (the default) or System, with its one
// version's document.
type RAMPolicy struct {
	Name        string          `json:"name"`
	Type        string          `json:"type,omitempty"`
	Description string          `json:"description,omitempty"`
	Document    json.RawMessage `json:"document"`
}

// normaliseRAM checks st: unique names, attachments and memberships that
// exist, documents that are JSON objects, types Custom or System.
func normaliseRAM(st RAMState) (RAMState, error) {
	out := RAMState{
		Users:    slices.Clone(st.Users),
		Groups:   slices.Clone(st.Groups),
		Roles:    slices.Clone(st.Roles),
		Policies: slices.Clone(st.Policies),
	}
	policies := map[string]bool{}
	for i := range out.Policies {
		p := &out.Policies[i]
		if p.Type == "" {
			p.Type = aliyun.PolicyTypeCustom
		}
		if p.Type != aliyun.PolicyTypeCustom && p.Type != aliyun.PolicyTypeSystem {
			return out, fmt.Errorf("ram: policy %q: type %q: want Custom or System", p.Name, p.Type)
		}
		if err := ramName("policy", p.Name, policies); err != nil {
			return out, err
		}
		if !jsonObject(p.Document) {
			return out, fmt.Errorf("ram: policy %q: document must be a JSON object", p.Name)
		}
	}
	attached := func(kind, name string, names []string) error {
		for _, p := range names {
			if !policies[strings.ToLower(p)] {
				return fmt.Errorf("ram: %s %q: policy %q is not in policies", kind, name, p)
			}
		}
		return nil
	}
	groups := map[string]bool{}
	for _, g := range out.Groups {
		if err := ramName("group", g.Name, groups); err != nil {
			return out, err
		}
		if err := attached("group", g.Name, g.Policies); err != nil {
			return out, err
		}
	}
	users := map[string]bool{}
	for _, u := range out.Users {
		if err := ramName("user", u.Name, users); err != nil {
			return out, err
		}
		if err := attached("user", u.Name, u.Policies); err != nil {
			return out, err
		}
		for _, g := range u.Groups {
			if !groups[strings.ToLower(g)] {
				return out, fmt.Errorf("ram: user %q: group %q is not in groups", u.Name, g)
			}
		}
	}
	roles := map[string]bool{}
	for _, r := range out.Roles {
		if err := ramName("role", r.Name, roles); err != nil {
			return out, err
		}
		if err := attached("role", r.Name, r.Policies); err != nil {
			return out, err
		}
		if !jsonObject(r.TrustPolicy) {
			return out, fmt.Errorf("ram: role %q: trust_policy must be a JSON object", r.Name)
		}
	}
	return out, nil
}

// ramName checks a name (RAM's: 1 to 128 letters, digits, '.', '_', '-' and
// '@') and that it is new among seen.
func ramName(kind, name string, seen map[string]bool) error {
	if name == "" || len(name) > 128 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@") != "" {
		return fmt.Errorf("ram: %s %q: want 1-128 letters, digits, '.', '_', '-' or '@'", kind, name)
	}
	if seen[strings.ToLower(name)] {
		return fmt.Errorf("ram: duplicate %s %q", kind, name)
	}
	seen[strings.ToLower(name)] = true
	return nil
}

func jsonObject(raw json.RawMessage) bool {
	var m map[string]any
	return json.Unmarshal(raw, &m) == nil && m != nil
}

//go:embed testdata/ram.json
var exampleRAM []byte

// exampleRAMAccount is the account the example RAM's ARNs name.
const exampleRAMAccount = "1234567890123456"

// ExampleRAM returns the example RAM (testdata/ram.json, the one
// policies/lockdown/example-export was exported from) for account uid: its
// ARNs name uid.
func ExampleRAM(uid string) (RAMState, error) {
	b := bytes.ReplaceAll(exampleRAM, []byte(exampleRAMAccount), []byte(uid))
	var st RAMState
	if err := decodeStrict(b, &st); err != nil {
		return RAMState{}, fmt.Errorf("example ram: %w", err)
	}
	return normaliseRAM(st)
}

// ramStore holds every account's RAM.
type ramStore struct {
	mu       sync.Mutex
	accounts map[string]RAMState
}

// SetRAM replaces account uid's RAM.
func (s *Server) SetRAM(uid string, st RAMState) error {
	n, err := normaliseRAM(st)
	if err != nil {
		return fmt.Errorf("set ram: %w", err)
	}
	s.ram.mu.Lock()
	defer s.ram.mu.Unlock()
	if s.ram.accounts == nil {
		s.ram.accounts = map[string]RAMState{}
	}
	s.ram.accounts[uid] = n
	return nil
}

// RAM returns account uid's RAM (empty when it has none).
func (s *Server) RAM(uid string) RAMState {
	s.ram.mu.Lock()
	defer s.ram.mu.Unlock()
	return s.ram.accounts[uid]
}

// initRAM sets Config.RAM, or the example RAM for the first account.
func (s *Server) initRAM(cfg Config) error {
	if cfg.RAM == nil {
		st, err := ExampleRAM(cfg.Accounts[0].AccountID)
		if err != nil {
			return err
		}
		return s.SetRAM(cfg.Accounts[0].AccountID, st)
	}
	for uid, st := range cfg.RAM {
		if err := s.SetRAM(uid, st); err != nil {
			return fmt.Errorf("account %s: %w", uid, err)
		}
	}
	return nil
}

// serveRAMAdmin serves /_sim/ram?account=UID: GET returns the account's
// RAM, POST replaces it. Without account, the first configured account.
func (s *Server) serveRAMAdmin(w http.ResponseWriter, r *http.Request) {
	if !loopbackRemote(r.RemoteAddr) {
		writeAdmin(w, http.StatusForbidden, adminError{"the /_sim/ API answers loopback clients only"})
		return
	}
	uid := r.URL.Query().Get("account")
	if uid == "" {
		uid = s.defaultAccount
	}
	switch r.Method {
	case http.MethodGet:
		writeAdmin(w, http.StatusOK, s.RAM(uid))
	case http.MethodPost:
		b, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody))
		if err != nil {
			writeAdmin(w, http.StatusBadRequest, adminError{"read body: " + err.Error()})
			return
		}
		var st RAMState
		if err := decodeStrict(b, &st); err != nil {
			writeAdmin(w, http.StatusBadRequest, adminError{err.Error()})
			return
		}
		if err := s.SetRAM(uid, st); err != nil {
			writeAdmin(w, http.StatusBadRequest, adminError{err.Error()})
			return
		}
		writeAdmin(w, http.StatusOK, s.RAM(uid))
	default:
		methodNotAllowed(w, "GET, POST")
	}
}

// serveRAM answers a RAM action for acct's account from its RAM. RAM's
// quotas are not simulated.
func (s *Server) serveRAM(w http.ResponseWriter, r *http.Request, call *Call, acct Account, params url.Values) {
	call.ram = true
	st := s.RAM(acct.AccountID)
	s.answer(w, r, call, acct, ramDispatch(st, acct.AccountID, call.Action, params, call.RequestID))
}

func ramDispatch(st RAMState, uid, action string, p url.Values, requestID string) result {
	ok := func(body map[string]any) result {
		body["RequestId"] = requestID
		return result{status: http.StatusOK, body: body}
	}
	switch action {
	case aliyun.ActionListUsers:
		items := make([]any, len(st.Users))
		for i, u := range st.Users {
			items[i] = map[string]any{"UserId": ramID(uid, "user", u.Name), "UserName": u.Name,
				"DisplayName": cmpOr(u.DisplayName, u.Name), "CreateDate": ramDate, "UpdateDate": ramDate}
		}
		return ramPage(p, items, "Users", "User", ok)
	case aliyun.ActionListGroups:
		items := make([]any, len(st.Groups))
		for i, g := range st.Groups {
			items[i] = map[string]any{"GroupId": ramID(uid, "group", g.Name), "GroupName": g.Name,
				"Comments": g.Comments, "CreateDate": ramDate, "UpdateDate": ramDate}
		}
		return ramPage(p, items, "Groups", "Group", ok)
	case aliyun.ActionListRoles:
		items := make([]any, len(st.Roles))
		for i, role := range st.Roles {
			items[i] = ramRole(uid, role, false)
		}
		return ramPage(p, items, "Roles", "Role", ok)
	case aliyun.ActionListPolicies:
		var items []any
		for _, pol := range st.Policies {
			if t := p.Get("PolicyType"); t == "" || t == pol.Type {
				items = append(items, ramPolicy(st, pol))
			}
		}
		return ramPage(p, items, "Policies", "Policy", ok)
	case aliyun.ActionGetRole:
		role, res := ramFind(p, "RoleName", CodeRAMEntityNotExistRole, st.Roles, func(r RAMRole) string { return r.Name })
		if role == nil {
			return res
		}
		return ok(map[string]any{"Role": ramRole(uid, *role, true)})
	case aliyun.ActionListGroupsForUser:
		u, res := ramFind(p, "UserName", CodeRAMEntityNotExistUser, st.Users, func(u RAMUser) string { return u.Name })
		if u == nil {
			return res
		}
		groups := []any{}
		for _, g := range st.Groups {
			if slices.Contains(u.Groups, g.Name) {
				groups = append(groups, map[string]any{"GroupName": g.Name, "Comments": g.Comments, "JoinDate": ramDate})
			}
		}
		return ok(map[string]any{"Groups": map[string]any{"Group": groups}})
	case aliyun.ActionListPoliciesForUser:
		u, res := ramFind(p, "UserName", CodeRAMEntityNotExistUser, st.Users, func(u RAMUser) string { return u.Name })
		if u == nil {
			return res
		}
		return ok(ramAttached(st, u.Policies))
	case aliyun.ActionListPoliciesForGrp:
		g, res := ramFind(p, "GroupName", CodeRAMEntityNotExistGroup, st.Groups, func(g RAMGroup) string { return g.Name })
		if g == nil {
			return res
		}
		return ok(ramAttached(st, g.Policies))
	case aliyun.ActionListPoliciesForRole:
		role, res := ramFind(p, "RoleName", CodeRAMEntityNotExistRole, st.Roles, func(r RAMRole) string { return r.Name })
		if role == nil {
			return res
		}
		return ok(ramAttached(st, role.Policies))
	case aliyun.ActionGetPolicy, aliyun.ActionGetPolicyVersion:
		if p.Get("PolicyType") == "" {
			return errResult(CodeRAMMissingParameter)
		}
		pol, res := ramFind(p, "PolicyName", CodeRAMEntityNotExistPolicy, st.Policies, func(x RAMPolicy) string { return x.Name })
		if pol == nil {
			return res
		}
		if pol.Type != p.Get("PolicyType") {
			return errResult(CodeRAMEntityNotExistPolicy)
		}
		version := map[string]any{"VersionId": "v1", "IsDefaultVersion": true,
			"PolicyDocument": compactJSON(pol.Document), "CreateDate": ramDate}
		if action == aliyun.ActionGetPolicy {
			return ok(map[string]any{"Policy": ramPolicy(st, *pol), "DefaultPolicyVersion": version})
		}
		if v := p.Get("VersionId"); v == "" {
			return errResult(CodeRAMMissingParameter)
		} else if v != "v1" {
			return errResult(CodeRAMEntityNotExistVersion)
		}
		return ok(map[string]any{"PolicyVersion": version})
	}
	return errResult(aliyun.CodeInvalidActionNotFound)
}

// ramFind finds the entity named by parameter param: nil and the error to
// answer when it is missing or unknown. RAM names are case-insensitive.
func ramFind[T any](p url.Values, param, notFound string, list []T, name func(T) string) (*T, result) {
	want := p.Get(param)
	if want == "" {
		return nil, errResult(CodeRAMMissingParameter)
	}
	for i := range list {
		if strings.EqualFold(name(list[i]), want) {
			return &list[i], result{}
		}
	}
	return nil, errResult(notFound)
}

// ramPage answers one page of items under {outer: {inner: [...]}}, paged
// by Marker (the index of the next item) and MaxItems (1 to 1000).
func ramPage(p url.Values, items []any, outer, inner string, ok func(map[string]any) result) result {
	size := defaultRAMItems
	if v := p.Get("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > aliyun.MaxRAMItems {
			return errResult(CodeRAMInvalidParameter)
		}
		size = n
	}
	start := 0
	if m := p.Get("Marker"); m != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(m, "marker-"))
		if err != nil || !strings.HasPrefix(m, "marker-") || n < 0 || n > len(items) {
			return errResult(CodeRAMInvalidParameter)
		}
		start = n
	}
	end := min(start+size, len(items))
	page := items[start:end]
	if page == nil {
		page = []any{}
	}
	body := map[string]any{outer: map[string]any{inner: page}, "IsTruncated": end < len(items)}
	if end < len(items) {
		body["Marker"] = "marker-" + strconv.Itoa(end)
	}
	return ok(body)
}

func ramRole(uid string, r RAMRole, withTrust bool) map[string]any {
	m := map[string]any{"RoleId": ramID(uid, "role", r.Name), "RoleName": r.Name,
		"Arn": "acs:ram::" + uid + ":role/" + r.Name, "Description": r.Description,
		"MaxSessionDuration": 3600, "CreateDate": ramDate, "UpdateDate": ramDate}
	if withTrust {
		m["AssumeRolePolicyDocument"] = compactJSON(r.TrustPolicy)
	}
	return m
}

// ramPolicy is a policy as ListPolicies and GetPolicy answer it.
func ramPolicy(st RAMState, p RAMPolicy) map[string]any {
	m := map[string]any{"PolicyName": p.Name, "PolicyType": p.Type, "Description": p.Description,
		"DefaultVersion": "v1", "CreateDate": ramDate, "UpdateDate": ramDate}
	n := 0
	for _, u := range st.Users {
		n += count(u.Policies, p.Name)
	}
	for _, g := range st.Groups {
		n += count(g.Policies, p.Name)
	}
	for _, r := range st.Roles {
		n += count(r.Policies, p.Name)
	}
	m["AttachmentCount"] = n
	return m
}

func count(names []string, name string) int {
	if slices.Contains(names, name) {
		return 1
	}
	return 0
}

// ramAttached is a ListPoliciesFor* answer: the named policies, in order.
func ramAttached(st RAMState, names []string) map[string]any {
	items := []any{}
	for _, name := range names {
		for _, p := range st.Policies {
			if p.Name == name {
				items = append(items, map[string]any{"PolicyName": p.Name, "PolicyType": p.Type,
					"Description": p.Description, "DefaultVersion": "v1", "AttachDate": ramDate})
			}
		}
	}
	return map[string]any{"Policies": map[string]any{"Policy": items}}
}

// ramID is a stable id for an entity: digits from a hash of the account,
// kind and name.
func ramID(uid, kind, name string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(uid + "/" + kind + "/" + strings.ToLower(name)))
	return fmt.Sprintf("%016d", h.Sum64()%10_000_000_000_000_000)
}

// compactJSON is a document as RAM returns it: a JSON string.
func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// RAMMap returns the RAM of the state file's accounts that have one, as
// Config.RAM wants it; nil when none has.
func (f StateFile) RAMMap() map[string]RAMState {
	var m map[string]RAMState
	for uid, a := range f.Accounts {
		if a.RAM != nil {
			if m == nil {
				m = map[string]RAMState{}
			}
			m[uid] = *a.RAM
		}
	}
	return m
}

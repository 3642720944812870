package aliyun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"
)

// RAM (Resource Access Management), the API `rdsgate ram export` reads:
// version 2015-05-01, RPC style, one central endpoint.
const (
	// RAMAPIVersion is the RAM API version every RAM call uses.
	RAMAPIVersion = "2015-05-01"
	// DefaultRAMEndpoint is RAM's endpoint.
	DefaultRAMEndpoint = "ram.aliyuncs.com"
	// MaxRAMItems is the largest MaxItems the List actions accept.
	MaxRAMItems = 1000
)

// The RAM actions RAMClient calls.
const (
	ActionListUsers           = "ListUsers"
	ActionListGroups          = "ListGroups"
	ActionListGroupsForUser   = "ListGroupsForUser"
	ActionListRoles           = "ListRoles"
	ActionGetRole             = "GetRole"
	ActionListPolicies        = "ListPolicies"
	ActionListPoliciesForUser = "ListPoliciesForUser"
	ActionListPoliciesForGrp  = "ListPoliciesForGroup"
	ActionListPoliciesForRole = "ListPoliciesForRole"
	ActionGetPolicy           = "GetPolicy"
	ActionGetPolicyVersion    = "GetPolicyVersion"
)

// RAMUser is a user of ListUsers (and, with JoinDate, of ListUsersForGroup).
type RAMUser struct {
	UserId      string `json:"UserId,omitempty"`
	UserName    string `json:"UserName"`
	DisplayName string `json:"DisplayName,omitempty"`
	Comments    string `json:"Comments,omitempty"`
	CreateDate  string `json:"CreateDate,omitempty"`
	UpdateDate  string `json:"UpdateDate,omitempty"`
}

// ListUsersResponse is ListUsers' answer: Users.User[], paged by Marker.
type ListUsersResponse struct {
	RequestId   string `json:"RequestId"`
	IsTruncated bool   `json:"IsTruncated"`
	Marker      string `json:"Marker,omitempty"`
	Users       struct {
		User []RAMUser `json:"User"`
	} `json:"Users"`
}

// RAMGroup is a group of ListGroups or ListGroupsForUser (JoinDate).
type RAMGroup struct {
	GroupId    string `json:"GroupId,omitempty"`
	GroupName  string `json:"GroupName"`
	Comments   string `json:"Comments,omitempty"`
	CreateDate string `json:"CreateDate,omitempty"`
	UpdateDate string `json:"UpdateDate,omitempty"`
	JoinDate   string `json:"JoinDate,omitempty"`
}

// ListGroupsResponse is the answer of ListGroups (paged by Marker) and of
// ListGroupsForUser (one answer): Groups.Group[].
type ListGroupsResponse struct {
	RequestId   string `json:"RequestId"`
	IsTruncated bool   `json:"IsTruncated"`
	Marker      string `json:"Marker,omitempty"`
	Groups      struct {
		Group []RAMGroup `json:"Group"`
	} `json:"Groups"`
}

// RAMRole is a role of ListRoles or GetRole. Only GetRole carries
// AssumeRolePolicyDocument, the trust policy (a JSON document as a string).
type RAMRole struct {
	RoleId                   string `json:"RoleId,omitempty"`
	RoleName                 string `json:"RoleName"`
	Arn                      string `json:"Arn"`
	Description              string `json:"Description,omitempty"`
	MaxSessionDuration       int64  `json:"MaxSessionDuration,omitempty"`
	CreateDate               string `json:"CreateDate,omitempty"`
	UpdateDate               string `json:"UpdateDate,omitempty"`
	AssumeRolePolicyDocument string `json:"AssumeRolePolicyDocument,omitempty"`
}

// ListRolesResponse is ListRoles' answer: Roles.Role[], paged by Marker.
type ListRolesResponse struct {
	RequestId   string `json:"RequestId"`
	IsTruncated bool   `json:"IsTruncated"`
	Marker      string `json:"Marker,omitempty"`
	Roles       struct {
		Role []RAMRole `json:"Role"`
	} `json:"Roles"`
}

// GetRoleResponse is GetRole's answer.
type GetRoleResponse struct {
	RequestId string  `json:"RequestId"`
	Role      RAMRole `json:"Role"`
}

// Policy types of RAM.
const (
	PolicyTypeSystem = "System"
	PolicyTypeCustom = "Custom"
)

// RAMPolicy is a policy of ListPolicies, ListPoliciesFor* (AttachDate) or
// GetPolicy.
type RAMPolicy struct {
	PolicyName      string `json:"PolicyName"`
	PolicyType      string `json:"PolicyType"`
	Description     string `json:"Description,omitempty"`
	DefaultVersion  string `json:"DefaultVersion,omitempty"`
	CreateDate      string `json:"CreateDate,omitempty"`
	UpdateDate      string `json:"UpdateDate,omitempty"`
	AttachDate      string `json:"AttachDate,omitempty"`
	AttachmentCount int    `json:"AttachmentCount,omitempty"`
}

// ListPoliciesResponse is the answer of ListPolicies (paged by Marker) and
// of ListPoliciesForUser, ListPoliciesForGroup and ListPoliciesForRole (one
// answer each): Policies.Policy[].
type ListPoliciesResponse struct {
	RequestId   string `json:"RequestId"`
	IsTruncated bool   `json:"IsTruncated"`
	Marker      string `json:"Marker,omitempty"`
	Policies    struct {
		Policy []RAMPolicy `json:"Policy"`
	} `json:"Policies"`
}

// RAMPolicyVersion is a version of a policy; PolicyDocument is the document
// as a JSON string.
type RAMPolicyVersion struct {
	VersionId        string `json:"VersionId"`
	IsDefaultVersion bool   `json:"IsDefaultVersion"`
	PolicyDocument   string `json:"PolicyDocument"`
	CreateDate       string `json:"CreateDate,omitempty"`
}

// GetPolicyResponse is GetPolicy's answer: the policy and its default
// version, document included.
type GetPolicyResponse struct {
	RequestId            string           `json:"RequestId"`
	Policy               RAMPolicy        `json:"Policy"`
	DefaultPolicyVersion RAMPolicyVersion `json:"DefaultPolicyVersion"`
}

// GetPolicyVersionResponse is GetPolicyVersion's answer.
type GetPolicyVersionResponse struct {
	RequestId     string           `json:"RequestId"`
	PolicyVersion RAMPolicyVersion `json:"PolicyVersion"`
}

// RAMClient calls RAM (version 2015-05-01) with the signing, credentials
// and error handling of Client. It is safe for concurrent use.
type RAMClient struct {
	c *Client
}

// NewRAM returns a RAM client. cfg is a Client's configuration; an empty
// Endpoint means DefaultRAMEndpoint. It contacts nothing.
func NewRAM(cfg Config) (*RAMClient, error) {
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultRAMEndpoint
	}
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return &RAMClient{c: c}, nil
}

// Endpoint returns the host[:port] the client calls.
func (r *RAMClient) Endpoint() string { return r.c.endpoint }

// ListUsers lists one page of the account's users, from marker ("" for the
// first page); maxItems 0 sends none (the API's default page).
func (r *RAMClient) ListUsers(ctx context.Context, marker string, maxItems int) (*ListUsersResponse, error) {
	return ramDo[ListUsersResponse](ctx, r, ActionListUsers, paging(nil, marker, maxItems))
}

// ListGroups lists one page of the account's groups.
func (r *RAMClient) ListGroups(ctx context.Context, marker string, maxItems int) (*ListGroupsResponse, error) {
	return ramDo[ListGroupsResponse](ctx, r, ActionListGroups, paging(nil, marker, maxItems))
}

// ListGroupsForUser lists the groups user belongs to.
func (r *RAMClient) ListGroupsForUser(ctx context.Context, user string) (*ListGroupsResponse, error) {
	return ramDo[ListGroupsResponse](ctx, r, ActionListGroupsForUser, map[string]string{"UserName": user})
}

// ListRoles lists one page of the account's roles (without their trust
// policies: GetRole has them).
func (r *RAMClient) ListRoles(ctx context.Context, marker string, maxItems int) (*ListRolesResponse, error) {
	return ramDo[ListRolesResponse](ctx, r, ActionListRoles, paging(nil, marker, maxItems))
}

// GetRole returns a role with its trust policy.
func (r *RAMClient) GetRole(ctx context.Context, role string) (*GetRoleResponse, error) {
	return ramDo[GetRoleResponse](ctx, r, ActionGetRole, map[string]string{"RoleName": role})
}

// ListPolicies lists one page of the policies of policyType ("System",
// "Custom", or "" for both).
func (r *RAMClient) ListPolicies(ctx context.Context, policyType, marker string, maxItems int) (*ListPoliciesResponse, error) {
	q := map[string]string{}
	setString(q, "PolicyType", policyType)
	return ramDo[ListPoliciesResponse](ctx, r, ActionListPolicies, paging(q, marker, maxItems))
}

// ListPoliciesForUser lists the policies attached to user.
func (r *RAMClient) ListPoliciesForUser(ctx context.Context, user string) (*ListPoliciesResponse, error) {
	return ramDo[ListPoliciesResponse](ctx, r, ActionListPoliciesForUser, map[string]string{"UserName": user})
}

// ListPoliciesForGroup lists the policies attached to group.
func (r *RAMClient) ListPoliciesForGroup(ctx context.Context, group string) (*ListPoliciesResponse, error) {
	return ramDo[ListPoliciesResponse](ctx, r, ActionListPoliciesForGrp, map[string]string{"GroupName": group})
}

// ListPoliciesForRole lists the policies attached to role.
func (r *RAMClient) ListPoliciesForRole(ctx context.Context, role string) (*ListPoliciesResponse, error) {
	return ramDo[ListPoliciesResponse](ctx, r, ActionListPoliciesForRole, map[string]string{"RoleName": role})
}

// GetPolicy returns a policy and its default version's document.
func (r *RAMClient) GetPolicy(ctx context.Context, policyType, name string) (*GetPolicyResponse, error) {
	return ramDo[GetPolicyResponse](ctx, r, ActionGetPolicy, map[string]string{"PolicyType": policyType, "PolicyName": name})
}

// GetPolicyVersion returns one version of a policy.
func (r *RAMClient) GetPolicyVersion(ctx context.Context, policyType, name, version string) (*GetPolicyVersionResponse, error) {
	return ramDo[GetPolicyVersionResponse](ctx, r, ActionGetPolicyVersion,
		map[string]string{"PolicyType": policyType, "PolicyName": name, "VersionId": version})
}

// ramDo calls action and decodes its answer as T; nil on failure.
func ramDo[T any](ctx context.Context, r *RAMClient, action string, query map[string]string) (*T, error) {
	var out T
	if err := r.call(ctx, action, query, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func paging(q map[string]string, marker string, maxItems int) map[string]string {
	if q == nil {
		q = map[string]string{}
	}
	setString(q, "Marker", marker)
	if maxItems > 0 {
		q["MaxItems"] = strconv.Itoa(maxItems)
	}
	return q
}

// call performs one RAM action the way Client.call performs an RDS one
// (the same credential resolution, transport, timeout and *APIError), with
// RAM's version.
func (r *RAMClient) call(ctx context.Context, action string, query map[string]string, out any) (err error) {
	c := r.c
	start := time.Now()
	defer func() {
		attrs := []slog.Attr{slog.String("action", action), slog.Duration("elapsed", time.Since(start))}
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			attrs = append(attrs, slog.String("code", apiErr.Code), slog.Int("status", apiErr.HTTPStatus),
				slog.String("request_id", apiErr.RequestID))
		}
		c.logger.LogAttrs(ctx, slog.LevelDebug, "ram call", attrs...)
	}()
	if _, err := c.cred.GetCredential(); err != nil {
		e := &APIError{Action: action, Code: CodeInvalidCredentials, Message: "resolve credentials: " + err.Error(),
			Class: ClassPermanent, Err: err}
		if rc, ok := c.cred.(roleCredential); ok {
			e.Message = "assume role " + rc.roleARN + ": " + err.Error()
		}
		return e
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	st := &callState{ctx: ctx}
	ctx = context.WithValue(ctx, callStateKey{}, st)
	defer st.closeBody()
	api, err := openapi.NewClient(&openapi.Config{
		Endpoint:   tea.String(c.endpoint),
		Protocol:   tea.String(c.protocol),
		RegionId:   tea.String(c.regionID),
		Credential: c.cred,
		HttpClient: httpDoer{client: c.http},
	})
	if err != nil {
		return &APIError{Action: action, Message: "build openapi client: " + err.Error(), Class: ClassPermanent, Err: err}
	}
	api.DisableSDKError = tea.Bool(true)
	q := make(map[string]*string, len(query))
	for k, v := range query {
		q[k] = tea.String(v)
	}
	p := params(action)
	p.Version = tea.String(RAMAPIVersion)
	res, err := api.CallApiWithCtx(ctx, p, &openapi.OpenApiRequest{Query: q}, &dara.RuntimeOptions{})
	if err != nil {
		return c.convertError(ctx, action, err, st)
	}
	raw, err := json.Marshal(res["body"])
	if err == nil {
		err = json.Unmarshal(raw, out)
	}
	if err != nil {
		return &APIError{Action: action, HTTPStatus: statusOf(res["statusCode"]), Message: "decode response body: " + err.Error(),
			Class: ClassPermanent, Err: err}
	}
	return nil
}

// String describes the client without secrets.
func (r *RAMClient) String() string { return fmt.Sprintf("aliyun.RAMClient{%s}", r.c) }

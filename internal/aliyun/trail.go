package aliyun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/tea"
)

// ActionTrail's LookupEvents (API version 2020-07-06), as the generated
// actiontrail-20200706 SDK calls it: RPC style, ACS3-HMAC-SHA256 through
// darabonba-openapi, every parameter in the query.
const (
	// TrailAPIVersion is the ActionTrail API version LookupEvents is called
	// with.
	TrailAPIVersion = "2020-07-06"
	// ActionLookupEvents queries an account's events.
	ActionLookupEvents = "LookupEvents"
	// TrailTimeLayout is the format of StartTime, EndTime and eventTime:
	// ISO 8601 in UTC.
	TrailTimeLayout = "2006-01-02T15:04:05Z"
	// MaxLookupResults is the most events one LookupEvents page holds
	// (MaxResults is 1 to 50).
	MaxLookupResults = 50
	// DefaultLookupResults is the page size rdsgate's client asks for when
	// LookupEventsRequest.MaxResults is 0: the documentation's example
	// value, 20. (The API documents no default; the simulator also pages by
	// 20 when MaxResults is absent.)
	DefaultLookupResults = 20
	// TrailRatePerSecond is LookupEvents' documented quota: "at most twice
	// per second" per account.
	TrailRatePerSecond = 2
	// TrailRoleSessionName names the role sessions of Clients.Trail.
	TrailRoleSessionName = "rdsgate-trail"
)

// Lookup attribute keys the gateway uses (LookupAttribute.N.Key). The API
// accepts one or two attributes per call.
const (
	LookupKeyEventName    = "EventName"
	LookupKeyResourceName = "ResourceName"
	LookupKeyEventRW      = "EventRW"
	LookupKeyEventID      = "EventId"
)

// Values of TrailUserIdentity.Type.
const (
	IdentityRAMUser     = "ram-user"
	IdentityAssumedRole = "assumed-role"
	IdentityRootAccount = "root-account"
)

// trailCentral are the regions the generated actiontrail-20200706 SDK maps
// to actiontrail.aliyuncs.com (its EndpointMap); trailTokyo those it maps to
// actiontrail.ap-northeast-1.aliyuncs.com.
var (
	trailCentral = map[string]bool{
		"cn-beijing-finance-1": true, "cn-beijing-finance-pop": true, "cn-beijing-gov-1": true,
		"cn-beijing-nu16-b01": true, "cn-edge-1": true, "cn-fujian": true, "cn-haidian-cm12-c01": true,
		"cn-hangzhou-bj-b01": true, "cn-hangzhou-finance": true, "cn-hangzhou-internal-prod-1": true,
		"cn-hangzhou-internal-test-1": true, "cn-hangzhou-internal-test-2": true,
		"cn-hangzhou-internal-test-3": true, "cn-hangzhou-test-306": true, "cn-hongkong-finance-pop": true,
		"cn-qingdao-nebula": true, "cn-shanghai-et15-b01": true, "cn-shanghai-et2-b01": true,
		"cn-shanghai-inner": true, "cn-shanghai-internal-test-1": true, "cn-shenzhen-finance-1": true,
		"cn-shenzhen-inner": true, "cn-shenzhen-st4-d01": true, "cn-shenzhen-su18-b01": true,
		"cn-wuhan": true, "cn-yushanfang": true, "cn-zhangbei-na61-b01": true,
		"cn-zhangjiakou-na62-a01": true, "cn-zhengzhou-nebula-1": true,
	}
	trailTokyo = map[string]bool{"ap-northeast-2-pop": true, "eu-west-1-oxs": true, "rus-west-1-pop": true}
)

// DefaultTrailEndpoint returns the endpoint the generated
// actiontrail-20200706 SDK resolves for regionID (endpoint rule "regional"):
// actiontrail.<regionID>.aliyuncs.com, except the regions its EndpointMap
// sends to actiontrail.aliyuncs.com or actiontrail.ap-northeast-1.aliyuncs.com.
func DefaultTrailEndpoint(regionID string) string {
	switch {
	case trailCentral[regionID]:
		return "actiontrail.aliyuncs.com"
	case trailTokyo[regionID]:
		return "actiontrail.ap-northeast-1.aliyuncs.com"
	default:
		return "actiontrail." + regionID + ".aliyuncs.com"
	}
}

// TrailClient calls ActionTrail's LookupEvents with the same credentials,
// transport, timeout, logging and error classification as Client (errors
// are *APIError). It is safe for concurrent use.
type TrailClient struct {
	c *Client
}

// NewTrail validates cfg and returns a TrailClient. cfg is a Client's
// configuration; an empty Endpoint means DefaultTrailEndpoint(RegionID).
func NewTrail(cfg Config) (*TrailClient, error) {
	if cfg.Endpoint == "" {
		if cfg.RegionID == "" {
			return nil, errors.New("aliyun config: trail endpoint or region id is required")
		}
		cfg.Endpoint = DefaultTrailEndpoint(cfg.RegionID)
	}
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return &TrailClient{c: c}, nil
}

// Endpoint returns the host[:port] the client calls.
func (t *TrailClient) Endpoint() string { return t.c.endpoint }

// RegionID returns the client's region.
func (t *TrailClient) RegionID() string { return t.c.regionID }

// String describes the client without secrets.
func (t *TrailClient) String() string {
	return strings.Replace(t.c.String(), "aliyun.Client{", "aliyun.TrailClient{", 1)
}

// GoString is String, so that %#v does not print internals.
func (t *TrailClient) GoString() string { return t.String() }

// LogValue renders the client for slog without secrets.
func (t *TrailClient) LogValue() slog.Value { return t.c.LogValue() }

// LookupAttribute is one LookupAttribute.N: Key (LookupKeyEventName, …) and
// Value.
type LookupAttribute struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// LookupEventsRequest mirrors the actiontrail-20200706 SDK model. Zero-valued
// fields are not sent.
type LookupEventsRequest struct {
	// LookupAttributes are sent as LookupAttribute.1.Key,
	// LookupAttribute.1.Value, … (one or two; several match all).
	LookupAttributes []LookupAttribute
	// StartTime and EndTime bound eventTime (both inclusive), sent as
	// TrailTimeLayout in UTC; zero sends nothing (the API then uses seven
	// days ago and now).
	StartTime time.Time
	EndTime   time.Time
	// NextToken continues a previous answer; the other parameters must be
	// the same as in that call.
	NextToken string
	// MaxResults is 1 to MaxLookupResults; 0 sends DefaultLookupResults.
	MaxResults int
	// Direction is "BACKWARD" (newest first, the API's default, sent as
	// nothing when empty) or "FORWARD".
	Direction string
}

func (r LookupEventsRequest) query() (map[string]string, error) {
	q := map[string]string{}
	for i, a := range r.LookupAttributes {
		n := strconv.Itoa(i + 1)
		q["LookupAttribute."+n+".Key"] = a.Key
		q["LookupAttribute."+n+".Value"] = a.Value
	}
	if !r.StartTime.IsZero() {
		q["StartTime"] = r.StartTime.UTC().Format(TrailTimeLayout)
	}
	if !r.EndTime.IsZero() {
		q["EndTime"] = r.EndTime.UTC().Format(TrailTimeLayout)
	}
	setString(q, "NextToken", r.NextToken)
	switch {
	case r.MaxResults < 0 || r.MaxResults > MaxLookupResults:
		return nil, fmt.Errorf("lookup events: MaxResults %d: want 1 to %d", r.MaxResults, MaxLookupResults)
	case r.MaxResults == 0:
		q["MaxResults"] = strconv.Itoa(DefaultLookupResults)
	default:
		q["MaxResults"] = strconv.Itoa(r.MaxResults)
	}
	setString(q, "Direction", r.Direction)
	return q, nil
}

// LookupEventsResponse is one page of events.
type LookupEventsResponse struct {
	// HTTPStatus is the status of the answer (200).
	HTTPStatus int    `json:"-"`
	RequestId  string `json:"RequestId"`
	// Events are newest first (BACKWARD) or oldest first (FORWARD).
	Events []TrailEvent `json:"Events"`
	// NextToken fetches the next page; empty on the last one.
	NextToken string `json:"NextToken"`
	// StartTime and EndTime are the window the API applied.
	StartTime string `json:"StartTime"`
	EndTime   string `json:"EndTime"`
}

// TrailEvent is one ActionTrail event (the management event structure): the
// fields the gateway reads, plus Raw, the event as received.
type TrailEvent struct {
	EventID     string `json:"eventId"`
	EventName   string `json:"eventName"`
	EventSource string `json:"eventSource"`
	// EventTime is UTC, TrailTimeLayout; see Time.
	EventTime string `json:"eventTime"`
	// EventType is "ApiCall", "ConsoleOperation", …
	EventType string `json:"eventType"`
	// EventRW is "Write" or "Read".
	EventRW    string `json:"eventRW"`
	APIVersion string `json:"apiVersion"`
	// RequestID is the RequestId the API answered the call with: for the
	// gateway's own releases, the one its client got back.
	RequestID       string            `json:"requestId"`
	AcsRegion       string            `json:"acsRegion"`
	ServiceName     string            `json:"serviceName"`
	SourceIPAddress string            `json:"sourceIpAddress"`
	UserAgent       string            `json:"userAgent"`
	UserIdentity    TrailUserIdentity `json:"userIdentity"`
	// RequestParameters is the call's parameters as a JSON object (values
	// are usually strings, sometimes numbers); see Param.
	RequestParameters json.RawMessage `json:"requestParameters,omitempty"`
	// ErrorCode and ErrorMessage are set when the call failed.
	ErrorCode    string `json:"errorCode,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
	// Raw is the whole event as received.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes the event and keeps its raw form in Raw.
func (e *TrailEvent) UnmarshalJSON(b []byte) error {
	type plain TrailEvent
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*e = TrailEvent(p)
	e.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// Time parses EventTime.
func (e TrailEvent) Time() (time.Time, error) {
	t, err := time.Parse(TrailTimeLayout, e.EventTime)
	if err != nil {
		return time.Time{}, fmt.Errorf("trail event %s: eventTime: %w", e.EventID, err)
	}
	return t, nil
}

// Failed reports whether the recorded call failed (ErrorCode is set).
func (e TrailEvent) Failed() bool { return e.ErrorCode != "" }

// Param returns requestParameters[name] as a string ("" when absent; numbers
// in their JSON form).
func (e TrailEvent) Param(name string) string {
	if len(e.RequestParameters) == 0 {
		return ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(e.RequestParameters, &m) != nil {
		return ""
	}
	raw, ok := m[name]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if string(raw) == "null" {
		return ""
	}
	return string(raw)
}

// DBInstanceID is requestParameters.DBInstanceId.
func (e TrailEvent) DBInstanceID() string { return e.Param("DBInstanceId") }

// CurrentConnectionString is requestParameters.CurrentConnectionString.
func (e TrailEvent) CurrentConnectionString() string { return e.Param("CurrentConnectionString") }

// TrailUserIdentity is the event's userIdentity.
type TrailUserIdentity struct {
	// Type is IdentityRAMUser, IdentityAssumedRole, IdentityRootAccount, …
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
	AccountID   string `json:"accountId"`
	// UserName is the RAM user's name; for an assumed role
	// "<role name>:<role session name>" (see SessionName).
	UserName    string `json:"userName"`
	AccessKeyID string `json:"accessKeyId,omitempty"`
	// Arn is the assumed role session's ARN where the event carries one.
	Arn            string               `json:"arn,omitempty"`
	SessionContext *TrailSessionContext `json:"sessionContext,omitempty"`
}

// SessionName returns an assumed role's session name: what follows the
// last ":" of UserName (e.g. "rdsgate-<request id>"); "" for other types.
func (u TrailUserIdentity) SessionName() string {
	if u.Type != IdentityAssumedRole {
		return ""
	}
	if i := strings.LastIndexByte(u.UserName, ':'); i >= 0 {
		return u.UserName[i+1:]
	}
	return u.UserName
}

// RoleName returns an assumed role's name: what precedes the last ":" of
// UserName; "" for other types.
func (u TrailUserIdentity) RoleName() string {
	if u.Type != IdentityAssumedRole {
		return ""
	}
	if i := strings.LastIndexByte(u.UserName, ':'); i >= 0 {
		return u.UserName[:i]
	}
	return ""
}

// TrailSessionContext is userIdentity.sessionContext.
type TrailSessionContext struct {
	Attributes TrailSessionAttributes `json:"attributes"`
}

// TrailSessionAttributes are the session's attributes.
type TrailSessionAttributes struct {
	MfaAuthenticated string `json:"mfaAuthenticated"`
	CreationDate     string `json:"creationDate"`
}

// trailParams are the openapi parameters of the generated
// actiontrail-20200706 SDK's LookupEvents.
func trailParams(action string) *openapi.Params {
	p := params(action)
	p.Version = tea.String(TrailAPIVersion)
	return p
}

// LookupEvents reads one page of the account's events. On failure the
// error is an *APIError (Throttling.User and the like are retryable).
func (t *TrailClient) LookupEvents(ctx context.Context, req LookupEventsRequest) (*LookupEventsResponse, error) {
	q, err := req.query()
	if err != nil {
		return nil, &APIError{Action: ActionLookupEvents, Message: err.Error(), Class: ClassPermanent, Err: err}
	}
	var out LookupEventsResponse
	status, err := t.c.callParams(ctx, trailParams(ActionLookupEvents), "", q, &out)
	if err != nil {
		return nil, err
	}
	out.HTTPStatus = status
	return &out, nil
}

// Trail returns the ActionTrail client for regionID ("" for the base
// configuration's region) that acts as roleARN (empty: the base credential),
// in the role session TrailRoleSessionName. Its endpoint is
// ClientsConfig.TrailEndpoint, else DefaultTrailEndpoint(regionID); its
// protocol, timeout, logger and roots are the base configuration's. Clients
// are cached with the RDS clients.
func (c *Clients) Trail(roleARN, regionID string) (*TrailClient, error) {
	cfg := c.base
	if regionID != "" {
		cfg.RegionID = regionID
	}
	endpoint := c.trailEndpoint
	if endpoint == "" {
		if cfg.RegionID == "" {
			return nil, errors.New("aliyun config: trail endpoint or region id is required")
		}
		endpoint = DefaultTrailEndpoint(cfg.RegionID)
	}
	cfg.Endpoint = endpoint
	session := ""
	if roleARN != "" {
		session = TrailRoleSessionName
	}
	cl, err := c.cached(clientKey{roleARN: roleARN, endpoint: "trail|" + endpoint + "|" + cfg.RegionID, session: session}, cfg)
	if err != nil {
		return nil, err
	}
	return &TrailClient{c: cl}, nil
}

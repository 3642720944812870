package rdssim

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/rdsgate/rdsgate/internal/aliyun"
)

// releasePublicLocked serves ReleaseInstancePublicConnection: as
// ReleaseInstanceConnection, without InstanceNetworkType, and with
// Endpoint.NotFound answered at HTTP 400 "Specified endpoint is not found."
// as its documentation gives it. The caller holds s.mu.
func (s *Server) releasePublicLocked(acct Account, params url.Values, requestID string) result {
	id := params.Get("DBInstanceId")
	cs := params.Get("CurrentConnectionString")
	if id == "" || cs == "" {
		return errResult(aliyun.CodeRequiredParamNotFound)
	}
	inst := s.instanceLocked(acct, id)
	if inst == nil {
		return errResult(aliyun.CodeInvalidDBInstanceIDNotFound)
	}
	if inst.Status != "Running" {
		return errResult(aliyun.CodeInvalidStatusFormat)
	}
	i := inst.publicEndpoint(cs)
	if i < 0 {
		status, _ := lookupActionError(aliyun.ActionReleaseInstancePublicConnection, aliyun.CodeEndpointNotFound)
		return result{status: status, code: aliyun.CodeEndpointNotFound}
	}
	inst.Endpoints = append(inst.Endpoints[:i:i], inst.Endpoints[i+1:]...)
	return result{status: http.StatusOK, body: map[string]string{"RequestId": requestID}}
}

// ConsoleRelease is a release "from the console": made by a RAM user
// outside rdsgate, with no signed API call. JSON (POST /_sim/console/release):
//
//	{"account_id":"1234567890123456","region_id":"cn-hangzhou",
//	 "db_instance_id":"rm-...","connection_string":"rm-....mysql.rds.aliyuncs.com",
//	 "api":"ReleaseInstanceConnection","user":"alice-console","source_ip":"198.51.100.23"}
type ConsoleRelease struct {
	// AccountID is the 16-digit account the user belongs to; required.
	AccountID string `json:"account_id"`
	// RegionID is the event's acsRegion when the instance has no region.
	RegionID string `json:"region_id,omitempty"`
	// DBInstanceID and ConnectionString name the public endpoint.
	DBInstanceID     string `json:"db_instance_id"`
	ConnectionString string `json:"connection_string"`
	// API is ReleaseInstanceConnection (default) or
	// ReleaseInstancePublicConnection.
	API string `json:"api,omitempty"`
	// User is the RAM user's name; required.
	User string `json:"user"`
	// SourceIP is the user's address as ActionTrail records it; default
	// 127.0.0.1.
	SourceIP string `json:"source_ip,omitempty"`
}

// ConsoleReleaseResult identifies what a console release left behind: the
// RequestId the console got and the trail event recording it.
type ConsoleReleaseResult struct {
	RequestID string `json:"request_id"`
	EventID   string `json:"event_id"`
}

// ConsoleReleaseError is a console release the API refused, with the code,
// status and message the API call would have got. The trail records it too.
type ConsoleReleaseError struct {
	ConsoleReleaseResult
	Code       string `json:"code"`
	HTTPStatus int    `json:"http_status"`
	Message    string `json:"message"`
}

func (e *ConsoleReleaseError) Error() string {
	return fmt.Sprintf("console release: %s (HTTP %d): %s [request id %s]", e.Code, e.HTTPStatus, e.Message, e.RequestID)
}

// validate checks req and fills its defaults.
func (req *ConsoleRelease) validate() error {
	if !accountIDPattern.MatchString(req.AccountID) {
		return fmt.Errorf("console release: account_id %q: want a 16-digit account uid", req.AccountID)
	}
	if req.User == "" {
		return errors.New("console release: user is required")
	}
	switch req.API {
	case "":
		req.API = aliyun.ActionReleaseInstanceConnection
	case aliyun.ActionReleaseInstanceConnection, aliyun.ActionReleaseInstancePublicConnection:
	default:
		return fmt.Errorf("console release: api %q: want %s or %s", req.API,
			aliyun.ActionReleaseInstanceConnection, aliyun.ActionReleaseInstancePublicConnection)
	}
	if req.SourceIP == "" {
		req.SourceIP = "127.0.0.1"
	}
	if net.ParseIP(req.SourceIP) == nil {
		return fmt.Errorf("console release: source_ip %q: not an IP address", req.SourceIP)
	}
	return nil
}

// ConsoleRelease performs req on the state exactly as the API would for
// req.AccountID (same checks, same errors; the console sends the instance's
// own InstanceNetworkType), without a signed call, quota or faults, and
// records a trail event of type "ram-user" with req.User, req.SourceIP and
// userAgent "AliyunConsole". A refusal by the API is a *ConsoleReleaseError
// (recorded too); an invalid req is another error and records nothing.
func (s *Server) ConsoleRelease(req ConsoleRelease) (ConsoleReleaseResult, error) {
	if err := req.validate(); err != nil {
		return ConsoleReleaseResult{}, err
	}
	acct := Account{AccountID: req.AccountID, UserName: req.User}
	params := url.Values{}
	params.Set("DBInstanceId", req.DBInstanceID)
	params.Set("CurrentConnectionString", req.ConnectionString)
	if req.RegionID != "" {
		params.Set("RegionId", req.RegionID)
	}
	now := s.now()
	requestID := newRequestID()
	s.mu.Lock()
	if req.API == aliyun.ActionReleaseInstanceConnection {
		netType := "0"
		if inst := s.instanceLocked(acct, req.DBInstanceID); inst != nil && inst.NetworkType == NetworkClassic {
			netType = "1"
		}
		params.Set("InstanceNetworkType", netType)
	}
	s.mu.Unlock()
	res := s.dispatch(acct, req.API, params, requestID)
	src := &trailSource{
		sourceIP:  req.SourceIP,
		userAgent: ConsoleUserAgent,
		host:      HostID,
		params:    params,
		identity: TrailUserIdentity{
			Type:        aliyun.IdentityRAMUser,
			PrincipalID: principalID(req.AccountID, req.User),
			AccountID:   req.AccountID,
			UserName:    req.User,
			SessionContext: &TrailSessionContext{Attributes: TrailSessionAttributes{
				MfaAuthenticated: "false", CreationDate: now.UTC().Format(aliyun.TrailTimeLayout)}},
		},
	}
	s.mu.Lock()
	eventID := s.appendTrailLocked(now, req.API, requestID, req.AccountID, res.code, src)
	s.mu.Unlock()
	out := ConsoleReleaseResult{RequestID: requestID, EventID: eventID}
	if res.code != "" {
		status, message := lookupActionError(req.API, res.code)
		return out, &ConsoleReleaseError{ConsoleReleaseResult: out, Code: res.code, HTTPStatus: status, Message: message}
	}
	return out, nil
}

// trailBody is the answer of GET /_sim/trail.
type trailBody struct {
	Events  []TrailEvent `json:"events"`
	DelayMS int64        `json:"delay_ms"`
}

// postConsoleRelease serves POST /_sim/console/release: 200
// {"request_id","event_id"}; an API refusal answers its HTTP status with
// {"request_id","event_id","code","http_status","message"}; a malformed body
// 400 {"error"}.
func (s *Server) postConsoleRelease(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody))
	if err != nil {
		writeAdmin(w, http.StatusBadRequest, adminError{"read body: " + err.Error()})
		return
	}
	var req ConsoleRelease
	if err := decodeStrict(b, &req); err != nil {
		writeAdmin(w, http.StatusBadRequest, adminError{err.Error()})
		return
	}
	res, err := s.ConsoleRelease(req)
	var refused *ConsoleReleaseError
	switch {
	case errors.As(err, &refused):
		writeAdmin(w, refused.HTTPStatus, refused)
	case err != nil:
		writeAdmin(w, http.StatusBadRequest, adminError{err.Error()})
	default:
		writeAdmin(w, http.StatusOK, res)
	}
}

package rdssim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
)

// ActionTrail, as the simulator keeps it: its own call log of the release
// actions, served by LookupEvents (API 2020-07-06, ACS3-signed like the RDS
// calls, on the same listener; the x-acs-version header tells the products
// apart).
const (
	// TrailAPIVersion is the ActionTrail API version served.
	TrailAPIVersion = aliyun.TrailAPIVersion
	// ActionLookupEvents is the one ActionTrail action served.
	ActionLookupEvents = aliyun.ActionLookupEvents
	// TrailHostID is the HostId of ActionTrail error bodies.
	TrailHostID = "actiontrail.aliyuncs.com"
	// DefaultTrailRatePerSecond is LookupEvents' documented quota: at most
	// two calls per second (per account).
	DefaultTrailRatePerSecond = aliyun.TrailRatePerSecond
	// DefaultTrailRegion is an event's acsRegion when neither the instance
	// nor the call names a region.
	DefaultTrailRegion = "cn-hangzhou"
	// ConsoleUserAgent is the userAgent of releases "from the console".
	ConsoleUserAgent = "AliyunConsole"
	// CodeTrailInvalidParameter answers a LookupEvents parameter the
	// simulator cannot use (bad time, MaxResults, Direction, NextToken or
	// lookup attribute). Alibaba documents no error table for LookupEvents;
	// this is the simulator's choice.
	CodeTrailInvalidParameter = "InvalidParameter"
	// maxTrailEvents bounds the trail; the oldest events are dropped first.
	maxTrailEvents = 100000
	// defaultTrailWindow is how far back StartTime defaults to.
	defaultTrailWindow = 7 * 24 * time.Hour
)

func init() {
	simErrors[CodeTrailInvalidParameter] = simError{http.StatusBadRequest, "The specified parameter is not valid."}
}

// TrailEvent is one ActionTrail event as LookupEvents answers it (the
// management event structure).
type TrailEvent struct {
	EventID       string `json:"eventId"`
	EventName     string `json:"eventName"`
	EventSource   string `json:"eventSource"`
	EventTime     string `json:"eventTime"`
	EventType     string `json:"eventType"`
	EventRW       string `json:"eventRW"`
	EventVersion  string `json:"eventVersion"`
	EventCategory string `json:"eventCategory"`
	APIVersion    string `json:"apiVersion"`
	// RequestID is the RequestId the call was answered with.
	RequestID         string            `json:"requestId"`
	AcsRegion         string            `json:"acsRegion"`
	ServiceName       string            `json:"serviceName"`
	SourceIPAddress   string            `json:"sourceIpAddress"`
	UserAgent         string            `json:"userAgent"`
	UserIdentity      TrailUserIdentity `json:"userIdentity"`
	RequestParameters map[string]string `json:"requestParameters"`
	// ReferencedResources names the instance: {"ACS::RDS::DBInstance":[id]}.
	ReferencedResources map[string][]string `json:"referencedResources,omitempty"`
	ErrorCode           string              `json:"errorCode,omitempty"`
	ErrorMessage        string              `json:"errorMessage,omitempty"`

	// at is the precise event time, seq its order of arrival, accountID the
	// account whose trail holds it.
	at        time.Time
	seq       int64
	accountID string
}

// Time is the event's time (with the server clock's precision; EventTime
// shows it to the second).
func (e TrailEvent) Time() time.Time { return e.at }

// AccountID is the account whose trail holds the event.
func (e TrailEvent) AccountID() string { return e.accountID }

// TrailUserIdentity is an event's userIdentity.
type TrailUserIdentity struct {
	// Type is "root-account" (a base key without UserName), "ram-user" (a
	// base key with one, or the console) or "assumed-role" (an STS key).
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
	AccountID   string `json:"accountId"`
	// UserName is the RAM user, "root", or "<role name>:<session name>".
	UserName    string `json:"userName"`
	AccessKeyID string `json:"accessKeyId,omitempty"`
	// Arn is an assumed role session's ARN, as AssumeRole answered it.
	Arn            string               `json:"arn,omitempty"`
	SessionContext *TrailSessionContext `json:"sessionContext,omitempty"`
}

// TrailSessionContext is userIdentity.sessionContext.
type TrailSessionContext struct {
	Attributes TrailSessionAttributes `json:"attributes"`
}

// TrailSessionAttributes are a session's attributes.
type TrailSessionAttributes struct {
	MfaAuthenticated string `json:"mfaAuthenticated"`
	CreationDate     string `json:"creationDate"`
}

// trailState is the Server's trail, guarded by Server.mu.
type trailState struct {
	delay  time.Duration
	rate   int
	events []TrailEvent
	seq    int64
}

func newTrailState(cfg Config) (trailState, error) {
	if cfg.TrailDelay < 0 {
		return trailState{}, fmt.Errorf("negative trail delay %s", cfg.TrailDelay)
	}
	if cfg.TrailRatePerSecond < 0 {
		return trailState{}, fmt.Errorf("negative trail rate %d", cfg.TrailRatePerSecond)
	}
	rate := cfg.TrailRatePerSecond
	if rate == 0 {
		rate = DefaultTrailRatePerSecond
	}
	return trailState{delay: cfg.TrailDelay, rate: rate}, nil
}

// trailSource is what an event needs of the request that made it.
type trailSource struct {
	sourceIP  string
	userAgent string
	host      string
	params    url.Values
	identity  TrailUserIdentity
}

// isReleaseAction reports whether action releases a public endpoint: the
// actions the trail records.
func isReleaseAction(action string) bool {
	return action == aliyun.ActionReleaseInstanceConnection || action == aliyun.ActionReleaseInstancePublicConnection
}

// newTrailSource captures an authenticated release call for the trail; nil
// for other actions.
func (s *Server) newTrailSource(r *http.Request, action string, acct Account, params url.Values) *trailSource {
	if !isReleaseAction(action) {
		return nil
	}
	src := &trailSource{
		sourceIP:  remoteIP(r.RemoteAddr),
		userAgent: r.UserAgent(),
		host:      r.Host,
		params:    params,
	}
	id := TrailUserIdentity{AccountID: acct.AccountID, AccessKeyID: acct.AccessKeyID}
	switch {
	case acct.role != "":
		s.mu.Lock()
		sess := s.sessions[acct.AccessKeyID]
		s.mu.Unlock()
		roleName := acct.role[strings.LastIndexByte(acct.role, '/')+1:]
		id.Type = aliyun.IdentityAssumedRole
		id.PrincipalID = sess.assumedRoleID
		id.UserName = roleName + ":" + sess.session
		id.Arn = acct.role + "/" + sess.session
		id.SessionContext = &TrailSessionContext{Attributes: TrailSessionAttributes{
			MfaAuthenticated: "false", CreationDate: sess.created.UTC().Format(aliyun.TrailTimeLayout)}}
	case acct.UserName != "":
		id.Type = aliyun.IdentityRAMUser
		id.PrincipalID = principalID(acct.AccountID, acct.UserName)
		id.UserName = acct.UserName
	default:
		id.Type = aliyun.IdentityRootAccount
		id.PrincipalID = acct.AccountID
		id.UserName = "root"
	}
	src.identity = id
	return src
}

// remoteIP is the host part of a RemoteAddr.
func remoteIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// principalID is a stable 18-digit RAM user id for (account, user).
func principalID(accountID, user string) string {
	sum := sha256.Sum256([]byte(accountID + "/" + user))
	return "2" + fmt.Sprintf("%017d", binary.BigEndian.Uint64(sum[:8])%1e17)
}

// addTrailLocked records c in the trail when it is a release call that was
// answered (or performed and dropped). The caller holds s.mu.
func (s *Server) addTrailLocked(c Call) {
	if c.src == nil || c.Outcome == OutcomeAbandoned {
		return
	}
	s.appendTrailLocked(c.Time, c.Action, c.RequestID, c.AccountID, c.Code, c.src)
}

// appendTrailLocked adds one event and returns its id. The caller holds
// s.mu.
func (s *Server) appendTrailLocked(at time.Time, action, requestID, accountID, code string, src *trailSource) string {
	id := src.params.Get("DBInstanceId")
	region := src.params.Get("RegionId")
	for i := range s.instances {
		if s.instances[i].ID == id && s.instances[i].RegionID != "" {
			region = s.instances[i].RegionID
			break
		}
	}
	if region == "" {
		region = DefaultTrailRegion
	}
	params := make(map[string]string, len(src.params)+5)
	for k, v := range src.params {
		if len(v) > 0 {
			params[k] = v[0]
		}
	}
	if params["RegionId"] == "" {
		params["RegionId"] = region
	}
	host := src.host
	if host == "" {
		host = HostID
	}
	params["RequestId"] = requestID
	params["AcsProduct"] = "Rds"
	params["AcsHost"] = host
	params["HostId"] = host
	ev := TrailEvent{
		EventID:           newRequestID(),
		EventName:         action,
		EventSource:       HostID,
		EventTime:         at.UTC().Format(aliyun.TrailTimeLayout),
		EventType:         "ApiCall",
		EventRW:           "Write",
		EventVersion:      "1",
		EventCategory:     "Management",
		APIVersion:        aliyun.APIVersion,
		RequestID:         requestID,
		AcsRegion:         region,
		ServiceName:       "Rds",
		SourceIPAddress:   src.sourceIP,
		UserAgent:         src.userAgent,
		UserIdentity:      src.identity,
		RequestParameters: params,
		at:                at,
		accountID:         accountID,
	}
	if id != "" {
		ev.ReferencedResources = map[string][]string{"ACS::RDS::DBInstance": {id}}
	}
	if code != "" {
		ev.ErrorCode = code
		_, ev.ErrorMessage = lookupActionError(action, code)
	}
	s.trail.seq++
	ev.seq = s.trail.seq
	if len(s.trail.events) >= maxTrailEvents {
		s.trail.events = append(s.trail.events[:0], s.trail.events[len(s.trail.events)-maxTrailEvents+1:]...)
	}
	s.trail.events = append(s.trail.events, ev)
	return ev.EventID
}

// TrailEvents returns every event of accountID's trail ("" for every
// account), visible or not yet, oldest first.
func (s *Server) TrailEvents(accountID string) []TrailEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []TrailEvent{}
	for _, ev := range s.trail.events {
		if accountID == "" || ev.accountID == accountID {
			out = append(out, ev)
		}
	}
	return out
}

// ClearTrail empties the trail.
func (s *Server) ClearTrail() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trail.events = nil
}

// SetTrailDelay changes Config.TrailDelay.
func (s *Server) SetTrailDelay(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("set trail delay: negative %s", d)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trail.delay = d
	return nil
}

// TrailDelay returns the current trail delay.
func (s *Server) TrailDelay() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trail.delay
}

// lookupActionError returns the status and message of code as action's
// documentation gives it (aliyun.LookupErrorFor), else as lookupError.
func lookupActionError(action, code string) (int, string) {
	if e, ok := aliyun.LookupErrorFor(action, code); ok {
		return e.HTTPStatus, e.Message
	}
	return lookupError(code)
}

// serveTrail answers an authenticated ActionTrail (2020-07-06) call.
func (s *Server) serveTrail(w http.ResponseWriter, r *http.Request, call *Call, acct Account, params url.Values, now time.Time) {
	if call.Action != ActionLookupEvents {
		s.answer(w, r, call, acct, errResult(aliyun.CodeInvalidActionNotFound))
		return
	}
	s.mu.Lock()
	admitted, wait := s.admitRateLocked(acct.AccountID, ActionLookupEvents, s.trail.rate, now)
	var fault Fault
	var faulted bool
	if admitted {
		s.admitted[acct.AccountID]++
		fault, faulted = s.takeTrailFaultLocked()
	} else {
		s.throttled[acct.AccountID]++
	}
	s.mu.Unlock()
	if !admitted {
		w.Header().Set("x-ratelimit-user-api", fmt.Sprintf("Limit:%d,Remain:0,TimeLeft:%d,Reset:%d",
			s.trail.rate, wait.Milliseconds(), now.Add(wait).UnixMilli()))
		s.answer(w, r, call, acct, errResult(aliyun.CodeThrottlingUser))
		return
	}
	if faulted {
		call.Injected = true
		s.answer(w, r, call, acct, errResult(fault.Code))
		return
	}
	s.answer(w, r, call, acct, s.lookupEvents(acct.AccountID, params, call.RequestID, now))
}

// takeTrailFaultLocked returns the first rule whose Action is LookupEvents
// and that has a Code, and uses it up once. Rules matching any action do
// not apply to the trail. The caller holds s.mu.
func (s *Server) takeTrailFaultLocked() (Fault, bool) {
	for i, f := range s.faults {
		if f.Action != ActionLookupEvents || f.Code == "" {
			continue
		}
		if f.Times > 0 {
			s.faults[i].Times--
			if s.faults[i].Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return f, true
	}
	return Fault{}, false
}

// lookupBody is LookupEvents' answer.
type lookupBody struct {
	RequestID string       `json:"RequestId"`
	Events    []TrailEvent `json:"Events"`
	NextToken string       `json:"NextToken"`
	StartTime string       `json:"StartTime"`
	EndTime   string       `json:"EndTime"`
}

// lookupQuery is a parsed LookupEvents request.
type lookupQuery struct {
	start, end time.Time
	attrs      []aliyun.LookupAttribute
	max        int
	forward    bool
	// hash identifies the parameters a NextToken belongs to.
	hash string
}

// cursor is a NextToken's content: where the previous page ended.
type cursor struct {
	At   int64  `json:"t"`
	Seq  int64  `json:"s"`
	Hash string `json:"q"`
}

var lookupAttrPattern = regexp.MustCompile(`^LookupAttribute\.([1-9][0-9]*)\.(Key|Value)$`)

// lookupKeys are the LookupAttribute keys the simulator filters on.
var lookupKeys = map[string]bool{
	"EventName": true, "ResourceName": true, "EventRW": true, "EventId": true,
	"EventAccessKeyId": true, "User": true, "ServiceName": true, "ResourceType": true,
}

func parseLookup(params url.Values, now time.Time) (lookupQuery, error) {
	q := lookupQuery{start: now.Add(-defaultTrailWindow).Truncate(time.Second), end: now.Truncate(time.Second), max: aliyun.DefaultLookupResults}
	parseTime := func(name string, dst *time.Time) error {
		v := params.Get(name)
		if v == "" {
			return nil
		}
		t, err := time.Parse(aliyun.TrailTimeLayout, v)
		if err != nil {
			return fmt.Errorf("%s %q: want %s", name, v, aliyun.TrailTimeLayout)
		}
		*dst = t
		return nil
	}
	if err := parseTime("StartTime", &q.start); err != nil {
		return q, err
	}
	if err := parseTime("EndTime", &q.end); err != nil {
		return q, err
	}
	if q.start.After(q.end) {
		return q, errors.New("StartTime after EndTime")
	}
	if v := params.Get("MaxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > aliyun.MaxLookupResults {
			return q, fmt.Errorf("MaxResults %q: want 1 to %d", v, aliyun.MaxLookupResults)
		}
		q.max = n
	}
	switch d := params.Get("Direction"); d {
	case "", "BACKWARD":
	case "FORWARD":
		q.forward = true
	default:
		return q, fmt.Errorf("Direction %q: want FORWARD or BACKWARD", d)
	}
	byIndex := map[int]*aliyun.LookupAttribute{}
	for k, v := range params {
		m := lookupAttrPattern.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		a := byIndex[n]
		if a == nil {
			a = &aliyun.LookupAttribute{}
			byIndex[n] = a
		}
		if m[2] == "Key" {
			a.Key = v[0]
		} else {
			a.Value = v[0]
		}
	}
	indexes := make([]int, 0, len(byIndex))
	for n := range byIndex {
		indexes = append(indexes, n)
	}
	sort.Ints(indexes)
	for _, n := range indexes {
		a := *byIndex[n]
		if !lookupKeys[a.Key] || a.Value == "" {
			return q, fmt.Errorf("LookupAttribute.%d: key %q value %q", n, a.Key, a.Value)
		}
		q.attrs = append(q.attrs, a)
	}
	if len(q.attrs) > 2 {
		return q, errors.New("at most two LookupAttribute")
	}
	h := sha256.New()
	fmt.Fprintf(h, "%d|%d|%d|%t", q.start.Unix(), q.end.Unix(), q.max, q.forward)
	for _, a := range q.attrs {
		fmt.Fprintf(h, "|%s=%s", a.Key, a.Value)
	}
	q.hash = base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
	return q, nil
}

// matches reports whether ev passes every attribute of q.
func (q lookupQuery) matches(ev TrailEvent) bool {
	for _, a := range q.attrs {
		var ok bool
		switch a.Key {
		case "EventName":
			ok = ev.EventName == a.Value
		case "ResourceName":
			ok = ev.RequestParameters["DBInstanceId"] == a.Value
		case "ResourceType":
			ok = a.Value == "ACS::RDS::DBInstance" && ev.RequestParameters["DBInstanceId"] != ""
		case "EventRW":
			ok = a.Value == "All" || ev.EventRW == a.Value
		case "EventId":
			ok = ev.EventID == a.Value
		case "EventAccessKeyId":
			ok = ev.UserIdentity.AccessKeyID == a.Value
		case "User":
			ok = ev.UserIdentity.UserName == a.Value
		case "ServiceName":
			ok = ev.ServiceName == a.Value
		}
		if !ok {
			return false
		}
	}
	return true
}

// before reports whether a comes before b in q's order: newest first
// (BACKWARD) or oldest first (FORWARD), ties broken by arrival.
func (q lookupQuery) before(aAt, aSeq, bAt, bSeq int64) bool {
	if aAt != bAt {
		return (aAt > bAt) != q.forward
	}
	return (aSeq > bSeq) != q.forward
}

// lookupEvents answers LookupEvents for accountID at now.
func (s *Server) lookupEvents(accountID string, params url.Values, requestID string, now time.Time) result {
	q, err := parseLookup(params, now)
	if err != nil {
		return errResult(CodeTrailInvalidParameter)
	}
	var after *cursor
	if tok := params.Get("NextToken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		var c cursor
		if err != nil || json.Unmarshal(b, &c) != nil || c.Hash != q.hash {
			return errResult(CodeTrailInvalidParameter)
		}
		after = &c
	}
	s.mu.Lock()
	delay := s.trail.delay
	var found []TrailEvent
	for _, ev := range s.trail.events {
		shown := ev.at.Truncate(time.Second)
		if ev.accountID != accountID || now.Before(ev.at.Add(delay)) ||
			shown.Before(q.start) || shown.After(q.end) || !q.matches(ev) {
			continue
		}
		if after != nil && !q.before(after.At, after.Seq, ev.at.UnixNano(), ev.seq) {
			continue
		}
		found = append(found, ev)
	}
	s.mu.Unlock()
	sort.Slice(found, func(i, j int) bool {
		return q.before(found[i].at.UnixNano(), found[i].seq, found[j].at.UnixNano(), found[j].seq)
	})
	body := lookupBody{
		RequestID: requestID,
		Events:    []TrailEvent{},
		StartTime: q.start.UTC().Format(aliyun.TrailTimeLayout),
		EndTime:   q.end.UTC().Format(aliyun.TrailTimeLayout),
	}
	if len(found) > q.max {
		last := found[q.max-1]
		b, _ := json.Marshal(cursor{At: last.at.UnixNano(), Seq: last.seq, Hash: q.hash})
		body.NextToken = base64.RawURLEncoding.EncodeToString(b)
		found = found[:q.max]
	}
	body.Events = append(body.Events, found...)
	return result{status: http.StatusOK, body: body}
}

package rdssim

import (
	"cmp"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
)

// DefaultRatePerSecond is the documented ReleaseInstanceConnection quota:
// 10 calls per second.
const DefaultRatePerSecond = 10

// HostID is the HostId of every error body, as the real API reports it.
const HostID = "rds.aliyuncs.com"

// maxCalls bounds the call log; the oldest entries are dropped first.
const maxCalls = 10000

// maxBody bounds the request body read for the payload hash.
const maxBody = 1 << 20

// Outcomes of a call in the log.
const (
	OutcomeAnswered  = "answered"
	OutcomeDropped   = "dropped"
	OutcomeAbandoned = "abandoned"
)

// Key kinds of a call's AccessKey ID, in the call log.
const (
	KeyKindBase = "base"
	KeyKindSTS  = "sts"
)

// Account is an AccessKey pair and the account (UID) it belongs to. Quotas
// are counted per AccountID, across all of its keys, including the temporary
// keys AssumeRole issues for the account's roles.
type Account struct {
	AccessKeyID     string `json:"access_key_id"`
	AccessKeySecret string `json:"-"`
	AccountID       string `json:"account_id"`
	// UserName, when set, names the RAM user the key belongs to, for
	// ActionTrail's userIdentity ("ram-user"); empty means the account's
	// own (root) key ("root-account").
	UserName string `json:"user_name,omitempty"`

	// role is the role ARN of a temporary (STS) key; empty for base keys.
	role string
}

// keyKind is KeyKindSTS for temporary keys, KeyKindBase for base keys and
// "" when no key was recognised.
func (a Account) keyKind() string {
	switch {
	case a.role != "":
		return KeyKindSTS
	case a.AccountID != "":
		return KeyKindBase
	default:
		return ""
	}
}

// Config configures a Server.
type Config struct {
	// Accounts that may call the API; at least one.
	Accounts []Account
	// Instances is the initial state.
	Instances []Instance
	// Roles lists, per account UID, the RAM roles AssumeRole may assume
	// (the state file's "accounts"). Nil accepts any well-formed role ARN.
	Roles map[string][]string
	// TLSHosts are extra DNS names or IP addresses for the serving
	// certificate, besides 127.0.0.1, ::1 and localhost.
	TLSHosts []string
	// CA signs the serving certificate; nil generates a fresh one. Sharing a
	// CA lets a test trust several simulators at once.
	CA *CA
	// RatePerSecond is the quota per account and per action; 0 means
	// DefaultRatePerSecond.
	RatePerSecond int
	// QuotaWindow is the length of the quota's sliding window: the API's
	// one second when 0. Lengthening it makes a throttle certain on a loaded
	// machine (tests, or trying a client's backoff by hand).
	QuotaWindow time.Duration
	// TrailDelay is how late ActionTrail's LookupEvents shows an event: it
	// is visible once now >= eventTime + TrailDelay. 0 shows it at once.
	TrailDelay time.Duration
	// TrailRatePerSecond is LookupEvents' quota per account in each quota
	// window; 0 means DefaultTrailRatePerSecond.
	TrailRatePerSecond int
	// Now is the clock for signatures, nonces, the quota, the call log and
	// the trail; nil means time.Now.
	Now func() time.Time
	// Logger receives one line per API call; nil discards.
	Logger *slog.Logger
	// RAM is each account's RAM (users, groups, roles, policies), by
	// account uid, which the RAM API (2015-05-01) answers from (ram.go);
	// nil gives the first account the example RAM (ExampleRAM).
	RAM map[string]RAMState
}

// Call is one entry of the call log. JSON:
//
//	{"time":"...","action":"ReleaseInstanceConnection","instance":"rm-...",
//	 "account":"1234567890123456","account_id":"1234567890123456",
//	 "key_kind":"sts","role":"acs:ram::1234567890123456:role/rdsgate-gateway",
//	 "tls":true,"request_id":"65BDA532-...","code":"","status":200,
//	 "outcome":"answered","injected":false}
type Call struct {
	Time     time.Time `json:"time"`
	Action   string    `json:"action"`
	Instance string    `json:"instance"`
	// Account is the AccountID; empty when authentication failed before the
	// key was known. Kept for compatibility; AccountID is the same value.
	Account string `json:"account"`
	// AccountID is the account the call acted as: the base key's account, or
	// the assumed role's account for a temporary key. For AssumeRole it is
	// the role's account (the caller's when the ARN is malformed).
	AccountID string `json:"account_id"`
	// KeyKind is "base" or "sts" (the kind of AccessKey ID that signed the
	// call); empty when the key was not recognised. Never a secret or token.
	KeyKind string `json:"key_kind,omitempty"`
	// Role is the role ARN of an STS key, or the RoleArn of an AssumeRole.
	Role string `json:"role,omitempty"`
	// TLS is true when the call came over TLS.
	TLS       bool   `json:"tls,omitempty"`
	RequestID string `json:"request_id"`
	// Code is the error code answered; empty for success.
	Code string `json:"code"`
	// Status is the HTTP status answered (or that would have been, for a
	// dropped call); 0 when abandoned.
	Status int `json:"status"`
	// Outcome is "answered", "dropped" (connection closed after processing)
	// or "abandoned" (client left during an injected delay; nothing done).
	Outcome string `json:"outcome"`
	// Injected is true when a fault rule produced the code or the drop.
	Injected bool `json:"injected,omitempty"`
	// Performed is true when a fault rule with CodeAfterRelease answered
	// Code although the operation succeeded (Status and Code are then the
	// injected answer's).
	Performed bool `json:"performed,omitempty"`

	// rpc marks an RPC-style (STS) call, whose errors name STS's host.
	rpc bool
	// ram marks a RAM call, whose errors name RAM's host.
	ram bool
	// src, set for the release actions once the caller is authenticated,
	// makes record add the call to the trail.
	src *trailSource
}

// Server is the simulated RDS endpoint; it is an http.Handler and safe for
// concurrent use.
type Server struct {
	accounts map[string]Account
	rate     int
	window   time.Duration
	now      func() time.Time
	logger   *slog.Logger

	mu          sync.Mutex
	instances   []Instance
	faults      []Fault
	calls       []Call
	nonces      map[string]time.Time
	noncePurged time.Time
	windows     map[quotaKey][]time.Time
	// roles is Config.Roles, names lowercased; nil accepts any role.
	roles map[string][]string
	// sessions are the temporary keys AssumeRole issued, by AccessKey ID.
	sessions       map[string]stsSession
	sessionsPurged time.Time
	// admitted and throttled count API calls per account.
	admitted  map[string]int
	throttled map[string]int

	tls *tlsMaterial

	// ram is every account's RAM (ram.go); defaultAccount is the first
	// configured key's account.
	ram            ramStore
	defaultAccount string

	// trail is the ActionTrail kept from the call log (trail.go).
	trail trailState
}

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if len(cfg.Accounts) == 0 {
		return nil, errors.New("rdssim: at least one account is required")
	}
	accounts := make(map[string]Account, len(cfg.Accounts))
	for i, a := range cfg.Accounts {
		if a.AccessKeyID == "" || a.AccessKeySecret == "" || a.AccountID == "" {
			return nil, fmt.Errorf("rdssim: account %d: access key id, secret and account id are required", i)
		}
		if _, dup := accounts[a.AccessKeyID]; dup {
			return nil, fmt.Errorf("rdssim: account %d: duplicate access key id", i)
		}
		accounts[a.AccessKeyID] = a
	}
	rate := cfg.RatePerSecond
	if rate < 0 {
		return nil, fmt.Errorf("rdssim: negative rate %d", rate)
	}
	if rate == 0 {
		rate = DefaultRatePerSecond
	}
	if cfg.QuotaWindow < 0 {
		return nil, fmt.Errorf("rdssim: negative quota window %s", cfg.QuotaWindow)
	}
	insts, err := normaliseInstances(cfg.Instances)
	if err != nil {
		return nil, fmt.Errorf("rdssim: %w", err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	roles, err := normaliseRoles(cfg.Roles)
	if err != nil {
		return nil, fmt.Errorf("rdssim: %w", err)
	}
	material, err := newTLSMaterial(cfg.CA, cfg.TLSHosts)
	if err != nil {
		return nil, fmt.Errorf("rdssim: %w", err)
	}
	trail, err := newTrailState(cfg)
	if err != nil {
		return nil, fmt.Errorf("rdssim: %w", err)
	}
	s := &Server{
		accounts:  accounts,
		rate:      rate,
		window:    cmp.Or(cfg.QuotaWindow, time.Second),
		now:       now,
		logger:    logger,
		instances: insts,
		nonces:    map[string]time.Time{},
		windows:   map[quotaKey][]time.Time{},
		roles:     roles,
		sessions:  map[string]stsSession{},
		admitted:  map[string]int{},
		throttled: map[string]int{},
		tls:       material,
		trail:     trail,

		defaultAccount: cfg.Accounts[0].AccountID,
	}
	if err := s.initRAM(cfg); err != nil {
		return nil, fmt.Errorf("rdssim: %w", err)
	}
	return s, nil
}

// ServeHTTP serves the admin API under /_sim/ and the RDS API everywhere
// else.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_sim/ram" {
		s.serveRAMAdmin(w, r)
		return
	}
	if r.URL.Path == "/_sim" || strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.serveAdmin(w, r)
		return
	}
	s.serveAPI(w, r)
}

// result is the answer an operation produced.
type result struct {
	status int
	code   string // error code; empty on success
	body   any    // success body; error bodies are built by writeError
}

func errResult(code string) result {
	status, _ := lookupError(code)
	return result{status: status, code: code}
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	call := Call{
		Time:      now,
		Action:    r.Header.Get("x-acs-action"),
		RequestID: newRequestID(),
		Outcome:   OutcomeAnswered,
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		// The client went away while sending; nobody to answer.
		call.Outcome = OutcomeAbandoned
		s.record(r, call)
		return
	}
	call.TLS = r.TLS != nil
	params := requestParams(r, body)
	if isRPC(r, params) {
		s.serveSTS(w, r, &call, params, now)
		return
	}
	call.Instance = params.Get("DBInstanceId")
	call.ram = r.Header.Get("x-acs-version") == aliyun.RAMAPIVersion // errors name RAM's host

	acct, authErr := s.verify(r, body, now)
	call.Account = acct.AccountID // empty when the key is unknown
	call.KeyKind, call.Role = acct.keyKind(), acct.role
	if authErr != nil {
		s.answer(w, r, &call, acct, errResult(authErr.code))
		return
	}
	if r.Header.Get("x-acs-version") == TrailAPIVersion {
		s.serveTrail(w, r, &call, acct, params, now)
		return
	}
	call.src = s.newTrailSource(r, call.Action, acct, params)
	if r.Header.Get("x-acs-version") == aliyun.RAMAPIVersion {
		s.serveRAM(w, r, &call, acct, params)
		return
	}
	if v := r.Header.Get("x-acs-version"); v != aliyun.APIVersion {
		s.answer(w, r, &call, acct, errResult(aliyun.CodeInvalidVersion))
		return
	}

	s.mu.Lock()
	admitted, wait := s.admitLocked(acct.AccountID, call.Action, now)
	var fault Fault
	var faulted bool
	if admitted {
		s.admitted[acct.AccountID]++
		fault, faulted = s.takeFaultLocked(call.Action, call.Instance)
	} else {
		s.throttled[acct.AccountID]++
	}
	s.mu.Unlock()
	if !admitted {
		w.Header().Set("x-ratelimit-user-api", fmt.Sprintf("Limit:%d,Remain:0,TimeLeft:%d,Reset:%d",
			s.rate, wait.Milliseconds(), now.Add(wait).UnixMilli()))
		s.answer(w, r, &call, acct, errResult(aliyun.CodeThrottlingUser))
		return
	}

	if faulted && fault.DelayMS > 0 {
		t := time.NewTimer(fault.delay())
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			call.Outcome = OutcomeAbandoned
			call.Injected = true
			s.record(r, call)
			return
		}
		if r.Context().Err() != nil {
			call.Outcome = OutcomeAbandoned
			call.Injected = true
			s.record(r, call)
			return
		}
	}
	if faulted && fault.Code != "" && !fault.CodeAfterRelease {
		call.Injected = true
		s.answer(w, r, &call, acct, errResult(fault.Code))
		return
	}

	res := s.dispatch(acct, call.Action, params, call.RequestID)
	if faulted && fault.Code != "" {
		// CodeAfterRelease: the operation was performed; the answer says
		// otherwise.
		call.Injected = true
		call.Performed = res.status == http.StatusOK
		s.answer(w, r, &call, acct, errResult(fault.Code))
		return
	}
	if faulted && fault.DropAfterRelease {
		call.Injected = true
		call.Outcome = OutcomeDropped
		call.Code, call.Status = res.code, res.status
		s.record(r, call)
		drop(w)
		return
	}
	s.answer(w, r, &call, acct, res)
}

// requestParams merges the query with a form body, as the RPC style allows;
// the RDS SDK sends everything in the query.
func requestParams(r *http.Request, body []byte) url.Values {
	params := r.URL.Query()
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if form, err := url.ParseQuery(string(body)); err == nil {
			for k, v := range form {
				params[k] = append(params[k], v...)
			}
		}
	}
	return params
}

// drop closes the connection without writing a response.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	// Not hijackable (HTTP/2, recorders): abort the handler, which makes
	// net/http reset the stream or close the connection.
	panic(http.ErrAbortHandler)
}

// answer writes res and records the call.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, call *Call, acct Account, res result) {
	call.Code, call.Status = res.code, res.status
	s.record(r, *call)
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=utf-8")
	h.Set("x-acs-request-id", call.RequestID)
	var payload any = res.body
	if res.code != "" {
		payload = s.errorBody(call, acct, res.code)
	}
	writeJSON(w, res.status, payload)
}

// writeJSON writes an API answer's body.
func writeJSON(w http.ResponseWriter, status int, payload any) {
	b, err := json.Marshal(payload)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// errorBody is the JSON of an error answer.
type errorBody struct {
	RequestID          string              `json:"RequestId"`
	HostID             string              `json:"HostId"`
	Code               string              `json:"Code"`
	Message            string              `json:"Message"`
	Recommend          string              `json:"Recommend"`
	AccessDeniedDetail *accessDeniedDetail `json:"AccessDeniedDetail,omitempty"`
}

// accessDeniedDetail mirrors what RAM denials carry.
type accessDeniedDetail struct {
	AuthAction               string `json:"AuthAction"`
	AuthPrincipalType        string `json:"AuthPrincipalType"`
	AuthPrincipalOwnerID     string `json:"AuthPrincipalOwnerId"`
	AuthPrincipalDisplayName string `json:"AuthPrincipalDisplayName"`
	PolicyType               string `json:"PolicyType"`
	NoPermissionType         string `json:"NoPermissionType"`
	EncodedDiagnosticMessage string `json:"EncodedDiagnosticMessage"`
}

func (s *Server) errorBody(call *Call, acct Account, code string) errorBody {
	status, message := lookupActionError(call.Action, code)
	host, product, service := HostID, "Rds", "rds"
	if call.rpc {
		host, product, service = STSHostID, "Sts", "sts"
	}
	if call.ram {
		host, product, service = RAMHostID, "Ram", "ram"
	}
	if call.Action == ActionLookupEvents {
		host, product, service = TrailHostID, "Actiontrail", "actiontrail"
	}
	b := errorBody{
		RequestID: call.RequestID,
		HostID:    host,
		Code:      code,
		Message:   message,
		Recommend: "https://api.aliyun.com/troubleshoot?q=" + url.QueryEscape(code) +
			"&product=" + product + "&requestId=" + call.RequestID,
	}
	if status == http.StatusForbidden {
		principal := "SubUser"
		if acct.role != "" {
			principal = "AssumedRoleUser"
		}
		b.AccessDeniedDetail = &accessDeniedDetail{
			AuthAction:               service + ":" + call.Action,
			AuthPrincipalType:        principal,
			AuthPrincipalOwnerID:     acct.AccountID,
			AuthPrincipalDisplayName: acct.AccessKeyID,
			PolicyType:               "AccountLevelIdentityBasedPolicy",
			NoPermissionType:         "ImplicitDeny",
			EncodedDiagnosticMessage: "rdssim-simulated-denial",
		}
	}
	return b
}

// record appends to the call log and logs the call.
func (s *Server) record(r *http.Request, c Call) {
	if c.AccountID == "" {
		c.AccountID = c.Account
	}
	c.Account = c.AccountID
	s.mu.Lock()
	if len(s.calls) >= maxCalls {
		s.calls = append(s.calls[:0], s.calls[len(s.calls)-maxCalls+1:]...)
	}
	s.calls = append(s.calls, c)
	s.addTrailLocked(c)
	s.mu.Unlock()
	s.logger.LogAttrs(r.Context(), slog.LevelInfo, "rdssim call",
		slog.String("action", c.Action),
		slog.String("instance", c.Instance),
		slog.String("account", c.Account),
		slog.String("key_kind", c.KeyKind),
		slog.String("request_id", c.RequestID),
		slog.String("code", c.Code),
		slog.Int("status", c.Status),
		slog.String("outcome", c.Outcome),
		slog.Bool("injected", c.Injected),
	)
}

// Calls returns the call log, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call{}, s.calls...)
}

// ClearCalls empties the call log and resets the per-account counters of
// Accounts.
func (s *Server) ClearCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
	s.admitted = map[string]int{}
	s.throttled = map[string]int{}
}

// AccountStats is what the simulator knows of one account. JSON:
//
//	{"account_id":"1000000000000001","roles":["rdsgate-gateway"],
//	 "instances":400,"calls":1200,"throttled":3}
type AccountStats struct {
	AccountID string `json:"account_id"`
	// Roles AssumeRole accepts for the account; empty when any role is
	// accepted or the account has none listed.
	Roles []string `json:"roles,omitempty"`
	// Instances owned by the account (account_id equal to it), not counting
	// instances visible to every account.
	Instances int `json:"instances"`
	// Calls is the number of API calls admitted by the quota (RDS actions)
	// since the start or the last ClearCalls.
	Calls int `json:"calls"`
	// Throttled is the number of calls answered Throttling.User.
	Throttled int `json:"throttled"`
}

// Accounts returns every account the simulator knows of (base keys' accounts,
// accounts with roles, owners of instances, and accounts that made calls),
// sorted by account ID.
func (s *Server) Accounts() []AccountStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	byID := map[string]*AccountStats{}
	get := func(id string) *AccountStats {
		if a, ok := byID[id]; ok {
			return a
		}
		a := &AccountStats{AccountID: id}
		byID[id] = a
		return a
	}
	for _, a := range s.accounts {
		get(a.AccountID)
	}
	for id, roles := range s.roles {
		get(id).Roles = append([]string(nil), roles...)
	}
	for i := range s.instances {
		if id := s.instances[i].AccountID; id != "" {
			get(id).Instances++
		}
	}
	for id, n := range s.admitted {
		get(id).Calls = n
	}
	for id, n := range s.throttled {
		get(id).Throttled = n
	}
	out := make([]AccountStats, 0, len(byID))
	for _, a := range byID {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AccountID < out[j].AccountID })
	return out
}

// InstancesFor returns deep copies of the instances accountID can see: its
// own and those visible to every account.
func (s *Server) InstancesFor(accountID string) []Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Instance
	for i := range s.instances {
		if s.instances[i].visibleTo(accountID) {
			out = append(out, s.instances[i].clone())
		}
	}
	if out == nil {
		out = []Instance{}
	}
	return out
}

// Instances returns a deep copy of the current state.
func (s *Server) Instances() []Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Instance, len(s.instances))
	for i, inst := range s.instances {
		out[i] = inst.clone()
	}
	return out
}

// SetInstances replaces the whole state.
func (s *Server) SetInstances(insts []Instance) error {
	n, err := normaliseInstances(insts)
	if err != nil {
		return fmt.Errorf("set instances: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.instances = n
	return nil
}

// UpsertInstances adds instances, replacing those with the same id.
func (s *Server) UpsertInstances(insts []Instance) error {
	n, err := normaliseInstances(insts)
	if err != nil {
		return fmt.Errorf("upsert instances: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inst := range n {
		replaced := false
		for i := range s.instances {
			if s.instances[i].ID == inst.ID {
				s.instances[i] = inst
				replaced = true
				break
			}
		}
		if !replaced {
			s.instances = append(s.instances, inst)
		}
	}
	return nil
}

// newRequestID returns an uppercase random (version 4) UUID, the shape of
// Alibaba Cloud request ids.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

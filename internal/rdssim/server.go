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

// Account is an AccessKey pair and the account (UID) it belongs to. Quotas
// are counted per AccountID, across all of its keys.
type Account struct {
	AccessKeyID     string `json:"access_key_id"`
	AccessKeySecret string `json:"-"`
	AccountID       string `json:"account_id"`
}

// Config configures a Server.
type Config struct {
	// Accounts that may call the API; at least one.
	Accounts []Account
	// Instances is the initial state.
	Instances []Instance
	// RatePerSecond is the quota per account and per action; 0 means
	// DefaultRatePerSecond.
	RatePerSecond int
	// QuotaWindow is the length of the quota's sliding window: the API's
	// one second when 0. Lengthening it makes a throttle certain on a loaded
	// machine (tests, or trying a client's backoff by hand).
	QuotaWindow time.Duration
	// Now is the clock for signatures, nonces, the quota and the call log;
	// nil means time.Now.
	Now func() time.Time
	// Logger receives one line per API call; nil discards.
	Logger *slog.Logger
}

// Call is one entry of the call log. JSON:
//
//	{"time":"...","action":"ReleaseInstanceConnection","instance":"rm-...",
//	 "account":"1234567890123456","request_id":"65BDA532-...","code":"",
//	 "status":200,"outcome":"answered","injected":false}
type Call struct {
	Time     time.Time `json:"time"`
	Action   string    `json:"action"`
	Instance string    `json:"instance"`
	// Account is the AccountID; empty when authentication failed before the
	// key was known.
	Account   string `json:"account"`
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
	return &Server{
		accounts:  accounts,
		rate:      rate,
		window:    cmp.Or(cfg.QuotaWindow, time.Second),
		now:       now,
		logger:    logger,
		instances: insts,
		nonces:    map[string]time.Time{},
		windows:   map[quotaKey][]time.Time{},
	}, nil
}

// ServeHTTP serves the admin API under /_sim/ and the RDS API everywhere
// else.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	e, _ := aliyun.LookupError(code)
	return result{status: e.HTTPStatus, code: code}
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
	params := requestParams(r, body)
	call.Instance = params.Get("DBInstanceId")

	acct, authErr := s.verify(r, body, now)
	call.Account = acct.AccountID // empty when the key is unknown
	if authErr != nil {
		s.answer(w, r, &call, acct, errResult(authErr.code))
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
		fault, faulted = s.takeFaultLocked(call.Action, call.Instance)
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
	b, err := json.Marshal(payload)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(res.status)
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
	e, _ := aliyun.LookupError(code)
	b := errorBody{
		RequestID: call.RequestID,
		HostID:    HostID,
		Code:      code,
		Message:   e.Message,
		Recommend: "https://api.aliyun.com/troubleshoot?q=" + url.QueryEscape(code) +
			"&product=Rds&requestId=" + call.RequestID,
	}
	if e.HTTPStatus == http.StatusForbidden {
		b.AccessDeniedDetail = &accessDeniedDetail{
			AuthAction:               "rds:" + call.Action,
			AuthPrincipalType:        "SubUser",
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
	s.mu.Lock()
	if len(s.calls) >= maxCalls {
		s.calls = append(s.calls[:0], s.calls[len(s.calls)-maxCalls+1:]...)
	}
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	s.logger.LogAttrs(r.Context(), slog.LevelInfo, "rdssim call",
		slog.String("action", c.Action),
		slog.String("instance", c.Instance),
		slog.String("account", c.Account),
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

// ClearCalls empties the call log.
func (s *Server) ClearCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
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

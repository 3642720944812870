package rdssim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // STS's RPC signature is HMAC-SHA1 by protocol.
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
)

// STS AssumeRole, as credentials-go's RAM-role-ARN provider calls it.
const (
	// STSAPIVersion is the STS API version AssumeRole is served under.
	STSAPIVersion = "2015-04-01"
	// ActionAssumeRole is the STS action the simulator serves.
	ActionAssumeRole = "AssumeRole"
	// STSHostID is the HostId of STS error bodies.
	STSHostID = "sts.aliyuncs.com"
	// DefaultSTSDuration is the lifetime of temporary credentials when
	// DurationSeconds is not sent.
	DefaultSTSDuration = 3600 * time.Second
	// MinSTSDuration and MaxSTSDuration bound DurationSeconds.
	MinSTSDuration = 900 * time.Second
	MaxSTSDuration = 43200 * time.Second
	// STSKeyPrefix starts every temporary AccessKey ID.
	STSKeyPrefix = "STS."
	// stsTokenPrefix starts every SecurityToken issued (as Alibaba's do).
	stsTokenPrefix = "CAIS"
	// rpcSignatureMethod is the only SignatureMethod accepted.
	rpcSignatureMethod = "HMAC-SHA1"
	// expiredKept is how long an expired session is remembered, so that it
	// answers InvalidSecurityToken.Expired rather than an unknown key.
	expiredKept = 24 * time.Hour
)

var (
	// roleARNPattern is acs:ram::<16-digit uid>:role/<name>.
	roleARNPattern     = regexp.MustCompile(`^acs:ram::([0-9]{16}):role/([A-Za-z0-9.\-_]{1,64})$`)
	sessionNamePattern = regexp.MustCompile(`^[A-Za-z0-9.@\-_]{2,64}$`)
	externalIDPattern  = regexp.MustCompile(`^[A-Za-z0-9=,.@:/\-_]+$`)
	roleNamePattern    = regexp.MustCompile(`^[A-Za-z0-9.\-_]{1,64}$`)
	accountIDPattern   = regexp.MustCompile(`^[0-9]{16}$`)
)

// stsSession is one set of temporary credentials.
type stsSession struct {
	secret    string
	token     string
	accountID string
	roleArn   string
	expires   time.Time
	// session, assumedRoleID and created describe the role session for
	// ActionTrail's userIdentity.
	session       string
	assumedRoleID string
	created       time.Time
}

// isRPC reports whether r is an RPC-style (signature version 1.0) request,
// which is how STS is called: no ACS3 headers, an Action parameter.
func isRPC(r *http.Request, params url.Values) bool {
	return r.Header.Get("x-acs-action") == "" && r.Header.Get("Authorization") == "" && params.Get("Action") != ""
}

// normaliseRoles checks Config.Roles and lowercases role names (RAM role
// names are case-insensitive).
func normaliseRoles(in map[string][]string) (map[string][]string, error) {
	if in == nil {
		return nil, nil
	}
	out := make(map[string][]string, len(in))
	for uid, roles := range in {
		if !accountIDPattern.MatchString(uid) {
			return nil, fmt.Errorf("accounts: %q: want a 16-digit account uid", uid)
		}
		names := make([]string, 0, len(roles))
		for _, r := range roles {
			if !roleNamePattern.MatchString(r) {
				return nil, fmt.Errorf("accounts: %s: role %q: want 1-64 letters, digits, '.', '-' or '_'", uid, r)
			}
			names = append(names, strings.ToLower(r))
		}
		slices.Sort(names)
		out[uid] = slices.Compact(names)
	}
	return out, nil
}

// SetRoles replaces the roles AssumeRole accepts (Config.Roles); nil accepts
// any well-formed role ARN.
func (s *Server) SetRoles(roles map[string][]string) error {
	n, err := normaliseRoles(roles)
	if err != nil {
		return fmt.Errorf("set roles: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles = n
	return nil
}

// Roles returns the roles AssumeRole accepts, by account uid (names
// lowercased); nil when any well-formed role ARN is accepted.
func (s *Server) Roles() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.roles == nil {
		return nil
	}
	out := make(map[string][]string, len(s.roles))
	for k, v := range s.roles {
		out[k] = slices.Clone(v)
	}
	return out
}

// keyAccount resolves an AccessKey ID (and the security token sent with it)
// to the account it acts as. The Account is returned, with its AccountID, as
// soon as the key is known, even when the token is refused.
func (s *Server) keyAccount(accessKeyID, token string, now time.Time) (Account, *authError) {
	if acct, ok := s.accounts[accessKeyID]; ok {
		if token != "" {
			return acct, &authError{CodeInvalidSecurityTokenMismatch}
		}
		return acct, nil
	}
	if !strings.HasPrefix(accessKeyID, STSKeyPrefix) {
		return Account{}, &authError{aliyun.CodeInvalidAccessKeyIDNotFound}
	}
	s.mu.Lock()
	sess, ok := s.sessions[accessKeyID]
	s.mu.Unlock()
	if !ok {
		return Account{}, &authError{aliyun.CodeInvalidAccessKeyIDNotFound}
	}
	acct := Account{AccessKeyID: accessKeyID, AccessKeySecret: sess.secret, AccountID: sess.accountID, role: sess.roleArn}
	switch {
	case token == "":
		return acct, &authError{CodeMissingSecurityToken}
	case !wellFormedToken(token):
		return acct, &authError{CodeInvalidSecurityTokenMalform}
	case !hmac.Equal([]byte(token), []byte(sess.token)):
		return acct, &authError{CodeInvalidSecurityTokenMismatch}
	case !now.Before(sess.expires):
		return acct, &authError{CodeInvalidSecurityTokenExpired}
	}
	return acct, nil
}

// wellFormedToken reports whether token has the shape of the tokens issued:
// "CAIS" and standard base64.
func wellFormedToken(token string) bool {
	rest, ok := strings.CutPrefix(token, stsTokenPrefix)
	if !ok {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(rest)
	return err == nil
}

// assumeRoleBody is AssumeRole's answer.
type assumeRoleBody struct {
	RequestID       string          `json:"RequestId"`
	AssumedRoleUser assumedRoleUser `json:"AssumedRoleUser"`
	Credentials     stsCredentials  `json:"Credentials"`
}

type assumedRoleUser struct {
	AssumedRoleID string `json:"AssumedRoleId"`
	Arn           string `json:"Arn"`
}

type stsCredentials struct {
	AccessKeyID     string `json:"AccessKeyId"`
	AccessKeySecret string `json:"AccessKeySecret"`
	SecurityToken   string `json:"SecurityToken"`
	Expiration      string `json:"Expiration"`
}

// serveSTS answers an RPC-style request: STS AssumeRole. It has no quota.
func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request, call *Call, params url.Values, now time.Time) {
	call.Action = params.Get("Action")
	call.rpc = true
	fail := func(acct Account, code string) {
		s.answer(w, r, call, acct, errResult(code))
	}
	if params.Get("Version") != STSAPIVersion {
		fail(Account{}, aliyun.CodeInvalidVersion)
		return
	}
	if call.Action != ActionAssumeRole {
		fail(Account{}, aliyun.CodeInvalidActionNotFound)
		return
	}
	caller, authErr := s.verifyRPC(r, params, now)
	call.Account, call.KeyKind = caller.AccountID, caller.keyKind()
	if authErr != nil {
		fail(caller, authErr.code)
		return
	}

	arn := params.Get("RoleArn")
	call.Role = arn
	m := roleARNPattern.FindStringSubmatch(arn)
	if m == nil {
		fail(caller, CodeInvalidParameterRoleArn)
		return
	}
	uid, roleName := m[1], m[2]
	call.Account = uid
	if !sessionNamePattern.MatchString(params.Get("RoleSessionName")) {
		fail(caller, CodeInvalidParameterSessionName)
		return
	}
	duration := DefaultSTSDuration
	if v := params.Get("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || time.Duration(n)*time.Second < MinSTSDuration || time.Duration(n)*time.Second > MaxSTSDuration {
			fail(caller, CodeInvalidParameterDuration)
			return
		}
		duration = time.Duration(n) * time.Second
	}
	if v, ok := params["ExternalId"]; ok && (len(v[0]) < 2 || len(v[0]) > 1224 || !externalIDPattern.MatchString(v[0])) {
		fail(caller, CodeInvalidParameterExternalID)
		return
	}
	if v, ok := params["Policy"]; ok {
		if len(v[0]) > 2048 {
			fail(caller, CodeInvalidParameterPolicySize)
			return
		}
		var doc map[string]any
		if json.Unmarshal([]byte(v[0]), &doc) != nil {
			fail(caller, CodeInvalidParameterPolicy)
			return
		}
	}

	s.mu.Lock()
	if s.roles != nil && !slices.Contains(s.roles[uid], strings.ToLower(roleName)) {
		s.mu.Unlock()
		fail(caller, CodeEntityNotExistRole)
		return
	}
	sess := stsSession{
		secret:    randomString(30),
		token:     stsTokenPrefix + base64.StdEncoding.EncodeToString(randomBytes(240)),
		accountID: uid,
		roleArn:   arn,
		expires:   now.Add(duration).Truncate(time.Second),
		session:   params.Get("RoleSessionName"),
		// AssumedRoleId is "<role id>:<session>", the role id 3 and 17
		// digits (as Alibaba's role ids look).
		assumedRoleID: "3" + randomDigits(17) + ":" + params.Get("RoleSessionName"),
		created:       now,
	}
	keyID := STSKeyPrefix + randomString(25)
	s.purgeSessionsLocked(now)
	s.sessions[keyID] = sess
	s.mu.Unlock()

	session := params.Get("RoleSessionName")
	body := assumeRoleBody{
		RequestID: call.RequestID,
		AssumedRoleUser: assumedRoleUser{
			AssumedRoleID: sess.assumedRoleID,
			Arn:           arn + "/" + session,
		},
		Credentials: stsCredentials{
			AccessKeyID:     keyID,
			AccessKeySecret: sess.secret,
			SecurityToken:   sess.token,
			Expiration:      sess.expires.UTC().Format(dateLayout),
		},
	}
	s.answer(w, r, call, caller, result{status: http.StatusOK, body: body})
}

// purgeSessionsLocked forgets sessions expired for longer than expiredKept,
// at most once a minute. The caller holds s.mu.
func (s *Server) purgeSessionsLocked(now time.Time) {
	if now.Sub(s.sessionsPurged) < time.Minute {
		return
	}
	for k, sess := range s.sessions {
		if now.Sub(sess.expires) > expiredKept {
			delete(s.sessions, k)
		}
	}
	s.sessionsPurged = now
}

// verifyRPC checks an RPC-style request's HMAC-SHA1 signature, its
// timestamp and its nonce, and returns the caller's account. The signature
// is credentials-go's (providers/ram_role_arn.go): over every query and form
// parameter but Signature,
//
//	METHOD + "&%2F&" + percentEncode(canonicalised parameters)
//
// keyed with the AccessKey secret followed by "&", base64-encoded.
func (s *Server) verifyRPC(r *http.Request, params url.Values, now time.Time) (Account, *authError) {
	keyID, sig := params.Get("AccessKeyId"), params.Get("Signature")
	if keyID == "" || sig == "" || params.Get("SignatureNonce") == "" {
		return Account{}, &authError{aliyun.CodeIncompleteSignature}
	}
	if params.Get("SignatureMethod") != rpcSignatureMethod {
		return Account{}, &authError{CodeInvalidSignatureMethod}
	}
	acct, aerr := s.keyAccount(keyID, params.Get("SecurityToken"), now)
	if aerr != nil {
		return acct, aerr
	}
	if !hmac.Equal([]byte(sig), []byte(rpcSignature(r.Method, params, acct.AccessKeySecret))) {
		return acct, &authError{aliyun.CodeSignatureDoesNotMatch}
	}
	ts, err := time.Parse(dateLayout, params.Get("Timestamp"))
	if err != nil {
		return acct, &authError{aliyun.CodeInvalidTimeStampFormat}
	}
	if skew := now.Sub(ts); skew > maxSkew || skew < -maxSkew {
		return acct, &authError{aliyun.CodeInvalidTimeStampExpired}
	}
	if !s.useNonce(keyID, params.Get("SignatureNonce"), now) {
		return acct, &authError{aliyun.CodeSignatureNonceUsed}
	}
	return acct, nil
}

// rpcSignature computes the RPC-style (signature version 1.0) signature of
// params, excluding Signature itself.
func rpcSignature(method string, params url.Values, secret string) string {
	signed := url.Values{}
	for k, v := range params {
		if k != "Signature" {
			signed[k] = v
		}
	}
	canonical := acsEscapeFixup(signed.Encode())
	stringToSign := method + "&%2F&" + url.QueryEscape(canonical)
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}

// randomString returns n random letters and digits.
func randomString(n int) string {
	b := randomBytes(n)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

func randomDigits(n int) string {
	b := randomBytes(n)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

package rdssim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
)

const (
	signatureAlgorithm = "ACS3-HMAC-SHA256"
	// dateLayout is the x-acs-date format the client sends (UTC).
	dateLayout = "2006-01-02T15:04:05Z"
	// maxSkew bounds the difference between x-acs-date and the server clock,
	// and how long a nonce is remembered.
	maxSkew = 15 * time.Minute
)

// requiredSignedHeaders must all be present and signed.
var requiredSignedHeaders = []string{
	"host", "x-acs-action", "x-acs-content-sha256", "x-acs-date",
	"x-acs-signature-nonce", "x-acs-version",
}

// authError is a rejection by the signature check: a catalog code.
type authError struct {
	code string
}

// authorization is a parsed Authorization header.
type authorization struct {
	accessKeyID   string
	signedHeaders []string
	signature     string
}

// parseAuthorization parses
// "ACS3-HMAC-SHA256 Credential=<ak>,SignedHeaders=<a;b>,Signature=<hex>".
func parseAuthorization(h string) (authorization, bool) {
	algo, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || algo != signatureAlgorithm {
		return authorization{}, false
	}
	var a authorization
	var haveHeaders bool
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return authorization{}, false
		}
		switch k {
		case "Credential":
			a.accessKeyID = v
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
			haveHeaders = v != ""
		case "Signature":
			a.signature = v
		}
	}
	if a.accessKeyID == "" || !haveHeaders || a.signature == "" {
		return authorization{}, false
	}
	return a, true
}

// verify checks the request's signature, date and nonce. On success it
// returns the account of the access key.
func (s *Server) verify(r *http.Request, body []byte, now time.Time) (Account, *authError) {
	a, ok := parseAuthorization(r.Header.Get("Authorization"))
	if !ok {
		return Account{}, &authError{aliyun.CodeIncompleteSignature}
	}
	acct, aerr := s.keyAccount(a.accessKeyID, r.Header.Get("x-acs-security-token"), now)
	if aerr != nil {
		return acct, aerr
	}
	// Every required header, and every x-acs-* header sent, must be signed;
	// the signed list must be lowercase and sorted as the client emits it.
	if !slices.IsSorted(a.signedHeaders) {
		return acct, &authError{aliyun.CodeIncompleteSignature}
	}
	for _, name := range a.signedHeaders {
		if name != strings.ToLower(name) {
			return acct, &authError{aliyun.CodeIncompleteSignature}
		}
	}
	for _, name := range requiredSignedHeaders {
		if !slices.Contains(a.signedHeaders, name) {
			return acct, &authError{aliyun.CodeIncompleteSignature}
		}
	}
	for name := range r.Header {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "x-acs-") && !slices.Contains(a.signedHeaders, lower) {
			return acct, &authError{aliyun.CodeIncompleteSignature}
		}
	}
	for _, name := range a.signedHeaders {
		if name != "host" && len(r.Header.Values(name)) == 0 {
			return acct, &authError{aliyun.CodeIncompleteSignature}
		}
	}

	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if r.Header.Get("x-acs-content-sha256") != payloadHash {
		return acct, &authError{aliyun.CodeSignatureDoesNotMatch}
	}
	want := signature(acct.AccessKeySecret, canonicalRequest(r, a.signedHeaders, payloadHash))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(a.signature))) {
		return acct, &authError{aliyun.CodeSignatureDoesNotMatch}
	}

	date, err := time.Parse(dateLayout, r.Header.Get("x-acs-date"))
	if err != nil {
		return acct, &authError{aliyun.CodeInvalidTimeStampFormat}
	}
	if skew := now.Sub(date); skew > maxSkew || skew < -maxSkew {
		return acct, &authError{aliyun.CodeInvalidTimeStampExpired}
	}
	if !s.useNonce(a.accessKeyID, r.Header.Get("x-acs-signature-nonce"), now) {
		return acct, &authError{aliyun.CodeSignatureNonceUsed}
	}
	return acct, nil
}

// useNonce records nonce for accessKeyID and reports false if it was already
// used within maxSkew. Old nonces are purged at most once a minute.
func (s *Server) useNonce(accessKeyID, nonce string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.noncePurged) > time.Minute {
		for k, t := range s.nonces {
			if now.Sub(t) > maxSkew {
				delete(s.nonces, k)
			}
		}
		s.noncePurged = now
	}
	key := accessKeyID + "\x00" + nonce
	if t, ok := s.nonces[key]; ok && now.Sub(t) <= maxSkew {
		return false
	}
	s.nonces[key] = now
	return true
}

// canonicalRequest builds
// METHOD\nURI\nQUERY\nHEADERS\nSIGNED_HEADERS\nPAYLOAD_HASH
// where HEADERS ends with its own newline.
func canonicalRequest(r *http.Request, signedHeaders []string, payloadHash string) string {
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(acsEscapeFixup(path))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.Query()))
	b.WriteByte('\n')
	for _, name := range signedHeaders {
		var value string
		if name == "host" {
			value = strings.TrimSpace(r.Host)
		} else {
			vals := r.Header.Values(name)
			trimmed := make([]string, len(vals))
			for i, v := range vals {
				trimmed[i] = strings.TrimSpace(v)
			}
			sort.Strings(trimmed)
			value = strings.Join(trimmed, ",")
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(value)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// canonicalQuery re-encodes the decoded query the way the client signs it:
// keys sorted bytewise and not escaped, values url.QueryEscape'd, an empty
// value as "key=", then + -> %20, * -> %2A, %7E -> ~ over the whole string.
// The raw query cannot be used: on the wire a space is "+".
func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, k+"="+url.QueryEscape(v))
		}
	}
	return acsEscapeFixup(strings.Join(parts, "&"))
}

func acsEscapeFixup(s string) string {
	s = strings.ReplaceAll(s, "+", "%20")
	s = strings.ReplaceAll(s, "*", "%2A")
	return strings.ReplaceAll(s, "%7E", "~")
}

// signature returns hex(HMAC-SHA256(secret, "ACS3-HMAC-SHA256\n" +
// hex(SHA256(canonicalRequest)))).
func signature(secret, canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	stringToSign := signatureAlgorithm + "\n" + hex.EncodeToString(sum[:])
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(stringToSign))
	return hex.EncodeToString(mac.Sum(nil))
}

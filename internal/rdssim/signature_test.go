package rdssim_test

import (
	"net/http"
	"regexp"
	"testing"
	"time"
)

var requestIDPattern = regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)

func TestSignature(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		spec       func(b bundle) signSpec
		wantStatus int
		wantCode   string
	}{
		{
			name:       "valid",
			spec:       func(bundle) signSpec { return describeNetSpec("rm-dev") },
			wantStatus: http.StatusOK,
		},
		{
			name: "valid with characters the canonical query re-encodes",
			spec: func(bundle) signSpec {
				s := describeNetSpec("rm-dev")
				s.query["ClientToken"] = "a b*c~d+e/f&g=h"
				return s
			},
			wantStatus: http.StatusOK,
		},
		{
			name: "valid with an empty query value",
			spec: func(bundle) signSpec {
				s := describeNetSpec("rm-dev")
				s.query["ClientToken"] = ""
				return s
			},
			wantStatus: http.StatusOK,
		},
		{
			name: "wrong secret",
			spec: func(bundle) signSpec {
				s := describeNetSpec("rm-dev")
				s.secret = "not-the-secret"
				return s
			},
			wantStatus: http.StatusBadRequest,
			wantCode:   "SignatureDoesNotMatch",
		},
		{
			name: "other account's secret for this key",
			spec: func(bundle) signSpec {
				s := describeNetSpec("rm-dev")
				s.secret = otherSecret
				return s
			},
			wantStatus: http.StatusBadRequest,
			wantCode:   "SignatureDoesNotMatch",
		},
		{
			name: "unknown access key",
			spec: func(bundle) signSpec {
				s := describeNetSpec("rm-dev")
				s.ak = "LTAIunknown000000000000"
				return s
			},
			wantStatus: http.StatusNotFound,
			wantCode:   "InvalidAccessKeyId.NotFound",
		},
		{
			name: "tampered query value",
			spec: func(bundle) signSpec {
				s := releaseSpec("rm-dev", "rm-dev.mysql.rds.aliyuncs.com", "0")
				s.mutate = func(r *http.Request) {
					q := r.URL.Query()
					q.Set("DBInstanceId", "rm-other")
					r.URL.RawQuery = q.Encode()
				}
				return s
			},
			wantStatus: http.StatusBadRequest,
			wantCode:   "SignatureDoesNotMatch",
		},
		{
			name: "added query parameter",
			spec: func(bundle) signSpec {
				s := describeNetSpec("rm-dev")
				s.mutate = func(r *http.Request) { r.URL.RawQuery += "&Flag=1" }
				return s
			},
			wantStatus: http.StatusBadRequest,
			wantCode:   "SignatureDoesNotMatch",
		},
		{
			name: "tampered signed header",
			spec: func(bundle) signSpec {
				s := describeNetSpec("rm-dev")
				s.mutate = func(r *http.Request) { r.Header.Set("x-acs-action", "DescribeDBInstanceAttribute") }
				return s
			},
			wantStatus: http.StatusBadRequest,
			wantCode:   "SignatureDoesNotMatch",
		},
		{
			name: "different host",
			spec: func(bundle) signSpec {
				s := describeNetSpec("rm-dev")
				s.mutate = func(r *http.Request) { r.Host = "rds.aliyuncs.com" }
				return s
			},
			wantStatus: http.StatusBadRequest,
			wantCode:   "SignatureDoesNotMatch",
		},
		{
			name: "body does not match x-acs-content-sha256",
			spec: func(bundle) signSpec {
				s := describeNetSpec("rm-dev")
				s.mutate = func(r *http.Request) { r.Header.Set("x-acs-content-sha256", "00") }
				return s
			},
			wantStatus: http.StatusBadRequest,
			wantCode:   "SignatureDoesNotMatch",
		},
		{
			name: "unsigned x-acs header",
			spec: func(bundle) signSpec {
				s := describeNetSpec("rm-dev")
				s.mutate = func(r *http.Request) { r.Header.Set("x-acs-extra", "1") }
				return s
			},
			wantStatus: http.StatusBadRequest,
			wantCode:   "IncompleteSignature",
		},
		{
			name: "no Authorization",
			spec: func(bundle) signSpec {
				s := describeNetSpec("rm-dev")
				s.mutate = func(r *http.Request) { r.Header.Del("Authorization") }
				return s
			},
			wantStatus: http.StatusBadRequest,
			wantCode:   "IncompleteSignature",
		},
		{
			name: "other algorithm",
			spec: func(bundle) signSpec {
				s := describeNetSpec("rm-dev")
				s.mutate = func(r *http.Request) {
					r.Header.Set("Authorization", "ACS3-HMAC-SM3 Credential="+testAK+",SignedHeaders=host,Signature=00")
				}
				return s
			},
			wantStatus: http.StatusBadRequest,
			wantCode:   "IncompleteSignature",
		},
		{
			name: "date 16 minutes behind",
			spec: func(b bundle) signSpec {
				s := describeNetSpec("rm-dev")
				s.date = b.clock.Now().Add(-16 * time.Minute)
				return s
			},
			wantStatus: http.StatusBadRequest,
			wantCode:   "InvalidTimeStamp.Expired",
		},
		{
			name: "date 16 minutes ahead",
			spec: func(b bundle) signSpec {
				s := describeNetSpec("rm-dev")
				s.date = b.clock.Now().Add(16 * time.Minute)
				return s
			},
			wantStatus: http.StatusBadRequest,
			wantCode:   "InvalidTimeStamp.Expired",
		},
		{
			name: "date 14 minutes behind",
			spec: func(b bundle) signSpec {
				s := describeNetSpec("rm-dev")
				s.date = b.clock.Now().Add(-14 * time.Minute)
				return s
			},
			wantStatus: http.StatusOK,
		},
		{
			name:       "wrong version",
			spec:       func(bundle) signSpec { s := describeNetSpec("rm-dev"); s.version = "2020-01-01"; return s },
			wantStatus: http.StatusBadRequest,
			wantCode:   "InvalidVersion",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, 0)
			ans := call(t, b, tt.spec(b))
			if ans.status != tt.wantStatus || ans.code() != tt.wantCode {
				t.Fatalf("got %d %q (%v), want %d %q", ans.status, ans.code(), ans.body, tt.wantStatus, tt.wantCode)
			}
			if !requestIDPattern.MatchString(ans.requestID()) {
				t.Errorf("RequestId %q is not an uppercase UUID", ans.requestID())
			}
			if got := ans.header.Get("x-acs-request-id"); got != ans.requestID() {
				t.Errorf("x-acs-request-id %q != body RequestId %q", got, ans.requestID())
			}
			if ct := ans.header.Get("Content-Type"); ct != "application/json;charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if tt.wantCode != "" {
				for _, k := range []string{"HostId", "Message", "Recommend"} {
					if s, _ := ans.body[k].(string); s == "" {
						t.Errorf("error body lacks %s: %v", k, ans.body)
					}
				}
			}
		})
	}
}

func TestSignatureNonce(t *testing.T) {
	t.Parallel()
	b := setup(t, 100)

	first := describeNetSpec("rm-dev")
	first.nonce = "fixed-nonce"
	if ans := call(t, b, first); ans.status != http.StatusOK {
		t.Fatalf("first use: %d %v", ans.status, ans.body)
	}
	replay := describeNetSpec("rm-dev")
	replay.nonce = "fixed-nonce"
	if ans := call(t, b, replay); ans.status != http.StatusBadRequest || ans.code() != "SignatureNonceUsed" {
		t.Fatalf("replay: got %d %q, want 400 SignatureNonceUsed", ans.status, ans.code())
	}
	// Nonces are per access key.
	other := describeNetSpec("rm-dev")
	other.nonce, other.ak, other.secret = "fixed-nonce", otherAK, otherSecret
	if ans := call(t, b, other); ans.status != http.StatusOK {
		t.Fatalf("same nonce, other key: %d %v", ans.status, ans.body)
	}
	// A rejected signature does not burn the nonce.
	bad := describeNetSpec("rm-dev")
	bad.nonce, bad.secret = "fresh-nonce", "wrong"
	if ans := call(t, b, bad); ans.code() != "SignatureDoesNotMatch" {
		t.Fatalf("bad signature: %v", ans.body)
	}
	good := describeNetSpec("rm-dev")
	good.nonce = "fresh-nonce"
	if ans := call(t, b, good); ans.status != http.StatusOK {
		t.Fatalf("nonce after a rejected request: %d %v", ans.status, ans.body)
	}
	// After the 15-minute window the nonce is forgotten.
	b.clock.Advance(16 * time.Minute)
	later := describeNetSpec("rm-dev")
	later.nonce = "fixed-nonce"
	if ans := call(t, b, later); ans.status != http.StatusOK {
		t.Fatalf("nonce after 16 minutes: %d %v", ans.status, ans.body)
	}
}

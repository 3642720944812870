package rdssim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRAMAdminAndState loads RAM from a state file and through POST
// /_sim/ram, refuses inconsistent RAM, and answers GET with what it holds.
func TestRAMAdminAndState(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	state := `{"accounts":{"2222222222222222":{"roles":["op"],"ram":{"users":[{"name":"u","policies":["P"]}],
		"groups":[],"roles":[{"name":"op","trust_policy":{"Version":"1","Statement":[]}}],
		"policies":[{"name":"P","document":{"Version":"1","Statement":[]}}]}}},"instances":[]}`
	if err := os.WriteFile(path, []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Accounts: []Account{{AccessKeyID: "k", AccessKeySecret: "s", AccountID: "1111111111111111"}}, RAM: f.RAMMap()})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.RAM("2222222222222222"); len(got.Users) != 1 || got.Policies[0].Type != "Custom" {
		t.Fatalf("ram from the state file: %+v", got)
	}
	// With Config.RAM set, the first account is not given the example.
	if got := s.RAM("1111111111111111"); len(got.Users) != 0 {
		t.Fatalf("first account: %+v", got)
	}

	post := func(query, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/_sim/ram"+query, strings.NewReader(body))
		r.RemoteAddr = "127.0.0.1:5000"
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w
	}
	for body, want := range map[string]string{
		`{"users":[{"name":"u","groups":["g"]}],"groups":[],"roles":[],"policies":[]}`:                 `group \"g\" is not in groups`,
		`{"users":[{"name":"u","policies":["P"]}],"groups":[],"roles":[],"policies":[]}`:               `policy \"P\" is not in policies`,
		`{"users":[{"name":"u"},{"name":"U"}],"groups":[],"roles":[],"policies":[]}`:                   `duplicate user`,
		`{"users":[],"groups":[],"roles":[{"name":"r","trust_policy":"x"}],"policies":[]}`:             `trust_policy must be a JSON object`,
		`{"users":[],"groups":[],"roles":[],"policies":[{"name":"P","type":"Managed","document":{}}]}`: `want Custom or System`,
		`{"users":[{"name":"a/b"}],"groups":[],"roles":[],"policies":[]}`:                              `want 1-128 letters`,
		`{"users":[],"unknown":1}`: `unknown field`,
	} {
		if w := post("", body); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), want) {
			t.Errorf("POST %s: %d %s, want 400 %s", body, w.Code, w.Body, want)
		}
	}
	ex, err := ExampleRAM("3333333333333333")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ex)
	if w := post("?account=3333333333333333", string(b)); w.Code != http.StatusOK {
		t.Fatalf("POST example: %d %s", w.Code, w.Body)
	}
	r := httptest.NewRequest(http.MethodGet, "/_sim/ram?account=3333333333333333", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	var got RAMState
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || len(got.Roles) != 3 {
		t.Fatalf("GET: %s, %v", w.Body, err)
	}
	if !strings.Contains(string(got.Roles[1].TrustPolicy), "acs:ram::3333333333333333:root") ||
		strings.Contains(w.Body.String(), exampleRAMAccount) {
		t.Errorf("the example's ARNs do not name the account: %s", got.Roles[1].TrustPolicy)
	}
	// Not from loopback: refused, like the rest of /_sim/.
	r = httptest.NewRequest(http.MethodGet, "/_sim/ram", nil)
	r.RemoteAddr = "192.0.2.1:5000"
	w = httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden {
		t.Errorf("non-loopback: %d", w.Code)
	}
}

// TestRAMDefaultsToTheExample gives the first account the example RAM when
// Config.RAM is nil.
func TestRAMDefaultsToTheExample(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Accounts: []Account{{AccessKeyID: "k", AccessKeySecret: "s", AccountID: "4444444444444444"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := s.RAM("4444444444444444")
	if len(got.Users) != 8 || len(got.Groups) != 3 || len(got.Roles) != 3 || len(got.Policies) != 10 {
		t.Fatalf("example: %d users, %d groups, %d roles, %d policies", len(got.Users), len(got.Groups), len(got.Roles), len(got.Policies))
	}
}

package main

import (
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/internal/auth"
)

func TestLoadWebConfig(t *testing.T) {
	t.Parallel()
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

	w, err := loadWebConfig(env(nil))
	if err != nil || w.DevLogin || !w.SecureCookie || w.OIDC.GroupsClaim != "groups" || w.Roles.String() != auth.DefaultRoleGroups ||
		strings.Join(w.OIDC.Scopes, " ") != "openid profile email groups" {
		t.Fatalf("defaults: %+v %v", w, err)
	}
	w, err = loadWebConfig(env(map[string]string{
		"RDSGATE_OIDC_ISSUER": "https://idp.example.com", "RDSGATE_OIDC_CLIENT_ID": "rdsgate",
		"RDSGATE_OIDC_CLIENT_SECRET": "s3cret", "RDSGATE_OIDC_GROUPS_CLAIM": "realm_access.roles",
		"RDSGATE_ROLE_GROUPS": "requester=eng;auditor=compliance", "RDSGATE_DEV_LOGIN": "false",
		"RDSGATE_SESSION_SECURE_COOKIE": "false", "RDSGATE_OIDC_SCOPES": "openid,groups"}))
	if err != nil || w.OIDC.Issuer != "https://idp.example.com" || w.OIDC.GroupsClaim != "realm_access.roles" || w.SecureCookie ||
		len(w.Roles[auth.RoleApprover]) != 0 || len(w.OIDC.Scopes) != 2 {
		t.Fatalf("set: %+v %v", w, err)
	}
	if s := w.String(); strings.Contains(s, "s3cret") || !strings.Contains(s, "[REDACTED]") {
		t.Errorf("String leaks the secret: %s", s)
	}
	for _, bad := range []map[string]string{
		{"RDSGATE_DEV_LOGIN": "yes please"},
		{"RDSGATE_SESSION_SECURE_COOKIE": "sometimes"},
		{"RDSGATE_ROLE_GROUPS": "boss=admins"},
		{"RDSGATE_OIDC_ISSUER": "https://idp.example.com"},
	} {
		if _, err := loadWebConfig(env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestDevLoginOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:0": true,
		":8080": false, "0.0.0.0:8080": false, "10.0.0.5:8080": false, "rdsgate.example.com:443": false} {
		w := webConfig{DevLogin: true}
		if err := w.check(addr); (err == nil) != ok {
			t.Errorf("%s: %v", addr, err)
		}
	}
	if err := (webConfig{}).check(":8080"); err != nil {
		t.Errorf("without dev login any address is fine: %v", err)
	}
}

func TestIsLoopbackAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:1": true, "[::1]:8080": true, "localhost:0": true, "LOCALHOST:80": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:8080": false, "10.0.0.5:8080": false, "192.168.1.1:80": false,
		"rdsgate.example.com:443": false, "localhost.example.com:80": false, "127.0.0.1": false, "": false, "[::1]": false,
	} {
		if got := isLoopbackAddr(addr); got != want {
			t.Errorf("isLoopbackAddr(%q) = %t, want %t", addr, got, want)
		}
	}
}

// TestOIDCRedirectURLRequiredOnAllInterfaces: with OIDC on and no
// RDSGATE_OIDC_REDIRECT_URL, listening on all interfaces is refused with an
// error naming the variable; loopback and concrete hosts keep the default.
func TestOIDCRedirectURLRequiredOnAllInterfaces(t *testing.T) {
	t.Parallel()
	oidc := func(redirect string) webConfig {
		return webConfig{OIDC: auth.OIDCConfig{Issuer: "https://idp.example.com", ClientID: "rdsgate", RedirectURL: redirect}}
	}
	for addr, ok := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:8080": true,
		"10.0.0.5:8080": true, "rdsgate.internal.example.com:8080": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:8080": false, "[0:0:0:0:0:0:0:0]:8080": false, "not an address": false,
	} {
		w := oidc("")
		err := w.check(addr)
		if (err == nil) != ok {
			t.Errorf("%s: %v", addr, err)
		}
		if err != nil && !strings.Contains(err.Error(), "RDSGATE_OIDC_REDIRECT_URL") {
			t.Errorf("%s: the error does not name RDSGATE_OIDC_REDIRECT_URL: %v", addr, err)
		}
		// With the redirect URL set, any address will do.
		w = oidc("https://rdsgate.example.com/auth/callback")
		if err := w.check(addr); err != nil {
			t.Errorf("%s with RDSGATE_OIDC_REDIRECT_URL set: %v", addr, err)
		}
	}
	// Without OIDC the redirect URL does not matter.
	if err := (webConfig{}).check("0.0.0.0:8080"); err != nil {
		t.Errorf("no OIDC on 0.0.0.0: %v", err)
	}
	// Through loadWebConfig, as serve does.
	w, err := loadWebConfig(func(k string) string {
		return map[string]string{"RDSGATE_OIDC_ISSUER": "https://idp.example.com", "RDSGATE_OIDC_CLIENT_ID": "rdsgate"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.check(":8080"); err == nil || !strings.Contains(err.Error(), "RDSGATE_OIDC_REDIRECT_URL") {
		t.Errorf("serve on :8080 with OIDC and no redirect URL: %v", err)
	}
}

func TestDefaultRedirectURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ listen, base, want string }{
		{"127.0.0.1:8080", "http://127.0.0.1:8080", "http://127.0.0.1:8080/auth/callback"},
		{"127.0.0.1:0", "http://127.0.0.1:41234", "http://127.0.0.1:41234/auth/callback"},
		{"localhost:8080", "http://127.0.0.1:8080", "http://localhost:8080/auth/callback"},
		{"[::1]:8080", "http://[::1]:8080", "http://[::1]:8080/auth/callback"},
		{"rdsgate.internal.example.com:8080", "http://10.0.0.5:8080", "http://rdsgate.internal.example.com:8080/auth/callback"},
		{":8080", "http://[::]:8080", ""},
		{"0.0.0.0:8080", "http://0.0.0.0:8080", ""},
		{"not an address", "http://127.0.0.1:8080", ""},
	} {
		got, err := defaultRedirectURL(tt.listen, tt.base)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("defaultRedirectURL(%q, %q) = %q, %v; want %q", tt.listen, tt.base, got, err, tt.want)
		}
		if err != nil && !strings.Contains(err.Error(), "RDSGATE_OIDC_REDIRECT_URL") {
			t.Errorf("the error does not name RDSGATE_OIDC_REDIRECT_URL: %v", err)
		}
	}
}

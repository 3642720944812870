package app

import (
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/internal/auth"
)

func TestDevLoginOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:0": true,
		":8080": false, "0.0.0.0:8080": false, "10.0.0.5:8080": false, "rdsgate.example.com:443": false} {
		w := WebConfig{DevLogin: true}
		if err := w.Check(addr); (err == nil) != ok {
			t.Errorf("%s: %v", addr, err)
		}
	}
	if err := (WebConfig{}).Check(":8080"); err != nil {
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
		if got := IsLoopbackAddr(addr); got != want {
			t.Errorf("IsLoopbackAddr(%q) = %t, want %t", addr, got, want)
		}
	}
}

// TestOIDCRedirectURLRequiredOnAllInterfaces: with OIDC on and no
// RDSGATE_OIDC_REDIRECT_URL, listening on all interfaces is refused with an
// error naming the variable; loopback and concrete hosts keep the default.
func TestOIDCRedirectURLRequiredOnAllInterfaces(t *testing.T) {
	t.Parallel()
	oidc := func(redirect string) WebConfig {
		return WebConfig{OIDC: auth.OIDCConfig{Issuer: "https://idp.example.com", ClientID: "rdsgate", RedirectURL: redirect}}
	}
	for addr, ok := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:8080": true,
		"10.0.0.5:8080": true, "rdsgate.internal.example.com:8080": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:8080": false, "[0:0:0:0:0:0:0:0]:8080": false, "not an address": false,
	} {
		w := oidc("")
		err := w.Check(addr)
		if (err == nil) != ok {
			t.Errorf("%s: %v", addr, err)
		}
		if err != nil && !strings.Contains(err.Error(), "RDSGATE_OIDC_REDIRECT_URL") {
			t.Errorf("%s: the error does not name RDSGATE_OIDC_REDIRECT_URL: %v", addr, err)
		}
		// With the redirect URL set, any address will do.
		w = oidc("https://rdsgate.example.com/auth/callback")
		if err := w.Check(addr); err != nil {
			t.Errorf("%s with RDSGATE_OIDC_REDIRECT_URL set: %v", addr, err)
		}
	}
	// Without OIDC the redirect URL does not matter.
	if err := (WebConfig{}).Check("0.0.0.0:8080"); err != nil {
		t.Errorf("no OIDC on 0.0.0.0: %v", err)
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

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

// serve on all interfaces with OIDC needs RDSGATE_OIDC_REDIRECT_URL: the
// configuration read from the environment is refused, naming it.
func TestOIDCRedirectURLFromEnv(t *testing.T) {
	t.Parallel()
	w, err := loadWebConfig(func(k string) string {
		return map[string]string{"RDSGATE_OIDC_ISSUER": "https://idp.example.com", "RDSGATE_OIDC_CLIENT_ID": "rdsgate"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Check(":8080"); err == nil || !strings.Contains(err.Error(), "RDSGATE_OIDC_REDIRECT_URL") {
		t.Errorf("serve on :8080 with OIDC and no redirect URL: %v", err)
	}
}

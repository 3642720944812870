package main

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/internal/audit"
)

// audit keygen writes a key serve can load (0600) and its public half, and
// never overwrites one: a second run fails, or with --if-missing keeps the
// key and succeeds (the compose keygen service runs at every start).
func TestCLIAuditKeygen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit-signing.key")
	out, _, err := rdsgate(t, "audit", "keygen", "--out", path)
	if err != nil {
		t.Fatal(err)
	}
	key, err := audit.LoadSigningKey(path)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := audit.LoadPublicKey(path + ".pub")
	if err != nil || !pub.Equal(key.Public()) {
		t.Fatalf("public key beside it: %v", err)
	}
	id := audit.KeyID(key.Public().(ed25519.PublicKey))
	if strings.TrimSpace(out) != id {
		t.Errorf("printed %q, want the key id %s", out, id)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	before, _ := os.ReadFile(path)

	if _, _, err := rdsgate(t, "audit", "keygen", "--out", path); err == nil || !strings.Contains(err.Error(), "never overwrites") {
		t.Errorf("second keygen: %v, want a refusal", err)
	}
	out, _, err = rdsgate(t, "audit", "keygen", "--out", path, "--if-missing")
	if err != nil || strings.TrimSpace(out) != id {
		t.Errorf("keygen --if-missing over the key: %q, %v; want the same key id %s", out, err, id)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the key changed")
	}

	garbage := filepath.Join(t.TempDir(), "not-a-key")
	if err := os.WriteFile(garbage, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rdsgate(t, "audit", "keygen", "--out", garbage, "--if-missing"); err == nil {
		t.Error("keygen --if-missing over a file that is no key succeeded")
	}
	// A stale public half: nothing is written, and --if-missing does not
	// keep a key beside a public half that is not its own.
	stale := filepath.Join(t.TempDir(), "stale.key")
	if err := os.WriteFile(stale+".pub", []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rdsgate(t, "audit", "keygen", "--out", stale); err == nil {
		t.Error("keygen beside a stale .pub succeeded")
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("keygen beside a stale .pub left a private key: %v", err)
	}
	other := filepath.Join(t.TempDir(), "other.key")
	if _, _, err := rdsgate(t, "audit", "keygen", "--out", other); err != nil {
		t.Fatal(err)
	}
	otherPub, _ := os.ReadFile(other + ".pub")
	if err := os.WriteFile(path+".pub", otherPub, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rdsgate(t, "audit", "keygen", "--out", path, "--if-missing"); err == nil || !strings.Contains(err.Error(), "not the public half") {
		t.Errorf("keygen --if-missing beside another key's .pub: %v, want a refusal", err)
	}
	var ee exitError
	if _, _, err := rdsgate(t, "audit", "keygen", "--out", ""); !errors.As(err, &ee) || ee != 2 {
		t.Errorf("keygen without --out: %v, want exit 2", err)
	}
}

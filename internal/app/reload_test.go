package app

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/store"
	"github.com/rdsgate/rdsgate/internal/testdb"
	"github.com/rdsgate/rdsgate/policies"
)

// A policy edit that does not load is refused, the old revision keeps
// serving, and both the load and the refusal land in the audit trail, as
// serve wires them.
func TestPolicyReloadIsAudited(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	dir := t.TempDir()
	for _, name := range []string{"ram.json", "org.json"} {
		raw, err := policies.FS.ReadFile("examples/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.DiscardHandler)
	sealer := audit.NewSealer(pool, log, 0)
	db, err := store.New(pool, sealer.Kick)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.New(ctx, policy.Options{Dir: dir, Logger: log,
		OnReload: func(rev string, rerr error) { auditPolicyReload(db, log, rev, rerr) }})
	if err != nil {
		t.Fatal(err)
	}
	good := eng.Revision()
	if err := os.WriteFile(filepath.Join(dir, "ram.json"), []byte(`{"account_id": `), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := eng.Reload(ctx); err == nil {
		t.Fatal("a broken ram.json was accepted")
	}
	if eng.Revision() != good {
		t.Fatalf("revision changed to %s after a refused reload", eng.Revision())
	}
	var kind, code string
	err = pool.QueryRow(ctx, `SELECT kind, coalesce(error_code, '') FROM audit_events ORDER BY id DESC LIMIT 1`).Scan(&kind, &code)
	if err != nil || kind != audit.KindPolicyReloadFailed || code != "PolicyLoadFailed" {
		t.Fatalf("last event %q %q (%v), want the refused reload", kind, code, err)
	}
	// An edit that loads: a new revision, and its event.
	raw, err := policies.FS.ReadFile("examples/ram.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ram.json"), append(raw, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := eng.Reload(ctx); err != nil {
		t.Fatalf("a good ram.json was refused: %v", err)
	}
	next := eng.Revision()
	if next == good {
		t.Fatal("the revision did not change after an edit")
	}
	var revision string
	err = pool.QueryRow(ctx, `SELECT kind, payload->>'revision' FROM audit_events ORDER BY id DESC LIMIT 1`).Scan(&kind, &revision)
	if err != nil || kind != audit.KindPolicyReloaded || revision != next {
		t.Fatalf("last event %q, revision %q (%v), want the reload to %s", kind, revision, err, next)
	}
	if _, err := sealer.SealAll(ctx); err != nil {
		t.Fatal(err)
	}
	if rep, err := audit.Verify(ctx, pool); err != nil || !rep.OK() {
		t.Fatalf("chain: %+v %v", rep, err)
	}
}

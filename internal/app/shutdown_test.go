package app_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/apptest"
	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// With a signing key, serve keeps checkpoint copies beside the key by
// default, and signs the chain's head once more when it stops, so that
// what it recorded does not wait unsigned for the next start.
func TestShutdownSignsACheckpoint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "audit-signing.key")
	if _, err := audit.GenerateKeyFile(key); err != nil {
		t.Fatal(err)
	}
	a := apptest.Start(t, func(c *app.Config) { c.AuditSigningKey = key })
	if _, err := a.Requests.File(context.Background(), lifecycle.Actor{Subject: "alice", Groups: []string{"developers"}},
		request.Spec{RegionID: "cn-hangzhou", DBInstanceID: "rm-bp1devexample01", ConnectionString: "rm-bp1devexample01.mysql.rds.aliyuncs.com",
			NetworkType: "0", Justification: "retiring the endpoint", Ticket: "OPS-1"}, false); err != nil {
		t.Fatal(err)
	}
	pool := a.Pool
	var before int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_checkpoints`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	copies, err := os.ReadDir(filepath.Join(dir, "checkpoints"))
	if err != nil || len(copies) <= before {
		t.Fatalf("checkpoint copies beside the key: %d (%v), %d checkpoints before the shutdown", len(copies), err, before)
	}
}

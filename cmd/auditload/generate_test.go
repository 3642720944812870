package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/store"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

func TestGenerateAllKindsThroughAppend(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := Generate(ctx, pool, GenerateOptions{Count: 3000, Writers: 4, Batch: 25, Seed: 7})
	if err != nil || res.Events != 3000 {
		t.Fatalf("generate: %+v, %v", res, err)
	}
	if _, err := audit.NewSealer(pool, nil, 0).Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := audit.NewCheckpointer(pool, nil, key, t.TempDir(), time.Minute).Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.VerifyWith(ctx, pool, audit.VerifyOptions{Keys: []ed25519.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Complete() || rep.Checked != 3000 {
		t.Fatalf("verify: %+v", rep)
	}
	rows, err := pool.Query(ctx, `SELECT DISTINCT kind FROM audit_events`)
	if err != nil {
		t.Fatal(err)
	}
	kinds, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{audit.KindPolicyDecided, audit.KindRequestCreated, audit.KindRequestDenied, audit.KindApprovalGranted,
		audit.KindApprovalRejected, audit.KindRequestApproved, audit.KindRequestRejected, audit.KindRequestCancelled,
		audit.KindRequestExpired, audit.KindExecutionStarted, audit.KindExecutionSucceeded, audit.KindExecutionFailed} {
		if !strings.Contains(strings.Join(kinds, ","), k) {
			t.Errorf("generated kinds %v lack %s", kinds, k)
		}
	}
	var withIDs int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE kind = 'execution.failed'
        AND error_code IS NOT NULL AND alibaba_request_id IS NOT NULL`).Scan(&withIDs); err != nil || withIDs == 0 {
		t.Fatalf("failed executions with error code and RequestId: %d, %v", withIDs, err)
	}
}

// TestRun runs the command as scripts/bench_audit.sh does: on a database
// it migrates itself, with --json, leaving nothing unsealed.
func TestRun(t *testing.T) {
	t.Parallel()
	url := testdb.NewURL(t)
	var stdout, stderr bytes.Buffer
	args := []string{"--database-url", url, "--count", "500", "--writers", "2", "--batch", "10", "--json"}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("output %q: %v", stdout.String(), err)
	}
	for k, want := range map[string]float64{"events": 500, "transactions": 50, "writers": 2, "batch": 10} {
		if out[k] != want {
			t.Errorf("%s = %v, want %v (output %s)", k, out[k], want, stdout.String())
		}
	}
	for _, k := range []string{"events_per_sec", "took_ms", "seal_rest_ms", "sealed_after", "explicit_tx", "took"} {
		if _, ok := out[k]; !ok {
			t.Errorf("output lacks %s: %s", k, stdout.String())
		}
	}
	pool, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rep, err := audit.Verify(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Checked != 500 || rep.Unsealed != 0 {
		t.Fatalf("verify: %+v", rep)
	}
}

func TestRunFlags(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, &stdout, &stderr); err != nil {
		t.Fatalf("--help: %v", err)
	}
	for _, f := range []string{"-database-url", "-log-level", "-count", "-duration", "-writers", "-batch", "-explicit-tx", "-span", "-seed", "-json"} {
		if !regexp.MustCompile(`(?m)^  ` + f + `( |$)`).MatchString(stdout.String()) {
			t.Errorf("--help lacks %s:\n%s", f, stdout.String())
		}
	}
	if err := run(context.Background(), []string{"--bogus"}, &stdout, &stderr); err != exitError(2) {
		t.Errorf("unknown flag: %v, want exit status 2", err)
	}
	if err := run(context.Background(), []string{"--count", "1"}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("without a database: %v", err)
	}
	if err := run(context.Background(), []string{"--database-url", "postgres://nowhere.invalid/db"}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "--count or --duration") {
		t.Errorf("without --count or --duration: %v", err)
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/testdb"
)

// rdsgate runs the CLI in-process and returns stdout, stderr and the error.
func rdsgate(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

func TestCLITokenCreateAndAuditVerify(t *testing.T) {
	t.Parallel()
	url := testdb.NewURL(t)
	if _, _, err := rdsgate(t, "migrate", "--database-url", url); err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for _, s := range []string{"alice", "bob", "carol"} {
		out, _, err := rdsgate(t, "token", "create", "--database-url", url, "--subject", s, "--groups", "developers, dba")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		tok := lines[len(lines)-1]
		if !strings.HasPrefix(tok, "rdsg_") || strings.Contains(tok, " ") {
			t.Fatalf("last line is not the token alone: %q", out)
		}
		tokens = append(tokens, tok)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// Only the hash is stored, and the token is nowhere in the trail.
	for _, tok := range tokens {
		sum := sha256.Sum256([]byte(tok))
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM api_tokens WHERE token_hash = $1`, sum[:]).Scan(&n); err != nil || n != 1 {
			t.Fatalf("hash rows %d (%v)", n, err)
		}
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE payload::text LIKE '%' || $1 || '%'`, tok).Scan(&n); err != nil || n != 0 {
			t.Fatalf("token appears in %d audit events (%v)", n, err)
		}
	}
	var groups []string
	if err := conn.QueryRow(context.Background(), `SELECT groups FROM api_tokens LIMIT 1`).Scan(&groups); err != nil || len(groups) != 2 || groups[1] != "dba" {
		t.Fatalf("groups %v (%v)", groups, err)
	}

	out, _, err := rdsgate(t, "audit", "verify", "--database-url", url)
	if err != nil || !strings.Contains(out, "3 events checked") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	export := filepath.Join(t.TempDir(), "trail.jsonl")
	if _, _, err := rdsgate(t, "audit", "export", "--database-url", url, "--out", export); err != nil {
		t.Fatal(err)
	}
	if out, _, err := rdsgate(t, "audit", "verify", "--file", export); err != nil {
		t.Fatalf("offline verify: %v\n%s", err, out)
	}

	// A superuser edits event 2 behind the trigger's back: verify exits 1
	// and names it, online and on a new export.
	if _, err := conn.Exec(context.Background(), `ALTER TABLE audit_events DISABLE TRIGGER USER;
UPDATE audit_events SET actor = 'mallory' WHERE seq = 2;
ALTER TABLE audit_events ENABLE TRIGGER USER`); err != nil {
		t.Fatal(err)
	}
	out, _, err = rdsgate(t, "audit", "verify", "--database-url", url)
	var ee exitError
	if !errors.As(err, &ee) || ee != 1 || !strings.Contains(out, "seq 2") {
		t.Fatalf("tampered verify: err %v\n%s", err, out)
	}
	if _, _, err := rdsgate(t, "audit", "export", "--database-url", url, "--out", export); err != nil {
		t.Fatal(err)
	}
	out, _, err = rdsgate(t, "audit", "verify", "--file", export)
	if !errors.As(err, &ee) || ee != 1 || !strings.Contains(out, "seq 2") {
		t.Fatalf("tampered offline verify: err %v\n%s", err, out)
	}
}

func TestCLIUsage(t *testing.T) {
	t.Parallel()
	var ee exitError
	if _, errOut, err := rdsgate(t, "bogus"); !errors.As(err, &ee) || ee != 2 || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("unknown command: %v %q", err, errOut)
	}
	if _, _, err := rdsgate(t, "token", "create", "--database-url", "postgres://x@127.0.0.1:1/x"); err == nil || !strings.Contains(err.Error(), "--subject") {
		t.Fatalf("missing subject: %v", err)
	}
	if _, _, err := rdsgate(t, "serve", "--database-url", ""); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("serve without a database: %v", err)
	}
}

func TestCLIPolicyEval(t *testing.T) {
	t.Parallel()
	out, _, err := rdsgate(t, "policy", "eval", "--input", "../../policies/examples/input.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Allow    bool     `json:"allow"`
		Reasons  []string `json:"reasons"`
		Revision string   `json:"revision"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil || len(d.Reasons) == 0 || d.Revision == "" {
		t.Fatalf("policy eval output %q: %v", out, err)
	}
	if _, _, err := rdsgate(t, "policy", "eval", "--input", "/nonexistent.json"); err == nil {
		t.Fatal("missing input file accepted")
	}
}

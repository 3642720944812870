package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
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

// policy check and policy test load the organisation's modules as serve
// would and exit 1, naming the file and line, when they do not compile or
// a test fails; policy eval answers with the custom rules' reasons.
func TestCLIPolicyCheckTestEval(t *testing.T) {
	t.Parallel()
	const examples = "../../policies/examples/custom"
	var ee exitError
	if out, _, err := rdsgate(t, "policy", "check", "--policy-dir", examples); err != nil || !strings.Contains(out, "revision") {
		t.Fatalf("check the examples: %v %q", err, out)
	}
	if out, _, err := rdsgate(t, "policy", "test", "--policy-dir", examples); err != nil || !strings.Contains(out, " passed, 0 failed") {
		t.Fatalf("test the examples: %v %q", err, out)
	}
	broken := t.TempDir()
	writeTestFile(t, filepath.Join(broken, "bad.rego"), "package rdsgate.custom\n\ndeny contains \"x\" if {\n\tinput.request.\n}\n")
	if _, errOut, err := rdsgate(t, "policy", "check", "--policy-dir", broken); !errors.As(err, &ee) || ee != 1 || !strings.Contains(errOut, "bad.rego:5") {
		t.Fatalf("check a broken module: %v %q", err, errOut)
	}
	failing := t.TempDir()
	writeTestFile(t, filepath.Join(failing, "always_test.rego"), "package rdsgate.custom_test\n\ntest_fails if {\n\t1 == 2\n}\n")
	if out, _, err := rdsgate(t, "policy", "test", "--policy-dir", failing); !errors.As(err, &ee) || ee != 1 || !strings.Contains(out, "FAIL data.rdsgate.custom_test.test_fails (always_test.rego:3)") {
		t.Fatalf("test with a failing test: %v %q", err, out)
	}
	night := filepath.Join(t.TempDir(), "night.json")
	writeTestFile(t, night, `{"principal": {"subject": "alice", "groups": ["developers"]}, "request": {"region_id": "cn-hangzhou",
		"db_instance_id": "rm-bp1devexample01", "connection_string": "rm-bp1devexample01.mysql.rds.aliyuncs.com",
		"network_type": "0", "justification": "retiring the endpoint", "ticket": "OPS-1"},
		"context": {"current_time": "2026-12-04T15:30:00Z"}}`)
	out, _, err := rdsgate(t, "policy", "eval", "--input", night, "--policy-dir", examples)
	if err != nil || !strings.Contains(out, "custom: no releases between 22:00 and 06:00 Beijing time without break glass") {
		t.Fatalf("eval in the quiet period: %v %q", err, out)
	}
}

func writeTestFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// policy diff lists the recorded decisions the proposed policies change,
// reading policy inputs, audit events (as exported) and decision-log lines.
func TestCLIPolicyDiff(t *testing.T) {
	t.Parallel()
	in := func(instance, at string) string {
		return `{"principal": {"subject": "alice", "groups": ["developers"]}, "request": {"region_id": "cn-hangzhou",
			"db_instance_id": "` + instance + `", "connection_string": "` + instance + `.mysql.rds.aliyuncs.com",
			"network_type": "0", "justification": "retiring the endpoint", "ticket": "OPS-1"},
			"context": {"current_time": "` + at + `"}, "pending_requests": 0}`
	}
	oneLine := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	lines := []string{
		oneLine(in("rm-bp1devexample01", "2026-12-04T03:00:00Z")), // daytime, untagged: unchanged
		oneLine(in("rm-bp1devexample01", "2026-12-04T15:30:00Z")), // the quiet period: denied now
		// The same daytime filing of the PCI instance, as the audit export has it.
		`{"type": "event", "seq": 7, "kind": "policy.decided", "payload": {"path": "rdsgate/release/decision", "input": ` +
			oneLine(in("pgm-bp1stagexample", "2026-12-04T03:00:00Z")) + `}}`,
		`{"type": "event", "seq": 8, "kind": "request.created", "payload": {}}`,
		`{"type": "checkpoint", "head_seq": 8}`,
		// A decision-log entry of a vote: not a release decision.
		`{"decision_id": "x", "path": "rdsgate/approve/decision", "input": {}}`,
	}
	file := filepath.Join(t.TempDir(), "inputs.jsonl")
	writeTestFile(t, file, strings.Join(lines, "\n")+"\n")
	var ee exitError
	out, errOut, err := rdsgate(t, "policy", "diff", "--policy-dir", "../../policies/examples/custom", "--against-inputs", file, "--exit-code")
	if !errors.As(err, &ee) || ee != 1 || !strings.Contains(errOut, "3 decisions evaluated, 2 would change") {
		t.Fatalf("diff: %v %q\n%s", err, errOut, out)
	}
	var changed []diffLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var d diffLine
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatal(err)
		}
		changed = append(changed, d)
	}
	if len(changed) != 2 || changed[0].Line != 2 || !changed[0].Current.Allow || changed[0].Proposed.Allow ||
		changed[1].Line != 3 || changed[1].Current.RequiredApprovals != 1 || changed[1].Proposed.RequiredApprovals != 2 {
		t.Fatalf("changes %+v", changed)
	}
	// The same policies on both sides change nothing.
	if _, errOut, err := rdsgate(t, "policy", "diff", "--against-inputs", file, "--exit-code"); err != nil || !strings.Contains(errOut, "0 would change") {
		t.Fatalf("diff against itself: %v %q", err, errOut)
	}
}

// token list shows the tokens without the tokens; token revoke takes an id
// or a subject and exits 1 when it revoked nothing.
func TestCLITokenListRevoke(t *testing.T) {
	t.Parallel()
	url := testdb.NewURL(t)
	out, _, err := rdsgate(t, "token", "create", "--database-url", url, "--subject", "erin", "--groups", "dba", "--ttl", "48h")
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	if _, _, err := rdsgate(t, "token", "create", "--database-url", url, "--subject", "frank"); err != nil {
		t.Fatal(err)
	}
	out, _, err = rdsgate(t, "token", "list", "--database-url", url, "--json")
	if err != nil || strings.Contains(out, token) || strings.Count(out, "\n") != 2 {
		t.Fatalf("list: %v %q", err, out)
	}
	var first struct {
		ID        int64  `json:"id"`
		Subject   string `json:"subject"`
		ExpiresAt string `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "\n")+1:]), &first); err != nil || first.Subject != "erin" {
		t.Fatalf("erin's token in %q: %v", out, err)
	}
	if _, _, err := rdsgate(t, "token", "revoke", "--database-url", url, strconv.FormatInt(first.ID, 10)); err != nil {
		t.Fatalf("revoke by id: %v", err)
	}
	var ee exitError
	if _, _, err := rdsgate(t, "token", "revoke", "--database-url", url, strconv.FormatInt(first.ID, 10)); !errors.As(err, &ee) || ee != 1 {
		t.Fatalf("revoking again: %v", err)
	}
	if out, _, err := rdsgate(t, "token", "revoke", "--database-url", url, "--subject", "frank"); err != nil || !strings.HasPrefix(out, "1 token(s) revoked") {
		t.Fatalf("revoke by subject: %v %q", err, out)
	}
	if out, _, err := rdsgate(t, "token", "list", "--database-url", url); err != nil || strings.Contains(out, "erin") || strings.Contains(out, "frank") {
		t.Fatalf("list after revoking: %v %q", err, out)
	}
	if _, _, err := rdsgate(t, "token", "create", "--database-url", url, "--subject", "x", "--ttl", "-1h"); err == nil {
		t.Fatal("a negative --ttl was accepted")
	}
}

// healthcheck exits 0 against a ready server and 1 against one that is not
// (or is not there).
func TestCLIHealthcheck(t *testing.T) {
	t.Parallel()
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
		}
	}))
	defer ready.Close()
	if _, _, err := rdsgate(t, "healthcheck", "--url", ready.URL+"/readyz"); err != nil {
		t.Fatalf("ready: %v", err)
	}
	var ee exitError
	if _, _, err := rdsgate(t, "healthcheck", "--url", ready.URL+"/nothing"); !errors.As(err, &ee) || ee != 1 {
		t.Fatalf("not ready: %v", err)
	}
	ready.Close()
	if _, _, err := rdsgate(t, "healthcheck", "--url", ready.URL+"/readyz", "--timeout", "1s"); !errors.As(err, &ee) || ee != 1 {
		t.Fatalf("server gone: %v", err)
	}
	if got := readyURL("0.0.0.0:8080"); got != "http://127.0.0.1:8080/readyz" {
		t.Errorf("readyURL of all interfaces: %s", got)
	}
}

// Every command and subcommand answers --help with exit 0; serve's and
// dev's list the settings that have no flag too.
func TestCLIHelpEverywhere(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"help"}, {"serve", "--help"}, {"dev", "--help"}, {"migrate", "--help"}, {"sim", "--help"}, {"healthcheck", "--help"},
		{"token", "--help"}, {"token", "create", "--help"}, {"token", "list", "--help"}, {"token", "revoke", "--help"},
		{"audit", "--help"}, {"audit", "verify", "--help"}, {"audit", "export", "--help"}, {"audit", "checkpoint", "--help"},
		{"policy", "--help"}, {"policy", "eval", "--help"}, {"policy", "check", "--help"}, {"policy", "test", "--help"},
		{"policy", "diff", "--help"}, {"version"}, {"version", "--help"}, {"version", "--json"}, {"audit", "keygen", "--help"},
	} {
		out, errOut, err := rdsgate(t, args...)
		if err != nil {
			t.Errorf("%v: %v", args, err)
		}
		if out+errOut == "" {
			t.Errorf("%v: printed nothing", args)
		}
		if args[0] == "serve" || args[0] == "dev" {
			if !strings.Contains(errOut, "RDSGATE_RDS_ENDPOINT") || !strings.Contains(errOut, "RDSGATE_OIDC_ISSUER") {
				t.Errorf("%v does not list the settings without a flag:\n%s", args, errOut)
			}
		}
	}
	var ee exitError
	for _, args := range [][]string{{"nonsense"}, {"token", "nonsense"}, {"policy", "nonsense"}, {"audit", "nonsense"}, {"serve", "--nonsense"}} {
		if _, _, err := rdsgate(t, args...); !errors.As(err, &ee) || ee != 2 {
			t.Errorf("%v: %v, want exit 2", args, err)
		}
	}
}

// RDSGATE_LOG_FORMAT=json makes every log line one JSON object.
func TestLogFormatJSON(t *testing.T) {
	t.Setenv("RDSGATE_LOG_FORMAT", "json")
	var buf bytes.Buffer
	newLogger(&buf, "info").Info("hello", "k", "v")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line["msg"] != "hello" || line["k"] != "v" {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
}

package policy

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

func mustRef(t *testing.T, s string) ast.Ref {
	t.Helper()
	r, err := ast.ParseRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// demoTime is outside the example freeze window.
var demoTime = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// request returns a well-formed input for subject on instance.
func request(subject, instance string) Input {
	return Input{
		Principal: Principal{Subject: subject},
		Request: RequestInput{
			RegionID: "cn-hangzhou", DBInstanceID: instance,
			ConnectionString: instance + ".mysql.rds.aliyuncs.com", NetworkType: "0",
			Justification: "the application moved to the VPC endpoint", Ticket: "OPS-1234",
		},
		Context: Context{SourceIP: "203.0.113.10", CurrentTime: demoTime, SecureTransport: true},
	}
}

// newEngine returns an engine on the embedded examples.
func newEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// writeData writes ram.json and org.json into a new temporary directory.
func writeData(t *testing.T, ram, org string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ram.json"), ram)
	writeFile(t, filepath.Join(dir, "org.json"), org)
	return dir
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// exampleOrg is the example org.json.
func exampleOrg(t *testing.T) string {
	t.Helper()
	return string(mustRead(t, "examples/org.json"))
}

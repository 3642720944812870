package audit_test

import (
	"os"
	"os/exec"
	"testing"
)

// auditload fills the database at url with events made by the audit load
// generator, cmd/auditload, given args (--count N …): realistic events of
// every kind appended through audit.Append, then sealed. The generator is a
// command, which this package cannot import, so it runs it with go run;
// go test puts its own go command first in PATH.
func auditload(tb testing.TB, url string, args ...string) {
	tb.Helper()
	cmd := exec.Command("go", append([]string{"run", "github.com/rdsgate/rdsgate/cmd/auditload"}, args...)...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go run ./cmd/auditload %v: %v\n%s", args, err, out)
	}
}

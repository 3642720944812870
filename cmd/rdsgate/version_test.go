package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The VCS stamp wins over a stamped commit, a stamped version over the
// module's, and what nobody knows reads "unknown".
func TestReadBuildFacts(t *testing.T) {
	t.Parallel()
	yes := true
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}
	opa := []*debug.Module{{Path: "github.com/jackc/pgx/v5", Version: "v5.0.0"}, {Path: opaModule, Version: "v1.2.3"}}
	replaced := []*debug.Module{{Path: opaModule, Version: "v1.2.3", Replace: &debug.Module{Path: "../opa", Version: "v1.2.4-fork"}}}
	goLine := func(f buildFacts) buildFacts {
		f.Go, f.Platform = runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH
		return f
	}
	for _, tc := range []struct {
		name                      string
		version, commit, buildTim string
		bi                        *debug.BuildInfo
		want                      buildFacts
	}{
		{"nothing known", "dev", "", "", nil,
			buildFacts{Version: "dev", Commit: "unknown", BuildTime: "unknown", OPA: "unknown"}},
		{"ldflags only (docker build, no .git)", "v1.0.0", "feedbee", "2026-02-03T00:00:00Z", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Deps: opa},
			buildFacts{Version: "v1.0.0", Commit: "feedbee", BuildTime: "2026-02-03T00:00:00Z", OPA: "v1.2.3"}},
		{"vcs stamp wins over ldflags", "v1.0.0", "feedbee", "2026-02-03T00:00:00Z", &debug.BuildInfo{Settings: vcs, Deps: opa},
			buildFacts{Version: "v1.0.0", Commit: "0123abc", CommitTime: "2026-01-02T03:04:05Z", Modified: &yes, BuildTime: "2026-02-03T00:00:00Z", OPA: "v1.2.3"}},
		{"go install @version", "dev", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.9.0"}, Deps: replaced},
			buildFacts{Version: "v0.9.0", Commit: "unknown", BuildTime: "unknown", OPA: "v1.2.4-fork"}},
	} {
		got := readBuildFacts(tc.version, tc.commit, tc.buildTim, tc.bi)
		if diff := cmp.Diff(goLine(tc.want), got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

// The binary as the Makefile builds it (with -X stamps and the toolchain's
// VCS stamp) reports every field, the real Go toolchain, OPA's module
// version from go.mod, and the checkout's commit (or, outside a git
// checkout, the stamped one).
func TestVersionBinary(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "rdsgate")
	const ver, built = "v9.8.7-test", "2001-02-03T04:05:06Z"
	build := exec.Command("go", "build", "-buildvcs=auto", "-trimpath",
		"-ldflags", "-X main.version="+ver+" -X main.commit=stamped -X main.buildTime="+built, "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	goOut := func(args ...string) string {
		out, err := exec.Command("go", args...).Output()
		if err != nil {
			t.Fatalf("go %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	wantOPA := goOut("list", "-m", "-f", "{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}", opaModule)
	wantCommit := "stamped"
	if head, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		wantCommit = strings.TrimSpace(string(head))
	}

	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("version --json: %v", err)
	}
	var got buildFacts
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("version --json: %v\n%s", err, out)
	}
	want := buildFacts{Version: ver, Commit: wantCommit, BuildTime: built, Go: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, OPA: wantOPA}
	if wantCommit != "stamped" {
		if got.CommitTime == "" || got.Modified == nil {
			t.Errorf("a build in a git checkout without commit_time or modified: %s", out)
		}
		want.CommitTime, want.Modified = got.CommitTime, got.Modified
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("version --json (-want +got):\n%s", diff)
	}

	human, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	for _, line := range []string{"rdsgate " + ver + "\n", "commit:      " + wantCommit, "build time:  " + built + "\n",
		"go:          " + runtime.Version() + " " + want.Platform + "\n", "opa:         " + wantOPA + "\n"} {
		if !strings.Contains(string(human), line) {
			t.Errorf("version does not say %q:\n%s", line, human)
		}
	}
}

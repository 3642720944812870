package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Stamped at build time, for builds without the Go toolchain's own VCS
// stamp (the Docker build context has no .git): -ldflags "-X main.commit=…
// -X main.buildTime=…". The Makefile and the Dockerfile set them.
var (
	commit    string
	buildTime string
)

// opaModule is the module whose version `rdsgate version` reports as OPA's.
const opaModule = "github.com/open-policy-agent/opa"

// buildFacts is what `rdsgate version` prints; --json prints it as is.
type buildFacts struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	// CommitTime is the commit's time, from the VCS stamp; empty without one.
	CommitTime string `json:"commit_time,omitempty"`
	// Modified says whether the checkout had uncommitted changes; nil
	// (absent) when unknown.
	Modified  *bool  `json:"modified,omitempty"`
	BuildTime string `json:"build_time"`
	Go        string `json:"go"`
	Platform  string `json:"platform"`
	OPA       string `json:"opa"`
}

// readBuildFacts combines the values stamped with -X with the binary's
// build information (bi; nil when the binary has none). The VCS stamp
// (vcs.revision, vcs.time, vcs.modified: go build in a git checkout, with
// -buildvcs not false) wins over a stamped commit; the main module's
// version (go install …@v1.2.3) stands in for an unstamped version.
func readBuildFacts(version, commit, buildTime string, bi *debug.BuildInfo) buildFacts {
	f := buildFacts{Version: version, Commit: commit, BuildTime: buildTime,
		Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if (f.Version == "" || f.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			f.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				f.Commit = s.Value
			case "vcs.time":
				f.CommitTime = s.Value
			case "vcs.modified":
				modified := s.Value == "true"
				f.Modified = &modified
			}
		}
		for _, m := range bi.Deps {
			if m.Path == opaModule {
				if m.Replace != nil {
					m = m.Replace
				}
				f.OPA = m.Version
			}
		}
	}
	for _, v := range []*string{&f.Version, &f.Commit, &f.BuildTime, &f.OPA} {
		if *v == "" {
			*v = "unknown"
		}
	}
	return f
}

// runVersion is `rdsgate version [--json]`.
func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON object: version, commit, commit_time, modified, build_time, go, platform, opa")
	if done, err := parse(fs, args); done {
		return err
	}
	bi, _ := debug.ReadBuildInfo()
	f := readBuildFacts(version, commit, buildTime, bi)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(f)
	}
	dirty := ""
	if f.Modified != nil && *f.Modified {
		dirty = " (modified)"
	}
	fmt.Fprintf(stdout, "rdsgate %s\ncommit:      %s%s\n", f.Version, f.Commit, dirty)
	if f.CommitTime != "" {
		fmt.Fprintf(stdout, "commit time: %s\n", f.CommitTime)
	}
	fmt.Fprintf(stdout, "build time:  %s\ngo:          %s %s\nopa:         %s\n", f.BuildTime, f.Go, f.Platform, f.OPA)
	return nil
}

package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// reloads collects OnReload calls.
type reloads chan reloadEvent

type reloadEvent struct {
	revision string
	err      error
}

func (r reloads) onReload(revision string, err error) { r <- reloadEvent{revision, err} }

// next waits for the next reload, failing the test after a generous timeout.
func (r reloads) next(t *testing.T) reloadEvent {
	t.Helper()
	select {
	case ev := <-r:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no reload within 10s")
		return reloadEvent{}
	}
}

// until waits for the first reload that satisfies ok, skipping the others
// (a file written in several steps may be seen more than once).
func (r reloads) until(t *testing.T, ok func(reloadEvent) bool) reloadEvent {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-r:
			if ok(ev) {
				return ev
			}
		case <-deadline:
			t.Fatal("no matching reload within 10s")
			return reloadEvent{}
		}
	}
}

// setupDir copies the example data into a temporary directory and starts an
// engine on it.
func setupDir(t *testing.T) (*Engine, string, reloads) {
	t.Helper()
	dir := writeData(t, string(mustRead(t, "examples/ram.json")), exampleOrg(t))
	r := make(reloads, 16)
	e, err := New(context.Background(), Options{Dir: dir, OnReload: r.onReload})
	if err != nil {
		t.Fatal(err)
	}
	return e, dir, r
}

func TestRevisionFollowsData(t *testing.T) {
	t.Parallel()
	e, dir, r := setupDir(t)
	ctx := context.Background()
	first := e.Revision()
	if len(first) != 64 {
		t.Fatalf("revision %q is not a SHA-256", first)
	}
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := r.next(t); ev.revision != first || ev.err != nil || e.Revision() != first {
		t.Errorf("unchanged files: reload %+v, revision %s, want %s", ev, e.Revision(), first)
	}

	org := strings.Replace(exampleOrg(t), `"max_pending_requests": 5`, `"max_pending_requests": 1`, 1)
	writeFile(t, filepath.Join(dir, "org.json"), org)
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	ev := r.next(t)
	if ev.err != nil || ev.revision == first || e.Revision() != ev.revision {
		t.Fatalf("changed files: reload %+v, revision %s", ev, e.Revision())
	}
	in := request("alice", "rm-bp1devexample01")
	in.PendingRequests = 1
	d, err := e.Decide(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allow || d.Revision != ev.revision {
		t.Errorf("new rules not applied: %+v", d)
	}
}

func TestReloadRefusesBrokenRevision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct {
		name      string
		breakData func(t *testing.T, dir string)
	}{
		{"invalid JSON", func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "ram.json"), `{"account_id":`) }},
		{"unknown policy", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "ram.json"), `{"account_id":"1","users":{"u":{"policies":["Missing"]}}}`)
		}},
		{"missing file", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "org.json")); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, dir, r := setupDir(t)
			serving := e.Revision()
			tt.breakData(t, dir)
			err := e.Reload(ctx)
			if err == nil {
				t.Fatal("a broken revision was accepted")
			}
			ev := r.next(t)
			if ev.err == nil || !errors.Is(err, ev.err) && err.Error() != "reload policy: "+ev.err.Error() {
				t.Errorf("OnReload got %+v; Reload returned %v", ev, err)
			}
			if e.Revision() != serving {
				t.Errorf("revision changed to %s", e.Revision())
			}
			d, err := e.Decide(ctx, request("alice", "rm-bp1devexample01"))
			if err != nil || !d.Allow || d.Revision != serving {
				t.Errorf("old revision does not serve: %+v, %v", d, err)
			}
		})
	}
}

func TestReloadRefusesPolicyThatDoesNotCompile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	policyDir := t.TempDir()
	for name, src := range mustModules(t) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(policyDir, name)), 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(policyDir, name), string(src))
	}
	r := make(reloads, 4)
	dataDir := writeData(t, string(mustRead(t, "examples/ram.json")), exampleOrg(t))
	e, err := New(ctx, Options{Dir: dataDir, PolicyDir: policyDir, OnReload: r.onReload})
	if err != nil {
		t.Fatal(err)
	}
	serving := e.Revision()
	writeFile(t, filepath.Join(policyDir, "release.rego"), "package rdsgate.release\n\ndecision := {\"allow\": undefined_thing}\n")
	if err := e.Reload(ctx); err == nil || !strings.Contains(err.Error(), "compile") {
		t.Fatalf("reload error %v", err)
	}
	if ev := r.next(t); ev.err == nil || ev.revision == serving || ev.revision == "" {
		t.Errorf("OnReload %+v", ev)
	}
	if e.Revision() != serving {
		t.Error("the broken policy replaced the serving one")
	}
	if d, err := e.Decide(ctx, request("alice", "rm-bp1devexample01")); err != nil || !d.Allow {
		t.Errorf("old policy does not serve: %v %v", d.Reasons, err)
	}
}

// mustModules returns the embedded non-test modules in a flat layout
// mirroring policies/.
func mustModules(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range []string{"release.rego", "approve.rego", "ram/ram.rego", "ram/conditions.rego", "org/org.rego"} {
		out[name] = mustRead(t, name)
	}
	return out
}

func TestWatchReloadsOnFileChange(t *testing.T) {
	t.Parallel()
	e, dir, r := setupDir(t)
	ready := make(chan struct{})
	e.watching = func() { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Watch(ctx) }()
	<-ready
	first := e.Revision()

	org := strings.Replace(exampleOrg(t), `"justification_min_length": 10`, `"justification_min_length": 12`, 1)
	writeFile(t, filepath.Join(dir, "org.json"), org)
	ev := r.until(t, func(ev reloadEvent) bool { return ev.revision != first })
	if ev.err != nil || e.Revision() != ev.revision {
		t.Errorf("reload %+v, serving %s, first %s", ev, e.Revision(), first)
	}

	// A broken edit is refused and reported; the last good revision serves.
	good := e.Revision()
	writeFile(t, filepath.Join(dir, "org.json"), "{")
	r.until(t, func(ev reloadEvent) bool { return ev.err != nil })
	if e.Revision() != good {
		t.Error("a broken edit replaced the serving revision")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch returned %v", err)
	}
}

// TestWatchReloadsOnSIGHUP is not parallel: it signals the test process.
func TestWatchReloadsOnSIGHUP(t *testing.T) {
	r := make(reloads, 4)
	e, err := New(context.Background(), Options{OnReload: r.onReload})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	e.watching = func() { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Watch(ctx) }()
	<-ready
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if ev := r.next(t); ev.err != nil || ev.revision != e.Revision() {
		t.Errorf("SIGHUP reload %+v", ev)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch returned %v", err)
	}
}

// The organisation's own module joins the decision; one that does not
// compile is refused at reload and the revision before it keeps serving,
// custom rule included.
func TestReloadRefusesBrokenCustomModule(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	policyDir := t.TempDir()
	writeFile(t, filepath.Join(policyDir, "deny_all.rego"), "package rdsgate.custom\n\ndeny contains \"closed for the test\"\n")
	r := make(reloads, 4)
	e, err := New(ctx, Options{PolicyDir: policyDir, OnReload: r.onReload})
	if err != nil {
		t.Fatal(err)
	}
	serving := e.Revision()
	d, err := e.Decide(ctx, request("alice", "rm-bp1devexample01"))
	if err != nil || d.Allow || !slices.Contains(d.Reasons, "custom: closed for the test") {
		t.Fatalf("with the custom deny: %v %v", d, err)
	}
	writeFile(t, filepath.Join(policyDir, "broken.rego"), "package rdsgate.custom\n\nnote contains no_such_function(1)\n")
	if err := e.Reload(ctx); err == nil {
		t.Fatal("a custom module that does not compile was accepted")
	}
	if ev := r.next(t); ev.err == nil {
		t.Errorf("OnReload %+v", ev)
	}
	if e.Revision() != serving {
		t.Error("the broken module replaced the serving revision")
	}
	if d, err := e.Decide(ctx, request("alice", "rm-bp1devexample01")); err != nil || d.Allow {
		t.Errorf("the serving revision lost its custom rule: %v %v", d.Reasons, err)
	}
}

package e2e

import (
	"context"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	rdsapp "github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/apptest"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/rdssim"
)

// app is rdsgate running in-process on 127.0.0.1:0 as `make run` wires it:
// real PostgreSQL, the policy engine with the example data, the executor
// calling the RDS simulator through the aliyun client, the audit sealer,
// and the pages with the dev sign-in.
type app struct {
	url  string
	pool *pgxpool.Pool
	sim  *rdssim.Server
	svc  *lifecycle.Service
	// shots is where the profiles' screenshots go (screenshotDir).
	shots string
}

func startApp(t *testing.T) *app {
	t.Helper()
	a := apptest.Start(t, func(c *rdsapp.Config) {
		c.Executor = executor.Config{Workers: 2, MaxAttempts: 4, LimiterHorizon: 2 * time.Second,
			BackoffBase: 200 * time.Millisecond, BackoffMax: time.Second, ReconcileDelay: 200 * time.Millisecond,
			JobTimeout: 30 * time.Second, RescueAfter: 45 * time.Second}
	})
	return &app{url: a.URL, pool: a.Pool, sim: a.Sim, svc: a.Requests, shots: screenshotDir(t)}
}

// chromium finds Debian's chromium; the browser tests fail (never skip)
// without it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("the browser tests need Debian's chromium on PATH: apt-get install chromium (CI installs it); not found")
	return ""
}

// profile is one person's browser: its own chromium process and a fresh
// user-data-dir, so cookies never leak between people.
type profile struct {
	t       *testing.T
	name    string
	base    string
	ctx     context.Context
	stop    func()
	dialogs atomic.Int32
	dlDir   string
	shots   string
}

func (a *app) browser(t *testing.T, name string) *profile {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true), chromedp.Flag("disable-default-apps", true),
		// Names of other sites that resolve to this machine: a rebound
		// name and an attacker's page (TestBrowserSecurity).
		chromedp.Flag("host-resolver-rules", "MAP rebind.test 127.0.0.1, MAP attacker.test 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	p := &profile{t: t, name: name, base: a.url, ctx: ctx, dlDir: t.TempDir(), shots: a.shots}
	p.stop = func() { cancel(); cancelAlloc() }
	t.Cleanup(p.stop)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: start chromium: %v", name, err)
	}
	// Any alert() would be an XSS that ran: count it, and dismiss it so the
	// page does not hang.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			p.dialogs.Add(1)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return p
}

// do runs steps with a deadline; a failure names the profile and the step.
func (p *profile) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, what, err)
	}
}

// submit clicks sel and waits for the document it navigates to.
func (p *profile) submit(what string, sel chromedp.ID) *network.Response {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(sel))
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, what, err)
	}
	return resp
}

func run[T any](p *profile, what string, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, what, err)
	}
	return v
}

func (p *profile) open(path string) {
	p.t.Helper()
	p.do("open "+path, chromedp.Navigate(p.base+path))
}

// signIn uses the dev sign-in's button for user.
func (p *profile) signIn(user string) {
	p.t.Helper()
	p.open("/signin")
	p.do("sign-in page", chromedp.WaitVisible(chromedp.ID("signin-"+user)))
	p.submit("sign in as "+user, chromedp.ID("signin-"+user))
	p.do("signed in", chromedp.WaitVisible(chromedp.ID("whoami")))
	if who := run(p, "who am I", chromedp.Text(chromedp.ID("whoami"))); who != user {
		p.t.Fatalf("%s: signed in as %q", p.name, who)
	}
}

// ScreenshotsDirEnv names the directory the browser test writes its
// screenshots to; `make screenshots` sets it to docs/screenshots. A relative
// path is taken from the repository root.
const ScreenshotsDirEnv = "RDSGATE_SCREENSHOTS_DIR"

// screenshotDir is $RDSGATE_SCREENSHOTS_DIR when set (created if missing),
// else a fresh temporary directory: a plain `make test` leaves the working
// tree alone and works on a read-only checkout.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := strings.TrimSpace(os.Getenv(ScreenshotsDirEnv))
	if dir == "" {
		return t.TempDir()
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", "..", dir) // go test runs in internal/e2e
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("%s: %v", ScreenshotsDirEnv, err)
	}
	return dir
}

// screenshot saves the whole page as <name>.png in the screenshot
// directory and checks that it is a non-empty PNG.
func (p *profile) screenshot(name string) {
	p.t.Helper()
	buf := run(p, "screenshot "+name, chromedp.FullScreenshot(100))
	file := filepath.Join(p.shots, name+".png")
	if err := os.WriteFile(file, buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
	checkPNG(p.t, file)
}

// checkPNG fails t unless file is a PNG with a non-empty image.
func checkPNG(t *testing.T, file string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", file, err)
	}
	if cfg.Width == 0 || cfg.Height == 0 {
		t.Fatalf("screenshot %s is empty: %dx%d", file, cfg.Width, cfg.Height)
	}
}

// TestScreenshotDir: without RDSGATE_SCREENSHOTS_DIR the screenshots go to
// a temporary directory, never into docs/; with it, to that directory
// (relative to the repository root).
func TestScreenshotDir(t *testing.T) {
	docs, err := filepath.Abs(filepath.Join("..", "..", "docs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(ScreenshotsDirEnv, "")
	dir, err := filepath.Abs(screenshotDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if rel, err := filepath.Rel(docs, dir); err == nil && !strings.HasPrefix(rel, "..") {
		t.Errorf("by default screenshots go to %s, inside docs/", dir)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("default screenshot directory %s: %d entries, %v; want a fresh empty one", dir, len(entries), err)
	}

	want := filepath.Join(t.TempDir(), "shots")
	t.Setenv(ScreenshotsDirEnv, want)
	if got := screenshotDir(t); got != want {
		t.Errorf("%s=%s: screenshots go to %s", ScreenshotsDirEnv, want, got)
	}
	if fi, err := os.Stat(want); err != nil || !fi.IsDir() {
		t.Errorf("%s not created: %v", want, err)
	}
	t.Setenv(ScreenshotsDirEnv, "docs/screenshots")
	if got, _ := filepath.Abs(screenshotDir(t)); got != filepath.Join(docs, "screenshots") {
		t.Errorf("a relative %s is not taken from the repository root: %s", ScreenshotsDirEnv, got)
	}
}

// text is the text content of the element sel, read in one script run:
// the live status swaps the timeline in place (innerHTML), and reading a
// node found a moment earlier fails with "No node with given id found".
func (p *profile) text(sel string) string {
	p.t.Helper()
	p.do("wait for "+sel, chromedp.WaitReady(chromedp.CSS(sel)))
	q, err := json.Marshal(sel)
	if err != nil {
		p.t.Fatal(err)
	}
	const missing = "\x00missing"
	got := run(p, "text of "+sel, chromedp.Evaluate[string](
		`(() => { const e = document.querySelector(`+string(q)+`); return e ? e.textContent : "\u0000missing"; })()`))
	if got == missing {
		p.t.Fatalf("%s: %s is gone", p.name, sel)
	}
	return strings.TrimSpace(got)
}

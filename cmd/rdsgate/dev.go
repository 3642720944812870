package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/notify"
	"github.com/rdsgate/rdsgate/internal/store"
)

// localPostgres is the server `make run` tries before starting its own.
const localPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// privatePort is where the private cluster under ./.data listens.
const privatePort = 54329

// runDev is `make run`: PostgreSQL from DATABASE_URL, else the local server
// on 127.0.0.1:5432, else a private cluster under ./.data; then serve, with
// the simulator and the dev users when no cloud credentials are set.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	serveFlags(fs, &c)
	dataDir := fs.String("data", ".data", "where the private PostgreSQL cluster and dev keys live")
	probe := fs.String("probe-url", localPostgres, "the PostgreSQL server tried before starting a private cluster")
	if done, err := parse(fs, args); done {
		return err
	}
	if len(c.envErrs) > 0 {
		return c.envErrs[0]
	}
	if err := c.loadEnv(os.Getenv); err != nil {
		return err
	}
	if err := trustExtraCA(c.RDS); err != nil {
		return err
	}
	// Local use only: the dev sign-in (refused on non-loopback addresses),
	// cookies over plain http, and the simulator unless credentials or an
	// endpoint are set.
	c.Web.DevLogin, c.Web.SecureCookie = true, false
	c.Simulate = !hasAlibabaCredentials(os.Getenv) && c.RDS.Endpoint == ""
	if err := devAuditKey(&c, *dataDir, stdout); err != nil {
		return err
	}
	apiHint := "DATABASE_URL is yours; with it set:"
	if c.DatabaseURL == "" {
		url, stop, err := findOrStartPostgres(ctx, *probe, *dataDir, stdout)
		if err != nil {
			return err
		}
		defer stop()
		c.DatabaseURL = url
		apiHint = "  export DATABASE_URL='" + url + "'" // found or started here: no password in it
	}
	fmt.Fprintf(stdout, "database: %s\n", redactURL(c.DatabaseURL))
	notifyHint := ""
	if !slices.ContainsFunc(notifyEnv, func(k string) bool { return os.Getenv(k) != "" }) {
		url, stop, err := startDevReceiver(&c, stderr)
		if err != nil {
			return err
		}
		defer stop()
		notifyHint = "Notifications go to a local webhook receiver that verifies their signature and logs them:\n  " + url + "\n\n"
	}
	tuneGC(os.Getenv)
	return serve(ctx, c, stderr, func(a *app.App) {
		base := a.URL
		self := os.Args[0]
		if abs, err := filepath.Abs(self); err == nil {
			self = abs
		}
		fmt.Fprintf(stdout, `
rdsgate is running: %s

%s
Or use the JSON API: get a token (shown once, on the last line) and call it:
%s
  TOKEN=$(%s token create --subject alice --groups developers | tail -1)
  curl -H "Authorization: Bearer $TOKEN" %s/api/v1/requests

%s%sStop with Ctrl-C.
`, base, devSignInHint(base), apiHint, self, base, metricsHint(a.MetricsURL), notifyHint)
	})
}

// devAuditKey makes (once) a development checkpoint signing key under
// dataDir, unless RDSGATE_AUDIT_SIGNING_KEY names one, and sends checkpoint
// copies to dataDir/checkpoints.
func devAuditKey(c *config, dataDir string, stdout io.Writer) error {
	if c.CheckpointDir == "" {
		c.CheckpointDir = filepath.Join(dataDir, "checkpoints")
	}
	if c.AuditSigningKey != "" {
		return nil
	}
	c.AuditSigningKey = filepath.Join(dataDir, "audit-signing.key")
	if _, err := os.Stat(c.AuditSigningKey); err == nil {
		return nil
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	if _, err := audit.GenerateKeyFile(c.AuditSigningKey); err != nil {
		return fmt.Errorf("generate dev audit signing key: %w", err)
	}
	fmt.Fprintf(stdout, "generated a development audit signing key: %s (public key %s.pub)\n", c.AuditSigningKey, c.AuditSigningKey)
	return nil
}

// findOrStartPostgres returns a URL of a database named rdsgate, and a
// func that stops the private cluster if this call started it.
func findOrStartPostgres(ctx context.Context, probe, dataDir string, stdout io.Writer) (string, func(), error) {
	noop := func() {}
	if url, err := ensureDatabase(ctx, probe); err == nil {
		fmt.Fprintf(stdout, "using the PostgreSQL server at %s\n", redactURL(probe))
		return url, noop, nil
	}
	bin, err := findPostgresBin()
	if err != nil {
		return "", nil, err
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return "", nil, err
	}
	cluster := filepath.Join(abs, "pg")
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", privatePort)
	if u, err := ensureDatabase(ctx, url); err == nil {
		fmt.Fprintf(stdout, "using the private PostgreSQL cluster in %s\n", cluster)
		return u, noop, nil
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", nil, err
	}
	// PostgreSQL refuses to run as root; run it as the postgres user then.
	var asUser []string
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return "", nil, errors.New("running as root and there is no postgres user to run a private PostgreSQL cluster as; set DATABASE_URL")
		}
		asUser = []string{"runuser", "-u", "postgres", "--"}
		_ = exec.Command("chown", "postgres", abs).Run()
	}
	runPG := func(name string, args ...string) error {
		argv := append(append(asUser[:len(asUser):len(asUser)], filepath.Join(bin, name)), args...)
		cmd := exec.Command(argv[0], argv[1:]...) // not ctx: the stop at shutdown must run after ctx is done
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", name, err, out)
		}
		return nil
	}
	if _, err := os.Stat(filepath.Join(cluster, "PG_VERSION")); err != nil {
		fmt.Fprintf(stdout, "initialising a private PostgreSQL cluster in %s\n", cluster)
		if err := runPG("initdb", "-D", cluster, "-U", "postgres", "--auth=trust", "-E", "UTF8"); err != nil {
			return "", nil, err
		}
	}
	fmt.Fprintf(stdout, "starting it on 127.0.0.1:%d\n", privatePort)
	if err := runPG("pg_ctl", "-D", cluster, "-l", filepath.Join(cluster, "server.log"), "-w", "-o",
		"-h 127.0.0.1 -p "+strconv.Itoa(privatePort)+" -k "+cluster, "start"); err != nil {
		return "", nil, err
	}
	stop := func() {
		fmt.Fprintln(stdout, "stopping the private PostgreSQL cluster")
		_ = runPG("pg_ctl", "-D", cluster, "-m", "fast", "-w", "stop")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		u, err := ensureDatabase(ctx, url)
		if err == nil {
			return u, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("private PostgreSQL did not answer: %w", err)
		}
		select {
		case <-ctx.Done():
			stop()
			return "", nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ensureDatabase connects to the server of admin, creates database rdsgate
// if missing, and returns its URL.
func ensureDatabase(ctx context.Context, admin string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, admin)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(cctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'rdsgate')`).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if _, err := conn.Exec(cctx, `CREATE DATABASE rdsgate`); err != nil {
			return "", err
		}
	}
	return store.WithDatabase(admin, "rdsgate"), nil
}

// findPostgresBin finds a directory with initdb and pg_ctl.
func findPostgresBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	return "", errors.New("no PostgreSQL found: nothing answers on 127.0.0.1:5432 and initdb is not installed; " +
		"install PostgreSQL (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql) or set DATABASE_URL")
}

// metricsHint is what `rdsgate dev` prints about the metrics listener
// (RDSGATE_METRICS_ADDR): nothing when it is off.
func metricsHint(url string) string {
	if url == "" {
		return ""
	}
	return "Prometheus metrics: " + url + " (docs/monitoring/)\n\n"
}

// devSignInHint is what `rdsgate dev` prints under the URL.
func devSignInHint(base string) string {
	return fmt.Sprintf(`Open %s/signin and pick a user (dev sign-in; not for production):
  alice  requester  files a request
  bob    approver   approves it (use another browser profile or a private window)
  dave   auditor    searches and exports the audit log
`, base)
}

// startDevReceiver serves a generic-webhook receiver on a free loopback
// port, with a fresh secret, and points the catch-all webhook channel at
// it: `make run` shows notifications without any channel configured. The
// receiver logs each delivery it verified and lists them at its URL.
func startDevReceiver(c *config, stderr io.Writer) (string, func(), error) {
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("dev notification receiver: %w", err)
	}
	log := newLogger(stderr, c.LogLevel).With(slog.String("component", "dev-receiver"))
	srv := &http.Server{Handler: notify.NewReceiver(hex.EncodeToString(secret), log), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	url := "http://" + ln.Addr().String() + "/"
	c.Notify.Webhook = notify.Endpoint{URL: url, Secret: hex.EncodeToString(secret)}
	return url, func() { _ = srv.Close() }, nil
}

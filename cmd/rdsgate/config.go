package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/auth"
)

// config is every setting of a command, parsed once from flags and
// environment variables (a flag wins over its variable). The service's
// settings are app.Config's.
type config struct {
	app.Config
	LogLevel string

	// envErrs are environment values that did not parse; validate reports
	// the first.
	envErrs []error
}

// loadEnv reads the settings that have no flag: the browser sign-in, the
// RDS endpoint and the executor's tunables.
func (c *config) loadEnv(getenv func(string) string) error {
	var err error
	if c.Web, err = loadWebConfig(getenv); err != nil {
		return err
	}
	if c.RDS, err = rdsConfigFromEnv(getenv); err != nil {
		return err
	}
	if c.Executor, err = executorConfigFromEnv(getenv); err != nil {
		return err
	}
	if c.Trail, err = trailConfigFromEnv(getenv); err != nil {
		return err
	}
	c.Notify, c.ReminderLead, err = notifyConfigFromEnv(getenv)
	return err
}

// envOr returns the trimmed value of the environment variable name, or def
// when it is unset or blank.
func envOr(name, def string) string { return envOrFunc(os.Getenv, name, def) }

// envOrFunc is envOr over any lookup (tests pass their own).
func envOrFunc(getenv func(string) string, name, def string) string {
	if v := strings.TrimSpace(getenv(name)); v != "" {
		return v
	}
	return def
}

// envDuration parses the duration in the variable name, def when unset.
func envDuration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 10s", name, v)
	}
	return d, nil
}

// durationFlag registers a duration flag whose default comes from the
// variable env; a value that does not parse is reported by validate.
func (c *config) durationFlag(fs *flag.FlagSet, p *time.Duration, name, env string, def time.Duration, usage string) {
	d, err := envDuration(os.Getenv, env, def)
	if err != nil {
		c.envErrs = append(c.envErrs, err)
		d = def
	}
	fs.DurationVar(p, name, d, usage+" (env "+env+")")
}

// intFlag registers an integer flag whose default comes from the variable
// env; a value that does not parse is reported by validate.
func (c *config) intFlag(fs *flag.FlagSet, p *int, name, env string, def int, usage string) {
	v, n := strings.TrimSpace(os.Getenv(env)), def
	if v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			c.envErrs = append(c.envErrs, fmt.Errorf("%s=%q: want a whole number", env, v))
			n = def
		}
	}
	fs.IntVar(p, name, n, usage+" (env "+env+")")
}

// secretFlag is a string flag whose value is never printed: flag's help
// shows a flag's default, and the default of --database-url comes from
// DATABASE_URL, which may hold a password.
type secretFlag struct{ p *string }

func (f secretFlag) String() string     { return "" }
func (f secretFlag) Set(v string) error { *f.p = v; return nil }

// commonFlags registers the settings every database-using command shares.
func commonFlags(fs *flag.FlagSet, c *config) {
	c.DatabaseURL = os.Getenv("DATABASE_URL")
	fs.Var(secretFlag{&c.DatabaseURL}, "database-url", "PostgreSQL URL (env DATABASE_URL)")
	fs.StringVar(&c.LogLevel, "log-level", envOr("RDSGATE_LOG_LEVEL", "info"), "debug, info, warn or error (env RDSGATE_LOG_LEVEL; RDSGATE_LOG_FORMAT=json for JSON lines)")
}

// envOnlyHelp lists the settings that have no flag, for serve's and dev's
// --help (README.md has the details).
const envOnlyHelp = `
Settings from the environment only:
  RDSGATE_RDS_ENDPOINT, RDSGATE_RDS_PROTOCOL   the RDS API's host[:port] and scheme (default: the region's, https)
  RDSGATE_REGION_ID                            default region (cn-hangzhou)
  RDSGATE_RDS_RATE, RDSGATE_RDS_DESCRIBE_RATE  calls/s per account (10, 10); RDSGATE_RDS_RATE_MARGIN slot margin (0.04)
  RDSGATE_RDS_LIST_RATE                        DescribeDBInstances calls/s per account, for fleet scans (10)
  RDSGATE_RDS_CALL_TIMEOUT                     one call (10s)
  RDSGATE_STS_ENDPOINT                         STS host[:port] for AssumeRole into accounts.json's roles (default: credentials-go's)
  RDSGATE_CA_FILE                              PEM CA trusted beside the system's roots by every outgoing HTTPS call
  RDSGATE_TRAIL_INTERVAL, RDSGATE_TRAIL_LOOKBACK   read ActionTrail for releases made around rdsgate (5m, "off"; 30m)
  RDSGATE_ACTIONTRAIL_ENDPOINT                 ActionTrail host[:port] (default: the region's); scheme RDSGATE_RDS_PROTOCOL
  RDSGATE_EXECUTOR_WORKERS, RDSGATE_EXECUTOR_MAX_ATTEMPTS, RDSGATE_EXECUTOR_RESCUE_AFTER   (20, 8, 1m)
  RDSGATE_OIDC_ISSUER, RDSGATE_OIDC_CLIENT_ID, RDSGATE_OIDC_CLIENT_SECRET, RDSGATE_OIDC_REDIRECT_URL,
  RDSGATE_OIDC_GROUPS_CLAIM, RDSGATE_OIDC_SUBJECT_CLAIM, RDSGATE_OIDC_SCOPES   browser sign-in
  RDSGATE_ROLE_GROUPS                          groups per role (requester=developers;approver=dba,security;...)
  RDSGATE_DEV_LOGIN, RDSGATE_SESSION_SECURE_COOKIE   dev sign-in (loopback only), Secure cookies
  RDSGATE_ALLOWED_HOSTS, RDSGATE_TRUSTED_PROXIES     Host names served; proxies whose X-Forwarded-* count
  RDSGATE_TLS_CERT_FILE, RDSGATE_TLS_KEY_FILE        serve HTTPS
  RDSGATE_PUBLIC_URL                           base of links in notifications (default: the server's URL)
  RDSGATE_NOTIFY_WEBHOOK_URL, _SECRET          generic webhook, HMAC-signed (README "Notifications")
  RDSGATE_NOTIFY_DINGTALK_URL, _SECRET         DingTalk custom robot (URL with access_token; sign secret)
  RDSGATE_NOTIFY_SLACK_URL                     Slack incoming webhook
  RDSGATE_SMTP_HOST, _PORT, _USERNAME, _PASSWORD, _FROM, _TLS (starttls|tls|none), _TO   email
  RDSGATE_NOTIFY_TIMEOUT, _RETRY_MIN, _RETRY_MAX, _REMINDER_LEAD   (10s, 1s, 5m, 12h)
  ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET, ALIBABA_CLOUD_ROLE_ARN, ...
                                               the credentials chain (credentials-go)
`

// withEnvHelp makes fs's --help list its flags and then the settings that
// have no flag.
func withEnvHelp(fs *flag.FlagSet) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage of rdsgate %s:\n", fs.Name())
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), envOnlyHelp)
	}
}

func serveFlags(fs *flag.FlagSet, c *config) {
	withEnvHelp(fs)
	commonFlags(fs, c)
	fs.StringVar(&c.Addr, "addr", envOr("RDSGATE_ADDR", "127.0.0.1:8080"), "listen address (env RDSGATE_ADDR)")
	fs.StringVar(&c.AccountID, "account-id", envOr("RDSGATE_ACCOUNT_ID", ""), "Alibaba Cloud account id: resource ARNs and the rate limiter's key (env RDSGATE_ACCOUNT_ID; default: account_id of ram.json)")
	fs.StringVar(&c.PolicyData, "policy-data", envOr("RDSGATE_POLICY_DATA", ""), "directory with ram.json and org.json (env RDSGATE_POLICY_DATA; default: the embedded examples)")
	fs.StringVar(&c.DecisionLog, "decision-log", envOr("RDSGATE_DECISION_LOG", ""), "also write every policy decision in OPA's decision-log format: stdout or a file (env RDSGATE_DECISION_LOG)")
	fs.StringVar(&c.PolicyDir, "policy-dir", envOr("RDSGATE_POLICY_DIR", ""), "directory of the organisation's own Rego modules, loaded beside the shipped ones (env RDSGATE_POLICY_DIR)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", envOr("RDSGATE_METRICS_ADDR", ""), "serve Prometheus metrics at /metrics on this address of its own, e.g. :9464 (env RDSGATE_METRICS_ADDR; default: off; see docs/monitoring)")
	c.intFlag(fs, &c.DBMaxConns, "db-max-conns", "RDSGATE_DB_MAX_CONNS", app.DefaultDBMaxConns,
		"PostgreSQL connections this replica holds at most, the job queue's included")
	c.durationFlag(fs, &c.RequestTTL, "request-ttl", "RDSGATE_REQUEST_TTL", 72*time.Hour, "pending requests expire after this long")
	auditFlags(fs, c)
	c.durationFlag(fs, &c.CheckpointInterval, "checkpoint-interval", "RDSGATE_AUDIT_CHECKPOINT_INTERVAL", time.Minute, "sign a checkpoint this often when events arrived")
	c.durationFlag(fs, &c.ShutdownTimeout, "shutdown-timeout", "RDSGATE_SHUTDOWN_TIMEOUT", app.DefaultShutdownTimeout,
		"on SIGTERM, stop within this long: requests and RDS calls in flight get 60% of it to finish, then are cut off, and the audit trail is sealed and signed (keep it 5s under Kubernetes' terminationGracePeriodSeconds)")
}

// auditFlags registers the audit key and checkpoint directory settings.
func auditFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.AuditSigningKey, "signing-key", envOr("RDSGATE_AUDIT_SIGNING_KEY", ""), "Ed25519 private key file (PEM, PKCS#8) that signs audit checkpoints (env RDSGATE_AUDIT_SIGNING_KEY)")
	fs.StringVar(&c.CheckpointDir, "checkpoint-dir", envOr("RDSGATE_AUDIT_CHECKPOINT_DIR", ""), "directory outside the database that receives a copy of every checkpoint (env RDSGATE_AUDIT_CHECKPOINT_DIR)")
}

func (c *config) validate() error {
	if len(c.envErrs) > 0 {
		return c.envErrs[0]
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("--shutdown-timeout %s: want a positive duration", c.ShutdownTimeout)
	}
	if c.DBMaxConns != 0 {
		if _, _, err := app.SplitConns(c.DBMaxConns); err != nil {
			return err
		}
	}
	if c.DatabaseURL == "" {
		return fmt.Errorf("DATABASE_URL is not set (flag --database-url); `make run` finds or starts PostgreSQL for you")
	}
	return nil
}

// redactURL names the database of a connection string for printing —
// user@host:port/database — and nothing else: whatever the syntax (URL or
// key=value), no password or other parameter is shown.
func redactURL(s string) string {
	cfg, err := pgconn.ParseConfig(s)
	if err != nil {
		return "(unparseable database URL)"
	}
	return fmt.Sprintf("postgres://%s@%s/%s", cfg.User, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), cfg.Database)
}

// newLogger logs at level to w, as text or, with RDSGATE_LOG_FORMAT=json,
// as one JSON object a line for log pipelines.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	if strings.EqualFold(envOr("RDSGATE_LOG_FORMAT", "text"), "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// loadWebConfig reads the browser sign-in configuration through getenv:
//
//	RDSGATE_OIDC_ISSUER, RDSGATE_OIDC_CLIENT_ID, RDSGATE_OIDC_CLIENT_SECRET
//	RDSGATE_OIDC_REDIRECT_URL     default http://<listen host>:<port>/auth/callback; required
//	                              when listening on all interfaces (0.0.0.0, ::, ":port")
//	RDSGATE_OIDC_GROUPS_CLAIM     default groups (a dotted path reads a nested claim)
//	RDSGATE_OIDC_SUBJECT_CLAIM    default sub (e.g. preferred_username)
//	RDSGATE_OIDC_SCOPES           default "openid profile email groups"
//	RDSGATE_ROLE_GROUPS           default auth.DefaultRoleGroups
//	RDSGATE_DEV_LOGIN             true enables the dev sign-in (loopback only)
//	RDSGATE_ALLOWED_HOSTS         host names served, comma-separated (default: any)
//	RDSGATE_TRUSTED_PROXIES       proxies' addresses or CIDRs whose X-Forwarded-* are believed
//	RDSGATE_TLS_CERT_FILE, RDSGATE_TLS_KEY_FILE   serve HTTPS
//	RDSGATE_SESSION_SECURE_COOKIE default true
func loadWebConfig(getenv func(string) string) (app.WebConfig, error) {
	env := func(name, def string) string { return envOrFunc(getenv, name, def) }
	boolean := func(name string, def bool) (bool, error) {
		v := env(name, strconv.FormatBool(def))
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("%s=%q: want true or false", name, v)
		}
		return b, nil
	}
	w := app.WebConfig{OIDC: auth.OIDCConfig{
		Issuer:       env("RDSGATE_OIDC_ISSUER", ""),
		ClientID:     env("RDSGATE_OIDC_CLIENT_ID", ""),
		ClientSecret: getenv("RDSGATE_OIDC_CLIENT_SECRET"),
		RedirectURL:  env("RDSGATE_OIDC_REDIRECT_URL", ""),
		GroupsClaim:  env("RDSGATE_OIDC_GROUPS_CLAIM", "groups"),
		SubjectClaim: env("RDSGATE_OIDC_SUBJECT_CLAIM", "sub"),
		Scopes:       strings.FieldsFunc(env("RDSGATE_OIDC_SCOPES", "openid profile email groups"), func(r rune) bool { return r == ' ' || r == ',' }),
	}}
	for _, cidr := range strings.Split(env("RDSGATE_TRUSTED_PROXIES", ""), ",") {
		if cidr = strings.TrimSpace(cidr); cidr == "" {
			continue
		}
		if !strings.Contains(cidr, "/") {
			cidr += map[bool]string{true: "/32", false: "/128"}[strings.Contains(cidr, ".")]
		}
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			return w, fmt.Errorf("RDSGATE_TRUSTED_PROXIES: %q is not an address or a CIDR network", cidr)
		}
		w.TrustedProxies = append(w.TrustedProxies, n)
	}
	w.TLSCertFile, w.TLSKeyFile = env("RDSGATE_TLS_CERT_FILE", ""), env("RDSGATE_TLS_KEY_FILE", "")
	if (w.TLSCertFile == "") != (w.TLSKeyFile == "") {
		return w, errors.New("set both RDSGATE_TLS_CERT_FILE and RDSGATE_TLS_KEY_FILE, or neither")
	}
	for _, h := range strings.Split(env("RDSGATE_ALLOWED_HOSTS", ""), ",") {
		if h = strings.TrimSpace(h); h != "" {
			w.AllowedHosts = append(w.AllowedHosts, h)
		}
	}
	var err error
	if w.Roles, err = auth.ParseRoleMap(env("RDSGATE_ROLE_GROUPS", auth.DefaultRoleGroups)); err != nil {
		return w, fmt.Errorf("RDSGATE_ROLE_GROUPS: %w", err)
	}
	if w.DevLogin, err = boolean("RDSGATE_DEV_LOGIN", false); err != nil {
		return w, err
	}
	if w.SecureCookie, err = boolean("RDSGATE_SESSION_SECURE_COOKIE", true); err != nil {
		return w, err
	}
	if (w.OIDC.Issuer == "") != (w.OIDC.ClientID == "") {
		return w, errors.New("set both RDSGATE_OIDC_ISSUER and RDSGATE_OIDC_CLIENT_ID, or neither")
	}
	return w, nil
}

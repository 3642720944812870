package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"
)

// config is every setting of the service, parsed once from flags and
// environment variables (a flag wins over its variable).
type config struct {
	DatabaseURL string
	Addr        string
	AccountID   string
	PolicyData  string
	RequestTTL  time.Duration
	LogLevel    string

	// AuditSigningKey is the Ed25519 key file checkpoints are signed with;
	// CheckpointDir receives a copy of each checkpoint outside the database.
	AuditSigningKey    string
	CheckpointDir      string
	CheckpointInterval time.Duration

	// Simulate lets the executor use an in-process RDS simulator when no
	// Alibaba Cloud credentials are configured (`rdsgate dev` only).
	Simulate bool
	// Web is the browser sign-in configuration (web_wiring.go).
	Web webConfig
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// commonFlags registers the settings every database-using command shares.
func commonFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.DatabaseURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL (env DATABASE_URL)")
	fs.StringVar(&c.LogLevel, "log-level", envOr("RDSGATE_LOG_LEVEL", "info"), "debug, info, warn or error (env RDSGATE_LOG_LEVEL)")
}

func serveFlags(fs *flag.FlagSet, c *config) {
	commonFlags(fs, c)
	fs.StringVar(&c.Addr, "addr", envOr("RDSGATE_ADDR", "127.0.0.1:8080"), "listen address (env RDSGATE_ADDR)")
	fs.StringVar(&c.AccountID, "account-id", os.Getenv("RDSGATE_ACCOUNT_ID"), "Alibaba Cloud account id used in resource ARNs (env RDSGATE_ACCOUNT_ID)")
	fs.StringVar(&c.PolicyData, "policy-data", os.Getenv("RDSGATE_POLICY_DATA"), "directory with ram.json and org.json (env RDSGATE_POLICY_DATA; default: the embedded examples)")
	ttl, err := time.ParseDuration(envOr("RDSGATE_REQUEST_TTL", "72h"))
	if err != nil {
		ttl = 72 * time.Hour
	}
	fs.DurationVar(&c.RequestTTL, "request-ttl", ttl, "pending requests expire after this long (env RDSGATE_REQUEST_TTL)")
	auditFlags(fs, c)
	every, err := time.ParseDuration(envOr("RDSGATE_AUDIT_CHECKPOINT_INTERVAL", "1m"))
	if err != nil {
		every = time.Minute
	}
	fs.DurationVar(&c.CheckpointInterval, "checkpoint-interval", every, "sign a checkpoint this often when events arrived (env RDSGATE_AUDIT_CHECKPOINT_INTERVAL)")
}

// auditFlags registers the audit key and checkpoint directory settings.
func auditFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.AuditSigningKey, "signing-key", os.Getenv("RDSGATE_AUDIT_SIGNING_KEY"), "Ed25519 private key file (PEM, PKCS#8) that signs audit checkpoints (env RDSGATE_AUDIT_SIGNING_KEY)")
	fs.StringVar(&c.CheckpointDir, "checkpoint-dir", os.Getenv("RDSGATE_AUDIT_CHECKPOINT_DIR"), "directory outside the database that receives a copy of every checkpoint (env RDSGATE_AUDIT_CHECKPOINT_DIR)")
}

func (c *config) validate() error {
	if c.DatabaseURL == "" {
		return fmt.Errorf("DATABASE_URL is not set (flag --database-url); `make run` finds or starts PostgreSQL for you")
	}
	return nil
}

// redactURL hides the password of a database URL for printing.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

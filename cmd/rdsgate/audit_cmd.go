package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/store"
)

const auditUsage = `Usage: rdsgate audit <command> [flags]

Commands:
  verify       check the hash chain and the signed checkpoints, online (the database) or
               offline (--file export.jsonl, no database); exit 0 only when everything checks
  export       write the sealed trail with its checkpoints as JSON Lines (or --format csv)
  checkpoint   seal pending events and sign the chain head now
  keygen       write a new Ed25519 signing key (--out FILE, mode 0600) and FILE.pub; never overwrites

Run rdsgate audit <command> -h for its flags. docs/AUDIT.md describes the formats.
`

// runAudit dispatches the audit subcommands.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := ""
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "verify":
		return runAuditVerify(ctx, args, stdout, stderr)
	case "export":
		return runAuditExport(ctx, args, stdout, stderr)
	case "checkpoint":
		return runAuditCheckpoint(ctx, args, stdout, stderr)
	case "keygen":
		return runAuditKeygen(args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, auditUsage)
		return nil
	case "":
		fmt.Fprint(stderr, auditUsage)
		return exitError(2)
	}
	fmt.Fprintf(stderr, "rdsgate: unknown audit command %q\n\n%s", sub, auditUsage)
	return exitError(2)
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// verifyOutput is the --json output of audit verify.
type verifyOutput struct {
	audit.Report
	OK       bool   `json:"ok"`
	Complete bool   `json:"complete"`
	Source   string `json:"source"`
	TookMS   int64  `json:"took_ms"`
}

func runAuditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	commonFlags(fs, &c)
	auditFlags(fs, &c)
	var pubs stringList
	fs.Var(&pubs, "public-key", "trusted checkpoint key, PEM (repeatable); default: the public half of --signing-key")
	file := fs.String("file", "", "verify this export (JSON Lines or CSV, - for stdin) instead of the database")
	partial := fs.Bool("partial", false, "the export was resumed (--from-seq): accept a trail that starts after seq 1")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	noSeal := fs.Bool("no-seal", false, "online: do not chain pending events before verifying")
	c.durationFlag(fs, &c.CheckpointInterval, "checkpoint-interval", "RDSGATE_AUDIT_CHECKPOINT_INTERVAL", time.Minute,
		"the checkpointer's interval: with a trusted key, events older than twice it plus a minute must be signed")
	if done, err := parse(fs, args); done {
		return err
	}
	if len(c.envErrs) > 0 {
		return c.envErrs[0]
	}
	opts := audit.VerifyOptions{Partial: *partial, MaxUnsigned: audit.MaxUnsignedFor(c.CheckpointInterval)}
	for _, p := range pubs {
		pub, err := audit.LoadPublicKey(p)
		if err != nil {
			return err
		}
		opts.Keys = append(opts.Keys, pub)
	}
	if len(opts.Keys) == 0 && c.AuditSigningKey != "" {
		pub, err := audit.LoadPublicKey(c.AuditSigningKey)
		if err != nil {
			return err
		}
		opts.Keys = append(opts.Keys, pub)
	}
	if c.CheckpointDir != "" {
		// An explicit flag must name a directory; the environment's may
		// not exist yet where nothing was signed.
		_, err := os.Stat(c.CheckpointDir)
		switch {
		case err == nil:
			opts.CheckpointDir = c.CheckpointDir
		case !errors.Is(err, os.ErrNotExist) || flagSet(fs, "checkpoint-dir"):
			return fmt.Errorf("checkpoint directory: %w", err)
		}
	}

	var (
		rep    audit.Report
		source string
		took   time.Duration
	)
	if *file != "" {
		r := io.Reader(os.Stdin)
		source = "stdin"
		if *file != "-" {
			f, err := os.Open(*file)
			if err != nil {
				return err
			}
			defer f.Close()
			r, source = f, *file
		}
		start := time.Now()
		var err error
		if rep, err = audit.VerifyStream(r, opts); err != nil {
			return err
		}
		took = time.Since(start)
	} else {
		if err := c.validate(); err != nil {
			return err
		}
		pool, err := store.Open(ctx, c.DatabaseURL)
		if err != nil {
			return err
		}
		defer pool.Close()
		source = "database " + redactURL(c.DatabaseURL)
		if !*noSeal {
			// Chain what has committed but not been sealed yet, exactly as
			// the running service would; idempotent and safe beside it.
			if _, err := audit.NewSealer(pool, nil, 0).Flush(ctx); err != nil {
				return err
			}
		}
		start := time.Now()
		if rep, err = audit.VerifyWith(ctx, pool, opts); err != nil {
			return err
		}
		took = time.Since(start)
	}

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(verifyOutput{Report: rep, OK: rep.OK(), Complete: rep.Complete(), Source: source, TookMS: took.Milliseconds()})
	} else {
		printReport(stdout, rep, source, opts, took)
	}
	if !rep.Complete() {
		return exitError(1)
	}
	return nil
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func printReport(w io.Writer, rep audit.Report, source string, opts audit.VerifyOptions, took time.Duration) {
	rate := ""
	if s := took.Seconds(); s > 0 && rep.Checked > 0 {
		rate = fmt.Sprintf(", %.0f events/s", float64(rep.Checked)/s)
	}
	fmt.Fprintf(w, "source: %s\n", source)
	if !rep.OK() {
		fmt.Fprintf(w, "audit trail BROKEN: %v\n", rep.Problem)
		fmt.Fprintf(w, "%d events and %d checkpoints checked before it (%s%s)\n", rep.Checked, rep.Checkpoints, took.Round(time.Millisecond), rate)
		return
	}
	fmt.Fprintf(w, "audit chain intact: %d events checked (%s%s), head seq %d, head hash %x\n",
		rep.Checked, took.Round(time.Millisecond), rate, rep.HeadSeq, []byte(rep.HeadHash))
	switch {
	case rep.Checkpoints == 0:
		fmt.Fprintln(w, "no signed checkpoint yet: nothing protects the tail against truncation")
	case rep.SignaturesUnchecked > 0:
		fmt.Fprintf(w, "%d checkpoints consistent, but their signatures were NOT checked: pass --public-key or set RDSGATE_AUDIT_SIGNING_KEY\n",
			rep.Checkpoints)
	default:
		fmt.Fprintf(w, "%d checkpoints signed by trusted keys; the last (%d) covers seq %d, signed %s by key %s\n",
			rep.Checkpoints, rep.LastCheckpoint.Seq, rep.LastCheckpoint.HeadSeq, rep.LastCheckpoint.CreatedAt.Format(time.RFC3339), rep.LastCheckpoint.KeyID)
	}
	if opts.CheckpointDir != "" {
		fmt.Fprintf(w, "checkpoint copies in %s agree\n", opts.CheckpointDir)
	}
	if rep.Unsigned > 0 {
		fmt.Fprintf(w, "%d events after the last checkpoint are chained but not signed yet\n", rep.Unsigned)
	}
	if rep.Unsealed > 0 {
		fmt.Fprintf(w, "%d events committed but not yet sealed\n", rep.Unsealed)
	}
}

func runAuditExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	commonFlags(fs, &c)
	format := fs.String("format", audit.FormatJSONL, "jsonl or csv")
	out := fs.String("out", "", "write to this file (atomically, when complete) instead of stdout")
	fromSeq := fs.Int64("from-seq", 1, "resume: export events from this seq on (and the checkpoints covering them)")
	noSeal := fs.Bool("no-seal", false, "do not chain pending events before exporting")
	if done, err := parse(fs, args); done {
		return err
	}
	if *format != audit.FormatJSONL && *format != audit.FormatCSV {
		return fmt.Errorf("--format %q: want jsonl or csv", *format)
	}
	if err := c.validate(); err != nil {
		return err
	}
	pool, err := store.Open(ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if !*noSeal {
		if _, err := audit.NewSealer(pool, nil, 0).Flush(ctx); err != nil {
			return err
		}
	}
	w, commit, abort, err := openOutput(*out, stdout)
	if err != nil {
		return err
	}
	res, err := audit.Export(ctx, pool, w, audit.ExportOptions{Format: *format, FromSeq: *fromSeq})
	if err != nil {
		abort()
		return err
	}
	if err := commit(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "exported %d events and %d checkpoints", res.Events, res.Checkpoints)
	if res.Events > 0 {
		fmt.Fprintf(stderr, " (seq %d to %d); resume with --from-seq %d", max(*fromSeq, 1), res.LastSeq, res.LastSeq+1)
	}
	if res.Unsealed > 0 {
		fmt.Fprintf(stderr, "; %d events not sealed yet, not exported", res.Unsealed)
	}
	fmt.Fprintln(stderr)
	return nil
}

// openOutput returns stdout, or a temporary file beside path that commit
// renames to path (so a failed export never leaves a shorter file that
// could pass for a complete one) and abort removes.
func openOutput(path string, stdout io.Writer) (w io.Writer, commit func() error, abort func(), err error) {
	if path == "" || path == "-" {
		return stdout, func() error { return nil }, func() {}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("export: %w", err)
	}
	abort = func() {
		f.Close()
		os.Remove(f.Name())
	}
	commit = func() error {
		if err := f.Close(); err != nil {
			os.Remove(f.Name())
			return fmt.Errorf("export: %w", err)
		}
		if err := os.Rename(f.Name(), path); err != nil {
			os.Remove(f.Name())
			return fmt.Errorf("export: %w", err)
		}
		return nil
	}
	return f, commit, abort, nil
}

func runAuditCheckpoint(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit checkpoint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	commonFlags(fs, &c)
	auditFlags(fs, &c)
	if done, err := parse(fs, args); done {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	if c.AuditSigningKey == "" {
		return errors.New("no signing key: set RDSGATE_AUDIT_SIGNING_KEY or pass --signing-key (docs/AUDIT.md says how to make one)")
	}
	key, err := audit.LoadSigningKey(c.AuditSigningKey)
	if err != nil {
		return err
	}
	pool, err := store.Open(ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := audit.NewSealer(pool, nil, 0).Flush(ctx); err != nil {
		return err
	}
	cp, created, err := audit.NewCheckpointer(pool, newLogger(stderr, c.LogLevel), key, c.CheckpointDir, 0).Checkpoint(ctx)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(stderr, "signed checkpoint %d at head seq %d\n", cp.Seq, cp.HeadSeq)
	} else {
		fmt.Fprintf(stderr, "the head has not moved since checkpoint %d (seq %d)\n", cp.Seq, cp.HeadSeq)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(cp)
}

// runAuditKeygen is `rdsgate audit keygen`: a new checkpoint signing key in
// PKCS#8 PEM (mode 0600) and its public half beside it, for images without
// openssl. It never overwrites a file; with --if-missing an existing key
// that loads is kept and the command succeeds, so that a container can run
// it at every start (docker-compose.yml's keygen service).
func runAuditKeygen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", envOr("RDSGATE_AUDIT_SIGNING_KEY", ""), "the private key file to create; FILE.pub receives the public key (env RDSGATE_AUDIT_SIGNING_KEY)")
	ifMissing := fs.Bool("if-missing", false, "when FILE already holds an Ed25519 key, keep it and exit 0")
	if done, err := parse(fs, args); done {
		return err
	}
	if *out == "" {
		fmt.Fprintln(stderr, "rdsgate audit keygen: --out FILE is required")
		return exitError(2)
	}
	key, err := audit.GenerateKeyFile(*out)
	switch {
	case errors.Is(err, os.ErrExist) && *ifMissing:
		if key, err = audit.LoadSigningKey(*out); err != nil {
			return err
		}
		if pub, err := audit.LoadPublicKey(*out + ".pub"); err == nil && !pub.Equal(key.Public()) {
			return fmt.Errorf("audit keygen: %s.pub is not the public half of %s: move one of them away", *out, *out)
		}
		fmt.Fprintf(stderr, "%s exists: kept\n", *out)
	case errors.Is(err, os.ErrExist):
		return fmt.Errorf("audit keygen: %w (it never overwrites a key: checkpoints signed with it would no longer verify; --if-missing keeps it)", err)
	case err != nil:
		return err
	default:
		fmt.Fprintf(stderr, "wrote %s (private, mode 0600) and %s.pub\n", *out, *out)
	}
	fmt.Fprintln(stdout, audit.KeyID(key.Public().(ed25519.PublicKey)))
	return nil
}

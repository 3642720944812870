package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/store"
)

const tokenUsage = `Usage: rdsgate token <command> [flags]

Commands:
  create   mint an API token: --subject NAME --groups g1,g2 [--ttl 2160h]; printed once
  list     the tokens (id, subject, groups, created, expires, last used); --all with revoked and expired
  revoke   revoke one token (ID) or every token of a subject (--subject NAME)
`

// runToken dispatches the API token commands.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := ""
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "create":
		return runTokenCreate(ctx, args, stdout, stderr)
	case "list":
		return runTokenList(ctx, args, stdout, stderr)
	case "revoke":
		return runTokenRevoke(ctx, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, tokenUsage)
		return nil
	case "":
		fmt.Fprint(stderr, tokenUsage)
		return exitError(2)
	}
	fmt.Fprintf(stderr, "rdsgate: unknown token command %q\n\n%s", sub, tokenUsage)
	return exitError(2)
}

// tokenDB opens and migrates the database of a token command.
func tokenDB(ctx context.Context, c config) (*pgxpool.Pool, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	pool, err := store.Open(ctx, c.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx, pool, newLogger(io.Discard, "error")); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// runTokenCreate is `rdsgate token create`: it mints an API token, prints
// it once and stores only its hash.
func runTokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	commonFlags(fs, &c)
	subject := fs.String("subject", "", "who the token stands for (required)")
	groups := fs.String("groups", "", "comma-separated groups, e.g. developers,dba")
	ttl := fs.Duration("ttl", auth.DefaultTokenTTL, "how long the token is valid")
	if done, err := parse(fs, args); done {
		return err
	}
	if *ttl <= 0 {
		return fmt.Errorf("--ttl must be positive")
	}
	if strings.TrimSpace(*subject) == "" {
		return fmt.Errorf("--subject is required")
	}
	var gs []string
	for _, g := range strings.Split(*groups, ",") {
		if g = strings.TrimSpace(g); g != "" {
			gs = append(gs, g)
		}
	}
	pool, err := tokenDB(ctx, c)
	if err != nil {
		return err
	}
	defer pool.Close()
	id := auth.Identity{Subject: strings.TrimSpace(*subject), Groups: gs}
	// The token itself never reaches the audit trail, only its subject.
	token, err := auth.CreateToken(ctx, pool, id, "cli", *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "API token for %s (groups: %s). It is shown once; only its hash is stored:\n", id.Subject, strings.Join(gs, ","))
	fmt.Fprintln(stdout, token)
	return nil
}

// runTokenList prints the tokens, one a line (or JSON Lines with --json):
// never a token itself.
func runTokenList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	commonFlags(fs, &c)
	all := fs.Bool("all", false, "also the revoked and expired tokens")
	asJSON := fs.Bool("json", false, "JSON Lines")
	if done, err := parse(fs, args); done {
		return err
	}
	pool, err := tokenDB(ctx, c)
	if err != nil {
		return err
	}
	defer pool.Close()
	tokens, err := auth.ListTokens(ctx, pool, *all)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(tw, "ID\tSUBJECT\tGROUPS\tCREATED\tEXPIRES\tLAST USED\tREVOKED")
	}
	when := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, tk := range tokens {
		if *asJSON {
			if err := enc.Encode(tk); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", tk.ID, tk.Subject, strings.Join(tk.Groups, ","),
			tk.CreatedAt.UTC().Format(time.RFC3339), tk.ExpiresAt.UTC().Format(time.RFC3339), when(tk.LastUsedAt), when(tk.RevokedAt))
	}
	return tw.Flush()
}

// runTokenRevoke revokes a token by id, or every token of --subject.
func runTokenRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	commonFlags(fs, &c)
	subject := fs.String("subject", "", "revoke every token of this subject")
	if done, err := parse(fs, args); done {
		return err
	}
	var id int64
	if fs.NArg() > 0 {
		var err error
		if id, err = strconv.ParseInt(fs.Arg(0), 10, 64); err != nil || id < 1 || fs.NArg() > 1 {
			return fmt.Errorf("token revoke: want one token id (from token list), got %q", fs.Args())
		}
	}
	pool, err := tokenDB(ctx, c)
	if err != nil {
		return err
	}
	defer pool.Close()
	n, err := auth.RevokeTokens(ctx, pool, id, strings.TrimSpace(*subject), "cli")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d token(s) revoked; every server refuses them within a second\n", n)
	if n == 0 {
		return exitError(1)
	}
	return nil
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/store"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	commonFlags(fs, &c)
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	if err := c.validate(); err != nil {
		return err
	}
	pool, err := store.Open(ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool, newLogger(stderr, c.LogLevel)); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

func runTokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	commonFlags(fs, &c)
	subject := fs.String("subject", "", "who the token stands for (required)")
	groups := fs.String("groups", "", "comma-separated groups, e.g. developers,dba")
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	if err := c.validate(); err != nil {
		return err
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
	pool, err := store.Open(ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool, newLogger(io.Discard, "error")); err != nil {
		return err
	}
	id := store.Identity{Subject: strings.TrimSpace(*subject), Groups: gs}
	var token string
	err = store.InTx(ctx, pool, func(tx pgx.Tx) error {
		var err error
		if token, err = store.CreateToken(ctx, tx, id); err != nil {
			return err
		}
		// The token itself never reaches the audit trail.
		return audit.Append(ctx, tx, audit.Record{Kind: audit.KindTokenCreated, Actor: "cli",
			Payload: map[string]any{"subject": id.Subject, "groups": gs}})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "API token for %s (groups: %s). It is shown once; only its hash is stored:\n", id.Subject, strings.Join(gs, ","))
	fmt.Fprintln(stdout, token)
	return nil
}

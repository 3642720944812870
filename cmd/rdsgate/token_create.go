package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/store"
)

// runTokenCreate is `rdsgate token create`: it mints an API token, prints
// it once and stores only its hash.
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
	id := auth.Identity{Subject: strings.TrimSpace(*subject), Groups: gs}
	// The token itself never reaches the audit trail, only its subject.
	token, err := auth.CreateToken(ctx, pool, id, "cli")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "API token for %s (groups: %s). It is shown once; only its hash is stored:\n", id.Subject, strings.Join(gs, ","))
	fmt.Fprintln(stdout, token)
	return nil
}

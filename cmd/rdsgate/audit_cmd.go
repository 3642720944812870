package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/store"
)

func runAuditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	commonFlags(fs, &c)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	noSeal := fs.Bool("no-seal", false, "do not chain pending events before verifying")
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
	if !*noSeal {
		// Chain what has committed but not been sealed yet, exactly as the
		// running service would; idempotent and safe beside it.
		if _, err := audit.NewSealer(pool, nil, 0).SealAll(ctx); err != nil {
			return err
		}
	}
	rep, err := audit.Verify(ctx, pool)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else if rep.OK() {
		fmt.Fprintf(stdout, "audit chain intact: %d events checked, head seq %d, head hash %x", rep.Checked, rep.HeadSeq, []byte(rep.HeadHash))
		if rep.Unsealed > 0 {
			fmt.Fprintf(stdout, " (%d events committed but not yet sealed)", rep.Unsealed)
		}
		fmt.Fprintln(stdout)
	} else {
		fmt.Fprintf(stdout, "audit chain BROKEN: %v\n%d events checked before it\n", rep.Problem, rep.Checked)
	}
	if !rep.OK() {
		return exitError(1)
	}
	return nil
}

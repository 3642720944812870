package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rdsgate/rdsgate/internal/policy"
)

// runPolicyEval prints the decision for an input file without recording
// anything: "why was I denied?".
func runPolicyEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("policy eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	input := fs.String("input", "", "JSON file: {principal, request{...}, context{...}}; - for stdin")
	dir := fs.String("policy-data", envOr("RDSGATE_POLICY_DATA", ""), "policy data directory (env RDSGATE_POLICY_DATA)")
	account := fs.String("account-id", envOr("RDSGATE_ACCOUNT_ID", ""), "account id in resource ARNs (env RDSGATE_ACCOUNT_ID; default: account_id of ram.json)")
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	if *input == "" {
		return fmt.Errorf("--input is required")
	}
	var raw []byte
	var err error
	if *input == "-" {
		raw, err = io.ReadAll(os.Stdin)
	} else {
		raw, err = os.ReadFile(*input)
	}
	if err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	var in policy.Input
	if err := json.Unmarshal(raw, &in); err != nil {
		return fmt.Errorf("input %s: %w", *input, err)
	}
	if in.Context.CurrentTime.IsZero() {
		in.Context.CurrentTime = time.Now().UTC()
	}
	eng, err := policy.New(ctx, policy.Options{Dir: *dir, AccountID: *account, Logger: newLogger(stderr, "warn")})
	if err != nil {
		return err
	}
	d, err := eng.Decide(ctx, in)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}

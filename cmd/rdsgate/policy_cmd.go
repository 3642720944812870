package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/rdsgate/rdsgate/internal/policy"
)

const policyUsage = `Usage: rdsgate policy <command> [flags]

Commands:
  eval    print the decision for an input file, recording nothing
  check   load the policies and data as serve would; exit 1 naming the first problem
  test    run the shipped and the organisation's _test.rego with OPA's tester; exit 1 on a failure

Each takes --policy-dir (env RDSGATE_POLICY_DIR) and --policy-data (env RDSGATE_POLICY_DATA).
`

// runPolicy dispatches the policy subcommands: tools for policy authors,
// usable in their own CI.
func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := ""
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "eval":
		return runPolicyEval(ctx, args, stdout, stderr)
	case "check":
		return runPolicyCheck(ctx, args, stdout, stderr)
	case "test":
		return runPolicyTest(ctx, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, policyUsage)
		return nil
	case "":
		fmt.Fprint(stderr, policyUsage)
		return exitError(2)
	}
	fmt.Fprintf(stderr, "rdsgate: unknown policy command %q\n\n%s", sub, policyUsage)
	return exitError(2)
}

// policyFlags registers the flags every policy command shares.
func policyFlags(fs *flag.FlagSet) (policyDir, dataDir, account *string) {
	policyDir = fs.String("policy-dir", envOr("RDSGATE_POLICY_DIR", ""), "the organisation's own Rego modules, beside the shipped ones (env RDSGATE_POLICY_DIR)")
	dataDir = fs.String("policy-data", envOr("RDSGATE_POLICY_DATA", ""), "policy data directory: ram.json, org.json (env RDSGATE_POLICY_DATA; default: the embedded examples)")
	account = fs.String("account-id", envOr("RDSGATE_ACCOUNT_ID", ""), "account id in resource ARNs (env RDSGATE_ACCOUNT_ID; default: account_id of ram.json)")
	return policyDir, dataDir, account
}

// parse parses args; done is true when the command is to stop there: -h
// printed the flags (exit 0), or a flag was wrong (exit 2).
func parse(fs *flag.FlagSet, args []string) (done bool, err error) {
	err = fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return true, nil
	case err != nil:
		return true, exitError(2)
	}
	return false, nil
}

// ownPolicies is the organisation's module directory as a file system,
// nil when none is named.
func ownPolicies(dir string) fs.FS {
	if dir == "" {
		return nil
	}
	return os.DirFS(dir)
}

// runPolicyEval prints the decision for an input file without recording
// anything: "why was I denied?".
func runPolicyEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("policy eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	input := fs.String("input", "", "JSON file: {principal, request{...}, context{...}}; - for stdin")
	policyDir, dataDir, account := policyFlags(fs)
	if done, err := parse(fs, args); done {
		return err
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
	eng, err := policy.New(ctx, policy.Options{Dir: *dataDir, PolicyDir: *policyDir, AccountID: *account, Logger: newLogger(stderr, "warn")})
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

// runPolicyCheck loads the policies and the data as serve would, and says
// which revision they make or why they do not load.
func runPolicyCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("policy check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	policyDir, dataDir, account := policyFlags(fs)
	if done, err := parse(fs, args); done {
		return err
	}
	eng, err := policy.New(ctx, policy.Options{Dir: *dataDir, PolicyDir: *policyDir, AccountID: *account, Logger: newLogger(io.Discard, "error")})
	if err != nil {
		fmt.Fprintln(stderr, "policy check:", err)
		return exitError(1)
	}
	fmt.Fprintf(stdout, "policies load: revision %s, %d modules\n", eng.Revision(), len(eng.Modules()))
	return nil
}

// runPolicyTest runs the Rego unit tests of the shipped modules and of
// --policy-dir's, as `opa test` would, and checks their formatting.
func runPolicyTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("policy test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	policyDir, dataDir, account := policyFlags(fs)
	coverage := fs.Bool("coverage", false, "also list the policy lines no test evaluates")
	if done, err := parse(fs, args); done {
		return err
	}
	// The tests see the compiled data of --policy-data as data, as the
	// running policies do (tests may still replace it with `with`).
	eng, err := policy.New(ctx, policy.Options{Dir: *dataDir, PolicyDir: *policyDir, AccountID: *account, Logger: newLogger(io.Discard, "error")})
	if err != nil {
		fmt.Fprintln(stderr, "policy test:", err)
		return exitError(1)
	}
	data, err := eng.Data()
	if err != nil {
		return err
	}
	report, err := policy.RunRegoTests(ctx, ownPolicies(*policyDir), data)
	if err != nil {
		fmt.Fprintln(stderr, "policy test:", err)
		return exitError(1)
	}
	fmt.Fprint(stdout, report.String())
	if *coverage {
		for _, line := range report.NotCovered {
			fmt.Fprintln(stdout, "not covered:", line)
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", report.Passed, len(report.Failures))
	if len(report.Failures) > 0 || len(report.Unformatted) > 0 || report.Passed == 0 {
		return exitError(1)
	}
	return nil
}

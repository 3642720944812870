package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"time"

	"github.com/rdsgate/rdsgate/internal/policy"
)

const policyUsage = `Usage: rdsgate policy <command> [flags]

Commands:
  eval    print the decision for an input file, recording nothing
  check   load the policies and data as serve would; exit 1 naming the first problem
  test    run the shipped and the organisation's _test.rego with OPA's tester; exit 1 on a failure
  diff    evaluate recorded inputs under the current and a proposed revision; list every
          decision that would change (JSON Lines)

Each takes --policy-dir (env RDSGATE_POLICY_DIR) and --policy-data (env RDSGATE_POLICY_DATA);
diff takes them for the proposed revision and --current-policy-dir/-data for the running one.
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
	case "diff":
		return runPolicyDiff(ctx, args, stdout, stderr)
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

// diffLine is one input whose decision the proposed policies change.
type diffLine struct {
	Line         int          `json:"line"`
	Subject      string       `json:"subject"`
	DBInstanceID string       `json:"db_instance_id"`
	Current      diffDecision `json:"current"`
	Proposed     diffDecision `json:"proposed"`
}

// diffDecision is what of a decision the diff compares.
type diffDecision struct {
	Allow                bool                 `json:"allow"`
	RequiredApprovals    int                  `json:"required_approvals"`
	ApproverRequirements []policy.Requirement `json:"approver_requirements"`
	Reasons              []string             `json:"reasons"`
	Notes                []string             `json:"notes,omitempty"`
}

func diffOf(d policy.Decision) diffDecision {
	return diffDecision{Allow: d.Allow, RequiredApprovals: d.RequiredApprovals, ApproverRequirements: d.ApproverRequirements,
		Reasons: d.Reasons, Notes: d.Notes}
}

// recordedInput reads one line of --against-inputs: a policy input, an
// audit event (only policy.decided ones hold an input: the audit export,
// `GET /api/v1/audit`'s items) or a decision-log entry. ok is false for a
// line that holds no release decision's input (other events, checkpoints).
func recordedInput(line []byte) (in policy.Input, ok bool, err error) {
	var probe struct {
		Kind    string          `json:"kind"`
		Type    string          `json:"type"`
		Path    *string         `json:"path"`
		Input   json.RawMessage `json:"input"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(line, &probe); err != nil {
		return in, false, err
	}
	raw := json.RawMessage(line)
	switch {
	case probe.Kind != "" || probe.Type == "checkpoint":
		if probe.Kind != "policy.decided" {
			return in, false, nil
		}
		var payload struct {
			Path  string          `json:"path"`
			Input json.RawMessage `json:"input"`
		}
		if err := json.Unmarshal(probe.Payload, &payload); err != nil {
			return in, false, err
		}
		if payload.Path != policy.DecidePath {
			return in, false, nil
		}
		raw = payload.Input
	case probe.Path != nil:
		if *probe.Path != policy.DecidePath {
			return in, false, nil
		}
		raw = probe.Input
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return in, false, err
	}
	return in, true, nil
}

// runPolicyDiff evaluates recorded inputs under the current policies and
// proposed ones and lists, as JSON Lines, every decision that changes.
func runPolicyDiff(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("policy diff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	newDir := fs.String("policy-dir", "", "the proposed organisation's Rego modules")
	newData := fs.String("policy-data", "", "the proposed policy data directory (default: the current one)")
	curDir := fs.String("current-policy-dir", envOr("RDSGATE_POLICY_DIR", ""), "the running Rego modules (env RDSGATE_POLICY_DIR)")
	curData := fs.String("current-policy-data", envOr("RDSGATE_POLICY_DATA", ""), "the running policy data (env RDSGATE_POLICY_DATA; default: the embedded examples)")
	account := fs.String("account-id", envOr("RDSGATE_ACCOUNT_ID", ""), "account id in resource ARNs (env RDSGATE_ACCOUNT_ID)")
	inputs := fs.String("against-inputs", "", "JSON Lines of recorded inputs: policy inputs, an audit export or search, or a decision log (required)")
	exitCode := fs.Bool("exit-code", false, "exit 1 when any decision changes (for CI)")
	if done, err := parse(fs, args); done {
		return err
	}
	if *inputs == "" {
		return errors.New("--against-inputs is required")
	}
	if *newData == "" {
		*newData = *curData
	}
	quiet := newLogger(io.Discard, "error")
	current, err := policy.New(ctx, policy.Options{Dir: *curData, PolicyDir: *curDir, AccountID: *account, Logger: quiet})
	if err != nil {
		return fmt.Errorf("current policies: %w", err)
	}
	proposed, err := policy.New(ctx, policy.Options{Dir: *newData, PolicyDir: *newDir, AccountID: *account, Logger: quiet})
	if err != nil {
		return fmt.Errorf("proposed policies: %w", err)
	}
	f, err := os.Open(*inputs)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	enc := json.NewEncoder(stdout)
	evaluated, changed := 0, 0
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		in, ok, err := recordedInput(sc.Bytes())
		if err != nil {
			return fmt.Errorf("%s:%d: %w", *inputs, n, err)
		}
		if !ok {
			continue
		}
		a, err := current.Decide(ctx, in)
		if err != nil {
			return fmt.Errorf("%s:%d: current: %w", *inputs, n, err)
		}
		b, err := proposed.Decide(ctx, in)
		if err != nil {
			return fmt.Errorf("%s:%d: proposed: %w", *inputs, n, err)
		}
		evaluated++
		if before, after := diffOf(a), diffOf(b); !reflect.DeepEqual(before, after) {
			changed++
			if err := enc.Encode(diffLine{Line: n, Subject: in.Principal.Subject, DBInstanceID: in.Request.DBInstanceID,
				Current: before, Proposed: after}); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "policy diff: %d decisions evaluated, %d would change (current revision %s, proposed %s)\n",
		evaluated, changed, current.Revision(), proposed.Revision())
	if *exitCode && changed > 0 {
		return exitError(1)
	}
	return nil
}

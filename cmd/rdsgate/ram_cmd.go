package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/ramaudit"
)

// envRAMEndpoint is the RAM API's host[:port] (default ram.aliyuncs.com);
// the scheme is RDSGATE_RDS_PROTOCOL's.
const envRAMEndpoint = "RDSGATE_RAM_ENDPOINT"

// ramExportSession names the role session of an export.
const ramExportSession = "rdsgate-ram-export"

const ramUsage = `Usage: rdsgate ram <command> [flags]

Commands:
  export    collect an account's RAM through the RAM API into a directory:
            --account ID --out DIR
  analyze   list who may call rds:ReleaseInstanceConnection or
            rds:ReleaseInstancePublicConnection around the gate, from an export:
            --export DIR [--gateway-role ARN] [--format jsonl|table]; exit 1 on a bypass

docs/BYPASS.md describes the export and the findings.
`

// runRAM dispatches the ram subcommands.
func runRAM(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := ""
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "export":
		return runRAMExport(ctx, args, stdout, stderr)
	case "analyze":
		return runRAMAnalyze(ctx, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, ramUsage)
		return nil
	case "":
		fmt.Fprint(stderr, ramUsage)
		return exitError(2)
	}
	fmt.Fprintf(stderr, "rdsgate: unknown ram command %q\n\n%s", sub, ramUsage)
	return exitError(2)
}

// runRAMExport is `rdsgate ram export`: the RAM API at RDSGATE_RAM_ENDPOINT
// (scheme RDSGATE_RDS_PROTOCOL, RDSGATE_CA_FILE trusted), called with
// serve's credentials: the account's role of accounts.json (--policy-data)
// assumed through STS when the account is there, else the base credential
// itself.
func runRAMExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ram export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	account := fs.String("account", "", "the Alibaba Cloud account (UID) to export; required")
	out := fs.String("out", "", "the directory to write (created; should be empty); required")
	policyData := fs.String("policy-data", envOr("RDSGATE_POLICY_DATA", ""), "directory with accounts.json, whose role for the account is assumed (env RDSGATE_POLICY_DATA)")
	logLevel := fs.String("log-level", envOr("RDSGATE_LOG_LEVEL", "info"), "debug, info, warn or error (env RDSGATE_LOG_LEVEL)")
	if done, err := parse(fs, args); done {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("ram export: unexpected arguments %q", fs.Args())
	}
	if *account == "" || *out == "" {
		return errors.New("ram export: --account and --out are required")
	}
	rds, err := rdsConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	if err := trustExtraCA(rds); err != nil {
		return err
	}
	endpoint := envOr(envRAMEndpoint, aliyun.DefaultRAMEndpoint)
	if strings.Contains(endpoint, "/") {
		return fmt.Errorf("%s=%q: want host[:port] without scheme or path", envRAMEndpoint, endpoint)
	}
	log := newLogger(stderr, *logLevel)
	base := aliyun.Config{Endpoint: endpoint, Protocol: rds.Protocol, RegionID: rds.RegionID,
		Timeout: rds.CallTimeout, RootCAs: rds.RootCAs, Credential: rds.Credential, Logger: log}
	clients, err := aliyun.NewClients(aliyun.ClientsConfig{Base: base, STSEndpoint: rds.STSEndpoint})
	if err != nil {
		return fmt.Errorf("ram export: %w", err)
	}
	cfg := base
	cfg.Credential = clients.BaseCredential()
	role := ""
	if *policyData != "" {
		engine, err := policy.New(ctx, policy.Options{Dir: *policyData, Logger: log})
		if err != nil {
			return fmt.Errorf("ram export: load policy data: %w", err)
		}
		if a, ok := engine.Account(*account); ok && a.RoleARN != "" {
			role = a.RoleARN
			if cfg.Credential, err = clients.RoleCredential(role, ramExportSession); err != nil {
				return fmt.Errorf("ram export: %w", err)
			}
		}
	}
	api, err := aliyun.NewRAM(cfg)
	if err != nil {
		return fmt.Errorf("ram export: %w", err)
	}
	st, err := ramaudit.Export(ctx, api, *account, *out)
	if err != nil {
		return fmt.Errorf("ram export: %w", err)
	}
	as := "the base credential"
	if role != "" {
		as = "role " + role
	}
	fmt.Fprintf(stdout, "ram export: account %s as %s: %d users, %d groups, %d roles, %d policies in %s (%d calls)\n",
		*account, as, st.Users, st.Groups, st.Roles, st.Policies, *out, st.Calls)
	return nil
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// runRAMAnalyze is `rdsgate ram analyze`: the findings of an export, one
// JSON object a line (or a table), exit status 1 when one is not expected.
func runRAMAnalyze(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ram analyze", flag.ContinueOnError)
	fs.SetOutput(stderr)
	export := fs.String("export", "", "the export directory (rdsgate ram export); required")
	var opts ramaudit.Options
	fs.StringVar(&opts.GatewayRole, "gateway-role", "", "ARN (or name) of the gateway's own role: its findings are expected")
	var expected, control listFlag
	fs.Var(&expected, "expected", "ARN of another principal whose findings are expected (repeatable)")
	fs.Var(&control, "control-policy", "a Resource Directory control policy document (JSON) that applies to the account (repeatable)")
	format := fs.String("format", "jsonl", "jsonl (one finding a line) or table (for people)")
	policyDir := fs.String("policy-dir", envOr("RDSGATE_POLICY_DIR", ""), "directory of the organisation's own Rego modules, as serve loads them (env RDSGATE_POLICY_DIR)")
	if done, err := parse(fs, args); done {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("ram analyze: unexpected arguments %q", fs.Args())
	}
	if *export == "" {
		return errors.New("ram analyze: --export is required")
	}
	if *format != "jsonl" && *format != "table" {
		return fmt.Errorf("ram analyze: --format %q: want jsonl or table", *format)
	}
	opts.Expected = expected
	for _, f := range control {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("ram analyze: --control-policy: %w", err)
		}
		opts.ControlPolicies = append(opts.ControlPolicies, b)
	}
	acct, err := ramaudit.Load(*export)
	if err != nil {
		return fmt.Errorf("ram analyze: %w", err)
	}
	analyzer, err := policy.NewAnalyzer(ctx, *policyDir)
	if err != nil {
		return fmt.Errorf("ram analyze: %w", err)
	}
	findings, err := ramaudit.Analyze(ctx, analyzer, acct, opts)
	if err != nil {
		return fmt.Errorf("ram analyze: %w", err)
	}
	if *format == "table" {
		err = ramaudit.WriteTable(stdout, findings)
	} else {
		err = ramaudit.WriteJSONL(stdout, findings)
	}
	if err != nil {
		return fmt.Errorf("ram analyze: %w", err)
	}
	bypasses := ramaudit.Bypasses(findings)
	fmt.Fprintf(stderr, "ram analyze: account %s: %d findings, %d bypasses\n", acct.ID, len(findings), bypasses)
	if bypasses > 0 {
		return exitError(1)
	}
	return nil
}

// Command rdsgate is the approval gateway for Alibaba Cloud RDS
// ReleaseInstanceConnection: one binary whose subcommands serve the API and
// pages, migrate the database, mint API tokens, run the RDS simulator and
// verify the audit trail. Run `rdsgate help` for the list.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	// The IANA time zones, for Rego's time.clock([ns, "Asia/Shanghai"]) in images
	// without them (the distroless one).
	_ "time/tzdata"
)

const usage = `rdsgate — policy-guarded approvals for RDS ReleaseInstanceConnection

Usage: rdsgate <command> [flags]

Commands:
  serve                 run the API, pages, executor and audit sealer
  migrate               apply database migrations (idempotent)
  dev                   one-command local run: find or start PostgreSQL, simulator, dev users, serve
  token create          mint an API token: --subject NAME --groups g1,g2 [--ttl 2160h]
  token list            the API tokens (never the tokens themselves)
  token revoke          revoke a token (ID) or every token of --subject NAME
  audit verify          verify the audit trail, online or from an export (--file)
  audit export          export the audit trail with its signed checkpoints (JSON Lines or CSV)
  audit checkpoint      seal pending events and sign the chain head now
  policy eval           evaluate the policy for an input file: --input FILE
  policy check          load the policies (--policy-dir) and data as serve would
  policy test           run the shipped and the organisation's Rego tests
  policy diff           list the recorded decisions a proposed policy would change
  fleet scan            list every public endpoint across the configured accounts and regions (JSON Lines)
  ram export            collect an account's RAM (users, groups, roles, policies) through the RAM API: --account ID --out DIR
  ram analyze           who may release endpoints around the gate, from an export: --export DIR [--gateway-role ARN]
  sim                   run the local RDS API simulator
  healthcheck           exit 0 when the server (RDSGATE_ADDR, or --url) is ready: the image's HEALTHCHECK
  version               the version, commit, build time, Go and OPA versions (--json for machines)
  help                  this text

Configuration comes from flags and environment variables; see README.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var ee exitError
	switch {
	case errors.As(err, &ee):
		os.Exit(int(ee))
	case err != nil:
		fmt.Fprintln(os.Stderr, "rdsgate:", err)
		os.Exit(1)
	}
}

// version is stamped at build time (-ldflags "-X main.version=…"; the
// Dockerfile and the Makefile do it, with main.commit and main.buildTime:
// version.go).
var version = "dev"

// exitError ends the process with that code after the command has already
// said why.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError(2)
	}
	cmd, rest := args[0], args[1:]
	switch {
	case cmd == "serve":
		return runServe(ctx, rest, stdout, stderr)
	case cmd == "migrate":
		return runMigrate(ctx, rest, stdout, stderr)
	case cmd == "dev":
		return runDev(ctx, rest, stdout, stderr)
	case cmd == "token":
		return runToken(ctx, rest, stdout, stderr)
	case cmd == "audit":
		return runAudit(ctx, rest, stdout, stderr)
	case cmd == "policy":
		return runPolicy(ctx, rest, stdout, stderr)
	case cmd == "fleet":
		return runFleet(ctx, rest, stdout, stderr)
	case cmd == "ram":
		return runRAM(ctx, rest, stdout, stderr)
	case cmd == "sim":
		return runSim(ctx, rest, stdout)
	case cmd == "healthcheck":
		return runHealthcheck(ctx, rest, stdout, stderr)
	case cmd == "version" || cmd == "--version":
		return runVersion(rest, stdout, stderr)
	case cmd == "help" || cmd == "-h" || cmd == "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "rdsgate: unknown command %q\n\n%s", args, usage)
	return exitError(2)
}

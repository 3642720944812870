package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/fleet"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/quota"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/store"
)

const fleetUsage = `Usage: rdsgate fleet <command> [flags]

Commands:
  scan    list every instance's public endpoint across the configured accounts and regions:
          one JSON object a line (region_id, db_instance_id, connection_string, network_type,
          account_id), so that ` + "`jq -s .`" + ` of the output is a bulk request's targets
`

// runFleet dispatches the fleet subcommands.
func runFleet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := ""
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "scan":
		return runFleetScan(ctx, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, fleetUsage)
		return nil
	case "":
		fmt.Fprint(stderr, fleetUsage)
		return exitError(2)
	}
	fmt.Fprintf(stderr, "rdsgate: unknown fleet command %q\n\n%s", sub, fleetUsage)
	return exitError(2)
}

// runFleetScan is `rdsgate fleet scan`: it reads serve's configuration
// (policy data for accounts.json, the RDS and STS endpoints, the extra CA,
// the credentials) and writes each public endpoint as it is found. With
// DATABASE_URL it takes the quota's slots from the limiter the servers
// share; without, it spaces its calls in this process. A failed account,
// region or instance is reported on stderr while the others are scanned,
// and makes the exit status 1.
func runFleetScan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fleet scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	withEnvHelp(fs)
	var c config
	commonFlags(fs, &c)
	fs.StringVar(&c.AccountID, "account-id", envOr("RDSGATE_ACCOUNT_ID", ""), "default Alibaba Cloud account id (env RDSGATE_ACCOUNT_ID; default: accounts.json's or ram.json's)")
	fs.StringVar(&c.PolicyData, "policy-data", envOr("RDSGATE_POLICY_DATA", ""), "directory with ram.json, org.json and accounts.json (env RDSGATE_POLICY_DATA; default: the embedded examples)")
	fs.StringVar(&c.PolicyDir, "policy-dir", envOr("RDSGATE_POLICY_DIR", ""), "directory of the organisation's own Rego modules (env RDSGATE_POLICY_DIR)")
	var f fleet.Filter
	fs.StringVar(&f.AccountID, "account", "", "scan only this account (an accounts.json id)")
	fs.StringVar(&f.RegionID, "region", "", "scan only this region")
	fs.StringVar(&f.Environment, "env", "", "keep only instances the policies place in this environment (org.json)")
	format := fs.String("format", "jsonl", "jsonl (one target a line) or table (for people)")
	if done, err := parse(fs, args); done {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("fleet scan: unexpected arguments %q", fs.Args())
	}
	if *format != "jsonl" && *format != "table" {
		return fmt.Errorf("fleet scan: --format %q: want jsonl or table", *format)
	}
	if len(c.envErrs) > 0 {
		return c.envErrs[0]
	}
	rds, err := rdsConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	if err := trustExtraCA(rds); err != nil {
		return err
	}
	exec, err := executorConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	log := newLogger(stderr, c.LogLevel)
	engine, err := policy.New(ctx, policy.Options{Dir: c.PolicyData, PolicyDir: c.PolicyDir, AccountID: c.AccountID, Logger: log})
	if err != nil {
		return fmt.Errorf("fleet scan: load policies: %w", err)
	}
	limiter, closeLimiter, err := fleetLimiter(ctx, c.DatabaseURL, exec)
	if err != nil {
		return err
	}
	defer closeLimiter()
	scanner, err := app.NewFleet(app.FleetConfig{RDS: rds, Accounts: engine, Limiter: limiter, Logger: log})
	if err != nil {
		return fmt.Errorf("fleet scan: %w", err)
	}

	out := targetWriter(stdout, *format)
	st, err := scanner.Run(ctx, f, fleet.Handlers{
		Target:  out,
		Failure: func(fl fleet.Failure) { fmt.Fprintf(stderr, "rdsgate: fleet scan: %v\n", fl) },
	})
	fmt.Fprintf(stderr, "fleet scan: %d accounts, %d regions, %d instances listed (%d left out by --env), %d public endpoints, %d calls, %d failures, in %s\n",
		st.Accounts, st.Regions, st.Instances, st.Skipped, st.Endpoints, st.Calls, st.Failures, st.Elapsed.Round(time.Millisecond))
	var se *fleet.ScanError
	switch {
	case errors.As(err, &se):
		return exitError(1) // each failure is on stderr already
	case err != nil:
		return fmt.Errorf("fleet scan: %w", err)
	}
	return nil
}

// targetWriter writes targets as JSON Lines, or as an aligned table
// written line by line (streamed: the columns are of fixed width).
func targetWriter(w io.Writer, format string) func(request.Target) error {
	if format == "table" {
		header := false
		return func(t request.Target) error {
			if !header {
				header = true
				if _, err := fmt.Fprintf(w, "%-17s %-15s %-24s %-7s %s\n", "ACCOUNT", "REGION", "INSTANCE", "NETWORK", "CONNECTION STRING"); err != nil {
					return err
				}
			}
			network := map[string]string{"0": "VPC", "1": "Classic"}[t.NetworkType]
			_, err := fmt.Fprintf(w, "%-17s %-15s %-24s %-7s %s\n", t.AccountID, t.RegionID, t.DBInstanceID, network, t.ConnectionString)
			return err
		}
	}
	enc := json.NewEncoder(w)
	return func(t request.Target) error { return enc.Encode(t) }
}

// fleetLimiter is the limiter of a scan: the shared one through PostgreSQL
// when databaseURL is set, else one of this process's, with the executor's
// quotas (RDSGATE_RDS_DESCRIBE_RATE, RDSGATE_RDS_LIST_RATE,
// RDSGATE_RDS_RATE_MARGIN) either way.
func fleetLimiter(ctx context.Context, databaseURL string, exec executor.Config) (fleet.Limiter, func(), error) {
	limits := quota.DefaultLimits()
	for op, l := range exec.Limits {
		limits[op] = l
	}
	limits = app.WithFleetLimits(limits)
	margin := exec.RateMargin
	if margin == 0 {
		margin = quota.DefaultRateMargin
	}
	if databaseURL == "" {
		l, err := fleet.NewLocalLimiter(limits, margin)
		return l, func() {}, err
	}
	pool, err := store.OpenMax(ctx, databaseURL, 4)
	if err != nil {
		return nil, nil, fmt.Errorf("fleet scan: database (for the shared rate limiter; unset DATABASE_URL to pace this process alone): %w", err)
	}
	l, err := quota.NewLimiter(pool, "", limits, margin, quota.DefaultLimiterHorizon)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return fleet.QuotaLimiter{L: l}, pool.Close, nil
}

// trustExtraCA makes the process's default HTTP transport trust
// RDSGATE_CA_FILE's CA too (rds.RootCAs, loaded by rdsConfigFromEnv), for
// the calls credentials-go makes itself (STS AssumeRole) and every other
// HTTPS call through it. The RDS clients are given the roots directly.
func trustExtraCA(rds app.RDSConfig) error {
	if rds.RootCAs == nil {
		return nil
	}
	if err := aliyun.SetDefaultRootCAs(rds.RootCAs); err != nil {
		return fmt.Errorf("%s: %w", envCAFile, err)
	}
	return nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/rdssim"
)

// simDefaultStateFile is where the embedded example instances come from.
const simDefaultStateFile = "internal/rdssim/testdata/instances.json"

// runSim runs the local RDS API simulator until ctx is done.
func runSim(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:9090", "listen address; loopback only")
	state := fs.String("state", "", "instances state file, JSON {\"instances\":[...]} (default: the embedded example, "+simDefaultStateFile+")")
	akID := fs.String("access-key-id", envOr("RDSGATE_SIM_ACCESS_KEY_ID", app.SimAccessKeyID), "AccessKey ID the simulator accepts (env RDSGATE_SIM_ACCESS_KEY_ID)")
	akSecret := fs.String("access-key-secret", envOr("RDSGATE_SIM_ACCESS_KEY_SECRET", app.SimAccessKeySecret), "AccessKey secret the simulator accepts (env RDSGATE_SIM_ACCESS_KEY_SECRET)")
	accountID := fs.String("account-id", envOr("RDSGATE_ACCOUNT_ID", app.SimAccountID), "account id of that key: the default account, which base-key calls act as (env RDSGATE_ACCOUNT_ID)")
	fs.StringVar(accountID, "account", *accountID, "same as --account-id")
	caOut := fs.String("ca-out", "", "write the simulator's CA certificate (PEM) to this file, to trust its TLS (e.g. RDSGATE_CA_FILE)")
	generate := fs.String("generate", "", "generate a fleet: accounts=N,regions=R1+R2,per_region=M[,roles=A+B] (accounts 1000000000000001..; replaces the embedded example, adds to --state)")
	tlsHosts := fs.String("tls-hosts", "", "extra comma-separated DNS names or IPs for the TLS certificate (127.0.0.1, ::1, localhost and the --addr host are always in it)")
	rate := fs.Int("rate", rdssim.DefaultRatePerSecond, "calls allowed per account and action in each quota window")
	window := fs.Duration("quota-window", time.Second, "length of the quota's sliding window (the API's is one second)")
	trailDelay := fs.Duration("trail-delay", 0, "how late ActionTrail's LookupEvents shows a release: visible once now >= eventTime + delay (the real trail is minutes late)")
	faults := fs.String("faults", "", "fault rule file, a JSON array of {instance, action, code, code_after_release, delay_ms, drop_after_release, times}")
	anyAddr := fs.Bool("allow-non-loopback", false, "allow a non-loopback --addr (containers only: the /_sim/ admin API still answers loopback clients only)")
	logLevel := fs.String("log-level", envOr("RDSGATE_LOG_LEVEL", "info"), "debug, info, warn or error (env RDSGATE_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError(2)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sim: unexpected arguments %q", fs.Args())
	}
	if !*anyAddr {
		if err := simCheckLoopback(*addr); err != nil {
			return err
		}
	}

	st, err := simState(*state, *generate)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	instances := st.Instances
	hosts := strings.Split(*tlsHosts, ",")
	if host, _, err := net.SplitHostPort(*addr); err == nil {
		hosts = append(hosts, host)
	}
	logger := newLogger(stdout, *logLevel)
	sim, err := rdssim.New(rdssim.Config{
		Accounts:      []rdssim.Account{{AccessKeyID: *akID, AccessKeySecret: *akSecret, AccountID: *accountID}},
		Instances:     instances,
		Roles:         st.RoleMap(),
		RAM:           st.RAMMap(),
		TLSHosts:      hosts,
		RatePerSecond: *rate,
		QuotaWindow:   *window,
		TrailDelay:    *trailDelay,
		Logger:        logger,
	})
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	if *faults != "" {
		rules, err := rdssim.LoadFaults(*faults)
		if err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		for _, f := range rules {
			if err := sim.AddFault(f); err != nil {
				return fmt.Errorf("sim: %w", err)
			}
		}
	}

	if *caOut != "" {
		if err := os.WriteFile(*caOut, sim.CACertPEM(), 0o644); err != nil { //nolint:gosec // a CA certificate is public
			return fmt.Errorf("sim: --ca-out: %w", err)
		}
	}

	inner, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("sim: listen: %w", err)
	}
	ln := sim.Listener(inner)
	srv := &http.Server{
		Handler:           sim,
		ReadHeaderTimeout: 10 * time.Second,
		// Requests inherit ctx, so injected delays end at shutdown.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	fmt.Fprintf(stdout, "rdssim listening on http://%s\n", ln.Addr())
	fmt.Fprintf(stdout, "rdssim also serves https://%s (CA: GET /_sim/ca.pem%s)\n", ln.Addr(), simCANote(*caOut))
	logger.Info("rdssim ready",
		"instances", len(instances), "state", *state, "generate", *generate, "faults", len(sim.Faults()),
		"account_id", *accountID, "access_key_id", simMaskID(*akID), "rate_per_second", *rate)

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("sim: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("sim: shutdown: %w", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("sim: serve: %w", err)
	}
	return nil
}

// simState is the initial state: the embedded example, or the --state file,
// plus a generated fleet. With --generate and no --state, the fleet alone.
func simState(path, generate string) (rdssim.StateFile, error) {
	var st rdssim.StateFile
	var err error
	switch {
	case path != "":
		st, err = rdssim.LoadState(path)
	case generate == "":
		st.Instances, err = rdssim.ExampleInstances()
	}
	if err != nil || generate == "" {
		return st, err
	}
	spec, err := rdssim.ParseFleetSpec(generate)
	if err != nil {
		return st, err
	}
	fleet, err := rdssim.GenerateFleet(spec)
	if err != nil {
		return st, err
	}
	st.Instances = append(st.Instances, fleet.Instances...)
	if fleet.Accounts != nil {
		if st.Accounts == nil {
			st.Accounts = map[string]rdssim.StateAccount{}
		}
		for uid, a := range fleet.Accounts {
			st.Accounts[uid] = a
		}
	}
	return st, nil
}

// simCANote names the --ca-out file in the start line.
func simCANote(path string) string {
	if path == "" {
		return ""
	}
	return ", written to " + path
}

// simCheckLoopback refuses listen addresses other than loopback: the
// simulator's /_sim/ API is unauthenticated.
func simCheckLoopback(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("sim: --addr %q: %w", addr, err)
	}
	if !app.IsLoopbackAddr(addr) {
		return fmt.Errorf("sim: --addr %q: only loopback addresses (127.0.0.1, ::1, localhost) are allowed", addr)
	}
	return nil
}

// simMaskID shortens an AccessKey ID for logs.
func simMaskID(id string) string {
	if len(id) <= 8 {
		return "****"
	}
	return id[:4] + "****" + id[len(id)-2:]
}

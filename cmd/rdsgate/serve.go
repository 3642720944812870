package main

import (
	"context"
	"flag"
	"io"
	"os"
	"runtime/debug"

	"github.com/rdsgate/rdsgate/internal/app"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	serveFlags(fs, &c)
	if done, err := parse(fs, args); done {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	if err := c.loadEnv(os.Getenv); err != nil {
		return err
	}
	if err := trustExtraCA(c.RDS); err != nil {
		return err
	}
	tuneGC(os.Getenv)
	return serve(ctx, c, stderr, nil)
}

// serveGCPercent is the collector's target for serve unless GOGC says
// otherwise. Each API call allocates a few hundred short-lived objects
// (JSON, the policy evaluation, pgx) on a live heap of a few tens of MB:
// at Go's default of 100 the collector took about a sixth of the server's
// CPU under load, and 400 files more per second for a heap that stays
// small (docs/BENCHMARKS.md). GOMEMLIMIT still caps it.
const serveGCPercent = 400

func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
}

// serve runs the application until ctx is done. ready, when not nil, is
// called with the application once its listeners are up.
func serve(ctx context.Context, c config, stderr io.Writer, ready func(*app.App)) error {
	c.Logger = newLogger(stderr, c.LogLevel)
	bi, _ := debug.ReadBuildInfo()
	bf := readBuildFacts(version, commit, buildTime, bi) // as `rdsgate version` says
	c.Version, c.Commit = bf.Version, bf.Commit
	a, err := app.Start(ctx, c.Config)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(a)
	}
	err = a.Wait(ctx)
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	return err
}

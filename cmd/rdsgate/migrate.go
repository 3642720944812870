package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/rdsgate/rdsgate/internal/store"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	commonFlags(fs, &c)
	if done, err := parse(fs, args); done {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	pool, err := store.Open(ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool, newLogger(stderr, c.LogLevel)); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

// Package apptest starts rdsgate for tests as `make run` wires it (package
// app): a fresh database on the test server, the in-process RDS simulator,
// the dev sign-in, a free loopback port. Tests change the Config before
// the start.
package apptest

import (
	"context"
	"testing"

	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// Start starts the application; configure, when not nil, changes the
// Config first. Without a DatabaseURL it gets a new test database. The application stops when the test ends.
func Start(t testing.TB, configure func(*app.Config)) *app.App {
	t.Helper()
	cfg := app.Config{Addr: "127.0.0.1:0", Simulate: true, Web: app.WebConfig{DevLogin: true}}
	if configure != nil {
		configure(&cfg)
	}
	if cfg.DatabaseURL == "" {
		cfg.DatabaseURL = testdb.NewURL(t)
	}
	a, err := app.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("close app: %v", err)
		}
	})
	return a
}

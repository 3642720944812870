// Package testdb gives tests a real, fresh, migrated PostgreSQL database.
//
// The server comes from TEST_DATABASE_URL when it is set (CI and this
// machine); otherwise from a throwaway container through testcontainers-go
// when a Docker engine is reachable; otherwise the test fails with a message
// that says what to set. It never skips: a test that needs a database and
// has none is a failure, not a pass.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/store"
)

var (
	serverOnce sync.Once
	serverURL  string
	serverErr  error
)

// ServerURL returns the admin URL of the test server, starting a container
// if needed (once per test process).
func ServerURL(t testing.TB) string {
	t.Helper()
	serverOnce.Do(func() {
		if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
			serverURL = u
			return
		}
		if !dockerReachable() {
			serverErr = fmt.Errorf("no PostgreSQL for tests: set TEST_DATABASE_URL (for example postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) or make a Docker engine reachable for testcontainers")
			return
		}
		ctx := context.Background()
		c, err := tcpostgres.Run(ctx, "postgres:15-alpine",
			tcpostgres.WithDatabase("postgres"), tcpostgres.WithUsername("postgres"), tcpostgres.WithPassword("postgres"),
			testcontainers.WithWaitStrategy(wait.ForLog("database system is ready to accept connections").WithOccurrence(2).WithStartupTimeout(60*time.Second)))
		if err != nil {
			serverErr = fmt.Errorf("start PostgreSQL container: %w", err)
			return
		}
		serverURL, serverErr = c.ConnectionString(ctx, "sslmode=disable")
	})
	if serverErr != nil {
		t.Fatal(serverErr)
	}
	return serverURL
}

func dockerReachable() (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return false
	}
	defer p.Close()
	return p.Health(context.Background()) == nil
}

// NewURL creates an empty database with a unique name on the test server and
// returns its URL; the database is dropped when the test ends.
func NewURL(t testing.TB) string {
	t.Helper()
	admin := ServerURL(t)
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "rdsgate_test_" + sanitize(t.Name()) + "_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to test server (TEST_DATABASE_URL): %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return store.WithDatabase(admin, name)
}

// New returns a pool on a fresh, migrated database.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := NewURL(t)
	ctx := context.Background()
	pool, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	return pool
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 30 {
			break
		}
	}
	return b.String()
}

// SealAndVerify seals the audit trail of pool and checks the whole chain:
// the test fails unless it is intact with nothing left unsealed.
func SealAndVerify(t testing.TB, pool *pgxpool.Pool) audit.Report {
	t.Helper()
	ctx := context.Background()
	if _, err := audit.NewSealer(pool, nil, 0).Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Unsealed != 0 {
		t.Fatalf("audit chain: %+v", rep)
	}
	return rep
}

package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/testdb"
)

// While PostgreSQL takes no connections (a restart, a failover) the API
// answers 503 with Retry-After, not 500, and works again afterwards.
func TestDatabaseOutageIs503(t *testing.T) {
	t.Parallel()
	env := setupAPI(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, testdb.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(ctx) })
	db := env.pool.Config().ConnConfig.Database
	setConnections := func(allow bool) {
		t.Helper()
		if _, err := admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{db}.Sanitize()+` WITH ALLOW_CONNECTIONS `+map[bool]string{true: "true", false: "false"}[allow]); err != nil {
			t.Fatal(err)
		}
		if !allow {
			if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, db); err != nil {
				t.Fatal(err)
			}
		}
	}
	setConnections(false)
	t.Cleanup(func() { setConnections(true) })
	req, _ := http.NewRequest("GET", env.url+"/api/v1/requests", nil)
	req.Header.Set("Authorization", "Bearer "+env.tokens["alice"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("during the outage: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	setConnections(true)
	// As a client told Retry-After would: the pool's connections broken by
	// the outage are found out and replaced, so a call may still get 503.
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, out := env.call(t, "alice", "GET", "/api/v1/requests", nil)
		if status == http.StatusOK {
			break
		}
		if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("after the outage: %d %v", status, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

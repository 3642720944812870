package app_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/apptest"
	"github.com/rdsgate/rdsgate/internal/store"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// TestConnectionBudget: a replica with the default budget works with
// PostgreSQL refusing its eleventh connection. The database's CONNECTION
// LIMIT is 10 and the replica connects as a role that is not a superuser
// (superusers are exempt from the limit), so a pool that grew past the
// budget would fail a request; 16 clients file and approve 48 requests at
// once while the executor drains them, and every answer and every release
// must succeed.
func TestConnectionBudget(t *testing.T) {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, testdb.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	role := "rdsgate_budget_" + strings.ToLower(rand.Text()[:10])
	password := rand.Text()
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", role, password)); err != nil {
		t.Fatal(err)
	}
	// Registered before the database's own clean-up, so it runs after it.
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })

	dbURL := testdb.NewURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	// Migrated by the superuser, served by a role with the service's
	// grants, as docs/AUDIT.md advises for production.
	pool := openMigrated(t, dbURL)
	pool.Close()
	for _, stmt := range []string{
		fmt.Sprintf("GRANT rdsgate_service TO %s", role),
		fmt.Sprintf("ALTER DATABASE %s CONNECTION LIMIT %d", dbName, app.DefaultDBMaxConns),
	} {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	u.User = url.UserPassword(role, password)

	a := apptest.Start(t, func(c *app.Config) { c.DatabaseURL, c.PolicyData = u.String(), devPolicyData(t) })
	alice := token(t, a, "alice", "developers")
	bob := token(t, a, "bob", "dba")
	const n, clients = 48, 16
	insts := publicInstances(t, a, "rm-budget", n)

	// The most connections PostgreSQL counted while the load ran.
	most, stop := 0, make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var c int
			if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1`, dbName).Scan(&c); err == nil {
				most = max(most, c)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	var wg sync.WaitGroup
	work := make(chan int)
	for range clients {
		wg.Go(func() {
			for i := range work {
				inst := insts[i].ID
				var filed struct {
					ID          string `json:"id"`
					PayloadHash string `json:"payload_hash"`
				}
				if err := postJSON(a.URL+"/api/v1/requests", alice, map[string]any{"region_id": "cn-hangzhou", "db_instance_id": inst,
					"connection_string": inst + ".mysql.rds.aliyuncs.com", "network_type": "0",
					"justification": "connection budget test", "ticket": "OPS-1"}, http.StatusCreated, &filed); err != nil {
					t.Error(err)
					continue
				}
				if err := postJSON(a.URL+"/api/v1/requests/"+filed.ID+"/approvals", bob,
					map[string]any{"decision": "approve", "payload_hash": filed.PayloadHash}, http.StatusOK, nil); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	deadline := time.Now().Add(60 * time.Second)
	for {
		var done, failed int
		if err := a.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed')
FROM requests`).Scan(&done, &failed); err != nil {
			t.Fatal(err)
		}
		if failed > 0 {
			t.Fatalf("%d requests failed", failed)
		}
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests succeeded within 60 s", done, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	<-sampled
	if most > app.DefaultDBMaxConns {
		t.Errorf("PostgreSQL counted %d connections of the replica, want at most %d", most, app.DefaultDBMaxConns)
	}
	t.Logf("at most %d connections to the database under the load", most)
}

// TestSplitConns: the executor's pool gets two in five connections, at
// least three, and the budget is refused below the minimum.
func TestSplitConns(t *testing.T) {
	for _, c := range []struct{ total, main, exec int32 }{{5, 2, 3}, {10, 6, 4}, {20, 12, 8}, {25, 15, 10}} {
		main, exec, err := app.SplitConns(int(c.total))
		if err != nil || main != c.main || exec != c.exec || main+exec != c.total {
			t.Errorf("SplitConns(%d) = %d, %d, %v; want %d, %d", c.total, main, exec, err, c.main, c.exec)
		}
	}
	if _, _, err := app.SplitConns(app.MinDBMaxConns - 1); err == nil || !strings.Contains(err.Error(), "RDSGATE_DB_MAX_CONNS") {
		t.Errorf("SplitConns(%d): %v, want an error naming RDSGATE_DB_MAX_CONNS", app.MinDBMaxConns-1, err)
	}
}

// openMigrated opens a pool on url and applies the migrations.
func openMigrated(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(context.Background(), pool, slog.New(slog.DiscardHandler)); err != nil {
		pool.Close()
		t.Fatal(err)
	}
	return pool
}

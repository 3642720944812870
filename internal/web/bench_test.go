package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/apptest"
	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/store"
	"github.com/rdsgate/rdsgate/internal/testdb"
	"github.com/rdsgate/rdsgate/policies"
)

// BenchmarkCreateRequest16 drives POST /api/v1/requests through the real
// server over loopback HTTP with 16 concurrent clients, each its own
// requester (so the pending-requests limit does not deny), and reports
// requests/s and latency percentiles. The audit sealer runs as in serve.
//
// RDSGATE_BENCH_DATABASE_URL points it at an existing, migrated database
// (scripts/bench.sh uses the one it runs pgbench against); otherwise it
// makes a fresh one on the test server.
func BenchmarkCreateRequest16(b *testing.B) {
	a := apptest.Start(b, func(c *app.Config) {
		c.PolicyData = benchPolicyData(b)
		if url := os.Getenv("RDSGATE_BENCH_DATABASE_URL"); url != "" {
			c.DatabaseURL = url
		}
	})
	tokens := make([]string, benchUsers)
	for i := range tokens {
		// Each client is its own RAM user (a copy of the example's alice),
		// so filings do not queue on one requester's lock.
		t, err := auth.CreateToken(context.Background(), a.Pool, auth.Identity{Subject: benchUser(i), Groups: []string{"developers"}}, "bench", 0)
		if err != nil {
			b.Fatal(err)
		}
		tokens[i] = t
	}
	drive(b, a.URL+"/api/v1/requests", tokens, benchBody)
}

// benchBody is the release request both HTTP benchmarks post.
var benchBody, _ = json.Marshal(map[string]any{"region_id": "cn-hangzhou", "db_instance_id": "rm-bp1devexample01",
	"connection_string": "rm-bp1devexample01.mysql.rds.aliyuncs.com", "network_type": "0",
	"justification": "benchmark: retiring the public endpoint", "ticket": "OPS-1"})

// BenchmarkInsertOverHTTP16 is the ceiling the filing benchmark is measured
// against besides pgbench: the same 16 clients and request body against a
// bare Echo handler that decodes the JSON and inserts it as one row (one
// statement, no transaction, no auth, policy or audit). It is what any JSON
// API in Go over this database reaches in this harness, where the clients,
// the server and PostgreSQL share the machine's CPUs.
func BenchmarkInsertOverHTTP16(b *testing.B) {
	ctx := context.Background()
	pool := benchPool(b)
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_http (id bigserial PRIMARY KEY, payload jsonb NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	e := echo.New()
	e.POST("/insert", func(c echo.Context) error {
		var doc map[string]any
		if err := c.Bind(&doc); err != nil {
			return err
		}
		var id int64
		if err := pool.QueryRow(c.Request().Context(), `INSERT INTO bench_http (payload) VALUES ($1) RETURNING id`, doc).Scan(&id); err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, map[string]any{"id": id})
	})
	srv := httptest.NewServer(e)
	defer srv.Close()
	drive(b, srv.URL+"/insert", []string{"unused"}, benchBody)
}

// benchPool opens RDSGATE_BENCH_DATABASE_URL, migrated, or a fresh test
// database.
func benchPool(b *testing.B) *pgxpool.Pool {
	ctx := context.Background()
	url := os.Getenv("RDSGATE_BENCH_DATABASE_URL")
	if url == "" {
		return testdb.New(b)
	}
	p, err := store.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	if err := store.Migrate(ctx, p, slog.New(slog.DiscardHandler)); err != nil {
		b.Fatal(err)
	}
	return p
}

// drive POSTs body to url b.N times from benchClients concurrent clients,
// with the tokens in turn, and reports requests/s, p50 and p99 latency and
// the share of 403 answers; any other status than 201 fails.
func drive(b *testing.B, url string, tokens []string, body []byte) {
	const clients = benchClients
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	client := &http.Client{Transport: tr}
	var (
		next    atomic.Int64
		mu      sync.Mutex
		lat     []time.Duration
		created atomic.Int64
		denied  atomic.Int64
	)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, b.N/clients+1)
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					break
				}
				req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tokens[n%int64(len(tokens))])
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				local = append(local, time.Since(t0))
				switch resp.StatusCode {
				case 201:
					created.Add(1)
				case 403: // the example policy's pending limit: a full, audited path too
					denied.Add(1)
				default:
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(denied.Load())/float64(b.N)*100, "denied-%")
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "created=%d denied=%d\n", created.Load(), denied.Load())
	}
}

// benchClients send at once; each cycles through its share of benchUsers
// requesters, so no requester piles up thousands of pending requests (the
// example limit of 5 is lifted for the benchmark).
const (
	benchClients = 16
	benchUsers   = 800
)

func benchUser(i int) string { return fmt.Sprintf("bench%02d", i) }

// benchPolicyData copies the example policy data with the pending-requests
// limit lifted, so every benchmark request takes the full allow path.
func benchPolicyData(b *testing.B) string {
	dir := b.TempDir()
	for _, name := range []string{"ram.json", "org.json"} {
		raw, err := policies.FS.ReadFile("examples/" + name)
		if err != nil {
			b.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			b.Fatal(err)
		}
		switch name {
		case "org.json":
			doc["max_pending_requests"] = 1 << 30
		case "ram.json": // benchUsers RAM users, each like alice
			users := doc["users"].(map[string]any)
			for i := 0; i < benchUsers; i++ {
				users[benchUser(i)] = users["alice"]
			}
		}
		raw, _ = json.Marshal(doc)
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

package audit_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// benchDB returns the database in RDSGATE_AUDIT_BENCH_URL, which
// scripts/bench_audit.sh fills with 1,000,000 events from cmd/auditload,
// or else a fresh one with 20,000 from cmd/auditload.
func benchDB(b *testing.B) *pgxpool.Pool {
	b.Helper()
	ctx := context.Background()
	url := os.Getenv("RDSGATE_AUDIT_BENCH_URL")
	if url != "" {
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(pool.Close)
		return pool
	}
	url = testdb.NewURL(b)
	auditload(b, url, "--count", "20000", "--writers", "4", "--batch", "100", "--seed", "0")
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if _, err := audit.NewSealer(pool, nil, 0).Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE audit_events`); err != nil {
		b.Fatal(err)
	}
	return pool
}

// BenchmarkSearch times one page (50 events, newest first) per filter of
// GET /api/v1/audit, on the first page and on a deep page (the cursor of
// the middle of the result, at most 100,000 events in), and reports the
// 50th, 95th and 99th percentile latencies. Filter values are taken from
// the data: a 1-day window in the middle of the trail, and the actor,
// request, instance, error code and Alibaba RequestId of a sampled
// execution.failed event.
func BenchmarkSearch(b *testing.B) {
	pool := benchDB(b)
	ctx := context.Background()
	var (
		actor, inst, code, ali, rid string
		from, to                    time.Time
	)
	err := pool.QueryRow(ctx, `SELECT actor, db_instance_id, error_code, alibaba_request_id, request_id::text
FROM audit_events WHERE kind = 'execution.failed' ORDER BY id OFFSET (SELECT count(*) / 2 FROM audit_events WHERE kind = 'execution.failed') LIMIT 1`).
		Scan(&actor, &inst, &code, &ali, &rid)
	if err != nil {
		b.Fatal(err)
	}
	// The requester of the sampled request: the actor filter matches a
	// person's whole history, not a service account's.
	if err := pool.QueryRow(ctx, `SELECT actor FROM audit_events WHERE request_id = $1 AND kind = 'policy.decided' LIMIT 1`, rid).Scan(&actor); err != nil {
		b.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT min(occurred_at) + (max(occurred_at) - min(occurred_at)) / 2 FROM audit_events`).Scan(&from); err != nil {
		b.Fatal(err)
	}
	to = from.Add(24 * time.Hour)
	filters := []struct {
		name string
		f    audit.Filter
	}{
		{"time_range", audit.Filter{From: from, To: to}},
		{"actor", audit.Filter{Actor: actor}},
		{"request_id", audit.Filter{RequestID: rid}},
		{"db_instance_id", audit.Filter{DBInstanceID: inst}},
		{"kind", audit.Filter{Kind: audit.KindExecutionFailed}},
		{"kind_frequent", audit.Filter{Kind: audit.KindRequestCreated}},
		{"error_code", audit.Filter{ErrorCode: code}},
		{"alibaba_request_id", audit.Filter{AlibabaRequestID: ali}},
		{"kind+time_range", audit.Filter{Kind: audit.KindApprovalGranted, From: from, To: to}},
		{"none", audit.Filter{}},
	}
	for _, tc := range filters {
		deep, depth := deepCursor(b, pool, tc.f)
		for _, pg := range []struct {
			name, cursor string
		}{{"first", ""}, {"deep", deep}} {
			b.Run(tc.name+"/"+pg.name, func(b *testing.B) {
				f := tc.f
				f.Cursor = pg.cursor
				lat := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					start := time.Now()
					page, err := audit.Search(ctx, pool, f)
					lat = append(lat, time.Since(start))
					if err != nil {
						b.Fatal(err)
					}
					if len(page.Items) == 0 && depth > 0 {
						b.Fatal("empty page")
					}
				}
				b.StopTimer()
				slices.Sort(lat)
				q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
				b.ReportMetric(q(0.50), "p50-ms")
				b.ReportMetric(q(0.95), "p95-ms")
				b.ReportMetric(q(0.99), "p99-ms")
				b.ReportMetric(float64(depth), "depth")
			})
		}
	}
}

// BenchmarkCount times audit.Count per filter of BenchmarkSearch (the
// audit log page's "Events 51–100 of N"): exact up to CountLimit, the
// planner's estimate beyond. It reports p50/p95/p99 and whether the
// answer was exact.
func BenchmarkCount(b *testing.B) {
	pool := benchDB(b)
	ctx := context.Background()
	var (
		actor, inst, code, ali, rid string
		from                        time.Time
	)
	if err := pool.QueryRow(ctx, `SELECT actor, db_instance_id, error_code, alibaba_request_id, request_id::text
FROM audit_events WHERE kind = 'execution.failed' ORDER BY id LIMIT 1`).Scan(&actor, &inst, &code, &ali, &rid); err != nil {
		b.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT min(occurred_at) + (max(occurred_at) - min(occurred_at)) / 2 FROM audit_events`).Scan(&from); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    audit.Filter
	}{
		{"time_range", audit.Filter{From: from, To: from.Add(24 * time.Hour)}},
		{"request_id", audit.Filter{RequestID: rid}},
		{"db_instance_id", audit.Filter{DBInstanceID: inst}},
		{"kind", audit.Filter{Kind: audit.KindExecutionFailed}},
		{"kind_frequent", audit.Filter{Kind: audit.KindRequestCreated}},
		{"error_code", audit.Filter{ErrorCode: code}},
		{"alibaba_request_id", audit.Filter{AlibabaRequestID: ali}},
		{"none", audit.Filter{}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			var tot audit.Total
			for i := 0; i < b.N; i++ {
				start := time.Now()
				var err error
				tot, err = audit.Count(ctx, pool, tc.f)
				lat = append(lat, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
			}
			slices.Sort(lat)
			q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.95), "p95-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(float64(tot.N), "events")
			exact := 0.0
			if tot.Exact {
				exact = 1
			}
			b.ReportMetric(exact, "exact")
		})
	}
}

// deepCursor pages through f to the middle of its result (at most 100,000
// events in) and returns that cursor and its depth.
func deepCursor(b *testing.B, pool *pgxpool.Pool, f audit.Filter) (string, int) {
	b.Helper()
	ctx := context.Background()
	var total int
	count := audit.Filter{From: f.From, To: f.To, Actor: f.Actor, RequestID: f.RequestID, DBInstanceID: f.DBInstanceID,
		Kind: f.Kind, ErrorCode: f.ErrorCode, AlibabaRequestID: f.AlibabaRequestID, Limit: audit.MaxPageSize}
	var target int
	cursor := ""
	for {
		page, err := audit.Search(ctx, pool, count)
		if err != nil {
			b.Fatal(fmt.Errorf("page through %+v: %w", f, err))
		}
		total += len(page.Items)
		if page.NextCursor == "" || total >= 200_000 {
			break
		}
		count.Cursor = page.NextCursor
	}
	target = min(total/2, 100_000)
	count.Cursor = ""
	for depth := 0; depth < target; depth += count.Limit {
		count.Limit = min(audit.MaxPageSize, target-depth)
		page, err := audit.Search(ctx, pool, count)
		if err != nil {
			b.Fatal(err)
		}
		cursor, count.Cursor = page.NextCursor, page.NextCursor
	}
	return cursor, target
}

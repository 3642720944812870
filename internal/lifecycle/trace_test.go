package lifecycle_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// traces returns, per audit event of the request in order, its kind and
// the http_request_id of its payload ("" when absent).
func traces(t *testing.T, pool *pgxpool.Pool, id uuid.UUID) [][2]string {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		`SELECT kind, coalesce(payload->>'http_request_id', '') FROM audit_events WHERE request_id = $1 ORDER BY id`, id)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var kv [2]string
		return kv, r.Scan(&kv[0], &kv[1])
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The HTTP request id of a context goes into the payload of every audit
// event written under it, the policy decision's included, and into the
// execution job an approval enqueues; without one, nothing is added.
func TestTraceInPayloadsAndJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	r, err := b.svc.File(lifecycle.WithTrace(ctx, "file-1"), alice, devSpec, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Vote(lifecycle.WithTrace(ctx, "vote-2"), bob, r.ID, lifecycle.VoteInput{Decision: request.Approve}); err != nil {
		t.Fatal(err)
	}
	untraced, err := b.svc.File(ctx, alice, prodSpec, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Cancel(lifecycle.WithTrace(ctx, "cancel-3"), alice, untraced.ID, "not needed"); err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"policy.decided", "file-1"}, {"request.created", "file-1"},
		{"approval.granted", "vote-2"}, {"request.approved", "vote-2"}}
	if got := traces(t, b.pool, r.ID); !slices.Equal(got, want) {
		t.Errorf("traced request: %v, want %v", got, want)
	}
	want = [][2]string{{"policy.decided", ""}, {"request.created", ""}, {"request.cancelled", "cancel-3"}}
	if got := traces(t, b.pool, untraced.ID); !slices.Equal(got, want) {
		t.Errorf("request filed without a trace: %v, want %v", got, want)
	}
	var jobTrace string
	if err := b.pool.QueryRow(ctx, `SELECT args->>'http_request_id' FROM river_job WHERE kind = $1 AND args->>'request_id' = $2`,
		lifecycle.ReleaseJob{}.Kind(), r.ID.String()).Scan(&jobTrace); err != nil {
		t.Fatal(err)
	}
	if jobTrace != "vote-2" {
		t.Errorf("job http_request_id %q, want vote-2", jobTrace)
	}
	// The policy decision keeps its decision-log shape beside the key.
	var path string
	if err := b.pool.QueryRow(ctx, `SELECT payload->>'path' FROM audit_events WHERE request_id = $1 AND kind = 'policy.decided'`,
		r.ID).Scan(&path); err != nil || path == "" {
		t.Errorf("policy.decided path %q, %v", path, err)
	}
	testdb.SealAndVerify(t, b.pool)
}

// TestTraceLogHandler: a line logged with a traced context carries the id
// once, however often the handler was wrapped (app, web and the executor
// each wrap the logger they are given); a line without one carries none.
func TestTraceLogHandler(t *testing.T) {
	var buf bytes.Buffer
	h := lifecycle.TraceLogHandler(slog.NewJSONHandler(&buf, nil))
	log := slog.New(lifecycle.TraceLogHandler(slog.New(h).With("component", "x").Handler()))
	log.InfoContext(lifecycle.WithTrace(context.Background(), "abc-1"), "traced")
	log.InfoContext(context.Background(), "plain")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), buf.String())
	}
	if n := strings.Count(lines[0], `"`+lifecycle.TraceKey+`":"abc-1"`); n != 1 {
		t.Errorf("traced line has the id %d times: %s", n, lines[0])
	}
	if strings.Contains(lines[1], lifecycle.TraceKey) {
		t.Errorf("untraced line has an id: %s", lines[1])
	}
}

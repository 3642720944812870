package app_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/apptest"
	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/rdssim"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// With a signing key, serve keeps checkpoint copies beside the key by
// default, and signs the chain's head once more when it stops, so that
// what it recorded does not wait unsigned for the next start.
func TestShutdownSignsACheckpoint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "audit-signing.key")
	if _, err := audit.GenerateKeyFile(key); err != nil {
		t.Fatal(err)
	}
	a := apptest.Start(t, func(c *app.Config) { c.AuditSigningKey = key })
	if _, err := a.Requests.File(context.Background(), lifecycle.Actor{Subject: "alice", Groups: []string{"developers"}},
		request.Spec{RegionID: "cn-hangzhou", DBInstanceID: "rm-bp1devexample01", ConnectionString: "rm-bp1devexample01.mysql.rds.aliyuncs.com",
			NetworkType: "0", Justification: "retiring the endpoint", Ticket: "OPS-1"}, false); err != nil {
		t.Fatal(err)
	}
	pool := a.Pool
	var before int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_checkpoints`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	copies, err := os.ReadDir(filepath.Join(dir, "checkpoints"))
	if err != nil || len(copies) <= before {
		t.Fatalf("checkpoint copies beside the key: %d (%v), %d checkpoints before the shutdown", len(copies), err, before)
	}
}

// Close returns within Config.ShutdownTimeout even when an HTTP request
// never finishes (its client stopped sending the body) and a job is stuck
// in an RDS call that never answers (a simulator fault with an hour's
// delay): it waits for them until the drain deadline, cuts them off, and
// still records the call's unknown outcome and signs a last checkpoint
// that covers it.
func TestShutdownWithinBudget(t *testing.T) {
	t.Parallel()
	const budget = 3 * time.Second
	ctx := context.Background()
	dbURL := testdb.NewURL(t)
	key := filepath.Join(t.TempDir(), "audit-signing.key")
	if _, err := audit.GenerateKeyFile(key); err != nil {
		t.Fatal(err)
	}
	a := apptest.Start(t, func(c *app.Config) {
		c.DatabaseURL, c.AuditSigningKey, c.ShutdownTimeout = dbURL, key, budget
		c.Executor.CallTimeout = time.Hour // the call outlasts any budget
	})

	// A job stuck in its call: the fault is used up when the simulator
	// admits the call, which then waits for an hour or until its client
	// goes away.
	if err := a.Sim.AddFault(rdssim.Fault{Action: aliyun.ActionReleaseInstanceConnection, DelayMS: int(time.Hour.Milliseconds()), Times: 1}); err != nil {
		t.Fatal(err)
	}
	r, err := a.Requests.File(ctx, lifecycle.Actor{Subject: "alice", Groups: []string{"developers"}},
		request.Spec{RegionID: "cn-hangzhou", DBInstanceID: "rm-bp1devexample01", ConnectionString: "rm-bp1devexample01.mysql.rds.aliyuncs.com",
			NetworkType: "0", Justification: "retiring the endpoint", Ticket: "OPS-1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if r, err = a.Requests.Vote(ctx, lifecycle.Actor{Subject: "bob", Groups: []string{"dba"}}, r.ID, lifecycle.VoteInput{Decision: "approve"}); err != nil || r.Status != request.StatusApproved {
		t.Fatalf("vote: %v, status %v", err, r)
	}
	for deadline := time.Now().Add(30 * time.Second); len(a.Sim.Faults()) > 0; {
		if time.Now().After(deadline) {
			t.Fatal("the release call did not reach the simulator within 30 s")
		}
		time.Sleep(5 * time.Millisecond) // polls the simulator's state; no guess at how long the call takes
	}

	// A request in flight that never finishes: "100 Continue" comes when
	// the handler starts reading the body, which then never completes.
	tok, err := auth.CreateToken(ctx, a.Pool, auth.Identity{Subject: "alice", Groups: []string{"developers"}}, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(a.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/requests HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n", tok)
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("want 100 Continue, got %q (%v)", line, err)
	}
	fmt.Fprint(conn, `{"region_id": "cn-hangzhou", `)

	start := time.Now()
	err = a.Close()
	took := time.Since(start)
	t.Logf("Close took %s: %v", took, err)
	if took > budget+300*time.Millisecond {
		t.Errorf("Close took %s, budget %s", took, budget)
	}
	if drain := budget * 60 / 100; took < drain {
		t.Errorf("Close took %s: it did not give the work in flight its %s", took, drain)
	}
	if err == nil || !strings.Contains(err.Error(), "http requests still running") {
		t.Errorf("Close: %v, want the cut-off request reported", err)
	}
	if _, err := io.ReadAll(br); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the stalled client's connection: %v, want it closed", err)
	}

	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	var outcome string
	if err := db.QueryRow(ctx, `SELECT coalesce(outcome, '') FROM execution_attempts WHERE request_id = $1 AND operation = $2`, r.ID, request.OpRelease).Scan(&outcome); err != nil || outcome != request.OutcomeUnknown {
		t.Errorf("the cut-off call's attempt: outcome %q (%v), want %q", outcome, err, request.OutcomeUnknown)
	}
	var unsigned int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE request_id = $1
		AND (seq IS NULL OR seq > (SELECT coalesce(max(head_seq), 0) FROM audit_checkpoints))`, r.ID).Scan(&unsigned); err != nil || unsigned != 0 {
		t.Errorf("%d of the request's events are not covered by the last checkpoint (%v)", unsigned, err)
	}
}

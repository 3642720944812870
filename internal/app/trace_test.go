package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/apptest"
	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// syncBuffer is a log destination the test reads while the app writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines parses the JSON log lines written so far.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	raw := bytes.Clone(s.b.Bytes())
	s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, line)
	}
	return out
}

// traceApp is the application logging JSON at debug level into a buffer,
// with API tokens for alice (developers) and bob (dba).
type traceApp struct {
	*app.App
	logs   *syncBuffer
	tokens map[string]string
}

func startTraceApp(t *testing.T) traceApp {
	t.Helper()
	logs := &syncBuffer{}
	a := apptest.Start(t, func(c *app.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ta := traceApp{App: a, logs: logs, tokens: map[string]string{}}
	for name, group := range map[string]string{"alice": "developers", "bob": "dba"} {
		tok, err := auth.CreateToken(context.Background(), a.Pool, auth.Identity{Subject: name, Groups: []string{group}}, "test", 0)
		if err != nil {
			t.Fatal(err)
		}
		ta.tokens[name] = tok
	}
	return ta
}

// call sends body as JSON as user with the X-Request-ID header (none when
// empty) and returns the status, the answered X-Request-ID and the body.
func (ta traceApp) call(t *testing.T, user, method, path, requestID string, body any) (int, string, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, ta.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+ta.tokens[user])
	if requestID != "" {
		req.Header.Set("X-Request-ID", requestID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header.Get("X-Request-ID"), out
}

// traceEvents lists the kind and payload http_request_id of the request's
// audit events in order.
func traceEvents(t *testing.T, ta traceApp, id string) [][2]string {
	t.Helper()
	rows, err := ta.Pool.Query(context.Background(),
		`SELECT kind, coalesce(payload->>'http_request_id', '') FROM audit_events WHERE request_id = $1 ORDER BY id`, id)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var ev [2]string
		return ev, r.Scan(&ev[0], &ev[1])
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

var traceSpec = map[string]any{"region_id": "cn-hangzhou", "db_instance_id": "rm-bp1devexample01",
	"connection_string": "rm-bp1devexample01.mysql.rds.aliyuncs.com", "network_type": "0",
	"justification": "retiring the public endpoint", "ticket": "OPS-16"}

// One id finds every line: the X-Request-ID of the filing is in the payload
// of the filing's audit events, the approval's in the vote's, in the
// approval's and, carried by the execution job, in the execution events
// and on every log line of the job; each request's own log lines carry
// its id. The chain verifies with the key in the payloads.
func TestRequestIDTravelsToAuditAndExecutor(t *testing.T) {
	t.Parallel()
	ta := startTraceApp(t)
	const fileID, approveID = "trace-file-A", "trace-approve-B"

	status, echoed, r := ta.call(t, "alice", http.MethodPost, "/api/v1/requests", fileID, traceSpec)
	if status != http.StatusCreated || echoed != fileID {
		t.Fatalf("file: %d, X-Request-ID %q: %v", status, echoed, r)
	}
	id, _ := r["id"].(string)
	status, echoed, out := ta.call(t, "bob", http.MethodPost, "/api/v1/requests/"+id+"/approvals", approveID,
		map[string]any{"decision": "approve"})
	if status != http.StatusOK || echoed != approveID || out["status"] != "approved" {
		t.Fatalf("approve: %d, X-Request-ID %q: %v", status, echoed, out)
	}

	// The executor calls the simulator; wait for the outcome.
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		_, _, got := ta.call(t, "alice", http.MethodGet, "/api/v1/requests/"+id, "", nil)
		if got["status"] == "succeeded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s is %v after 20 s, want succeeded", id, got["status"])
		}
		<-tick.C
	}

	want := [][2]string{
		{"policy.decided", fileID}, {"request.created", fileID},
		{"approval.granted", approveID}, {"request.approved", approveID},
		{"execution.started", approveID}, {"execution.succeeded", approveID},
	}
	got := traceEvents(t, ta, id)
	if len(got) != len(want) {
		t.Fatalf("audit events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("audit event %d: %v, want %v", i, got[i], want[i])
		}
	}

	// Every log line of the execution job carries the approval's id; the
	// access log lines of the filing and the approval carry theirs.
	jobLines, access := 0, map[string]string{}
	for _, line := range ta.logs.lines(t) {
		if _, ok := line["job_id"]; ok && line["request_id"] == id {
			jobLines++
			if line["http_request_id"] != approveID {
				t.Errorf("executor log line without the approval's id: %v", line)
			}
		}
		if line["msg"] == "http" && line["method"] == http.MethodPost {
			p, _ := line["path"].(string)
			rid, _ := line["http_request_id"].(string)
			access[p] = rid
		}
	}
	if jobLines == 0 {
		t.Error("no executor log line for the job")
	}
	if access["/api/v1/requests"] != fileID || access["/api/v1/requests/:id/approvals"] != approveID {
		t.Errorf("access log ids %v, want the filing's %s and the approval's %s", access, fileID, approveID)
	}
	testdb.SealAndVerify(t, ta.Pool)
}

// An X-Request-ID that is too long or not printable ASCII is not taken: the
// request gets a generated id, answered and recorded instead.
func TestMaliciousRequestIDIsReplaced(t *testing.T) {
	t.Parallel()
	ta := startTraceApp(t)
	// Control characters other than a tab do not cross the wire in a header
	// (package web's TestRequestIDHeader hands them to the server directly);
	// a tab and non-ASCII do.
	for _, bad := range []string{strings.Repeat("x", 129), "abc\tdef", "trace-é"} {
		status, echoed, r := ta.call(t, "alice", http.MethodPost, "/api/v1/requests", bad, traceSpec)
		if status != http.StatusCreated {
			t.Fatalf("file with X-Request-ID %q: %d %v", bad, status, r)
		}
		if echoed == "" || echoed == bad || len(echoed) > 128 || strings.ContainsAny(echoed, " \t\r\n") {
			t.Errorf("X-Request-ID %q answered as %q, want a generated id", bad, echoed)
		}
		id, _ := r["id"].(string)
		for _, ev := range traceEvents(t, ta, id) {
			if ev[1] != echoed {
				t.Errorf("%s has http_request_id %q, want the generated %q", ev[0], ev[1], echoed)
			}
		}
	}
	testdb.SealAndVerify(t, ta.Pool)
}

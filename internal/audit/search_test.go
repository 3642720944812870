package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
)

// TestCountEstimatesLargeResults: up to CountLimit matches are counted
// exactly; beyond, the answer is the planner's estimate, marked so, and
// never below what was counted.
func TestCountEstimatesLargeResults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const n = audit.CountLimit + 400 // 26 events of each of 400 actors
	recs := make([]audit.Record, n)
	for i := range recs {
		recs[i] = audit.Record{Kind: audit.KindRequestCreated, Actor: fmt.Sprintf("user%d", i%400), RequestID: uuid.New(),
			DBInstanceID: "rm-abcd1234", Payload: map[string]any{"i": i}}
	}
	b.append(t, recs...)
	b.flush(t)
	if _, err := b.pool.Exec(ctx, `ANALYZE audit_events`); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		f     audit.Filter
		exact int64
	}{
		"selective":  {audit.Filter{Actor: "user7"}, n / 400},
		"everything": {audit.Filter{}, 0},
		"kind":       {audit.Filter{Kind: audit.KindRequestCreated}, 0},
	} {
		tot, err := audit.Count(ctx, b.pool, c.f)
		switch {
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case c.exact > 0 && tot != (audit.Total{N: c.exact, Exact: true}):
			t.Errorf("%s: %+v, want exactly %d", name, tot, c.exact)
		case c.exact == 0 && (tot.Exact || tot.N <= audit.CountLimit || tot.N > 2*n):
			t.Errorf("%s: %+v, want an estimate above %d near %d", name, tot, audit.CountLimit, n)
		}
	}
	if _, err := audit.Count(ctx, b.pool, audit.Filter{RequestID: "nope"}); err == nil {
		t.Error("count with a bad request id: no error")
	}
}

// TestPayloadFields reads the fields from payloads as the service writes
// them: the policy's decision log entry, the request's spec, a vote, a
// token, a sign-in, an execution failure.
func TestPayloadFields(t *testing.T) {
	t.Parallel()
	spec := request.Spec{RegionID: "cn-hangzhou", DBInstanceID: "rm-bp1abc", ConnectionString: "rm-bp1abc.mysql.rds.aliyuncs.com",
		NetworkType: "0", Justification: "incident 42\r\nline two", Ticket: "OPS-7"}
	dec := policy.Decision{Allow: false, Reasons: []string{"prod needs a ticket", "outside hours"}, Environment: "prod"}
	in := policy.Input{Principal: policy.Principal{Subject: "alice", Groups: []string{"developers", "oncall"}},
		Request: policy.RequestInput{RegionID: spec.RegionID, DBInstanceID: spec.DBInstanceID, ConnectionString: spec.ConnectionString,
			Justification: spec.Justification, Ticket: spec.Ticket}}
	js := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		kind    string
		payload []byte
		want    audit.Fields
	}{
		{audit.KindPolicyDecided, js(dec.LogEntry(in)), audit.Fields{Environment: "prod", RegionID: "cn-hangzhou",
			ConnectionString: spec.ConnectionString, Justification: "incident 42\nline two", Ticket: "OPS-7", Decision: "deny",
			Groups: []string{"developers", "oncall"}, Reason: "prod needs a ticket; outside hours"}},
		{audit.KindRequestCreated, js(map[string]any{"spec": spec, "status": "pending", "environment": "staging"}),
			audit.Fields{Environment: "staging", RegionID: "cn-hangzhou", ConnectionString: spec.ConnectionString,
				Justification: "incident 42\nline two", Ticket: "OPS-7", Status: "pending"}},
		{audit.KindApprovalRejected, js(map[string]any{"decision": "reject", "comment": "use the bastion", "group": "dba"}),
			audit.Fields{Decision: "reject", Comment: "use the bastion", Group: "dba"}},
		{audit.KindTokenCreated, js(map[string]any{"token_id": 3, "subject": "ci-bot", "groups": []string{"ci"},
			"expires_at": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}),
			audit.Fields{Subject: "ci-bot", Groups: []string{"ci"}, ExpiresAt: "2026-01-02T03:04:05Z"}},
		{audit.KindSignedIn, js(map[string]any{"method": "oidc", "groups": []string{"auditors"}, "roles": []string{"auditor"},
			"source_ip": "192.0.2.1"}), audit.Fields{Method: "oidc", Groups: []string{"auditors"}, Roles: []string{"auditor"}, SourceIP: "192.0.2.1"}},
		{audit.KindExecutionFailed, js(map[string]any{"attempt": 2, "http_status": 403, "error_message": "denied", "status": "failed"}),
			audit.Fields{Attempt: "2", HTTPStatus: "403", ErrorMessage: "denied", Status: "failed"}},
		{audit.KindAccessDenied, js(map[string]any{"action": "read the audit trail", "role": "auditor", "groups": []string{"developers"}}),
			audit.Fields{Action: "read the audit trail", Role: "auditor", Groups: []string{"developers"}}},
		{audit.KindRequestApproved, js(map[string]any{"from": "pending", "to": "approved"}), audit.Fields{Status: "approved"}},
		{audit.KindSignedOut, []byte(`not json`), audit.Fields{}},
		{audit.KindSignedOut, []byte(`[1,2]`), audit.Fields{}},
	}
	for _, c := range cases {
		if diff := cmp.Diff(c.want, audit.PayloadFields(c.kind, c.payload)); diff != "" {
			t.Errorf("%s %s (-want +got):\n%s", c.kind, c.payload, diff)
		}
	}
}

// TestCSVColumnsVerified: the payload's columns of a CSV export must
// agree with the payload (the hash covers only the latter), and an export
// written before those columns existed still verifies.
func TestCSVColumnsVerified(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rid := uuid.New()
	b.append(t, everyKind(rid)...)
	b.checkpoint(t)
	opts := audit.VerifyOptions{Keys: []ed25519.PublicKey{b.pub}}
	out := b.export(t, audit.ExportOptions{Format: audit.FormatCSV})
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if rep := verifyBytes(t, out, opts); !rep.Complete() || rep.Checked != int64(len(everyKind(rid))) {
		t.Fatalf("clean CSV: %+v", rep)
	}
	write := func(rows [][]string) []byte {
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		if err := w.WriteAll(rows); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	// The same file cut back to the record's columns (an older export).
	header := audit.CSVHeader()
	record := 0
	for record < len(header) && header[record] != "environment" {
		record++
	}
	old := make([][]string, len(rows))
	for i, r := range rows {
		old[i] = r[:record]
	}
	if rep := verifyBytes(t, write(old), opts); !rep.Complete() || rep.Checked != int64(len(everyKind(rid))) {
		t.Fatalf("CSV with the record's columns only: %+v", rep)
	}
	// A justification rewritten in its column, the payload left alone.
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	var seq string
	for _, r := range rows[1:] {
		if r[col["kind"]] == audit.KindRequestCreated {
			r[col["justification"]], seq = "routine maintenance", r[col["seq"]]
		}
	}
	rep := verifyBytes(t, write(rows), opts)
	if p := rep.Problem; p == nil || fmt.Sprint(p.Seq) != seq || p.Checkpoint != 1 ||
		!strings.Contains(p.Reason, "column justification does not match") {
		t.Errorf("edited justification column: problem = %+v, want seq %s under checkpoint 1", p, seq)
	}
}

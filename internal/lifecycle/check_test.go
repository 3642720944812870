package lifecycle_test

import (
	"context"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/internal/request"
)

// TestCheckDecidesAsFileAndRecordsNothing: Check gives the decision File
// would make, the requester's pending count included, and writes no
// request and no audit event.
func TestCheckDecidesAsFileAndRecordsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	count := func() (requests, events int) {
		t.Helper()
		if err := b.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM requests), (SELECT count(*) FROM audit_events)`).Scan(&requests, &events); err != nil {
			t.Fatal(err)
		}
		return requests, events
	}

	typo := devSpec
	typo.Ticket, typo.Justification = "ops 42", " short  "
	d, err := b.svc.Check(ctx, alice, typo, false)
	if err != nil {
		t.Fatal(err)
	}
	reasons := strings.Join(d.Reasons, "\n")
	if d.Allow || !strings.Contains(reasons, `org: ticket "ops 42" does not match`) || !strings.Contains(reasons, "org: justification shorter than 10") {
		t.Fatalf("typo check: allow=%t reasons %q", d.Allow, d.Reasons)
	}
	if d, err := b.svc.Check(ctx, alice, devSpec, false); err != nil || !d.Allow || d.RequiredApprovals != 1 {
		t.Fatalf("clean check: %+v, %v", d, err)
	}
	if r, e := count(); r != 0 || e != 0 {
		t.Fatalf("checks wrote %d requests and %d audit events", r, e)
	}

	// At the pending limit, Check says what File would: denied.
	for range 5 {
		if r, err := b.svc.File(ctx, alice, devSpec, false); err != nil || r.Status != request.StatusPending {
			t.Fatalf("file: %+v, %v", r, err)
		}
	}
	requests, events := count()
	d, err = b.svc.Check(ctx, alice, devSpec, false)
	if err != nil || d.Allow || !strings.Contains(strings.Join(d.Reasons, "\n"), "already has 5 pending requests") {
		t.Fatalf("check at the limit: %+v, %v", d, err)
	}
	if r, e := count(); r != requests || e != events {
		t.Fatalf("a check at the limit wrote: %d→%d requests, %d→%d events", requests, r, events, e)
	}
}

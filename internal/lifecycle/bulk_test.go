package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/store"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

func target(instance string) request.Target {
	return request.Target{RegionID: "cn-hangzhou", DBInstanceID: instance,
		ConnectionString: instance + ".mysql.rds.aliyuncs.com", NetworkType: "0"}
}

func bulk(ts ...request.Target) request.BulkSpec {
	return request.BulkSpec{Targets: ts, Justification: "incident 7: closing every public endpoint", Ticket: "OPS-7"}
}

// approveAll votes with approvers from the pool until r is no longer
// pending.
func approveAll(t *testing.T, b bundle, r *request.Request) *request.Request {
	t.Helper()
	for _, a := range []lifecycle.Actor{bob, carol, erin} {
		if r.Status != request.StatusPending {
			break
		}
		next, err := b.svc.Vote(context.Background(), a, r.ID, lifecycle.VoteInput{Decision: request.Approve,
			PayloadHash: r.PayloadHash.String()})
		if errors.Is(err, request.ErrForbidden) {
			continue // not in an open requirement's group
		}
		if err != nil {
			t.Fatalf("vote of %s: %v", a.Subject, err)
		}
		r = next
	}
	if r.Status == request.StatusPending {
		t.Fatalf("still pending after every approver voted: %+v", r.ApproverRequirements)
	}
	return r
}

func TestBulkFileDecidesEachTarget(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	// Given in an order other than the canonical one; mallory's RAM denies
	// production instances.
	in := bulk(target("rm-bp1prodexample1"), target("rm-bp1devexample01"), target("rm-bp1demo00000001"))
	r, err := b.svc.FileBulk(ctx, mallory, in, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != request.StatusPending || r.TargetCount != 3 || !r.Bulk() || r.DBInstanceID != "" {
		t.Fatalf("bulk request = %+v", r)
	}
	if want := request.BulkPayloadHash(r.ID, "mallory", in.Normalize().Canonical()); r.PayloadHash != want {
		t.Error("the payload hash does not cover the sorted target list")
	}
	d, err := b.svc.Detail(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tg := range d.Targets {
		ids = append(ids, tg.DBInstanceID)
		if tg.Status != "" {
			t.Errorf("target %s has status %s before approval", tg.DBInstanceID, tg.Status)
		}
	}
	if want := []string{"rm-bp1demo00000001", "rm-bp1devexample01", "rm-bp1prodexample1"}; !slices.Equal(ids, want) {
		t.Fatalf("targets %v, want the canonical order %v", ids, want)
	}
	prod := d.Targets[2]
	if prod.Decision.Allow || len(prod.Decision.Reasons) == 0 || prod.RequestID != uuid.Nil {
		t.Errorf("production target: %+v, want denied with reasons and no request", prod)
	}
	if !d.Targets[0].Decision.Allow || !d.Targets[1].Decision.Allow {
		t.Errorf("dev targets should be allowed: %+v", d.Targets[:2])
	}
	if p := d.Progress; p.Total != 2 || p.Denied != 1 || p.Remaining != 2 || p.ETASeconds <= 0 {
		t.Errorf("progress = %+v", p)
	}
	ks := kinds(t, b.pool, r.ID)
	if n := strings.Count(strings.Join(ks, " "), "policy.decided"); n != 3 || ks[len(ks)-1] != "request.created" {
		t.Errorf("audit kinds %v: want a policy.decided per target, then request.created", ks)
	}
	// Filed bulk requests are listed; their targets are not.
	page, err := b.svc.List(ctx, lifecycle.Filter{Requester: "mallory"})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != r.ID {
		t.Fatalf("list = %+v, %v", page.Items, err)
	}
}

func TestBulkEveryTargetDenied(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r, err := b.svc.FileBulk(context.Background(), mallory, bulk(target("rm-bp1prodexample1")), false)
	var den *lifecycle.DeniedError
	if !errors.As(err, &den) || r == nil || r.Status != request.StatusDenied || len(den.Reasons) == 0 {
		t.Fatalf("r = %+v, err = %v: want a recorded denial with reasons", r, err)
	}
}

func TestBulkValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	bad := target("rm-bp1devexample01")
	bad.NetworkType = "VPC"
	cases := map[string]request.BulkSpec{
		"targets":                   bulk(),
		"targets[1].network_type":   bulk(target("rm-bp1demo00000001"), bad),
		"targets[2]":                bulk(target("rm-bp1demo00000001"), target("rm-bp1demo00000002"), target("rm-bp1demo00000001")),
		"targets[0].account_id":     bulk(request.Target{RegionID: "cn-hangzhou", DBInstanceID: "rm-bp1demo00000001", ConnectionString: "x.example.com", NetworkType: "0", AccountID: "999"}),
		"targets[0].db_instance_id": bulk(target("i-notrds")),
	}
	many := make([]request.Target, request.MaxTargets+1)
	for i := range many {
		many[i] = target(fmt.Sprintf("rm-bp1many%05d", i))
	}
	cases["targets "] = bulk(many...)
	for field, in := range cases {
		_, err := b.svc.FileBulk(ctx, alice, in, false)
		fs := request.Fields(err)
		if len(fs) == 0 || fs[0].Field != strings.TrimSpace(field) {
			t.Errorf("%s: err = %v", field, err)
		}
	}
	var n int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM requests`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("invalid filings wrote %d requests (%v)", n, err)
	}
}

// release runs one target's release through the lifecycle as the
// executor does, with the outcome given.
func release(t *testing.T, b bundle, id uuid.UUID, outcome string) request.Status {
	t.Helper()
	ctx := context.Background()
	d, err := b.svc.Detail(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	n, err := b.svc.StartRelease(ctx, lifecycle.Start{Request: d.Request, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	a := request.Attempt{Attempt: n, Operation: request.OpRelease, Outcome: outcome, AlibabaRequestID: fmt.Sprintf("REQ-%d-%s", n, id)}
	next := request.StatusSucceeded
	if outcome == request.OutcomeFailed {
		a.Classification, a.ErrorCode, next = "permanent", "IncorrectDBInstanceState", request.StatusFailed
	}
	st, err := b.svc.RecordRelease(ctx, lifecycle.Outcome{Request: d.Request, Attempt: a, Next: next})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestBulkApprovalReleasesEachTargetAndSettles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	r, err := b.svc.FileBulk(ctx, alice, bulk(target("rm-bp1devexample01"), target("rm-bp1demo00000001"),
		target("rm-bp1prodexample1")), false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Environment != "production" || r.RequiredApprovals < 2 {
		t.Fatalf("the strictest target (production) should set the approvals: %+v", r)
	}
	r = approveAll(t, b, r)
	if r.Status != request.StatusExecuting {
		t.Fatalf("approved bulk request is %s, want executing", r.Status)
	}
	if n := b.jobs(t); n != 3 {
		t.Fatalf("%d execution jobs, want one per target", n)
	}
	d, err := b.svc.Detail(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, tg := range d.Targets {
		if tg.Status != request.StatusApproved {
			t.Fatalf("target %d is %q, want approved", i, tg.Status)
		}
		child, err := b.svc.Get(ctx, tg.RequestID)
		if err != nil || child.ParentID == nil || *child.ParentID != r.ID || child.DBInstanceID != tg.DBInstanceID {
			t.Fatalf("target request %+v, %v", child, err)
		}
	}
	release(t, b, d.Targets[0].RequestID, request.OutcomeSucceeded)
	release(t, b, d.Targets[1].RequestID, request.OutcomeFailed)
	if p, _ := b.svc.Get(ctx, r.ID); p.Status != request.StatusExecuting {
		t.Fatalf("bulk request %s with a target left, want executing", p.Status)
	}
	release(t, b, d.Targets[2].RequestID, request.OutcomeSucceeded)
	d, err = b.svc.Detail(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != request.StatusFailed {
		t.Errorf("bulk request %s, want failed (one target failed)", d.Status)
	}
	if p := d.Progress; p.Total != 3 || p.Succeeded != 2 || p.Failed != 1 || p.Remaining != 0 || p.ETASeconds != 0 {
		t.Errorf("progress = %+v", p)
	}
	if a := d.Targets[1].Attempts; len(a) != 1 || a[0].ErrorCode != "IncorrectDBInstanceState" || a[0].AlibabaRequestID == "" {
		t.Errorf("failed target's attempts = %+v", a)
	}
}

func TestBulkCancelTheRest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	r, err := b.svc.FileBulk(ctx, alice, bulk(target("rm-bp1demo00000001"), target("rm-bp1demo00000002"),
		target("rm-bp1demo00000003")), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.CancelRest(ctx, alice, r.ID, "too early"); !errors.Is(err, request.ErrConflict) {
		t.Fatalf("cancel the rest of a pending bulk request: %v, want a conflict", err)
	}
	r = approveAll(t, b, r)
	d, err := b.svc.Detail(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	first := d.Targets[0].RequestID
	fd, err := b.svc.Detail(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	n, err := b.svc.StartRelease(ctx, lifecycle.Start{Request: fd.Request, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.CancelRest(ctx, mallory, r.ID, "not mine"); !errors.Is(err, request.ErrForbidden) {
		t.Fatalf("cancel by another requester: %v, want forbidden", err)
	}
	// A single target request cannot be withdrawn by Cancel.
	if _, err := b.svc.Cancel(ctx, alice, d.Targets[1].RequestID, ""); !errors.Is(err, request.ErrConflict) {
		t.Fatalf("Cancel of an approved target: %v, want a conflict", err)
	}
	cancelled, err := b.svc.CancelRest(ctx, alice, r.ID, "endpoint owners answered")
	if err != nil || cancelled != 2 {
		t.Fatalf("cancelled %d, %v; want the 2 not yet called", cancelled, err)
	}
	if p, _ := b.svc.Get(ctx, r.ID); p.Status != request.StatusExecuting {
		t.Fatalf("bulk request %s while a target is being called, want executing", p.Status)
	}
	st, err := b.svc.RecordRelease(ctx, lifecycle.Outcome{Request: fd.Request, Next: request.StatusSucceeded,
		Attempt: request.Attempt{Attempt: n, Operation: request.OpRelease, Outcome: request.OutcomeSucceeded, AlibabaRequestID: "REQ-1"}})
	if err != nil || st != request.StatusSucceeded {
		t.Fatal(st, err)
	}
	d, err = b.svc.Detail(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != request.StatusCancelled {
		t.Errorf("bulk request %s, want cancelled", d.Status)
	}
	if p := d.Progress; p.Succeeded != 1 || p.Cancelled != 2 || p.Remaining != 0 {
		t.Errorf("progress = %+v", p)
	}
}

// TestBulkApproverGroupsComeFromTheTargetsAccounts: an approver's RAM
// groups are read from the account of the targets, not the default
// account's. frank is a dba in the sandbox account (the default) only; a
// bulk request of staging targets is not his to approve, bob (a dba in
// staging) may.
func TestBulkApproverGroupsComeFromTheTargetsAccounts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := "../../policies/examples/multi"
	for _, f := range []string{"accounts.json", "org.json", "ram/1234567890123456.json", "ram/2345678901234567.json"} {
		raw, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(src, "ram.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sandbox map[string]any
	if err := json.Unmarshal(raw, &sandbox); err != nil {
		t.Fatal(err)
	}
	sandbox["users"].(map[string]any)["frank"] = map[string]any{"groups": []string{"dba"}}
	if raw, err = json.Marshal(sandbox); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ram.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	pool := testdb.New(t)
	eng, err := policy.New(context.Background(), policy.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.New(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := lifecycle.New(lifecycle.Options{Store: db, Policy: eng, Accounts: registry{eng}})
	ctx := context.Background()
	staging := target("rm-bp1demo00000001")
	staging.AccountID = "2345678901234567"
	r, err := svc.FileBulk(ctx, alice, bulk(staging), false)
	if err != nil {
		t.Fatal(err)
	}
	frank := lifecycle.Actor{Subject: "frank"} // groups from RAM only
	if _, err := svc.Vote(ctx, frank, r.ID, lifecycle.VoteInput{Decision: request.Approve}); !errors.Is(err, request.ErrForbidden) {
		t.Fatalf("frank (dba in the sandbox account only) on staging targets: %v, want forbidden", err)
	}
	if r, err = svc.Vote(ctx, lifecycle.Actor{Subject: "bob"}, r.ID, lifecycle.VoteInput{Decision: request.Approve}); err != nil ||
		r.Status != request.StatusExecuting {
		t.Fatalf("bob (dba in staging): %v, %v", r, err)
	}
}

// registry is lifecycle.Accounts over the policy engine.
type registry struct{ e *policy.Engine }

func (r registry) AccountIDs() []string {
	var ids []string
	for _, a := range r.e.Accounts() {
		ids = append(ids, a.ID)
	}
	return ids
}

func (r registry) DefaultAccountID() string { return r.e.DefaultAccountID() }

// TestBulkCancelTheRestHoldsForTargetsPutBack: a target being called when
// the rest is cancelled, and put back to approved by a retryable error, is
// withdrawn when its job starts again, not called.
func TestBulkCancelTheRestHoldsForTargetsPutBack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	r, err := b.svc.FileBulk(ctx, alice, bulk(target("rm-bp1demo00000001"), target("rm-bp1demo00000002")), false)
	if err != nil {
		t.Fatal(err)
	}
	r = approveAll(t, b, r)
	d, err := b.svc.Detail(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := b.svc.Detail(ctx, d.Targets[0].RequestID)
	if err != nil {
		t.Fatal(err)
	}
	n, err := b.svc.StartRelease(ctx, lifecycle.Start{Request: fd.Request, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := b.svc.CancelRest(ctx, alice, r.ID, ""); err != nil || c != 1 {
		t.Fatalf("cancel the rest: %d, %v", c, err)
	}
	// Throttled: the call did not happen, the target is approved again.
	if st, err := b.svc.RecordRelease(ctx, lifecycle.Outcome{Request: fd.Request, Next: request.StatusApproved,
		Attempt: request.Attempt{Attempt: n, Operation: request.OpRelease, Outcome: request.OutcomeFailed,
			Classification: "retryable", ErrorCode: "Throttling.User"}}); err != nil || st != request.StatusApproved {
		t.Fatalf("record: %s, %v", st, err)
	}
	if _, err := b.svc.StartRelease(ctx, lifecycle.Start{Request: fd.Request, Releases: 1, MaxAttempts: 3}); !errors.Is(err, lifecycle.ErrChanged) {
		t.Fatalf("start after the rest was cancelled: %v, want ErrChanged (nothing to call)", err)
	}
	d, err = b.svc.Detail(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != request.StatusCancelled || d.Targets[0].Status != request.StatusCancelled || len(d.Targets[0].Attempts) != 1 {
		t.Errorf("bulk %s, target %s with %d attempts: want both cancelled after one attempt", d.Status, d.Targets[0].Status, len(d.Targets[0].Attempts))
	}
	if _, err := b.svc.CancelRest(ctx, alice, r.ID, ""); !errors.Is(err, request.ErrConflict) {
		t.Errorf("cancel the rest again: %v, want a conflict", err)
	}
}

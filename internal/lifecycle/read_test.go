package lifecycle_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// TestAwaitingVote: the inbox's candidates are the pending requests the
// approver neither filed nor voted on, oldest first, each with all its
// votes (others' included); decided requests are not among them.
func TestAwaitingVote(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	file := func(a lifecycle.Actor, s request.Spec) *request.Request {
		t.Helper()
		r, err := b.svc.File(ctx, a, s, false)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	vote := func(a lifecycle.Actor, r *request.Request, d string) {
		t.Helper()
		if _, err := b.svc.Vote(ctx, a, r.ID, lifecycle.VoteInput{Decision: d, PayloadHash: r.PayloadHash.String()}); err != nil {
			t.Fatal(err)
		}
	}
	prod := file(alice, prodSpec)                                                             // needs dba and security
	dev := file(alice, devSpec)                                                               // needs dba
	bobsOwn := file(lifecycle.Actor{Subject: "bob", Groups: []string{"developers"}}, devSpec) // bob filed it
	votedByCarol := file(alice, prodSpec)
	vote(carol, votedByCarol, request.Approve)
	rejected := file(mallory, devSpec)
	vote(erin, rejected, request.Reject)

	ids := func(rs []*request.Request) []uuid.UUID {
		out := []uuid.UUID{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, tc := range []struct {
		who  string
		want []uuid.UUID
	}{
		{"bob", []uuid.UUID{prod.ID, dev.ID, votedByCarol.ID}},
		{"carol", []uuid.UUID{prod.ID, dev.ID, bobsOwn.ID}},
		{"alice", []uuid.UUID{bobsOwn.ID}},
	} {
		got, err := b.svc.AwaitingVote(ctx, tc.who)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tc.want, ids(got)); d != "" {
			t.Errorf("awaiting %s (-want +got):\n%s", tc.who, d)
		}
		for _, r := range got {
			if r.ID == votedByCarol.ID && (len(r.Votes) != 1 || r.Votes[0].Approver != "carol" || r.Votes[0].PayloadHash != r.PayloadHash) {
				t.Errorf("%s: the candidate comes without carol's vote: %+v", tc.who, r.Votes)
			}
		}
	}
}

// TestVotedBy: an approver's votes, newest first, each with the request as
// it is now; pages follow each other without gaps or repeats.
func TestVotedBy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var want []uuid.UUID // newest vote first
	decisions := map[uuid.UUID]string{}
	for i, a := range []lifecycle.Actor{alice, alice, mallory, mallory, alice} {
		r, err := b.svc.File(ctx, a, devSpec, false)
		if err != nil {
			t.Fatal(err)
		}
		d := request.Approve
		if i%2 == 1 {
			d = request.Reject
		}
		if _, err := b.svc.Vote(ctx, bob, r.ID, lifecycle.VoteInput{Decision: d, Comment: "c", PayloadHash: r.PayloadHash.String()}); err != nil {
			t.Fatal(err)
		}
		want = append([]uuid.UUID{r.ID}, want...)
		decisions[r.ID] = d
	}
	if _, err := b.svc.File(ctx, alice, devSpec, false); err != nil { // not voted on
		t.Fatal(err)
	}
	var got []uuid.UUID
	cursor, pages := "", 0
	for {
		pg, err := b.svc.VotedBy(ctx, "bob", cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, it := range pg.Items {
			got = append(got, it.ID)
			wantStatus := request.StatusApproved
			if decisions[it.ID] == request.Reject {
				wantStatus = request.StatusRejected
			}
			if it.Vote.Decision != decisions[it.ID] || it.Vote.Approver != "bob" || it.Vote.Group != "dba" ||
				it.Vote.Comment != "c" || it.Vote.PayloadHash != it.PayloadHash || it.Vote.CreatedAt.IsZero() {
				t.Errorf("vote on %s: %+v", it.ID, it.Vote)
			}
			if it.Status != wantStatus {
				t.Errorf("request %s is %s, want %s", it.ID, it.Status, wantStatus)
			}
		}
		if pg.NextCursor == "" {
			break
		}
		cursor = pg.NextCursor
	}
	if d := cmp.Diff(want, got); d != "" || pages != 3 {
		t.Errorf("%d pages; votes (-want +got):\n%s", pages, d)
	}
	if pg, err := b.svc.VotedBy(ctx, "carol", "", 0); err != nil || len(pg.Items) != 0 || pg.NextCursor != "" {
		t.Errorf("carol voted on nothing: %+v %v", pg, err)
	}
	if _, err := b.svc.VotedBy(ctx, "bob", "not-a-cursor", 2); err == nil {
		t.Error("a forged cursor was taken")
	}
}

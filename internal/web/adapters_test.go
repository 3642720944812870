package web_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/web"
)

// TestAuditSQL: the interim audit reader filters with parameters, pages by
// keyset without gaps or repeats, and lists one request's timeline.
func TestAuditSQL(t *testing.T) {
	t.Parallel()
	env := setupPages(t, pagesOptions{})
	r1 := env.file("alice", "rm-bp1devexample01", "the first request")
	r2 := env.file("alice", "rm-bp1demo00000001", "the second request")
	bob := env.as("bob")
	bob.get("/requests/" + r1.ID.String())
	bob.post("/requests/"+r1.ID.String()+"/vote", url.Values{"decision": {"approve"}, "payload_hash": {r1.PayloadHash.String()}})
	a := web.AuditSQL{DB: env.pool}
	ctx := t.Context()

	tl, err := a.Timeline(ctx, r1.ID)
	if err != nil || len(tl) != 4 || tl[0].Kind != "policy.decided" || tl[3].Kind != "request.approved" {
		t.Fatalf("timeline: %v %+v", err, tl)
	}
	seen := map[int64]bool{}
	q := web.AuditQuery{Actor: "alice", Limit: 3}
	for pages := 0; ; pages++ {
		pg, err := a.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range pg.Events {
			if seen[e.ID] || e.Actor != "alice" {
				t.Fatalf("event %d repeated or not alice's: %+v", e.ID, e)
			}
			seen[e.ID] = true
		}
		if pg.NextCursor == "" {
			if len(seen) != 4 || pages != 1 {
				t.Fatalf("alice's events: %d in %d pages", len(seen), pages+1)
			}
			break
		}
		q.Cursor = pg.NextCursor
	}
	for _, tc := range []struct {
		q    web.AuditQuery
		want int
	}{
		{web.AuditQuery{Kind: "approval.granted"}, 1},
		{web.AuditQuery{RequestID: r2.ID}, 2},
		{web.AuditQuery{DBInstanceID: "rm-bp1devexample01", Actor: "bob"}, 2},
		{web.AuditQuery{From: time.Now().Add(time.Hour)}, 0},
		{web.AuditQuery{To: time.Now().Add(time.Hour), Kind: "request.created"}, 2},
		{web.AuditQuery{Actor: "x' OR '1'='1"}, 0},
	} {
		pg, err := a.Search(ctx, tc.q)
		if err != nil || len(pg.Events) != tc.want {
			t.Errorf("%+v: %d events (%v), want %d", tc.q, len(pg.Events), err, tc.want)
		}
	}
	if _, err := a.Search(ctx, web.AuditQuery{Cursor: "zzz"}); err == nil {
		t.Error("a bad cursor is accepted")
	} else if _, ok := err.(*request.ValidationError); !ok {
		t.Errorf("bad cursor: %v", err)
	}
}

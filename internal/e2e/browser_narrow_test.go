package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// narrowWidth is a small phone's viewport (CSS pixels).
const narrowWidth = 390

// TestNarrowListsFit: at a 390 px viewport the audit log and My requests
// fit the screen (nothing scrolls sideways), their tables become one
// labelled block per row, and long ids wrap instead of widening the page.
func TestNarrowListsFit(t *testing.T) {
	a := startApp(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := a.svc.File(ctx, lifecycle.Actor{Subject: "alice", Groups: []string{"developers"}}, request.Spec{
			RegionID: "cn-hangzhou", DBInstanceID: "rm-bp1devexample01", ConnectionString: "rm-bp1devexample01.mysql.rds.aliyuncs.com",
			NetworkType: "0", Justification: "narrow screens", Ticket: "OPS-1"}, false); err != nil {
			if _, denied := lifecycle.IsDenied(err); !denied {
				t.Fatal(err)
			}
		}
	}
	// Events whose values have no place to break: a long subject, groups,
	// an unbroken comment, a RequestId.
	long := strings.Repeat("x", 120)
	recs := []audit.Record{
		{Kind: audit.KindTokenCreated, Actor: "cli-" + long, Payload: map[string]any{"subject": "svc-" + long,
			"groups": []string{"group-" + long, "ops"}, "expires_at": "2030-01-01T00:00:00Z"}},
		{Kind: audit.KindApprovalGranted, Actor: "bob", RequestID: uuid.New(), DBInstanceID: "rm-" + strings.Repeat("a", 60),
			Payload: map[string]any{"decision": "approve", "comment": long}},
		{Kind: audit.KindExecutionFailed, Actor: "rdsgate", RequestID: uuid.New(), ErrorCode: "IncorrectDBInstanceState." + long,
			AlibabaRequestID: strings.Repeat("6B2F0C9E", 10), Payload: map[string]any{"attempt": 1, "error_message": long}},
	}
	if err := pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error { return audit.Append(ctx, tx, recs...) }); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct{ user, path, table, label string }{
		{"alice", "/requests", "#my-requests", "Filed"},
		{"dave", "/audit", "#audit-events", "Seq"},
	} {
		p := a.browser(t, c.user)
		p.signIn(c.user)
		p.do("390 px viewport", chromedp.EmulateViewport(narrowWidth, 844))
		p.open(c.path)
		p.do("wait for "+c.table, chromedp.WaitVisible(chromedp.CSS(c.table+" tbody tr")))
		if w := run(p, "scroll width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > narrowWidth {
			t.Errorf("%s at %d px: the page is %d px wide", c.path, narrowWidth, w)
		}
		// No element sticks out to the right, however long its text (the
		// header's cells are clipped inside its 1 px box).
		if out := run(p, "overflowing elements", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('body *'))
			.filter(e => !e.closest('thead') && e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
			.map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className)`)); len(out) > 0 {
			t.Errorf("%s: elements beyond the right edge: %v", c.path, out)
		}
		// Rows are blocks, cells labelled, the header out of sight.
		layout := run(p, "stacked rows", chromedp.Evaluate[map[string]string](`(() => {
			const td = document.querySelector('`+c.table+` tbody td');
			const th = document.querySelector('`+c.table+` thead');
			return {row: getComputedStyle(td.parentElement).display, label: getComputedStyle(td, '::before').content,
				header: String(th.getBoundingClientRect().height <= 1)};
		})()`))
		if layout["row"] != "block" || layout["label"] != `"`+c.label+`"` || layout["header"] != "true" {
			t.Errorf("%s at %d px: row display %q, first label %s, header hidden %s", c.path, narrowWidth, layout["row"], layout["label"], layout["header"])
		}
	}
}

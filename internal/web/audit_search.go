package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/request"
)

// auditFilter is the audit log's filter form, as the query string carries
// it (so that a search is a link, and the exports take the same filter).
type auditFilter struct {
	From, To         string // datetime-local values, UTC
	Actor            string
	Instance         string
	Kind             string
	ErrorCode        string
	AlibabaRequestID string
	RequestID        string
	AccountID        string
}

// timeLayouts are the accepted forms of From and To.
var timeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339, "2006-01-02"}

func readAuditFilter(c echo.Context) auditFilter {
	q := func(k string) string { return strings.TrimSpace(c.QueryParam(k)) }
	return auditFilter{From: q("from"), To: q("to"), Actor: q("actor"), Instance: q("instance"), Kind: q("kind"),
		ErrorCode: q("error_code"), AlibabaRequestID: q("alibaba_request_id"), RequestID: q("request_id"),
		AccountID: q("account_id")}
}

// filter parses the form into an audit.Filter; package audit checks the
// rest (time order, request id, cursor).
func (f auditFilter) filter() (audit.Filter, error) {
	out := audit.Filter{Actor: f.Actor, DBInstanceID: f.Instance, Kind: f.Kind, ErrorCode: f.ErrorCode,
		AlibabaRequestID: f.AlibabaRequestID, RequestID: f.RequestID, AccountID: f.AccountID}
	var err error
	if out.From, err = parseTime("from", f.From); err != nil {
		return out, err
	}
	out.To, err = parseTime("to", f.To)
	return out, err
}

func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, request.Invalid(field, "must be a time like 2025-01-31T09:30 (UTC)")
}

// values renders the filter as a query string, without empty fields.
func (f auditFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"from": f.From, "to": f.To, "actor": f.Actor, "instance": f.Instance, "kind": f.Kind,
		"error_code": f.ErrorCode, "alibaba_request_id": f.AlibabaRequestID, "request_id": f.RequestID, "account_id": f.AccountID} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// auditPageSize is how many events the audit log shows per page.
const auditPageSize = 50

// auditCounter counts the events a filter matches (AuditTrail does); an
// AuditSearcher without it gets a log without a total.
type auditCounter interface {
	Count(ctx context.Context, f audit.Filter) (audit.Total, error)
}

type auditData struct {
	Filter  auditFilter
	Kinds   []kindOption
	Error   string
	Missing bool
	Events  []auditRow
	pager
	ExportCSV string
	ExportJL  string
	Integrity *audit.Integrity
	IntegErr  string
	IntegMiss bool
}

// pager is one keyset page of a search's result as a page shows it:
// OlderURL and NewerURL page through the result; First and Last are the
// page's positions in it (1-based, 0 when not known), Total how many
// events match (nil: not counted).
type pager struct {
	OlderURL, NewerURL string
	First, Last        int
	Total              *audit.Total
}

// kindOption is one entry of the kind filter.
type kindOption struct{ Kind, Label string }

// auditRow is one event as the audit log shows it: the kind in words, and
// the payload's fields worth reading (audit.PayloadFields), each labelled.
type auditRow struct {
	audit.Event
	Label   string
	Details []detail
}

// detail is one labelled value of an event; the template escapes both.
type detail struct{ Label, Value string }

// auditSearch is the audit log: filters, one keyset page of events with
// links both ways and the count of matching events, links to export the
// whole filtered result, and the chain's integrity.
func (s *Server) auditSearch(c echo.Context) error {
	ctx := c.Request().Context()
	form := readAuditFilter(c)
	d := auditData{Filter: form, Missing: s.b.Audit == nil, IntegMiss: s.b.Integrity == nil}
	for _, k := range audit.Kinds() {
		d.Kinds = append(d.Kinds, kindOption{Kind: k, Label: s.kindLabel(c, k)})
	}
	qs := form.values().Encode()
	d.ExportCSV, d.ExportJL = "/audit/export.csv?"+qs, "/audit/export.jsonl?"+qs
	status := http.StatusOK
	f, err := form.filter()
	if err == nil && s.b.Audit != nil {
		f.Cursor, f.Limit = c.QueryParam("cursor"), auditPageSize
		var pg audit.Page
		if pg, err = s.b.Audit.Search(ctx, f); err == nil {
			if counter, ok := s.b.Audit.(auditCounter); ok {
				var t audit.Total
				if t, err = counter.Count(ctx, f); err == nil {
					d.Total = &t
				}
			}
		}
		if err == nil {
			err = s.d.Service.RecordAccess(ctx, pageActor(c, userOf(c)), audit.KindAuditSearched,
				map[string]any{"filters": filterPayload(f), "events": len(pg.Items), "via": "pages",
					"integrity_shown": s.b.Integrity != nil})
		}
		if err == nil {
			for _, e := range pg.Items {
				d.Events = append(d.Events, s.auditRow(c, e))
			}
			d.pages("/audit", form.values(), pg, f.Cursor, c.QueryParam("n"))
		}
	}
	if err != nil {
		st, body := statusOf(err)
		if st != http.StatusUnprocessableEntity {
			return err
		}
		d.Error, status = body.Message, st
	}
	if s.b.Integrity != nil {
		if in, err := s.b.Integrity.Integrity(ctx); err != nil {
			d.IntegErr = err.Error()
		} else {
			d.Integrity = &in
		}
	}
	return s.render(c, status, "audit", page{Title: s.tr(c, "Audit log"), Nav: "audit", Data: d})
}

// pages sets the links to the older and newer pages (path with the
// filter's query q) and the positions of this one. A position rides along
// in the links (n, the first event's), as a keyset page does not know its
// offset; a page without a newer one is the first, whatever n says. New
// events arriving meanwhile shift the positions of a page reached through
// a link by as many.
func (d *pager) pages(path string, q url.Values, pg audit.Page, cursor, n string) {
	first := 0
	if cursor == "" || pg.PrevCursor == "" {
		first = 1
	} else if v, err := strconv.Atoi(n); err == nil && v > 1 {
		first = v
	}
	link := func(cursor string, n int) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("cursor", cursor)
		if n > 0 {
			v.Set("n", strconv.Itoa(n))
		}
		return path + "?" + v.Encode()
	}
	if len(pg.Items) > 0 && first > 0 {
		d.First, d.Last = first, first+len(pg.Items)-1
	}
	if pg.NextCursor != "" {
		next := 0
		if d.Last > 0 {
			next = d.Last + 1
		}
		d.OlderURL = link(pg.NextCursor, next)
	}
	if pg.PrevCursor != "" {
		prev := 0
		if first > 0 {
			prev = max(1, first-auditPageSize)
		}
		d.NewerURL = link(pg.PrevCursor, prev)
	}
}

// auditRow describes e for the audit log: who did what to which request
// is in the event's own columns; the payload adds the rest.
func (s *Server) auditRow(c echo.Context, e audit.Event) auditRow {
	r := auditRow{Event: e, Label: s.kindLabel(c, e.Kind)}
	add := func(label, value string) {
		if value == "" {
			return
		}
		if rs := []rune(value); len(rs) > 300 {
			value = string(rs[:300]) + "…"
		}
		r.Details = append(r.Details, detail{Label: label, Value: value})
	}
	switch e.Kind {
	case audit.KindBypassDetected:
		// Who released what, as the account's ActionTrail has it.
		b := readBypass(e)
		add(s.tr(c, "Caller"), s.callerText(c, b))
		add(s.tr(c, "API"), b.EventName)
		add(s.tr(c, "Account"), b.AccountID)
		add(s.tr(c, "Region"), b.RegionID)
		add(s.tr(c, "Called at"), utcText(b.EventTime, b.EventTimeText))
		add(s.tr(c, "ActionTrail event"), b.EventID)
	case audit.KindExecutionConfirmed:
		t := readTrailRef(e.Payload)
		add(s.tr(c, "API"), t.EventName)
		add(s.tr(c, "Account"), t.AccountID)
		add(s.tr(c, "Region"), t.RegionID)
		add(s.tr(c, "Called at"), utcText(t.EventTime, t.EventTimeText))
		add(s.tr(c, "ActionTrail event"), t.EventID)
	}
	f := audit.PayloadFields(e.Kind, e.Payload)
	add(s.tr(c, "Subject"), f.Subject)
	add(s.tr(c, "Groups"), strings.Join(f.Groups, ", "))
	add(s.tr(c, "Roles"), strings.Join(f.Roles, ", "))
	add(s.tr(c, "Expires"), f.ExpiresAt)
	add(s.tr(c, "Method"), f.Method)
	add(s.tr(c, "Action"), f.Action)
	add(s.tr(c, "Role"), f.Role)
	add(s.tr(c, "Decision"), f.Decision)
	add(s.tr(c, "Approver group"), f.Group)
	add(s.tr(c, "Comment"), f.Comment)
	add(s.tr(c, "Environment"), f.Environment)
	add(s.tr(c, "Connection string"), f.ConnectionString)
	add(s.tr(c, "Justification"), f.Justification)
	add(s.tr(c, "Ticket"), f.Ticket)
	add(s.tr(c, "Status"), f.Status)
	add(s.tr(c, "Reason"), f.Reason)
	add(s.tr(c, "Channel"), f.Channel)
	add(s.tr(c, "Attempt"), f.Attempt)
	add(s.tr(c, "HTTP status"), f.HTTPStatus)
	add(s.tr(c, "Error"), f.ErrorMessage)
	add(s.tr(c, "Source IP"), f.SourceIP)
	if strings.HasPrefix(e.Kind, "audit.") {
		// The trail's own reads: which filters, how much was read.
		var p struct {
			Filters map[string]any `json:"filters"`
			Events  *int64         `json:"events"`
			Format  string         `json:"format"`
		}
		if json.Unmarshal(e.Payload, &p) == nil {
			keys := make([]string, 0, len(p.Filters))
			for k := range p.Filters {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for i, k := range keys {
				keys[i] = fmt.Sprintf("%s=%v", k, p.Filters[k])
			}
			add(s.tr(c, "Filters"), strings.Join(keys, ", "))
			add(s.tr(c, "Format"), p.Format)
			if p.Events != nil {
				add(s.tr(c, "Events"), strconv.FormatInt(*p.Events, 10))
			}
		}
	}
	return r
}

// kindLabel is an event kind in words, in the page's language; "" for a
// kind this version does not know (the page shows the kind itself).
func (s *Server) kindLabel(c echo.Context, kind string) string {
	switch kind {
	case audit.KindPolicyDecided:
		return s.tr(c, "Policy decided")
	case audit.KindRequestCreated:
		return s.tr(c, "Request filed")
	case audit.KindRequestDenied:
		return s.tr(c, "Request denied by the policy")
	case audit.KindApprovalGranted:
		return s.tr(c, "Vote: approve")
	case audit.KindApprovalRejected:
		return s.tr(c, "Vote: reject")
	case audit.KindRequestApproved:
		return s.tr(c, "Quorum reached: approved")
	case audit.KindRequestRejected:
		return s.tr(c, "Request rejected")
	case audit.KindRequestCancelled:
		return s.tr(c, "Request cancelled")
	case audit.KindRequestExpired:
		return s.tr(c, "Expired without approval")
	case audit.KindExecutionStarted:
		return s.tr(c, "Release started")
	case audit.KindExecutionSucceeded:
		return s.tr(c, "Release succeeded")
	case audit.KindExecutionFailed:
		return s.tr(c, "Release attempt failed")
	case audit.KindExecutionReconciled:
		return s.tr(c, "Outcome checked")
	case audit.KindExecutionReconcileFailed:
		return s.tr(c, "Outcome check failed")
	case audit.KindExecutionRequeued:
		return s.tr(c, "Release re-queued")
	case audit.KindExecutionConfirmed:
		return s.tr(c, "Release confirmed by ActionTrail")
	case audit.KindBypassDetected:
		return s.tr(c, "Bypass: release made around rdsgate")
	case audit.KindNotificationSent:
		return s.tr(c, "Notification sent")
	case audit.KindNotificationFailed:
		return s.tr(c, "Notification failed")
	case audit.KindTokenCreated:
		return s.tr(c, "API token created")
	case audit.KindTokenRevoked:
		return s.tr(c, "API token revoked")
	case audit.KindPolicyReloaded:
		return s.tr(c, "Policy reloaded")
	case audit.KindPolicyReloadFailed:
		return s.tr(c, "Policy reload failed")
	case audit.KindAccessDenied:
		return s.tr(c, "Access refused")
	case audit.KindSignedIn:
		return s.tr(c, "Signed in")
	case audit.KindSignedOut:
		return s.tr(c, "Signed out")
	case audit.KindSignInFailed:
		return s.tr(c, "Sign-in failed")
	case audit.KindAuditSearched:
		return s.tr(c, "Audit log searched")
	case audit.KindAuditExported:
		return s.tr(c, "Audit log exported")
	case audit.KindAuditIntegrityViewed:
		return s.tr(c, "Chain integrity viewed")
	}
	return ""
}

// auditExport downloads every event matching the filter in format, through
// package audit's export (the same formats as the API's). Cells a
// spreadsheet would run as formulas are defused there.
func (s *Server) auditExport(format, ctype string) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.b.Audit == nil {
			return fmt.Errorf("audit search is not configured on this server: %w", request.ErrNotFound)
		}
		f, err := readAuditFilter(c).filter()
		if err != nil {
			return err
		}
		// Check the filter before the first byte, so a bad one is a 422
		// page and not a truncated file.
		f.Limit = 1
		if _, err := s.b.Audit.Search(c.Request().Context(), f); err != nil {
			return err
		}
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, ctype)
		h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="rdsgate-audit-%s.%s"`,
			time.Now().UTC().Format("20060102T150405Z"), format))
		c.Response().WriteHeader(http.StatusOK)
		ctx := c.Request().Context()
		n, err := s.b.Audit.Export(ctx, c.Response(), format, f)
		if err != nil {
			// The status is sent; the client gets a truncated file.
			s.log.ErrorContext(ctx, "audit export ended early", "err", err)
			return nil
		}
		if err := s.d.Service.RecordAccess(ctx, pageActor(c, userOf(c)), audit.KindAuditExported,
			map[string]any{"filters": filterPayload(f), "format": format, "events": n, "via": "pages"}); err != nil {
			s.log.ErrorContext(ctx, "record audit export", "err", err)
		}
		return nil
	}
}

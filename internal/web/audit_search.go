package web

import (
	"fmt"
	"net/http"
	"net/url"
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
}

// timeLayouts are the accepted forms of From and To.
var timeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339, "2006-01-02"}

func readAuditFilter(c echo.Context) auditFilter {
	q := func(k string) string { return strings.TrimSpace(c.QueryParam(k)) }
	return auditFilter{From: q("from"), To: q("to"), Actor: q("actor"), Instance: q("instance"), Kind: q("kind"),
		ErrorCode: q("error_code"), AlibabaRequestID: q("alibaba_request_id"), RequestID: q("request_id")}
}

// filter parses the form into an audit.Filter; package audit checks the
// rest (time order, request id, cursor).
func (f auditFilter) filter() (audit.Filter, error) {
	out := audit.Filter{Actor: f.Actor, DBInstanceID: f.Instance, Kind: f.Kind, ErrorCode: f.ErrorCode,
		AlibabaRequestID: f.AlibabaRequestID, RequestID: f.RequestID}
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
		"error_code": f.ErrorCode, "alibaba_request_id": f.AlibabaRequestID, "request_id": f.RequestID} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// auditPageSize is how many events the audit log shows per page.
const auditPageSize = 50

type auditData struct {
	Filter    auditFilter
	Kinds     []string
	Error     string
	Missing   bool
	Events    []eventView
	NextURL   string
	ExportCSV string
	ExportJL  string
	Integrity *audit.Integrity
	IntegErr  string
	IntegMiss bool
}

// auditSearch is the audit log: filters, one keyset page of events, links
// to export the whole filtered result, and the chain's integrity.
func (s *Server) auditSearch(c echo.Context) error {
	ctx := c.Request().Context()
	form := readAuditFilter(c)
	d := auditData{Filter: form, Kinds: audit.Kinds(), Missing: s.b.Audit == nil, IntegMiss: s.b.Integrity == nil}
	qs := form.values().Encode()
	d.ExportCSV, d.ExportJL = "/audit/export.csv?"+qs, "/audit/export.jsonl?"+qs
	status := http.StatusOK
	f, err := form.filter()
	if err == nil && s.b.Audit != nil {
		f.Cursor, f.Limit = c.QueryParam("cursor"), auditPageSize
		var pg audit.Page
		if pg, err = s.b.Audit.Search(ctx, f); err == nil {
			err = s.d.Service.RecordAccess(ctx, pageActor(c, userOf(c)), audit.KindAuditSearched,
				map[string]any{"filters": filterPayload(f), "events": len(pg.Items), "via": "pages",
					"integrity_shown": s.b.Integrity != nil})
		}
		if err == nil {
			for _, e := range pg.Items {
				d.Events = append(d.Events, s.describeEvent(e))
			}
			if pg.NextCursor != "" {
				v := form.values()
				v.Set("cursor", pg.NextCursor)
				d.NextURL = "/audit?" + v.Encode()
			}
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

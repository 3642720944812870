package web

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
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

// auditKinds are offered in the event kind filter; any other kind may be
// typed in the URL.
var auditKinds = []string{
	audit.KindPolicyDecided, audit.KindRequestCreated, audit.KindRequestDenied, audit.KindApprovalGranted,
	audit.KindApprovalRejected, audit.KindRequestApproved, audit.KindRequestRejected, audit.KindRequestCancelled,
	audit.KindRequestExpired, "execution.started", "execution.succeeded", "execution.failed", audit.KindTokenCreated,
	"policy.reloaded", "policy.reload_failed",
}

// timeLayouts are the accepted forms of From and To.
var timeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339, "2006-01-02"}

func readAuditFilter(c echo.Context) auditFilter {
	q := func(k string) string { return strings.TrimSpace(c.QueryParam(k)) }
	return auditFilter{From: q("from"), To: q("to"), Actor: q("actor"), Instance: q("instance"), Kind: q("kind"),
		ErrorCode: q("error_code"), AlibabaRequestID: q("alibaba_request_id"), RequestID: q("request_id")}
}

// query validates the filter into an AuditQuery.
func (f auditFilter) query() (AuditQuery, error) {
	q := AuditQuery{Actor: f.Actor, DBInstanceID: f.Instance, Kind: f.Kind, ErrorCode: f.ErrorCode, AlibabaRequestID: f.AlibabaRequestID}
	var err error
	if q.From, err = parseTime("from", f.From); err != nil {
		return q, err
	}
	if q.To, err = parseTime("to", f.To); err != nil {
		return q, err
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return q, request.Invalid("to", "must be after from")
	}
	if f.RequestID != "" {
		if q.RequestID, err = uuid.Parse(f.RequestID); err != nil {
			return q, request.Invalid("request_id", "is not a request id")
		}
	}
	return q, nil
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

type auditData struct {
	Filter    auditFilter
	Kinds     []string
	Error     string
	Missing   bool
	Events    []eventView
	NextURL   string
	ExportCSV string
	ExportJL  string
	Integrity *audit.Report
	IntegErr  string
	IntegMiss bool
}

// auditSearch is the audit log: filters, one keyset page of events, links
// to export the whole filtered result, and the chain's integrity.
func (s *Server) auditSearch(c echo.Context) error {
	ctx := c.Request().Context()
	f := readAuditFilter(c)
	d := auditData{Filter: f, Kinds: auditKinds, Missing: s.b.Audit == nil, IntegMiss: s.b.Integrity == nil}
	qs := f.values().Encode()
	d.ExportCSV, d.ExportJL = "/audit/export.csv?"+qs, "/audit/export.jsonl?"+qs
	status := http.StatusOK
	q, err := f.query()
	if err != nil {
		d.Error, status = err.Error(), http.StatusUnprocessableEntity
	} else if s.b.Audit != nil {
		q.Cursor, q.Limit = c.QueryParam("cursor"), 50
		pg, err := s.b.Audit.Search(ctx, q)
		if err != nil {
			return err
		}
		for _, e := range pg.Events {
			d.Events = append(d.Events, describeEvent(e))
		}
		if pg.NextCursor != "" {
			v := f.values()
			v.Set("cursor", pg.NextCursor)
			d.NextURL = "/audit?" + v.Encode()
		}
	}
	if s.b.Integrity != nil {
		rep, err := s.b.Integrity.Integrity(ctx)
		if err != nil {
			d.IntegErr = err.Error()
		} else {
			d.Integrity = &rep
		}
	}
	return s.render(c, status, "audit", page{Title: "Audit log", Nav: "audit", Data: d})
}

// exportPage is how many events an export reads per query.
const exportPage = 500

// export streams every event matching the filter, page after page, to
// write; a failure after the first byte ends the download early (the
// client sees a truncated file, and the server logs why).
func (s *Server) export(c echo.Context, ext, ctype string, header func(*bufio.Writer) error, write func(*bufio.Writer, audit.Event) error) error {
	if s.b.Audit == nil {
		return fmt.Errorf("audit search is not configured on this server: %w", request.ErrNotFound)
	}
	q, err := readAuditFilter(c).query()
	if err != nil {
		return err
	}
	q.Limit = exportPage
	ctx := c.Request().Context()
	pg, err := s.b.Audit.Search(ctx, q)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, ctype)
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="rdsgate-audit-%s.%s"`, time.Now().UTC().Format("20060102T150405Z"), ext))
	c.Response().WriteHeader(http.StatusOK)
	w := bufio.NewWriter(c.Response())
	if err := header(w); err != nil {
		return err
	}
	for {
		for _, e := range pg.Events {
			if err := write(w, e); err != nil {
				return err
			}
		}
		if pg.NextCursor == "" {
			break
		}
		q.Cursor = pg.NextCursor
		if pg, err = s.b.Audit.Search(ctx, q); err != nil {
			s.log.ErrorContext(ctx, "audit export ended early", "err", err)
			return nil
		}
	}
	return w.Flush()
}

// csvColumns are the columns of the CSV export.
var csvColumns = []string{"seq", "id", "occurred_at", "kind", "actor", "request_id", "db_instance_id", "error_code",
	"error_message", "alibaba_request_id", "payload", "prev_hash", "hash"}

// auditExportCSV downloads the filtered events as CSV, one row per event.
// Cells a spreadsheet would run as a formula get a leading apostrophe; the
// JSON Lines export is the exact record.
func (s *Server) auditExportCSV(c echo.Context) error {
	var cw *csv.Writer
	return s.export(c, "csv", "text/csv; charset=utf-8",
		func(w *bufio.Writer) error {
			cw = csv.NewWriter(w)
			return cw.Write(csvColumns)
		},
		func(_ *bufio.Writer, e audit.Event) error {
			rid := ""
			if e.RequestID.Valid {
				rid = e.RequestID.UUID.String()
			}
			hash, _ := e.Hash.MarshalText()
			prev, _ := e.PrevHash.MarshalText()
			row := []string{strconv.FormatInt(e.Seq, 10), strconv.FormatInt(e.ID, 10), e.OccurredAt.UTC().Format(time.RFC3339Nano),
				e.Kind, e.Actor, rid, e.DBInstanceID, e.ErrorCode, errorMessage(e.ErrorCode), e.AlibabaRequestID,
				string(e.Payload), string(prev), string(hash)}
			for i, cell := range row {
				row[i] = csvSafe(cell)
			}
			if err := cw.Write(row); err != nil {
				return err
			}
			cw.Flush()
			return cw.Error()
		})
}

// csvSafe defuses cells that spreadsheets would evaluate as formulas.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// auditExportJSONL downloads the filtered events as JSON Lines, one event
// (as package audit encodes it, hashes included) per line.
func (s *Server) auditExportJSONL(c echo.Context) error {
	return s.export(c, "jsonl", "application/x-ndjson",
		func(*bufio.Writer) error { return nil },
		func(w *bufio.Writer, e audit.Event) error {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			b = append(b, '\n')
			_, err = w.Write(b)
			return err
		})
}

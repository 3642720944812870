package web

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// AuditDeps is what the audit endpoints need.
type AuditDeps struct {
	// DB is the pool the trail is read from.
	DB *pgxpool.Pool
	// Integrity answers GET /api/v1/audit/integrity. When nil, a Monitor
	// over DB without a trusted key is used: its reports are never Complete.
	Integrity *audit.Monitor
}

// EnableAudit mounts the audit endpoints, behind the same bearer-token check
// as the rest of the API:
//
//	GET /api/v1/audit                  search: from, to (RFC 3339), actor, request_id, db_instance_id,
//	                                   kind, error_code, alibaba_request_id, limit, cursor
//	GET /api/v1/audit/export           format=jsonl|csv; without filters the whole trail with its
//	                                   checkpoints (from_seq resumes it), verifiable offline;
//	                                   with filters the matching events only
//	GET /api/v1/audit/integrity        the last verification (cached 30 s) and the newest checkpoint
//	GET /api/v1/requests/:id/timeline  one request's events, oldest first
//
// Call it once, after New.
func (s *Server) EnableAudit(d AuditDeps) {
	if d.Integrity == nil {
		d.Integrity = audit.NewMonitor(d.DB, audit.VerifyOptions{}, 0)
	}
	s.registerAuditRoutes(s.e.Group("/api/v1"), d)
}

func (s *Server) registerAuditRoutes(g *echo.Group, d AuditDeps) {
	h := &auditAPI{d: d, requests: s.d.Service, log: s.log}
	// The trail-wide endpoints are for auditors (admin implies it); a
	// request's timeline for whoever may read the request.
	auditor := s.requireRole(auth.RoleAuditor, "read the audit trail")
	g.GET("/audit", h.search, s.requireToken, auditor)
	g.GET("/audit/export", h.export, s.requireToken, auditor)
	g.GET("/audit/integrity", h.integrity, s.requireToken, auditor)
	g.GET("/requests/:id/timeline", h.timeline, s.requireToken)
}

// requireRole refuses a token whose groups do not grant role (Deps.Roles)
// for action, and records the refusal (access.denied).
func (s *Server) requireRole(role auth.Role, action string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if u := apiUser(c); !u.Has(role) {
				return s.d.Service.RecordRefusal(c.Request().Context(), actorOf(c), action, string(role))
			}
			return next(c)
		}
	}
}

type auditAPI struct {
	d        AuditDeps
	requests *lifecycle.Service
	log      *slog.Logger
}

// filterParams are the query parameters of a search, in Filter order.
var filterParams = []string{"from", "to", "actor", "request_id", "db_instance_id", "kind", "error_code", "alibaba_request_id", "account_id"}

// parseFilter reads the search query parameters; a bad value is a 422
// naming the parameter.
func parseFilter(c echo.Context) (audit.Filter, error) {
	q := c.QueryParams()
	f := audit.Filter{
		Actor: q.Get("actor"), RequestID: q.Get("request_id"), DBInstanceID: q.Get("db_instance_id"),
		Kind: q.Get("kind"), ErrorCode: q.Get("error_code"), AlibabaRequestID: q.Get("alibaba_request_id"),
		AccountID: q.Get("account_id"), Cursor: q.Get("cursor"),
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		t, err := parseAPITime(v)
		if err != nil {
			return f, request.Invalid(p.name, "must be an RFC 3339 time (2025-03-01T12:00:00Z) or a date (2025-03-01)")
		}
		*p.dst = t
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > audit.MaxPageSize {
			return f, request.Invalid("limit", "must be a whole number from 1 to %d", audit.MaxPageSize)
		}
		f.Limit = n
	}
	return f, nil
}

// filterPayload is the non-empty filters of f, for the record of a read.
func filterPayload(f audit.Filter) map[string]any {
	out := map[string]any{}
	for k, v := range map[string]string{"actor": f.Actor, "request_id": f.RequestID, "db_instance_id": f.DBInstanceID,
		"kind": f.Kind, "error_code": f.ErrorCode, "alibaba_request_id": f.AlibabaRequestID, "account_id": f.AccountID} {
		if v != "" {
			out[k] = v
		}
	}
	if !f.From.IsZero() {
		out["from"] = f.From
	}
	if !f.To.IsZero() {
		out["to"] = f.To
	}
	return out
}

func parseAPITime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	return time.Parse(time.DateOnly, v)
}

func (h *auditAPI) search(c echo.Context) error {
	f, err := parseFilter(c)
	if err != nil {
		return err
	}
	// An *audit.FilterError becomes a 422 naming the field (statusOf).
	page, err := audit.Search(c.Request().Context(), h.d.DB, f)
	if err != nil {
		return err
	}
	if err := h.requests.RecordAccess(c.Request().Context(), actorOf(c), audit.KindAuditSearched,
		map[string]any{"filters": filterPayload(f), "events": len(page.Items), "via": "api"}); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

func (h *auditAPI) timeline(c echo.Context) error {
	id, err := parseID(c)
	if err != nil {
		return err
	}
	r, err := h.requests.Get(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if u := apiUser(c); !canView(u, r) {
		return notVisible(r.ID)
	}
	evs, err := audit.Timeline(c.Request().Context(), h.d.DB, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"request_id": id, "events": evs})
}

func (h *auditAPI) integrity(c echo.Context) error {
	st, err := h.d.Integrity.Status(c.Request().Context())
	if err != nil {
		return err
	}
	if err := h.requests.RecordAccess(c.Request().Context(), actorOf(c), audit.KindAuditIntegrityViewed,
		map[string]any{"via": "api"}); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

func (h *auditAPI) export(c echo.Context) error {
	format := c.QueryParam("format")
	if format == "" {
		format = audit.FormatJSONL
	}
	if format != audit.FormatJSONL && format != audit.FormatCSV {
		return request.Invalid("format", "must be jsonl or csv")
	}
	f, err := parseFilter(c)
	if err != nil {
		return err
	}
	filtered := false
	for _, p := range filterParams {
		filtered = filtered || c.QueryParam(p) != ""
	}
	var fromSeq int64
	if v := c.QueryParam("from_seq"); v != "" {
		if fromSeq, err = strconv.ParseInt(v, 10, 64); err != nil || fromSeq < 1 {
			return request.Invalid("from_seq", "must be a positive whole number")
		}
		if filtered {
			return request.Invalid("from_seq", "resumes the whole trail; it does not combine with filters")
		}
	}
	ctx := c.Request().Context()
	ctype, ext := "application/x-ndjson", "jsonl"
	if format == audit.FormatCSV {
		ctype, ext = "text/csv; charset=utf-8", "csv"
	}
	name := "rdsgate-audit-" + time.Now().UTC().Format("20060102T150405Z")
	if filtered {
		name += "-filtered"
	}
	w := &lazyResponse{c: c, header: func(hd http.Header) {
		hd.Set(echo.HeaderContentType, ctype)
		hd.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s.%s"`, name, ext))
		hd.Set("Cache-Control", "no-store")
	}}
	var events int64
	if filtered {
		events, err = audit.ExportSearch(ctx, h.d.DB, w, format, f)
	} else {
		var st audit.ExportResult
		st, err = audit.Export(ctx, h.d.DB, w, audit.ExportOptions{Format: format, FromSeq: fromSeq})
		events = st.Events
	}
	if err == nil {
		// After the export, which the count needs; a failure to record is
		// logged, the file being sent already.
		if rerr := h.requests.RecordAccess(ctx, actorOf(c), audit.KindAuditExported, map[string]any{
			"filters": filterPayload(f), "format": format, "from_seq": fromSeq, "events": events, "via": "api"}); rerr != nil {
			h.log.ErrorContext(ctx, "record audit export", slog.Any("err", rerr))
		}
	}
	switch {
	case err == nil && !w.started:
		// An empty CSV still has its header; an empty JSONL has no line.
		w.start()
		return nil
	case err == nil:
		return nil
	case !w.started:
		return err
	}
	// Too late for an error status: end the body with a line no reader
	// accepts, so a cut export cannot pass for a complete one.
	h.log.ErrorContext(ctx, "audit export failed mid-stream", slog.Any("err", err))
	if format == audit.FormatCSV {
		_, _ = io.WriteString(w, "\nerror,export failed mid-stream\n")
	} else {
		_, _ = io.WriteString(w, "\n{\"type\":\"error\",\"message\":\"export failed mid-stream\"}\n")
	}
	return nil
}

// lazyResponse sends the status and headers with the first byte, so an
// export that fails before writing anything still gets a proper error.
type lazyResponse struct {
	c       echo.Context
	header  func(http.Header)
	started bool
}

func (w *lazyResponse) start() {
	w.started = true
	w.header(w.c.Response().Header())
	w.c.Response().WriteHeader(http.StatusOK)
}

func (w *lazyResponse) Write(p []byte) (int, error) {
	if !w.started {
		w.start()
	}
	return w.c.Response().Write(p)
}

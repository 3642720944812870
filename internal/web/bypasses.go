package web

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/audit"
)

// bypassData is the page "Releases made around the gate": the
// bypass.detected events of the audit trail, newest first, a keyset page
// at a time.
type bypassData struct {
	// Instance filters by the released instance ("" for all).
	Instance string
	// Account filters by the account the release was made in.
	Account string
	Error   string
	Missing bool
	// TrailOff: this server does not read ActionTrail, so nothing new
	// shows here. Interval is how often it reads it, in words ("" when
	// the server was not told).
	TrailOff bool
	Interval string
	Rows     []bypassRow
	pager
}

// bypassRow is one release made around rdsgate, as the account's
// ActionTrail recorded it.
type bypassRow struct {
	// NoticedAt is when rdsgate read the event (the audit event's time);
	// EventTime when the call was made (EventTimeText when the payload's
	// time is not one rdsgate can read).
	NoticedAt, EventTime time.Time
	EventTimeText        string
	AccountID, RegionID  string
	DBInstanceID         string
	ConnectionString     string
	// EventName is the API called: ReleaseInstanceConnection or
	// ReleaseInstancePublicConnection.
	EventName        string
	EventID          string
	AlibabaRequestID string
	SourceIP         string
	// ErrorCode is the call's error; "" when it succeeded.
	ErrorCode string
	// Caller is the trail's user identity; CallerType its type in words.
	Caller     userIdentity
	CallerType string
	// AuditURL is the audit log filtered to the event's RequestId.
	AuditURL string
}

// userIdentity is the caller of a trail event, as the bypass.detected
// payload carries it.
type userIdentity struct {
	Type        string `json:"type"`
	UserName    string `json:"user_name"`
	PrincipalID string `json:"principal_id"`
	AccountID   string `json:"account_id"`
	AccessKeyID string `json:"access_key_id"`
}

// trailRef is what the bypass.detected and execution.confirmed payloads
// say of their trail event.
type trailRef struct {
	AccountID string `json:"account_id"`
	RegionID  string `json:"region_id"`
	EventID   string `json:"event_id"`
	EventName string `json:"event_name"`
	// EventTimeText is the payload's event_time; EventTime it parsed
	// (zero when it is not an RFC 3339 time).
	EventTimeText string `json:"event_time"`
	EventTime     time.Time
}

// readTrailRef reads a trail event's reference from an audit payload;
// what it lacks stays empty.
func readTrailRef(payload []byte) trailRef {
	var t trailRef
	_ = json.Unmarshal(payload, &t)
	if at, err := time.Parse(time.RFC3339Nano, t.EventTimeText); err == nil {
		t.EventTime = at
	}
	return t
}

// readBypass reads a bypass.detected event. The event's own columns win
// over the payload's copies of them.
func readBypass(e audit.Event) bypassRow {
	t := readTrailRef(e.Payload)
	var p struct {
		DBInstanceID     string       `json:"db_instance_id"`
		ConnectionString string       `json:"connection_string"`
		AlibabaRequestID string       `json:"alibaba_request_id"`
		SourceIP         string       `json:"source_ip"`
		ErrorCode        string       `json:"error_code"`
		UserIdentity     userIdentity `json:"user_identity"`
	}
	_ = json.Unmarshal(e.Payload, &p)
	return bypassRow{NoticedAt: e.OccurredAt, EventTime: t.EventTime, EventTimeText: t.EventTimeText,
		AccountID: t.AccountID, RegionID: t.RegionID, DBInstanceID: cmp.Or(e.DBInstanceID, p.DBInstanceID),
		ConnectionString: p.ConnectionString, EventName: t.EventName, EventID: t.EventID,
		AlibabaRequestID: cmp.Or(e.AlibabaRequestID, p.AlibabaRequestID), SourceIP: p.SourceIP,
		ErrorCode: cmp.Or(e.ErrorCode, p.ErrorCode), Caller: p.UserIdentity}
}

// identityType is an ActionTrail userIdentity type in words ("" for a
// type this version does not know: the page shows the type itself).
func (s *Server) identityType(c echo.Context, typ string) string {
	switch typ {
	case "ram-user":
		return s.tr(c, "RAM user")
	case "assumed-role":
		return s.tr(c, "RAM role session")
	case "root-account":
		return s.tr(c, "Alibaba Cloud account (root)")
	case "cloudsso-user":
		return s.tr(c, "CloudSSO user")
	case "alibaba-cloud-account":
		return s.tr(c, "another Alibaba Cloud account")
	case "system":
		return s.tr(c, "Alibaba Cloud service")
	}
	return ""
}

// callerText is a bypass's caller in one line: "name (type)".
func (s *Server) callerText(c echo.Context, b bypassRow) string {
	who := cmp.Or(b.Caller.UserName, b.Caller.PrincipalID)
	typ := cmp.Or(s.identityType(c, b.Caller.Type), b.Caller.Type)
	switch {
	case who != "" && typ != "":
		return who + " (" + typ + ")"
	case who != "":
		return who
	}
	return typ
}

// utcText is t as the audit log writes times, or raw when t is zero.
func utcText(t time.Time, raw string) string {
	if t.IsZero() {
		return raw
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// durationText is how often the trail is read, in words.
func (s *Server) durationText(c echo.Context, d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d%time.Hour == 0:
		return s.tr(c, "%d h", int(d/time.Hour))
	case d%time.Minute == 0:
		return s.tr(c, "%d min", int(d/time.Minute))
	}
	return s.tr(c, "%d s", int((d+time.Second-1)/time.Second))
}

// bypasses is the page "Releases made around the gate": the releases the
// accounts' ActionTrail recorded that rdsgate did not make, newest first,
// through the audit search (kind bypass.detected) and paged as the audit
// log is. Reading it is a read of the audit trail, recorded as
// audit.searched.
func (s *Server) bypasses(c echo.Context) error {
	ctx := c.Request().Context()
	inst, acc := strings.TrimSpace(c.QueryParam("instance")), strings.TrimSpace(c.QueryParam("account"))
	d := bypassData{Instance: inst, Account: acc, Missing: s.b.Audit == nil, TrailOff: s.b.TrailOff,
		Interval: s.durationText(c, s.b.TrailInterval)}
	status := http.StatusOK
	if s.b.Audit != nil {
		f := audit.Filter{Kind: audit.KindBypassDetected, DBInstanceID: inst, AccountID: acc, Cursor: c.QueryParam("cursor"),
			Limit: auditPageSize}
		pg, err := s.b.Audit.Search(ctx, f)
		if err == nil {
			if counter, ok := s.b.Audit.(auditCounter); ok {
				var t audit.Total
				if t, err = counter.Count(ctx, f); err == nil {
					d.Total = &t
				}
			}
		}
		if err == nil {
			err = s.d.Service.RecordAccess(ctx, pageActor(c, userOf(c)), audit.KindAuditSearched,
				map[string]any{"filters": filterPayload(f), "events": len(pg.Items), "via": "pages"})
		}
		if err != nil {
			st, body := statusOf(err)
			if st != http.StatusUnprocessableEntity {
				return err
			}
			d.Error, status = body.Message, st
		} else {
			for _, e := range pg.Items {
				r := readBypass(e)
				r.CallerType = s.identityType(c, r.Caller.Type)
				if r.AlibabaRequestID != "" {
					r.AuditURL = "/audit?" + url.Values{"alibaba_request_id": {r.AlibabaRequestID}}.Encode()
				}
				d.Rows = append(d.Rows, r)
			}
			q := url.Values{}
			if inst != "" {
				q.Set("instance", inst)
			}
			if acc != "" {
				q.Set("account", acc)
			}
			d.pages("/audit/bypasses", q, pg, f.Cursor, c.QueryParam("n"))
		}
	}
	return s.render(c, status, "bypasses", page{Title: s.tr(c, "Releases made around the gate"), Nav: "bypasses", Data: d})
}

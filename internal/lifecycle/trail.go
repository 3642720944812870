package lifecycle

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/request"
)

// Releases are also made around the gate: from the console, the CLI, an
// SDK or Terraform, by anyone RAM lets. Each account's ActionTrail records
// them; rdsgate reads it and compares its RequestIds with those of its own
// calls. A release event rdsgate's attempts name confirms that call; any
// other is a bypass.

// TrailEvent is one release event of an account's ActionTrail.
type TrailEvent struct {
	AccountID string
	RegionID  string
	EventID   string
	// EventName is the API called: ReleaseInstanceConnection or
	// ReleaseInstancePublicConnection.
	EventName        string
	EventTime        time.Time
	AlibabaRequestID string
	DBInstanceID     string
	ConnectionString string
	// The caller, as the trail names it.
	UserType    string
	UserName    string
	PrincipalID string
	// AccessKeyID is masked by the caller (the trail's key id, not a secret,
	// but an audit trail needs only enough of it to tell keys apart).
	AccessKeyID string
	SourceIP    string
	// ErrorCode is the call's error, "" when it succeeded.
	ErrorCode string
}

// Known is a release call rdsgate made: its request and attempt.
type Known struct {
	RequestID uuid.UUID
	Attempt   int
}

// TrailRead is one read of a trail window: what it found and where the
// next read may start.
type TrailRead struct {
	AccountID, RegionID string
	// Until is the end of the window read: the cursor's new value.
	Until  time.Time
	Events []TrailEvent
}

// TrailResult counts what RecordTrail recorded.
type TrailResult struct {
	// Bypasses are the new bypass.detected events.
	Bypasses []TrailEvent
	// Confirmed counts rdsgate's own calls newly confirmed.
	Confirmed int
	// Seen counts events read before (the windows overlap).
	Seen int
}

// TrailCursor returns where the last read of an account's trail in a
// region ended; zero when it was never read.
func (s *Service) TrailCursor(ctx context.Context, accountID, regionID string) (time.Time, error) {
	return s.store.TrailCursor(ctx, accountID, regionID)
}

// RecordTrail records one read of a trail window in one transaction: each
// event not seen before is marked seen and becomes an execution.confirmed
// event of the request whose call it is, or a bypass.detected event (with
// its notification) when rdsgate made no call with its RequestId; the
// cursor moves to the window's end. Events seen before change nothing, so
// overlapping windows count each event once.
func (s *Service) RecordTrail(ctx context.Context, read TrailRead) (TrailResult, error) {
	var res TrailResult
	err := s.store.InTx(ctx, func(tx Tx) error {
		res = TrailResult{}
		ids := make([]string, 0, len(read.Events))
		rids := make([]string, 0, len(read.Events))
		for i, e := range read.Events {
			if e.EventID == "" { // never seen in ActionTrail; keyed by the RequestId all the same
				read.Events[i].EventID = "request:" + e.AlibabaRequestID
			}
			ids = append(ids, read.Events[i].EventID)
			if e.AlibabaRequestID != "" {
				rids = append(rids, e.AlibabaRequestID)
			}
		}
		seen, err := tx.LockTrail(ctx, read.AccountID, read.RegionID, ids)
		if err != nil {
			return err
		}
		known, err := tx.KnownCalls(ctx, rids)
		if err != nil {
			return err
		}
		now := s.clock()
		for _, e := range read.Events {
			if seen[e.EventID] {
				res.Seen++
				continue
			}
			seen[e.EventID] = true
			mark := TrailMark{AccountID: read.AccountID, EventID: e.EventID, EventName: e.EventName,
				EventTime: e.EventTime, AlibabaRequestID: e.AlibabaRequestID, DBInstanceID: e.DBInstanceID, SeenAt: now}
			k, ok := known[e.AlibabaRequestID]
			ok = ok && e.AlibabaRequestID != ""
			how := "request_id"
			if !ok && e.EventName == request.OpRelease && e.DBInstanceID != "" {
				// A call of rdsgate's whose answer never came: its RequestId
				// is unknown, its instance and time are not.
				if k, ok, err = tx.UnsettledCall(ctx, e.DBInstanceID, e.EventTime); err != nil {
					return err
				}
				how = "instance_and_time"
			}
			if ok {
				mark.RequestID = k.RequestID
				res.Confirmed++
				if err := tx.Apply(ctx, Change{Request: k.RequestID, At: now, Trail: []TrailMark{mark},
					Events: []audit.Record{{Kind: audit.KindExecutionConfirmed, Actor: System, RequestID: k.RequestID,
						DBInstanceID: e.DBInstanceID, AlibabaRequestID: e.AlibabaRequestID, ErrorCode: e.ErrorCode, At: now,
						Payload: map[string]any{"event_id": e.EventID, "event_name": e.EventName, "event_time": e.EventTime,
							"attempt": k.Attempt, "account_id": read.AccountID, "region_id": read.RegionID,
							"matched_by": how}}}}); err != nil {
					return err
				}
				continue
			}
			res.Bypasses = append(res.Bypasses, e)
			if err := tx.Apply(ctx, Change{At: now, Trail: []TrailMark{mark},
				Events: []audit.Record{{Kind: audit.KindBypassDetected, Actor: System, DBInstanceID: e.DBInstanceID,
					AlibabaRequestID: e.AlibabaRequestID, ErrorCode: e.ErrorCode, At: now, Payload: bypassPayload(read, e)}},
				Notify: s.bypassNotices(e, now)}); err != nil {
				return err
			}
		}
		return tx.Apply(ctx, Change{At: now, TrailCursor: &TrailCursorMove{AccountID: read.AccountID,
			RegionID: read.RegionID, Until: read.Until}, Events: []audit.Record{}})
	})
	if err != nil {
		return TrailResult{}, fmt.Errorf("record the trail of account %s in %s: %w", read.AccountID, read.RegionID, err)
	}
	return res, nil
}

func bypassPayload(read TrailRead, e TrailEvent) map[string]any {
	return map[string]any{
		"account_id": read.AccountID, "region_id": read.RegionID, "event_id": e.EventID, "event_name": e.EventName,
		"event_time": e.EventTime, "db_instance_id": e.DBInstanceID, "connection_string": e.ConnectionString,
		"alibaba_request_id": e.AlibabaRequestID, "source_ip": e.SourceIP, "error_code": e.ErrorCode,
		"user_identity": map[string]any{"type": e.UserType, "user_name": e.UserName, "principal_id": e.PrincipalID,
			"account_id": e.AccountID, "access_key_id": e.AccessKeyID},
	}
}

// EventBypass is the notification of a release made around the gate.
const EventBypass = "bypass.detected"

// bypassNotices tells of a bypass through the channels its environment's
// routes name.
func (s *Service) bypassNotices(e TrailEvent, at time.Time) []Notice {
	if s.router == nil {
		return nil
	}
	n := Notice{Event: EventBypass, RegionID: e.RegionID, DBInstanceID: e.DBInstanceID,
		ConnectionString: e.ConnectionString, Status: request.StatusSucceeded,
		AlibabaRequestID: e.AlibabaRequestID, ErrorCode: e.ErrorCode, At: at,
		Reason: fmt.Sprintf("%s called %s from %s at %s, not through rdsgate", describeCaller(e), e.EventName,
			orUnknown(e.SourceIP), e.EventTime.UTC().Format(time.RFC3339))}
	if e.ErrorCode != "" {
		n.Status = request.StatusFailed
	}
	if s.environments != nil {
		n.Environment = s.environments.EnvironmentOf(e.AccountID, e.RegionID, e.DBInstanceID)
	}
	n.Channels = s.router.Route(n)
	if len(n.Channels) == 0 {
		return nil
	}
	return []Notice{n}
}

func describeCaller(e TrailEvent) string {
	switch {
	case e.UserName != "" && e.UserType != "":
		return fmt.Sprintf("%s (%s)", e.UserName, e.UserType)
	case e.UserName != "":
		return e.UserName
	case e.PrincipalID != "":
		return e.PrincipalID
	}
	return "an unknown caller"
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown address"
	}
	return s
}

// TrailMark marks a trail event seen (with the request whose call it is,
// uuid.Nil for a bypass).
type TrailMark struct {
	AccountID        string
	EventID          string
	EventName        string
	EventTime        time.Time
	AlibabaRequestID string
	DBInstanceID     string
	RequestID        uuid.UUID
	SeenAt           time.Time
}

// TrailCursorMove moves an account's trail cursor in a region.
type TrailCursorMove struct {
	AccountID, RegionID string
	Until               time.Time
}

// Confirmations returns the trail's confirmations of a request's calls:
// the Alibaba RequestIds ActionTrail recorded, each with its event's time.
func (s *Service) Confirmations(ctx context.Context, id uuid.UUID) (map[string]time.Time, error) {
	return s.store.Confirmations(ctx, id)
}

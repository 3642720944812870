package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// Headers of a generic webhook delivery.
const (
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with the
	// channel's secret, of the timestamp, a dot and the exact body.
	HeaderSignature = "X-Rdsgate-Signature"
	// HeaderTimestamp is when the delivery was signed, in Unix seconds.
	HeaderTimestamp = "X-Rdsgate-Timestamp"
	// HeaderDelivery is the delivery's id: the same on every retry.
	HeaderDelivery = "X-Rdsgate-Delivery"
	// HeaderEvent is the event, as the body's type.
	HeaderEvent = "X-Rdsgate-Event"
)

// WebhookBody is the JSON a generic webhook receives.
type WebhookBody struct {
	Type             string                `json:"type"`
	DeliveryID       string                `json:"delivery_id"`
	RequestID        string                `json:"request_id"`
	DBInstanceID     string                `json:"db_instance_id"`
	RegionID         string                `json:"region_id"`
	ConnectionString string                `json:"connection_string"`
	Environment      string                `json:"environment"`
	Status           request.Status        `json:"status"`
	URL              string                `json:"url"`
	Requester        string                `json:"requester"`
	Justification    string                `json:"justification"`
	Ticket           string                `json:"ticket,omitempty"`
	StillNeeded      []request.Requirement `json:"still_needed,omitempty"`
	Approvers        []string              `json:"approvers,omitempty"`
	ErrorCode        string                `json:"error_code,omitempty"`
	AlibabaRequestID string                `json:"alibaba_request_id,omitempty"`
	ErrorMessage     string                `json:"error_message,omitempty"`
	Reason           string                `json:"reason,omitempty"`
	ExpiresAt        time.Time             `json:"expires_at,omitzero"`
	OccurredAt       time.Time             `json:"occurred_at"`
}

type webhook struct {
	n  *Notifier
	ep Endpoint
}

func (w *webhook) send(ctx context.Context, job lifecycle.NotifyJob) (int, error) {
	no := job.Notice
	body, err := json.Marshal(WebhookBody{Type: no.Event, DeliveryID: job.DeliveryID.String(), RequestID: no.RequestID.String(),
		DBInstanceID: no.DBInstanceID, RegionID: no.RegionID, ConnectionString: no.ConnectionString,
		Environment: no.Environment, Status: no.Status, URL: w.n.Link(no), Requester: no.Requester,
		Justification: no.Justification, Ticket: no.Ticket, StillNeeded: no.StillNeeded, Approvers: no.Approvers,
		ErrorCode: no.ErrorCode, AlibabaRequestID: no.AlibabaRequestID, ErrorMessage: no.ErrorMessage,
		Reason: no.Reason, ExpiresAt: no.ExpiresAt, OccurredAt: no.At})
	if err != nil {
		return 0, fmt.Errorf("encode webhook body: %w", err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	h := http.Header{}
	h.Set(HeaderDelivery, job.DeliveryID.String())
	h.Set(HeaderEvent, no.Event)
	h.Set(HeaderTimestamp, ts)
	if w.ep.Secret != "" {
		h.Set(HeaderSignature, Sign([]byte(w.ep.Secret), ts, body))
	}
	status, _, err := w.n.post(ctx, w.ep.URL, body, h)
	return status, err
}

// Sign is the X-Rdsgate-Signature of body sent at timestamp ts (Unix
// seconds, as in X-Rdsgate-Timestamp): "sha256=" and the hex
// HMAC-SHA256 of ts + "." + body, keyed with secret.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature is a delivery whose signature does not match, or whose
// timestamp is too far from now (a replay).
var ErrBadSignature = errors.New("bad webhook signature")

// Verify checks a delivery as a receiver should: the signature of the exact
// body with its timestamp, compared in constant time, and a timestamp
// within tolerance of now, so that a captured delivery cannot be replayed
// later. Receivers also drop a delivery id they have seen.
func Verify(secret []byte, signature, ts string, body []byte, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q", ErrBadSignature, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp %s is %s from now", ErrBadSignature, ts, d.Round(time.Second))
	}
	want := Sign(secret, ts, body)
	if !hmac.Equal([]byte(want), []byte(strings.TrimSpace(signature))) {
		return fmt.Errorf("%w: signature mismatch", ErrBadSignature)
	}
	return nil
}

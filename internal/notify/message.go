package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// sender delivers one job to one channel. It returns the receiver's HTTP
// status (0 when there was none) and an error that holds no secret.
type sender interface {
	send(ctx context.Context, job lifecycle.NotifyJob) (status int, err error)
}

// message is a notice as people read it: the same words on every channel.
type message struct {
	Title string
	// Facts are label/value lines, in order; empty values are left out.
	Facts [][2]string
	Link  string
}

// titles are the messages' headlines, by event.
var titles = map[string]string{
	lifecycle.EventPending:   "Approval needed",
	lifecycle.EventApproved:  "Approved",
	lifecycle.EventRejected:  "Rejected",
	lifecycle.EventCancelled: "Cancelled by the requester",
	lifecycle.EventExpired:   "Expired undecided",
	lifecycle.EventExpiring:  "Still pending, expires soon",
	lifecycle.EventSucceeded: "Endpoint released",
	lifecycle.EventFailed:    "Release failed",
	lifecycle.EventBypass:    "Released around rdsgate",
}

func (n *Notifier) message(no lifecycle.Notice) message {
	title := titles[no.Event]
	if title == "" {
		title = no.Event
	}
	env := no.Environment
	if env != "" {
		env = " (" + env + ")"
	}
	m := message{Title: fmt.Sprintf("%s: release %s of %s%s", title, no.ConnectionString, no.DBInstanceID, env),
		Link: n.Link(no)}
	expires := ""
	if !no.ExpiresAt.IsZero() && (no.Event == lifecycle.EventPending || no.Event == lifecycle.EventExpiring) {
		expires = no.ExpiresAt.UTC().Format(time.RFC3339)
	}
	m.Facts = [][2]string{
		{"Instance", no.DBInstanceID + " (" + no.RegionID + ")"},
		{"Endpoint", no.ConnectionString},
		{"Environment", no.Environment},
		{"Requester", no.Requester},
		{"Justification", no.Justification},
		{"Ticket", no.Ticket},
		{"Still needed", stillNeeded(no.StillNeeded)},
		{"Approved by", strings.Join(no.Approvers, ", ")},
		{"Expires", expires},
		{"Error code", no.ErrorCode},
		{"Alibaba RequestId", no.AlibabaRequestID},
		{"Error", no.ErrorMessage},
		{"Reason", no.Reason},
	}
	facts := m.Facts[:0]
	for _, f := range m.Facts {
		if f[1] != "" {
			facts = append(facts, f)
		}
	}
	m.Facts = facts
	return m
}

// stillNeeded says what approvals are missing: "1 from dba, 2 from security".
func stillNeeded(reqs []request.Requirement) string {
	parts := make([]string, len(reqs))
	for i, r := range reqs {
		parts[i] = fmt.Sprintf("%d from %s", r.Count, r.Group)
	}
	return strings.Join(parts, ", ")
}

// plain is the message as plain text (email, Slack's fallback).
func (m message) plain() string {
	var b strings.Builder
	b.WriteString(m.Title + "\n\n")
	for _, f := range m.Facts {
		fmt.Fprintf(&b, "%s: %s\n", f[0], f[1])
	}
	fmt.Fprintf(&b, "\nOpen in rdsgate: %s\n", m.Link)
	return b.String()
}

// post sends body to rawURL and returns the status and up to 4 KiB of the
// answer; any status but 2xx is an error. Errors never hold the URL: a
// DingTalk or Slack URL is a secret.
func (n *Notifier) post(ctx context.Context, rawURL string, body []byte, header http.Header) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, strings.NewReader(string(body)))
	if err != nil {
		return 0, nil, errors.New("invalid channel URL")
	}
	req.Header = header
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "rdsgate-notify")
	resp, err := n.http.Do(req)
	if err != nil {
		return 0, nil, scrub(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, answer, fmt.Errorf("receiver answered HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, answer, nil
}

// scrub drops the URL from a transport error (*url.Error prints it, query
// and all) and keeps what went wrong.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

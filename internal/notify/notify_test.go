package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/notify"
	"github.com/rdsgate/rdsgate/internal/request"
)

const (
	hookSecret  = "whsec-test-1234567890"
	dingSecret  = "SECdingtalk-test-secret"
	dingToken   = "dingtalk-access-token-secret"
	slackSecret = "T000/B000/slack-path-secret"
)

// parseWebhook checks a generic-webhook delivery's signature and headers.
func parseWebhook(r *http.Request, body []byte) (string, string, string, error) {
	err := notify.Verify([]byte(hookSecret), r.Header.Get(notify.HeaderSignature), r.Header.Get(notify.HeaderTimestamp),
		body, time.Now(), time.Minute)
	if err != nil {
		return "", "", "", err
	}
	var b notify.WebhookBody
	if err := json.Unmarshal(body, &b); err != nil {
		return "", "", "", err
	}
	if r.Header.Get(notify.HeaderDelivery) != b.DeliveryID || b.URL != "https://rdsgate.example.com/requests/"+b.RequestID {
		return "", "", "", fmt.Errorf("delivery header %q, body %q, url %q", r.Header.Get(notify.HeaderDelivery), b.DeliveryID, b.URL)
	}
	return b.Type, b.RequestID, b.DeliveryID, nil
}

// parseDingTalk checks a DingTalk robot call as DingTalk does: the token,
// a timestamp within an hour and sign = base64(HMAC-SHA256(secret,
// timestamp+"\n"+secret)); then the actionCard.
func parseDingTalk(r *http.Request, body []byte) (string, string, string, error) {
	q := r.URL.Query()
	if q.Get("access_token") != dingToken {
		return "", "", "", fmt.Errorf("access_token %q", q.Get("access_token"))
	}
	ms, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	if err != nil || time.Since(time.UnixMilli(ms)).Abs() > time.Hour {
		return "", "", "", fmt.Errorf("timestamp %q", q.Get("timestamp"))
	}
	m := hmac.New(sha256.New, []byte(dingSecret))
	m.Write([]byte(q.Get("timestamp") + "\n" + dingSecret))
	if q.Get("sign") != base64.StdEncoding.EncodeToString(m.Sum(nil)) {
		return "", "", "", fmt.Errorf("sign %q does not verify", q.Get("sign"))
	}
	var card struct {
		MsgType    string `json:"msgtype"`
		ActionCard struct {
			Title, Text, SingleTitle, SingleURL string
		} `json:"actionCard"`
	}
	if err := json.Unmarshal(body, &card); err != nil {
		return "", "", "", err
	}
	a := card.ActionCard
	if card.MsgType != "actionCard" || a.SingleTitle != "Open in rdsgate" || !strings.HasPrefix(a.SingleURL, "https://rdsgate.example.com/requests/") ||
		!strings.Contains(a.Text, "**Requester**: alice") || a.Title == "" {
		return "", "", "", fmt.Errorf("card %s", body)
	}
	id := strings.TrimPrefix(a.SingleURL, "https://rdsgate.example.com/requests/")
	event := ""
	for ev, prefix := range map[string]string{lifecycle.EventPending: "Approval needed", lifecycle.EventApproved: "Approved:",
		lifecycle.EventRejected: "Rejected", lifecycle.EventCancelled: "Cancelled", lifecycle.EventExpired: "Expired",
		lifecycle.EventExpiring: "Still pending", lifecycle.EventSucceeded: "Endpoint released", lifecycle.EventFailed: "Release failed"} {
		if strings.HasPrefix(a.Title, prefix) {
			event = ev
		}
	}
	return event, id, "", nil
}

// parseSlack checks that a Slack body is Block Kit as Slack takes it.
func parseSlack(r *http.Request, body []byte) (string, string, string, error) {
	if err := checkBlockKit(body); err != nil {
		return "", "", "", err
	}
	var m notify.SlackMessage
	_ = json.Unmarshal(body, &m)
	url := m.Blocks[len(m.Blocks)-1].Elements[0].URL
	return "", strings.TrimPrefix(url, "https://rdsgate.example.com/requests/"), "", nil
}

// checkBlockKit validates an incoming-webhook body against Block Kit's
// rules for the blocks used: known block types, text objects of a valid
// type, a header's plain_text of at most 150 characters, at most 10 fields
// of at most 2000, buttons with plain_text of at most 75, a URL and an
// action_id; and a non-empty text fallback.
func checkBlockKit(body []byte) error {
	var m struct {
		Text   *string          `json:"text"`
		Blocks []map[string]any `json:"blocks"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	if m.Text == nil || *m.Text == "" || len(m.Blocks) == 0 || len(m.Blocks) > 50 {
		return fmt.Errorf("text fallback and 1..50 blocks required: %s", body)
	}
	textObj := func(v any, types ...string) (string, error) {
		o, ok := v.(map[string]any)
		if !ok {
			return "", fmt.Errorf("text object %v", v)
		}
		t, _ := o["type"].(string)
		s, _ := o["text"].(string)
		if !slices.Contains(types, t) || s == "" {
			return "", fmt.Errorf("text object %v: want type %v and text", o, types)
		}
		return s, nil
	}
	for _, b := range m.Blocks {
		switch b["type"] {
		case "header":
			s, err := textObj(b["text"], "plain_text")
			if err != nil || len([]rune(s)) > 150 {
				return fmt.Errorf("header %v: %v", b, err)
			}
		case "section":
			fields, _ := b["fields"].([]any)
			if b["text"] == nil && len(fields) == 0 || len(fields) > 10 {
				return fmt.Errorf("section %v", b)
			}
			for _, f := range fields {
				s, err := textObj(f, "plain_text", "mrkdwn")
				if err != nil || len([]rune(s)) > 2000 {
					return fmt.Errorf("field %v: %v", f, err)
				}
			}
		case "actions":
			els, _ := b["elements"].([]any)
			if len(els) == 0 || len(els) > 25 {
				return fmt.Errorf("actions %v", b)
			}
			for _, e := range els {
				o := e.(map[string]any)
				s, err := textObj(o["text"], "plain_text")
				if o["type"] != "button" || err != nil || len([]rune(s)) > 75 || o["url"] == "" || o["action_id"] == "" {
					return fmt.Errorf("button %v: %v", o, err)
				}
			}
		default:
			return fmt.Errorf("block type %v", b["type"])
		}
	}
	return nil
}

// TestEveryEventReachesEveryChannel drives each use case that notifies —
// file, a vote that leaves a requirement open, quorum, rejection, cancel,
// expiry, execution success and failure — and checks that each event
// reaches the generic webhook (signature verified), the DingTalk robot
// (signed as DingTalk checks) and Slack (valid Block Kit), once per channel,
// and that each delivery is audited as sent.
func TestEveryEventReachesEveryChannel(t *testing.T) {
	rs := newReceivers()
	hook := rs.server(t, "webhook", parseWebhook, "")
	ding := rs.server(t, "dingtalk", parseDingTalk, `{"errcode":0,"errmsg":"ok"}`)
	sl := rs.server(t, "slack", parseSlack, "ok")
	b := setup(t, options{ttl: time.Hour, cfg: notify.Config{
		Webhook:  notify.Endpoint{URL: hook.URL + "/hook", Secret: hookSecret},
		DingTalk: notify.Endpoint{URL: ding.URL + "/robot/send?access_token=" + dingToken, Secret: dingSecret},
		Slack:    notify.Endpoint{URL: sl.URL + "/services/" + slackSecret},
	}})
	ctx := context.Background()
	type ev struct{ request, event string }
	var want []ev
	expect := func(r *request.Request, events ...string) {
		for _, e := range events {
			want = append(want, ev{r.ID.String(), e})
		}
	}

	// production: two requirements; bob's vote leaves security's open;
	// carol's approves; the release succeeds.
	prod, err := b.svc.File(ctx, alice, spec("rm-bp1prodexample1"), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Vote(ctx, bob, prod.ID, lifecycle.VoteInput{Decision: request.Approve}); err != nil {
		t.Fatal(err)
	}
	if prod, err = b.svc.Vote(ctx, carol, prod.ID, lifecycle.VoteInput{Decision: request.Approve}); err != nil {
		t.Fatal(err)
	}
	release(t, b.svc, prod, request.Attempt{Outcome: request.OutcomeSucceeded, HTTPStatus: 200, AlibabaRequestID: "OK-REQ-1"}, request.StatusSucceeded)
	expect(prod, lifecycle.EventPending, lifecycle.EventPending, lifecycle.EventApproved, lifecycle.EventSucceeded)

	// dev: approved, then the release fails for good.
	failing, err := b.svc.File(ctx, alice, spec("rm-bp1devexample01"), false)
	if err != nil {
		t.Fatal(err)
	}
	if failing, err = b.svc.Vote(ctx, bob, failing.ID, lifecycle.VoteInput{Decision: request.Approve}); err != nil {
		t.Fatal(err)
	}
	release(t, b.svc, failing, request.Attempt{Outcome: request.OutcomeFailed, HTTPStatus: 403, ErrorCode: "IncorrectDBInstanceState",
		ErrorMessage: "the instance is not running", AlibabaRequestID: "FAIL-REQ-2", Classification: "permanent"}, request.StatusFailed)
	expect(failing, lifecycle.EventPending, lifecycle.EventApproved, lifecycle.EventFailed)

	rejected, err := b.svc.File(ctx, alice, spec("rm-bp1demo00000001"), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Vote(ctx, bob, rejected.ID, lifecycle.VoteInput{Decision: request.Reject, Comment: "not now"}); err != nil {
		t.Fatal(err)
	}
	expect(rejected, lifecycle.EventPending, lifecycle.EventRejected)

	cancelled, err := b.svc.File(ctx, alice, spec("rm-bp1demo00000002"), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Cancel(ctx, alice, cancelled.ID, "filed by mistake"); err != nil {
		t.Fatal(err)
	}
	expect(cancelled, lifecycle.EventPending, lifecycle.EventCancelled)

	expired, err := b.svc.File(ctx, alice, spec("rm-bp1demo00000003"), false)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := b.svc.ExpireOlderThan(ctx, 0); err != nil || n != 1 {
		t.Fatalf("expired %d, %v", n, err)
	}
	expect(expired, lifecycle.EventPending, lifecycle.EventExpired)

	if failed := b.settle(t, 3*len(want)); failed != 0 {
		t.Errorf("%d failed attempts with every receiver up", failed)
	}
	got := map[string][]ev{}
	for _, h := range rs.all() {
		e := ev{h.request, h.event}
		if h.channel == "slack" {
			e.event = "" // Slack's blocks carry no event name
		}
		got[h.channel] = append(got[h.channel], e)
	}
	sortEv := func(s []ev) []ev {
		slices.SortFunc(s, func(a, b ev) int { return strings.Compare(a.request+a.event, b.request+b.event) })
		return s
	}
	var wantSlack []ev
	for _, e := range want {
		wantSlack = append(wantSlack, ev{e.request, ""})
	}
	for ch, w := range map[string][]ev{"webhook": want, "dingtalk": want, "slack": wantSlack} {
		if d := cmp.Diff(sortEv(slices.Clone(w)), sortEv(got[ch]), cmp.AllowUnexported(ev{})); d != "" {
			t.Errorf("%s deliveries (-want +got):\n%s", ch, d)
		}
	}

	// The generic webhook's bodies say what is still needed, and the
	// failure's Alibaba error code and RequestId.
	var pendings []notify.WebhookBody
	for _, h := range rs.all() {
		var wb notify.WebhookBody
		if h.channel != "webhook" || json.Unmarshal(h.body, &wb) != nil {
			continue
		}
		if wb.RequestID == prod.ID.String() && wb.Type == lifecycle.EventPending {
			pendings = append(pendings, wb)
		}
		if wb.Type == lifecycle.EventFailed && (wb.ErrorCode != "IncorrectDBInstanceState" || wb.AlibabaRequestID != "FAIL-REQ-2" ||
			wb.Status != request.StatusFailed || !slices.Equal(wb.Approvers, []string{"bob"})) {
			t.Errorf("execution.failed body: %+v", wb)
		}
		if wb.Requester != "alice" || wb.Justification == "" || wb.DBInstanceID == "" || wb.Environment == "" {
			t.Errorf("%s body lacks the request's facts: %+v", wb.Type, wb)
		}
	}
	slices.SortFunc(pendings, func(a, b notify.WebhookBody) int { return len(b.StillNeeded) - len(a.StillNeeded) })
	wantNeeded := [][]request.Requirement{{{Group: "dba", Count: 1}, {Group: "security", Count: 1}}, {{Group: "security", Count: 1}}}
	if len(pendings) != 2 || !cmp.Equal(pendings[0].StillNeeded, wantNeeded[0]) || !cmp.Equal(pendings[1].StillNeeded, wantNeeded[1]) {
		t.Errorf("pending notices of the production request: %+v", pendings)
	}

	// Every delivery is on the audit trail, by channel name.
	if n := b.count(t, `SELECT count(*) FROM audit_events WHERE kind = 'notification.sent'`); n != 3*len(want) {
		t.Errorf("notification.sent events: %d, want %d", n, 3*len(want))
	}
	for _, ch := range []string{"webhook", "dingtalk", "slack"} {
		if n := b.count(t, `SELECT count(*) FROM audit_events WHERE kind = 'notification.sent' AND payload->>'channel' = $1
    AND (payload->>'http_status')::int = 200 AND payload->>'delivery_id' <> ''`, ch); n != len(want) {
			t.Errorf("%s: %d sent events, want %d", ch, n, len(want))
		}
	}
	noSecrets(t, b)
}

// noSecrets checks that neither the jobs nor the audit trail hold a URL,
// token or secret of a channel.
func noSecrets(t *testing.T, b bundle) {
	t.Helper()
	for _, s := range []string{hookSecret, dingSecret, dingToken, slackSecret, "127.0.0.1", "smtp-password"} {
		if n := b.count(t, `SELECT (SELECT count(*) FROM river_job WHERE args::text LIKE '%' || $1 || '%' OR errors::text LIKE '%' || $1 || '%')
    + (SELECT count(*) FROM audit_events WHERE payload::text LIKE '%' || $1 || '%')`, s); n != 0 {
			t.Errorf("%q is in %d jobs or audit events", s, n)
		}
	}
}

// TestReceiverDownThenBack: while the DingTalk robot answers 503 or drops
// the connection, its deliveries are retried until it is back; it then has
// each exactly once, and the webhook, which answered at once, is not sent
// anything again. Each failed attempt is audited as notification.failed.
func TestReceiverDownThenBack(t *testing.T) {
	rs := newReceivers()
	const outage = 7 // failed answers before the robot is back
	rs.down["dingtalk"] = outage
	hook := rs.server(t, "webhook", parseWebhook, "")
	ding := rs.server(t, "dingtalk", parseDingTalk, `{"errcode":0,"errmsg":"ok"}`)
	b := setup(t, options{cfg: notify.Config{
		Webhook:  notify.Endpoint{URL: hook.URL, Secret: hookSecret},
		DingTalk: notify.Endpoint{URL: ding.URL + "/robot/send?access_token=" + dingToken, Secret: dingSecret},
	}})
	ctx := context.Background()
	var ids []string
	for _, inst := range []string{"rm-bp1demo00000004", "rm-bp1demo00000005", "rm-bp1demo00000006"} {
		r, err := b.svc.File(ctx, alice, spec(inst), false)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID.String())
	}
	if failed := b.settle(t, 2*len(ids)); failed != outage {
		t.Errorf("failed attempts: %d, want %d", failed, outage)
	}
	perChannel := map[string][]string{}
	deliveries := map[string]int{}
	for _, h := range rs.all() {
		perChannel[h.channel] = append(perChannel[h.channel], h.request)
		if h.delivery != "" {
			deliveries[h.delivery]++
		}
	}
	slices.Sort(ids)
	for _, ch := range []string{"webhook", "dingtalk"} {
		slices.Sort(perChannel[ch])
		if d := cmp.Diff(ids, perChannel[ch]); d != "" {
			t.Errorf("%s got (-want +got):\n%s", ch, d)
		}
	}
	for id, n := range deliveries {
		if n != 1 {
			t.Errorf("delivery %s received %d times", id, n)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM audit_events WHERE kind = 'notification.failed' AND payload->>'channel' = 'dingtalk'
    AND payload->>'error' <> '' AND (payload->>'http_status')::int IN (0, 503) AND NOT (payload->>'final')::bool`); n != outage {
		t.Errorf("notification.failed events of dingtalk: %d, want %d", n, outage)
	}
	if n := b.count(t, `SELECT count(*) FROM audit_events WHERE kind = 'notification.sent'`); n != 2*len(ids) {
		t.Errorf("notification.sent events: %d, want %d", n, 2*len(ids))
	}
	if n := b.count(t, `SELECT count(*) FROM audit_events WHERE kind LIKE 'notification.%' AND payload->>'channel' = 'webhook' AND kind <> 'notification.sent'`); n != 0 {
		t.Errorf("the webhook, up throughout, has %d failed deliveries", n)
	}
	noSecrets(t, b)
}

// TestNothingConfigured: with no channel in the environment and no routes
// in the org data, no notification job is enqueued.
func TestNothingConfigured(t *testing.T) {
	b := setup(t, options{ttl: time.Hour, lead: 10 * time.Minute})
	ctx := context.Background()
	r, err := b.svc.File(ctx, alice, spec("rm-bp1demo00000007"), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Vote(ctx, bob, r.ID, lifecycle.VoteInput{Decision: request.Approve}); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, `SELECT count(*) FROM river_job WHERE kind = $1`, lifecycle.NotifyJob{}.Kind()); n != 0 {
		t.Errorf("%d notification jobs with notifications off", n)
	}
}

// TestReminder: filing schedules request.expiring at TTL minus the lead;
// when it comes due it is sent for a request still pending and not for one
// cancelled meanwhile.
func TestReminder(t *testing.T) {
	rs := newReceivers()
	hook := rs.server(t, "webhook", parseWebhook, "")
	b := setup(t, options{ttl: time.Hour, lead: 10 * time.Minute,
		cfg: notify.Config{Webhook: notify.Endpoint{URL: hook.URL, Secret: hookSecret}}})
	ctx := context.Background()
	pending, err := b.svc.File(ctx, alice, spec("rm-bp1demo00000008"), false)
	if err != nil {
		t.Fatal(err)
	}
	cancelled, err := b.svc.File(ctx, alice, spec("rm-bp1demo00000009"), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Cancel(ctx, alice, cancelled.ID, "no longer needed"); err != nil {
		t.Fatal(err)
	}
	b.settle(t, 3) // two pending, one cancelled
	for _, r := range []*request.Request{pending, cancelled} {
		var at time.Time
		err := b.pool.QueryRow(ctx, `SELECT scheduled_at FROM river_job WHERE kind = $1 AND state = 'scheduled'
    AND args->'notice'->>'event' = 'request.expiring' AND args->'notice'->>'request_id' = $2`,
			lifecycle.NotifyJob{}.Kind(), r.ID.String()).Scan(&at)
		if err != nil {
			t.Fatalf("reminder of %s: %v", r.ID, err)
		}
		if want := r.CreatedAt.Add(50 * time.Minute); at.Sub(want).Abs() > time.Second {
			t.Errorf("reminder scheduled at %s, want %s", at, want)
		}
	}
	// Fifty minutes later, as far as the queue can tell.
	if _, err := b.pool.Exec(ctx, `UPDATE river_job SET state = 'available', scheduled_at = now() WHERE state = 'scheduled'`); err != nil {
		t.Fatal(err)
	}
	b.settle(t, 2)
	var reminded []string
	for _, h := range rs.all() {
		if h.event == lifecycle.EventExpiring {
			reminded = append(reminded, h.request)
		}
	}
	if !slices.Equal(reminded, []string{pending.ID.String()}) {
		t.Errorf("reminded %v, want only the pending request %s", reminded, pending.ID)
	}
}

// TestRoutesFromOrgData: org.json's routes send production's dba approvals
// to the DBA group's channel and dev to another, with URLs from the
// variables the channels name.
func TestRoutesFromOrgData(t *testing.T) {
	eng := orgEngine(t, `{
  "channels": {
    "dba-dingtalk": {"type": "dingtalk", "url_env": "TEST_DBA_URL", "secret_env": "TEST_DBA_SECRET"},
    "dev-hook": {"type": "webhook", "url_env": "TEST_DEV_URL", "secret_env": "TEST_DEV_SECRET"},
    "security-mail": {"type": "email", "to": ["security@example.com"]},
    "unset": {"type": "slack", "url_env": "TEST_UNSET_URL"}
  },
  "routes": [
    {"environment": "production", "group": "dba", "channels": ["dba-dingtalk"]},
    {"environment": "production", "group": "security", "channels": ["security-mail", "unset"]},
    {"environment": "dev", "channels": ["dev-hook"]},
    {"environment": "*", "events": ["execution.failed"], "channels": ["dev-hook"]}
  ]}`)
	env := map[string]string{"TEST_DBA_URL": "https://oapi.dingtalk.com/robot/send?access_token=x", "TEST_DBA_SECRET": "s",
		"TEST_DEV_URL": "https://hooks.example.com/x", "TEST_DEV_SECRET": "s"}
	n := notify.New(notify.Config{Getenv: func(k string) string { return env[k] }, SMTP: notify.SMTP{Host: "smtp.example.com", From: "rdsgate@example.com"}}, eng, nil)
	for _, c := range []struct {
		notice lifecycle.Notice
		want   []string
	}{
		{lifecycle.Notice{Event: lifecycle.EventPending, Environment: "production", Groups: []string{"dba", "security"}}, []string{"dba-dingtalk", "security-mail"}},
		{lifecycle.Notice{Event: lifecycle.EventPending, Environment: "production", Groups: []string{"security"}}, []string{"security-mail"}},
		{lifecycle.Notice{Event: lifecycle.EventPending, Environment: "dev", Groups: []string{"dba"}}, []string{"dev-hook"}},
		{lifecycle.Notice{Event: lifecycle.EventPending, Environment: "staging", Groups: []string{"dba"}}, nil},
		{lifecycle.Notice{Event: lifecycle.EventFailed, Environment: "staging", Groups: []string{"dba"}}, []string{"dev-hook"}},
	} {
		if d := cmp.Diff(c.want, n.Route(c.notice)); d != "" {
			t.Errorf("%s %s %v (-want +got):\n%s", c.notice.Event, c.notice.Environment, c.notice.Groups, d)
		}
	}
	// The catch-all email goes only where someone has an address.
	m := notify.New(notify.Config{SMTP: notify.SMTP{Host: "smtp.example.com", From: "rdsgate@example.com"}}, nil, nil)
	if got := m.Route(lifecycle.Notice{Event: lifecycle.EventApproved, Recipients: []string{"alice"}}); len(got) != 0 {
		t.Errorf("email routed with no address: %v", got)
	}
	if got := m.Route(lifecycle.Notice{Event: lifecycle.EventApproved, Recipients: []string{"alice@example.com"}}); !slices.Equal(got, []string{"email"}) {
		t.Errorf("email to alice@example.com routed to %v", got)
	}
}

func TestWebhookSignature(t *testing.T) {
	body := []byte(`{"type":"request.pending"}`)
	now := time.Unix(1_700_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := notify.Sign([]byte("k"), ts, body)
	if err := notify.Verify([]byte("k"), sig, ts, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("valid delivery refused: %v", err)
	}
	for name, c := range map[string]struct {
		sig, ts string
		body    []byte
		now     time.Time
	}{
		"body changed":    {sig, ts, []byte(`{"type":"request.approved"}`), now},
		"other key":       {notify.Sign([]byte("x"), ts, body), ts, body, now},
		"replayed later":  {sig, ts, body, now.Add(10 * time.Minute)},
		"timestamp moved": {sig, strconv.FormatInt(now.Unix()+1, 10), body, now},
	} {
		if err := notify.Verify([]byte("k"), c.sig, c.ts, c.body, c.now, 5*time.Minute); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	u, err := notify.DingTalkSign("https://oapi.dingtalk.com/robot/send?access_token=abc", "SECx", time.UnixMilli(1_700_000_000_123))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, []byte("SECx"))
	m.Write([]byte("1700000000123\nSECx"))
	want := "sign=" + strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(base64.StdEncoding.EncodeToString(m.Sum(nil)))
	if !strings.Contains(u, "access_token=abc") || !strings.Contains(u, "timestamp=1700000000123") || !strings.Contains(u, want) {
		t.Errorf("signed URL %s, want %s", u, want)
	}
}

func TestDevReceiver(t *testing.T) {
	r := notify.NewReceiver("k", nil)
	body := []byte(`{"type":"request.pending","request_id":"` + uuid.NewString() + `"}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	for _, c := range []struct {
		sig  string
		want int
	}{{notify.Sign([]byte("k"), ts, body), http.StatusNoContent}, {"sha256=00", http.StatusUnauthorized}} {
		req, _ := http.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		req.Header.Set(notify.HeaderSignature, c.sig)
		req.Header.Set(notify.HeaderTimestamp, ts)
		req.Header.Set(notify.HeaderDelivery, "d1")
		w := &recorder{header: http.Header{}}
		r.ServeHTTP(w, req)
		if w.status != c.want {
			t.Errorf("signature %s: status %d, want %d", c.sig, w.status, c.want)
		}
	}
	if len(r.Received()) != 1 {
		t.Errorf("received %d deliveries, want 1", len(r.Received()))
	}
}

type recorder struct {
	header http.Header
	status int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(s int)           { r.status = s }

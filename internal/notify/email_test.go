package notify_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/internal/notify"
	"github.com/rdsgate/rdsgate/internal/policy"
)

// mailed is one message the test SMTP server accepted.
type mailed struct {
	from string
	to   []string
	data string
}

// smtpServer is the least of an SMTP server go-mail talks to: EHLO, MAIL,
// RCPT, DATA, RSET, NOOP, QUIT; no TLS, no AUTH.
func smtpServer(t *testing.T) (host string, port int, got <-chan mailed) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan mailed, 10)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				rd := bufio.NewReader(conn)
				say := func(s string) { conn.Write([]byte(s + "\r\n")) }
				say("220 test ESMTP")
				var m mailed
				for {
					line, err := rd.ReadString('\n')
					if err != nil {
						return
					}
					cmd := strings.ToUpper(strings.TrimSpace(line))
					switch {
					case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
						say("250-test\r\n250 8BITMIME")
					case strings.HasPrefix(cmd, "MAIL FROM:"):
						m = mailed{from: strings.TrimSpace(line[len("MAIL FROM:"):])}
						say("250 ok")
					case strings.HasPrefix(cmd, "RCPT TO:"):
						m.to = append(m.to, strings.Trim(strings.TrimSpace(line[len("RCPT TO:"):]), "<>"))
						say("250 ok")
					case cmd == "DATA":
						say("354 go ahead")
						var b strings.Builder
						for {
							l, err := rd.ReadString('\n')
							if err != nil {
								return
							}
							if l == ".\r\n" {
								break
							}
							b.WriteString(l)
						}
						m.data = b.String()
						ch <- m
						say("250 queued")
					case cmd == "QUIT":
						say("221 bye")
						return
					default:
						say("250 ok")
					}
				}
			}()
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	return addr.IP.String(), addr.Port, ch
}

// TestEmail: notices are mailed through SMTP (go-mail) to the catch-all
// addresses (RDSGATE_SMTP_TO), with the delivery id as a header. (Mail to
// requesters and approvers whose subject is an address is routed by the
// same recipients list: TestRoutesFromOrgData.)
func TestEmail(t *testing.T) {
	host, port, got := smtpServer(t)
	b := setup(t, options{cfg: notify.Config{SMTP: notify.SMTP{Host: host, Port: port, TLS: "none",
		From: "rdsgate@example.com", Password: "smtp-password", To: []string{"oncall@example.com"}}}})
	ctx := context.Background()
	r, err := b.svc.File(ctx, alice, spec("rm-bp1demo00000010"), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Cancel(ctx, alice, r.ID, "filed twice"); err != nil {
		t.Fatal(err)
	}
	b.settle(t, 2)
	var subjects []string
	for range 2 {
		m := <-got
		if len(m.to) != 1 || m.to[0] != "oncall@example.com" || !strings.Contains(m.from, "rdsgate@example.com") {
			t.Errorf("mail from %s to %v", m.from, m.to)
		}
		msg, err := netmail.ReadMessage(strings.NewReader(m.data))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
		if err != nil {
			t.Fatal(err)
		}
		if msg.Header.Get(notify.HeaderDelivery) == "" {
			t.Errorf("mail without %s", notify.HeaderDelivery)
		}
		for _, want := range []string{"Requester: alice", "Justification: retiring", "https://rdsgate.example.com/requests/" + r.ID.String()} {
			if !strings.Contains(string(body), want) {
				t.Errorf("mail lacks %q:\n%s", want, body)
			}
		}
		subjects = append(subjects, "Subject: "+msg.Header.Get("Subject"))
	}
	slices.Sort(subjects)
	want := []string{"Subject: [rdsgate] Approval needed: release rm-bp1demo00000010.mysql.rds.aliyuncs.com of rm-bp1demo00000010 (dev)",
		"Subject: [rdsgate] Cancelled by the requester: release rm-bp1demo00000010.mysql.rds.aliyuncs.com of rm-bp1demo00000010 (dev)"}
	if !slices.Equal(subjects, want) {
		t.Errorf("subjects %q, want %q", subjects, want)
	}
	if n := b.count(t, `SELECT count(*) FROM audit_events WHERE kind = 'notification.sent' AND payload->>'channel' = 'email'`); n != 2 {
		t.Errorf("email deliveries audited: %d, want 2", n)
	}
	noSecrets(t, b)
}

// orgEngine is a policy engine over the example data with notifications
// as org.json's notifications section.
func orgEngine(t *testing.T, notifications string) *policy.Engine {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("..", "..", "policies", "examples")
	ram, err := os.ReadFile(filepath.Join(src, "ram.json"))
	if err != nil {
		t.Fatal(err)
	}
	var org map[string]json.RawMessage
	raw, err := os.ReadFile(filepath.Join(src, "org.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &org); err != nil {
		t.Fatal(err)
	}
	org["notifications"] = json.RawMessage(notifications)
	raw, _ = json.Marshal(org)
	for name, b := range map[string][]byte{"ram.json": ram, "org.json": raw} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	eng, err := policy.New(context.Background(), policy.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// TestOrgDataRefusesBadNotifications: a route to an unknown channel, an
// unknown type or a reserved name does not load.
func TestOrgDataRefusesBadNotifications(t *testing.T) {
	for i, bad := range []string{
		`{"routes": [{"environment": "dev", "channels": ["nowhere"]}]}`,
		`{"channels": {"x": {"type": "pager", "url_env": "X"}}}`,
		`{"channels": {"slack": {"type": "slack", "url_env": "X"}}}`,
		`{"channels": {"x": {"type": "slack"}}}`,
		`{"channels": {"x": {"type": "slack", "url_env": "X"}}, "routes": [{"environment": "moon", "channels": ["x"]}]}`,
	} {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join("..", "..", "policies", "examples")
			ram, _ := os.ReadFile(filepath.Join(src, "ram.json"))
			raw, _ := os.ReadFile(filepath.Join(src, "org.json"))
			var org map[string]json.RawMessage
			_ = json.Unmarshal(raw, &org)
			org["notifications"] = json.RawMessage(bad)
			raw, _ = json.Marshal(org)
			_ = os.WriteFile(filepath.Join(dir, "ram.json"), ram, 0o600)
			_ = os.WriteFile(filepath.Join(dir, "org.json"), raw, 0o600)
			if _, err := policy.New(context.Background(), policy.Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "notifications") {
				t.Errorf("%s: loaded (err %v)", bad, err)
			}
		})
	}
}

package notify

import (
	"context"
	"fmt"
	"net/mail"
	"slices"
	"strings"

	gomail "github.com/wneessen/go-mail"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
)

// email mails a notice through the SMTP server of Config.SMTP to the
// channel's addresses and to the notice's recipients whose subject is an
// address.
type email struct {
	n  *Notifier
	to []string
}

// recipients are the addresses a notice is mailed to, each once.
func (e *email) recipients(no lifecycle.Notice) []string {
	var out []string
	for _, s := range append(slices.Clone(e.to), no.Recipients...) {
		a, err := mail.ParseAddress(s)
		if err != nil || a.Address != strings.TrimSpace(s) {
			continue
		}
		if !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, a.Address) }) {
			out = append(out, a.Address)
		}
	}
	return out
}

func (e *email) send(ctx context.Context, job lifecycle.NotifyJob) (int, error) {
	to := e.recipients(job.Notice)
	if len(to) == 0 {
		return 0, nil
	}
	cfg := e.n.cfg.SMTP
	m := e.n.message(job.Notice)
	msg := gomail.NewMsg()
	if err := msg.From(cfg.From); err != nil {
		return 0, fmt.Errorf("RDSGATE_SMTP_FROM: %w", err)
	}
	if err := msg.To(to...); err != nil {
		return 0, fmt.Errorf("recipients: %w", err)
	}
	msg.Subject("[rdsgate] " + m.Title)
	msg.SetMessageIDWithValue(job.DeliveryID.String() + "@rdsgate")
	msg.SetGenHeader(gomail.Header(HeaderDelivery), job.DeliveryID.String())
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.plain())
	opts := []gomail.Option{gomail.WithPort(cfg.Port), gomail.WithTimeout(e.n.cfg.Timeout)}
	switch cfg.TLS {
	case "tls":
		opts = append(opts, gomail.WithSSL())
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	c, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return 0, fmt.Errorf("smtp client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return 0, fmt.Errorf("smtp %s: %w", cfg.Host, err)
	}
	return 0, nil
}

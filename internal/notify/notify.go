package notify

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/policy"
)

// Defaults of Config.
const (
	DefaultTimeout  = 10 * time.Second
	DefaultRetryMin = time.Second
	DefaultRetryMax = 5 * time.Minute
	DefaultWorkers  = 10
	// DefaultReminderLead is how long before a pending request expires
	// that request.expiring is sent.
	DefaultReminderLead = 12 * time.Hour
)

// Names of the catch-all channels, configured in the environment; org.json
// may not use them for its own channels.
const (
	ChannelWebhook  = "webhook"
	ChannelDingTalk = "dingtalk"
	ChannelSlack    = "slack"
	ChannelEmail    = "email"
)

// Endpoint is a webhook URL and its signing secret. Both are secrets (a
// DingTalk or Slack URL holds its token): String shows neither.
type Endpoint struct {
	URL    string
	Secret string
}

// String names the endpoint without its secrets.
func (e Endpoint) String() string {
	if e.URL == "" {
		return "off"
	}
	return "configured"
}

// LogValue keeps the endpoint's secrets out of logs.
func (e Endpoint) LogValue() slog.Value { return slog.StringValue(e.String()) }

// SMTP is the mail server of email channels.
type SMTP struct {
	Host     string
	Port     int
	Username string
	Password string
	From     string
	// TLS is "starttls" (default), "tls" (implicit, port 465) or "none".
	TLS string
	// To are addresses every notification is mailed to (the catch-all
	// email channel), besides the requester and approvers whose subject
	// is an address.
	To []string
}

// LogValue keeps the password out of logs.
func (s SMTP) LogValue() slog.Value {
	if s.Host == "" {
		return slog.StringValue("off")
	}
	return slog.GroupValue(slog.String("host", s.Host), slog.Int("port", s.Port), slog.String("tls", s.TLS),
		slog.String("from", s.From), slog.Bool("auth", s.Username != ""))
}

// Config configures notifications; the zero value turns them off.
type Config struct {
	// PublicURL is the base of every link (RDSGATE_PUBLIC_URL); links
	// open /requests/{id}. Empty: SetPublicURL's, the server's own URL.
	PublicURL string
	// The catch-all channels: each gets every notification.
	Webhook  Endpoint
	DingTalk Endpoint
	Slack    Endpoint
	SMTP     SMTP
	// Getenv reads the variables org.json's channels name (url_env,
	// secret_env); nil is os.Getenv.
	Getenv func(string) string
	// Timeout bounds one delivery (DefaultTimeout).
	Timeout time.Duration
	// RetryMin and RetryMax shape the backoff between attempts of one
	// delivery: RetryMin doubling up to RetryMax.
	RetryMin, RetryMax time.Duration
	// Workers is how many deliveries this process makes at once.
	Workers int
}

// RoutingSource gives the serving org data's notifications section;
// *policy.Engine is one, and reloads it with the policy data.
type RoutingSource interface {
	Notifications() policy.Notifications
}

// Notifier routes notices to channels and delivers them. It implements
// lifecycle.Router. It is safe for concurrent use.
type Notifier struct {
	cfg    Config
	routes RoutingSource
	log    *slog.Logger
	http   *http.Client
	base   atomic.Pointer[string]
}

// New returns a Notifier. routes may be nil (catch-alls only); log nil
// discards.
func New(cfg Config, routes RoutingSource, log *slog.Logger) *Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	cfg.Timeout = cmpOr(cfg.Timeout, DefaultTimeout)
	cfg.RetryMin = cmpOr(cfg.RetryMin, DefaultRetryMin)
	cfg.RetryMax = max(cmpOr(cfg.RetryMax, DefaultRetryMax), cfg.RetryMin)
	cfg.Workers = cmpOr(cfg.Workers, DefaultWorkers)
	if cfg.SMTP.TLS == "" {
		cfg.SMTP.TLS = "starttls"
	}
	if cfg.SMTP.Port == 0 {
		cfg.SMTP.Port = 587
		if cfg.SMTP.TLS == "tls" {
			cfg.SMTP.Port = 465
		}
	}
	n := &Notifier{cfg: cfg, routes: routes, log: log.With(slog.String("component", "notify")),
		http: &http.Client{Timeout: cfg.Timeout,
			// A redirect is an answer that is not 2xx: a failure, and the
			// body (with its signature) goes nowhere else.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	n.SetPublicURL(cfg.PublicURL)
	return n
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// SetPublicURL sets the base of links when Config.PublicURL is empty (the
// server's URL, known once it listens).
func (n *Notifier) SetPublicURL(u string) {
	if n.cfg.PublicURL != "" {
		u = n.cfg.PublicURL
	}
	u = strings.TrimRight(u, "/")
	n.base.Store(&u)
}

// Link is the page of a request.
func (n *Notifier) Link(no lifecycle.Notice) string {
	if no.Event == lifecycle.EventBypass {
		return *n.base.Load() + "/audit/bypasses" // no request: the auditors' page of releases made around the gate
	}
	return *n.base.Load() + "/requests/" + no.RequestID.String()
}

// CatchAll names the catch-all channels configured, for the start-up log.
func (n *Notifier) CatchAll() []string {
	var out []string
	for _, name := range []string{ChannelWebhook, ChannelDingTalk, ChannelSlack, ChannelEmail} {
		if n.catchAll(name) {
			out = append(out, name)
		}
	}
	return out
}

func (n *Notifier) catchAll(name string) bool {
	switch name {
	case ChannelWebhook:
		return n.cfg.Webhook.URL != ""
	case ChannelDingTalk:
		return n.cfg.DingTalk.URL != ""
	case ChannelSlack:
		return n.cfg.Slack.URL != ""
	case ChannelEmail:
		return n.cfg.SMTP.Host != ""
	}
	return false
}

// Route names the channels a notice goes to: every catch-all configured,
// and the channels of the org data's routes that match its environment,
// one of its groups and its event. A channel whose URL variable is unset
// is skipped (and logged), and an email channel with no one to write to.
// It implements lifecycle.Router.
func (n *Notifier) Route(no lifecycle.Notice) []string {
	var out []string
	add := func(name string) {
		if slices.Contains(out, name) {
			return
		}
		s, err := n.channel(name)
		if err != nil {
			n.log.Warn("notification channel skipped", slog.String("channel", name), slog.Any("err", err))
			return
		}
		if m, ok := s.(*email); ok && len(m.recipients(no)) == 0 {
			return
		}
		out = append(out, name)
	}
	for _, name := range n.CatchAll() {
		add(name)
	}
	if n.routes == nil {
		return out
	}
	for _, r := range n.routes.Notifications().Routes {
		if r.Environment != "" && r.Environment != "*" && r.Environment != no.Environment {
			continue
		}
		if r.Group != "" && !slices.Contains(no.Groups, r.Group) {
			continue
		}
		if len(r.Events) > 0 && !slices.Contains(r.Events, no.Event) {
			continue
		}
		for _, c := range r.Channels {
			add(c)
		}
	}
	return out
}

// errNotConfigured is a channel that cannot be built: unknown, or its
// variables unset. A delivery to it is not retried.
var errNotConfigured = errors.New("channel not configured")

// channel builds the sender of a channel by name.
func (n *Notifier) channel(name string) (sender, error) {
	if n.catchAll(name) {
		switch name {
		case ChannelWebhook:
			return &webhook{n: n, ep: n.cfg.Webhook}, nil
		case ChannelDingTalk:
			return &dingTalk{n: n, ep: n.cfg.DingTalk}, nil
		case ChannelSlack:
			return &slack{n: n, url: n.cfg.Slack.URL}, nil
		case ChannelEmail:
			return &email{n: n, to: n.cfg.SMTP.To}, nil
		}
	}
	var c policy.NotifyChannel
	ok := false
	if n.routes != nil {
		c, ok = n.routes.Notifications().Channels[name]
	}
	if !ok {
		return nil, fmt.Errorf("channel %q: %w", name, errNotConfigured)
	}
	ep := Endpoint{URL: strings.TrimSpace(n.cfg.Getenv(c.URLEnv))}
	if c.SecretEnv != "" {
		ep.Secret = n.cfg.Getenv(c.SecretEnv)
	}
	if c.Type != ChannelEmail && ep.URL == "" {
		return nil, fmt.Errorf("channel %q: %s is not set: %w", name, c.URLEnv, errNotConfigured)
	}
	if c.SecretEnv != "" && ep.Secret == "" {
		return nil, fmt.Errorf("channel %q: %s is not set: %w", name, c.SecretEnv, errNotConfigured)
	}
	switch c.Type {
	case ChannelWebhook:
		return &webhook{n: n, ep: ep}, nil
	case ChannelDingTalk:
		return &dingTalk{n: n, ep: ep}, nil
	case ChannelSlack:
		return &slack{n: n, url: ep.URL}, nil
	case ChannelEmail:
		if n.cfg.SMTP.Host == "" {
			return nil, fmt.Errorf("channel %q: RDSGATE_SMTP_HOST is not set: %w", name, errNotConfigured)
		}
		return &email{n: n, to: c.To}, nil
	}
	return nil, fmt.Errorf("channel %q: type %q: %w", name, c.Type, errNotConfigured)
}

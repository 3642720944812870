package policy

import (
	"fmt"
	"slices"
	"sort"
)

// Notifications is the notifications section of org.json: named channels
// and the routes that send a request's notifications to them. No secret is
// here: a channel names the environment variables that hold its URL and
// secret (package notify reads them).
type Notifications struct {
	Channels map[string]NotifyChannel `json:"channels,omitempty"`
	Routes   []NotifyRoute            `json:"routes,omitempty"`
}

// NotifyChannel is one named channel.
type NotifyChannel struct {
	// Type is webhook, dingtalk, slack or email.
	Type string `json:"type"`
	// URLEnv and SecretEnv name the environment variables of the webhook
	// URL and its signing secret (webhook, dingtalk; slack has no secret).
	URLEnv    string `json:"url_env,omitempty"`
	SecretEnv string `json:"secret_env,omitempty"`
	// To are the addresses of an email channel, besides the requester and
	// approvers whose subject is an address.
	To []string `json:"to,omitempty"`
}

// NotifyRoute sends the notifications of requests in Environment that
// concern approver Group to Channels. An empty or "*" Environment matches
// every environment, an empty Group every notification, and empty Events
// every event.
type NotifyRoute struct {
	Environment string   `json:"environment,omitempty"`
	Group       string   `json:"group,omitempty"`
	Events      []string `json:"events,omitempty"`
	Channels    []string `json:"channels"`
}

// NotifyChannelTypes are the channel types a notifications section may use.
var NotifyChannelTypes = []string{"webhook", "dingtalk", "slack", "email"}

// NotifyEvents are the events a route may name.
var NotifyEvents = []string{
	"request.pending", "request.approved", "request.rejected", "request.cancelled", "request.expired",
	"request.expiring", "execution.succeeded", "execution.failed", "bypass.detected",
}

// validate checks the section: known types, the variables each type needs,
// routes that name known channels, environments and events. The names of
// the channel types are reserved for the catch-all channels configured in
// the environment (RDSGATE_NOTIFY_*).
func (n Notifications) validate(knownEnv func(env, where string) error) error {
	names := make([]string, 0, len(n.Channels))
	for name := range n.Channels {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := n.Channels[name]
		where := "notifications.channels." + name
		switch {
		case name == "" || slices.Contains(NotifyChannelTypes, name):
			return fmt.Errorf("%s: the names %v are the catch-all channels of the environment", where, NotifyChannelTypes)
		case !slices.Contains(NotifyChannelTypes, c.Type):
			return fmt.Errorf("%s: type %q: want one of %v", where, c.Type, NotifyChannelTypes)
		case c.Type != "email" && c.URLEnv == "":
			return fmt.Errorf("%s: url_env (the variable holding the URL) is required", where)
		case c.Type == "email" && (c.URLEnv != "" || c.SecretEnv != ""):
			return fmt.Errorf("%s: an email channel has no url_env or secret_env (RDSGATE_SMTP_* is the server)", where)
		case c.Type != "email" && len(c.To) > 0:
			return fmt.Errorf("%s: only an email channel has to", where)
		}
	}
	for i, r := range n.Routes {
		where := fmt.Sprintf("notifications.routes[%d]", i)
		if r.Environment != "" && r.Environment != "*" {
			if err := knownEnv(r.Environment, where); err != nil {
				return err
			}
		}
		if len(r.Channels) == 0 {
			return fmt.Errorf("%s: at least one channel is required", where)
		}
		for _, c := range r.Channels {
			if _, ok := n.Channels[c]; !ok && !slices.Contains(NotifyChannelTypes, c) {
				return fmt.Errorf("%s: channel %q is not in notifications.channels", where, c)
			}
		}
		for _, e := range r.Events {
			if !slices.Contains(NotifyEvents, e) {
				return fmt.Errorf("%s: event %q: want one of %v", where, e, NotifyEvents)
			}
		}
	}
	return nil
}

// Notifications returns the notifications section of the serving
// revision's org data (empty when it has none).
func (e *Engine) Notifications() Notifications { return e.cur.Load().notify }

package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/internal/notify"
)

// Environment variables of notifications. Each catch-all channel gets every
// notification; org.json's notifications section routes by environment and
// group to channels whose URLs and secrets are in variables it names.
const (
	envPublicURL      = "RDSGATE_PUBLIC_URL"            // base of links; default: the server's URL
	envWebhookURL     = "RDSGATE_NOTIFY_WEBHOOK_URL"    // generic signed webhook
	envWebhookSecret  = "RDSGATE_NOTIFY_WEBHOOK_SECRET" // its HMAC key (required with the URL)
	envDingTalkURL    = "RDSGATE_NOTIFY_DINGTALK_URL"   // robot webhook, with access_token
	envDingTalkSecret = "RDSGATE_NOTIFY_DINGTALK_SECRET"
	envSlackURL       = "RDSGATE_NOTIFY_SLACK_URL"
	envNotifyTimeout  = "RDSGATE_NOTIFY_TIMEOUT"       // one delivery, default 10s
	envRetryMin       = "RDSGATE_NOTIFY_RETRY_MIN"     // first retry, default 1s
	envRetryMax       = "RDSGATE_NOTIFY_RETRY_MAX"     // longest wait between retries, default 5m
	envReminderLead   = "RDSGATE_NOTIFY_REMINDER_LEAD" // request.expiring this long before expiry, default 12h
	envSMTPHost       = "RDSGATE_SMTP_HOST"
	envSMTPPort       = "RDSGATE_SMTP_PORT" // default 587 (465 with TLS=tls)
	envSMTPUsername   = "RDSGATE_SMTP_USERNAME"
	envSMTPPassword   = "RDSGATE_SMTP_PASSWORD"
	envSMTPFrom       = "RDSGATE_SMTP_FROM"
	envSMTPTLS        = "RDSGATE_SMTP_TLS" // starttls (default), tls or none
	envSMTPTo         = "RDSGATE_SMTP_TO"  // catch-all addresses, comma-separated
)

// notifyEnv lists the variables that configure a catch-all channel: dev
// starts its own receiver when none is set.
var notifyEnv = []string{envWebhookURL, envDingTalkURL, envSlackURL, envSMTPHost}

// notifyConfigFromEnv reads the notification settings.
func notifyConfigFromEnv(getenv func(string) string) (cfg notify.Config, lead time.Duration, err error) {
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	cfg = notify.Config{
		PublicURL: env(envPublicURL),
		Webhook:   notify.Endpoint{URL: env(envWebhookURL), Secret: getenv(envWebhookSecret)},
		DingTalk:  notify.Endpoint{URL: env(envDingTalkURL), Secret: getenv(envDingTalkSecret)},
		Slack:     notify.Endpoint{URL: env(envSlackURL)},
		SMTP: notify.SMTP{Host: env(envSMTPHost), Username: env(envSMTPUsername), Password: getenv(envSMTPPassword),
			From: env(envSMTPFrom), TLS: strings.ToLower(env(envSMTPTLS))},
	}
	if cfg.PublicURL != "" {
		if u, perr := url.Parse(cfg.PublicURL); perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return cfg, 0, fmt.Errorf("%s=%q: want an http(s) URL such as https://rdsgate.example.com", envPublicURL, cfg.PublicURL)
		}
	}
	for _, ep := range []struct {
		name string
		url  string
	}{{envWebhookURL, cfg.Webhook.URL}, {envDingTalkURL, cfg.DingTalk.URL}, {envSlackURL, cfg.Slack.URL}} {
		if ep.url == "" {
			continue
		}
		if u, perr := url.Parse(ep.url); perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// The value is a secret: not repeated.
			return cfg, 0, fmt.Errorf("%s: want an http(s) URL", ep.name)
		}
	}
	if cfg.Webhook.URL != "" && cfg.Webhook.Secret == "" {
		return cfg, 0, fmt.Errorf("%s is required with %s: receivers verify the signature", envWebhookSecret, envWebhookURL)
	}
	if v := env(envSMTPPort); v != "" {
		if cfg.SMTP.Port, err = strconv.Atoi(v); err != nil || cfg.SMTP.Port < 1 || cfg.SMTP.Port > 65535 {
			return cfg, 0, fmt.Errorf("%s=%q: want a port number", envSMTPPort, v)
		}
	}
	switch cfg.SMTP.TLS {
	case "", "starttls", "tls", "none":
	default:
		return cfg, 0, fmt.Errorf("%s=%q: want starttls, tls or none", envSMTPTLS, cfg.SMTP.TLS)
	}
	for _, a := range strings.Split(env(envSMTPTo), ",") {
		if a = strings.TrimSpace(a); a != "" {
			cfg.SMTP.To = append(cfg.SMTP.To, a)
		}
	}
	if cfg.SMTP.Host != "" && cfg.SMTP.From == "" {
		return cfg, 0, fmt.Errorf("%s is required with %s", envSMTPFrom, envSMTPHost)
	}
	if cfg.Timeout, err = envDuration(getenv, envNotifyTimeout, 0); err != nil {
		return cfg, 0, err
	}
	if cfg.RetryMin, err = envDuration(getenv, envRetryMin, 0); err != nil {
		return cfg, 0, err
	}
	if cfg.RetryMax, err = envDuration(getenv, envRetryMax, 0); err != nil {
		return cfg, 0, err
	}
	d, err := envDuration(getenv, envReminderLead, notify.DefaultReminderLead)
	if err != nil {
		return cfg, 0, err
	}
	return cfg, d, nil
}

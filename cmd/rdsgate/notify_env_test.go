package main

import (
	"strings"
	"testing"
	"time"
)

func TestNotifyConfigFromEnv(t *testing.T) {
	env := map[string]string{
		envPublicURL: "https://rdsgate.example.com", envWebhookURL: "https://hooks.example.com/x", envWebhookSecret: "s",
		envDingTalkURL: "https://oapi.dingtalk.com/robot/send?access_token=tok", envSMTPHost: "smtp.example.com",
		envSMTPFrom: "rdsgate@example.com", envSMTPTo: "a@example.com, b@example.com", envSMTPTLS: "TLS",
		envReminderLead: "2h",
	}
	cfg, lead, err := notifyConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if lead != 2*time.Hour || cfg.SMTP.TLS != "tls" || len(cfg.SMTP.To) != 2 || cfg.DingTalk.URL == "" || cfg.PublicURL == "" {
		t.Errorf("config %+v, lead %s", cfg, lead)
	}
	for name, bad := range map[string]map[string]string{
		"webhook without secret": {envWebhookURL: "https://hooks.example.com/x"},
		"not a URL":              {envDingTalkURL: "oapi.dingtalk.com/robot/send?access_token=tok"},
		"smtp without from":      {envSMTPHost: "smtp.example.com"},
		"smtp tls":               {envSMTPHost: "smtp.example.com", envSMTPFrom: "a@example.com", envSMTPTLS: "maybe"},
		"public url":             {envPublicURL: "rdsgate.example.com"},
	} {
		_, _, err := notifyConfigFromEnv(func(k string) string { return bad[k] })
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "tok") {
			t.Errorf("%s: the error repeats the secret URL: %v", name, err)
		}
	}
}

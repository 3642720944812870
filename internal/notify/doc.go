// Package notify delivers the notifications that lifecycle changes cause:
// it routes a lifecycle.Notice to channels (the catch-alls configured in the
// environment and the routes of org.json's notifications section), and its
// River worker delivers each lifecycle.NotifyJob — one per notice and
// channel, inserted by the store in the change's own transaction — to a
// generic signed webhook, a DingTalk robot, a Slack incoming webhook or
// SMTP, retrying with capped exponential backoff and recording every
// attempt through lifecycle.Service.RecordDelivery.
//
// Secrets (webhook URLs with tokens, signing secrets, the SMTP password)
// live in the Config and the environment only: jobs, audit records, logs
// and errors name the channel, never its URL.
//
// It imports lifecycle, request and policy (the routing types); never
// store or web.
package notify

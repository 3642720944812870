package audit

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Fields are the values of an event's payload that auditors filter and
// read by: the request's spec and environment, a vote's decision and
// comment, a token's subject and groups, a sign-in's method, an
// execution's attempt and error message. They are derived from the payload
// (PayloadFields), never stored: the payload stays the record, and the CSV
// export writes these as columns beside it.
type Fields struct {
	Environment      string
	RegionID         string
	ConnectionString string
	Justification    string
	Ticket           string
	// Decision is a vote's "approve" or "reject", or a policy decision's
	// "allow" or "deny".
	Decision string
	Comment  string
	// Group is the approver group a vote counted toward.
	Group   string
	Subject string
	Groups  []string
	Roles   []string
	// ExpiresAt is an API token's expiry, as the payload has it.
	ExpiresAt string
	// Status is the request's status after the event.
	Status string
	// Reason is a cancellation's, a refused sign-in's or a failure's
	// reason, or a policy decision's reasons joined by "; ".
	Reason string
	Method string
	// Action and Role are what a refused caller tried (access.denied) and
	// the role it lacked.
	Action       string
	Role         string
	SourceIP     string
	Channel      string
	Attempt      string
	HTTPStatus   string
	ErrorMessage string
}

// fieldColumns are the CSV export's names of Fields, in column order;
// columns returns the values in the same order.
var fieldColumns = []string{"environment", "region_id", "connection_string", "justification", "ticket",
	"decision", "comment", "group", "subject", "groups", "roles", "expires_at", "status", "reason",
	"method", "action", "role", "source_ip", "channel", "attempt", "http_status", "error_message"}

// columns returns f in fieldColumns order: lists joined by "; ", CR LF as
// LF (CSV readers turn one into the other inside quotes, so a verifier
// comparing a column with the payload would otherwise differ).
func (f Fields) columns(dst []string) []string {
	return append(dst, f.Environment, f.RegionID, f.ConnectionString, f.Justification, f.Ticket,
		f.Decision, f.Comment, f.Group, f.Subject, strings.Join(f.Groups, "; "), strings.Join(f.Roles, "; "),
		f.ExpiresAt, f.Status, f.Reason, f.Method, f.Action, f.Role, f.SourceIP, f.Channel, f.Attempt, f.HTTPStatus, f.ErrorMessage)
}

// PayloadFields derives Fields from an event's kind and payload. Keys the
// payload lacks, and a payload that is not a JSON object, give empty
// fields. Every writer's payload is read by the same keys: a request's spec
// under "spec" (request.created, request.denied), "input.request"
// (policy.decided) or at the top, the environment at the top or under
// "result".
func PayloadFields(kind string, payload []byte) Fields {
	var p map[string]any
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if d.Decode(&p) != nil || p == nil {
		return Fields{}
	}
	f := Fields{
		Environment:      first(text(p, "environment"), text(p, "result", "environment")),
		RegionID:         first(text(p, "spec", "region_id"), text(p, "input", "request", "region_id"), text(p, "region_id")),
		ConnectionString: first(text(p, "spec", "connection_string"), text(p, "input", "request", "connection_string"), text(p, "connection_string")),
		Justification:    first(text(p, "spec", "justification"), text(p, "input", "request", "justification"), text(p, "justification")),
		Ticket:           first(text(p, "spec", "ticket"), text(p, "input", "request", "ticket"), text(p, "ticket")),
		Decision:         text(p, "decision"),
		Comment:          text(p, "comment"),
		Group:            text(p, "group"),
		Subject:          text(p, "subject"),
		Groups:           list(p, "groups"),
		Roles:            list(p, "roles"),
		ExpiresAt:        text(p, "expires_at"),
		Status:           first(text(p, "status"), text(p, "to")),
		Reason:           first(text(p, "reason"), strings.Join(list(p, "reasons"), "; "), strings.Join(list(p, "result", "reasons"), "; ")),
		Method:           text(p, "method"),
		Action:           text(p, "action"),
		Role:             text(p, "role"),
		SourceIP:         text(p, "source_ip"),
		Channel:          text(p, "channel"),
		Attempt:          text(p, "attempt"),
		HTTPStatus:       text(p, "http_status"),
		ErrorMessage:     first(text(p, "error_message"), text(p, "error")),
	}
	if f.Groups == nil {
		f.Groups = list(p, "input", "principal", "groups")
	}
	if kind == KindPolicyDecided {
		switch value(p, "result", "allow") {
		case true:
			f.Decision = "allow"
		case false:
			f.Decision = "deny"
		}
	}
	return f
}

// value is the value at path in p, nil when any step is missing.
func value(p map[string]any, path ...string) any {
	var v any = p
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// text is the scalar at path as text (numbers as written, booleans as
// true/false), "" for anything else.
func text(p map[string]any, path ...string) string {
	var s string
	switch v := value(p, path...).(type) {
	case string:
		s = v
	case json.Number:
		s = v.String()
	case bool:
		s = map[bool]string{true: "true", false: "false"}[v]
	}
	return strings.ReplaceAll(s, "\r\n", "\n")
}

// list is the array of scalars at path, nil when there is none.
func list(p map[string]any, path ...string) []string {
	a, ok := value(p, path...).([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(a))
	for i := range a {
		if s := text(map[string]any{"": a[i]}, ""); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func first(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
)

// slack posts Block Kit blocks to a Slack incoming webhook: a header, the
// facts as a section's fields, and a button that opens the request; text
// is the fallback of notifications and old clients.
type slack struct {
	n   *Notifier
	url string
}

// SlackMessage is the body of an incoming webhook.
type SlackMessage struct {
	Text   string       `json:"text"`
	Blocks []SlackBlock `json:"blocks"`
}

// SlackBlock is one Block Kit layout block (header, section or actions).
type SlackBlock struct {
	Type     string         `json:"type"`
	Text     *SlackText     `json:"text,omitempty"`
	Fields   []SlackText    `json:"fields,omitempty"`
	Elements []SlackElement `json:"elements,omitempty"`
}

// SlackText is a text object: plain_text or mrkdwn.
type SlackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// SlackElement is a button of an actions block.
type SlackElement struct {
	Type     string    `json:"type"`
	Text     SlackText `json:"text"`
	URL      string    `json:"url"`
	ActionID string    `json:"action_id"`
}

// Block Kit's limits: a header's text, a field's, a section's fields.
const (
	slackHeaderMax = 150
	slackFieldMax  = 2000
	slackFieldsMax = 10
)

func (s *slack) send(ctx context.Context, job lifecycle.NotifyJob) (int, error) {
	body, err := json.Marshal(slackBlocks(s.n.message(job.Notice)))
	if err != nil {
		return 0, fmt.Errorf("encode slack blocks: %w", err)
	}
	status, _, err := s.n.post(ctx, s.url, body, http.Header{})
	return status, err
}

func slackBlocks(m message) SlackMessage {
	out := SlackMessage{Text: m.Title + " " + m.Link}
	out.Blocks = append(out.Blocks, SlackBlock{Type: "header", Text: &SlackText{Type: "plain_text", Text: cut(m.Title, slackHeaderMax)}})
	for i := 0; i < len(m.Facts); i += slackFieldsMax {
		sec := SlackBlock{Type: "section"}
		for _, f := range m.Facts[i:min(i+slackFieldsMax, len(m.Facts))] {
			sec.Fields = append(sec.Fields, SlackText{Type: "mrkdwn",
				Text: cut("*"+slackEscape(f[0])+"*\n"+slackEscape(f[1]), slackFieldMax)})
		}
		out.Blocks = append(out.Blocks, sec)
	}
	out.Blocks = append(out.Blocks, SlackBlock{Type: "actions", Elements: []SlackElement{{Type: "button",
		Text: SlackText{Type: "plain_text", Text: "Open in rdsgate"}, URL: m.Link, ActionID: "open"}}})
	return out
}

// slackEscape escapes the three characters mrkdwn gives meaning to.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// cut shortens s to at most n runes.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

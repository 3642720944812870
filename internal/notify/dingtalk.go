package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
)

// dingTalk posts to a DingTalk custom robot: an actionCard with the
// request's facts in markdown and one button that opens the request. With
// a secret (the robot's "sign" security setting) the URL gets timestamp
// (ms) and sign = base64(HMAC-SHA256(secret, timestamp+"\n"+secret)).
type dingTalk struct {
	n  *Notifier
	ep Endpoint
}

type dingTalkCard struct {
	MsgType    string `json:"msgtype"`
	ActionCard struct {
		Title          string `json:"title"`
		Text           string `json:"text"`
		BtnOrientation string `json:"btnOrientation"`
		SingleTitle    string `json:"singleTitle"`
		SingleURL      string `json:"singleURL"`
	} `json:"actionCard"`
}

func (d *dingTalk) send(ctx context.Context, job lifecycle.NotifyJob) (int, error) {
	m := d.n.message(job.Notice)
	var card dingTalkCard
	card.MsgType = "actionCard"
	card.ActionCard.Title = m.Title
	card.ActionCard.Text = m.markdown()
	card.ActionCard.BtnOrientation = "0"
	card.ActionCard.SingleTitle = "Open in rdsgate"
	card.ActionCard.SingleURL = m.Link
	body, err := json.Marshal(card)
	if err != nil {
		return 0, fmt.Errorf("encode dingtalk card: %w", err)
	}
	target := d.ep.URL
	if d.ep.Secret != "" {
		if target, err = DingTalkSign(target, d.ep.Secret, time.Now()); err != nil {
			return 0, err
		}
	}
	status, answer, err := d.n.post(ctx, target, body, http.Header{})
	if err != nil {
		return status, err
	}
	// DingTalk answers 200 whatever happened; errcode says.
	var res struct {
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(answer, &res); err != nil || res.ErrCode == nil {
		return status, fmt.Errorf("dingtalk answered HTTP %d without an errcode", status)
	}
	if *res.ErrCode != 0 {
		return status, fmt.Errorf("dingtalk errcode %d: %s", *res.ErrCode, res.ErrMsg)
	}
	return status, nil
}

// DingTalkSign adds the robot signature's timestamp and sign parameters to
// the webhook URL.
func DingTalkSign(rawURL, secret string, now time.Time) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("dingtalk URL does not parse")
	}
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "\n" + secret))
	q := u.Query()
	q.Set("timestamp", ts)
	q.Set("sign", base64.StdEncoding.EncodeToString(m.Sum(nil)))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// markdown is the message as DingTalk's markdown: a heading and a list.
func (m message) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#### %s\n\n", m.Title)
	for _, f := range m.Facts {
		fmt.Fprintf(&b, "- **%s**: %s\n", f[0], strings.ReplaceAll(f[1], "\n", " "))
	}
	return b.String()
}

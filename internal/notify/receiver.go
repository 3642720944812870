package notify

import (
	"encoding/json"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Receiver is a generic-webhook receiver for local use (`make run` starts
// one when no channel is configured): it verifies each delivery's
// signature and timestamp, drops a delivery id it has seen, logs what it
// got and lists the last deliveries at GET /.
type Receiver struct {
	secret []byte
	log    *slog.Logger
	now    func() time.Time

	mu   sync.Mutex
	seen map[string]bool
	got  []Received
}

// Received is one delivery the Receiver accepted.
type Received struct {
	At   time.Time
	Body WebhookBody
}

// receiverKeep bounds the deliveries a Receiver lists.
const receiverKeep = 100

// NewReceiver returns a Receiver of deliveries signed with secret.
func NewReceiver(secret string, log *slog.Logger) *Receiver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Receiver{secret: []byte(secret), log: log, now: time.Now, seen: map[string]bool{}}
}

// Received returns the deliveries accepted, oldest first.
func (r *Receiver) Received() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Received(nil), r.got...)
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method == http.MethodGet {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = receiverPage.Execute(w, r.Received())
		return
	}
	if req.Method != http.MethodPost {
		http.Error(w, "POST a delivery or GET the list", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if err := Verify(r.secret, req.Header.Get(HeaderSignature), req.Header.Get(HeaderTimestamp), body, r.now(), 5*time.Minute); err != nil {
		r.log.Warn("webhook delivery refused", slog.Any("err", err))
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var b WebhookBody
	if err := json.Unmarshal(body, &b); err != nil {
		http.Error(w, "body is not a delivery", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	dup := r.seen[req.Header.Get(HeaderDelivery)]
	r.seen[req.Header.Get(HeaderDelivery)] = true
	if !dup {
		r.got = append(r.got, Received{At: r.now(), Body: b})
		if len(r.got) > receiverKeep {
			r.got = r.got[len(r.got)-receiverKeep:]
		}
	}
	r.mu.Unlock()
	if !dup {
		r.log.Info("notification received (signature verified)", slog.String("type", b.Type),
			slog.String("request_id", b.RequestID), slog.String("db_instance_id", b.DBInstanceID),
			slog.String("status", string(b.Status)), slog.String("url", b.URL),
			slog.String("delivery_id", req.Header.Get(HeaderDelivery)))
	}
	w.WriteHeader(http.StatusNoContent)
}

var receiverPage = template.Must(template.New("receiver").Parse(`<!doctype html>
<html lang="en"><meta charset="utf-8"><title>rdsgate notifications (dev receiver)</title>
<h1>Notifications received</h1>
<p>The deliveries of the generic webhook channel, signatures verified, newest last.</p>
<table border="1" cellpadding="4"><tr><th>received</th><th>event</th><th>instance</th><th>environment</th><th>requester</th><th>still needed</th><th>request</th></tr>
{{range .}}<tr><td>{{.At.Format "15:04:05"}}</td><td>{{.Body.Type}}</td><td>{{.Body.DBInstanceID}}</td><td>{{.Body.Environment}}</td><td>{{.Body.Requester}}</td><td>{{range .Body.StillNeeded}}{{.Count}} from {{.Group}} {{end}}</td><td><a href="{{.Body.URL}}">open</a></td></tr>
{{else}}<tr><td colspan="7">none yet: file a request</td></tr>{{end}}
</table></html>
`))

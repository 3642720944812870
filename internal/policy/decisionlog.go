package policy

import (
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"time"
)

// opaLogEntry is one decision in the format of OPA's decision logs, which
// OPA's own tools and log pipelines read: the policy revision is the
// revision of the bundle named rdsgate.
type opaLogEntry struct {
	Labels     map[string]string     `json:"labels"`
	DecisionID string                `json:"decision_id"`
	Path       string                `json:"path"`
	Input      any                   `json:"input"`
	Result     any                   `json:"result"`
	Bundles    map[string]bundleInfo `json:"bundles"`
	Timestamp  time.Time             `json:"timestamp"`
}

type bundleInfo struct {
	Revision string `json:"revision"`
}

// decisionLog writes every decision as one JSON line to w.
type decisionLog struct {
	mu  sync.Mutex
	w   io.Writer
	log *slog.Logger
}

// write logs e. A failed write is reported, never fatal to the decision:
// the audit trail, not this log, is the record.
func (l *decisionLog) write(e LogEntry) {
	line, err := json.Marshal(opaLogEntry{
		Labels:     map[string]string{"app": "rdsgate"},
		DecisionID: e.DecisionID, Path: e.Path, Input: e.Input, Result: e.Result,
		Bundles:   map[string]bundleInfo{"rdsgate": {Revision: e.Revision}},
		Timestamp: e.Timestamp,
	})
	if err == nil {
		l.mu.Lock()
		_, err = l.w.Write(append(line, '\n'))
		l.mu.Unlock()
	}
	if err != nil {
		l.log.Error("decision log", slog.String("decision_id", e.DecisionID), slog.Any("err", err))
	}
}

package lifecycle

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"

	"github.com/rdsgate/rdsgate/internal/audit"
)

// TraceKey names the HTTP request id wherever it is recorded: the audit
// payload key, the log attribute and the execution job's argument, so that
// one search for it finds every line a request caused.
const TraceKey = "http_request_id"

type traceKey struct{}

// WithTrace returns ctx carrying id, the HTTP request id (X-Request-ID) of
// the call that causes the changes made under ctx. Every audit record a
// Service method writes under it has id in its payload (TraceKey), and an
// execution job it enqueues carries id to the executor (ReleaseJob.Trace).
// The caller vouches for id: package web accepts only short printable ones.
func WithTrace(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, traceKey{}, id)
}

// TraceFrom returns the HTTP request id ctx carries, or "" for none.
func TraceFrom(ctx context.Context) string {
	id, _ := ctx.Value(traceKey{}).(string)
	return id
}

// TraceLogHandler returns h adding the HTTP request id of a record's
// context (TraceKey) to the record, so that every line logged with such a
// context carries it, whichever component logs it. Wrapping a handler it
// returned again adds nothing.
func TraceLogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(traceLogHandler); ok {
		return h
	}
	return traceLogHandler{h}
}

type traceLogHandler struct{ slog.Handler }

func (h traceLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := TraceFrom(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String(TraceKey, id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceLogHandler{h.Handler.WithAttrs(as)}
}

func (h traceLogHandler) WithGroup(name string) slog.Handler {
	return traceLogHandler{h.Handler.WithGroup(name)}
}

// tracedStore puts the trace of the context on everything written through
// it: the payload of every audit record and the queue job of a change.
// New wraps the Store in it, so that no use case can forget the trace.
type tracedStore struct{ Store }

func (s tracedStore) InTx(ctx context.Context, fn func(Tx) error) error {
	return s.Store.InTx(ctx, func(tx Tx) error { return fn(tracedTx{tx}) })
}

func (s tracedStore) Append(ctx context.Context, recs ...audit.Record) error {
	return s.Store.Append(ctx, traced(TraceFrom(ctx), recs)...)
}

// tracedTx is a Tx whose Apply records the trace of its context.
type tracedTx struct{ Tx }

func (t tracedTx) Apply(ctx context.Context, c Change) error {
	if id := TraceFrom(ctx); id != "" {
		c.Trace, c.Events = id, traced(id, c.Events)
	}
	return t.Tx.Apply(ctx, c)
}

// traced returns recs with id in every payload; the callers' records and
// payload maps are left as they were (a retried transaction reuses them).
func traced(id string, recs []audit.Record) []audit.Record {
	if id == "" {
		return recs
	}
	out := make([]audit.Record, len(recs))
	for i, r := range recs {
		r.Payload = withTrace(r.Payload, id)
		out[i] = r
	}
	return out
}

// withTrace adds TraceKey to a payload. A payload that is not a map (the
// policy decision's log entry) is turned into one through its JSON object;
// one that is not a JSON object (none is) is left alone, and one that does
// not marshal is left for audit.Append to refuse.
func withTrace(p any, id string) any {
	switch p := p.(type) {
	case nil:
		return map[string]any{TraceKey: id}
	case map[string]any:
		m := maps.Clone(p)
		if m == nil {
			m = map[string]any{}
		}
		m[TraceKey] = id
		return m
	}
	b, err := json.Marshal(p)
	if err != nil {
		return p
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return p
	}
	m[TraceKey], _ = json.Marshal(id)
	return m
}

package quota

import "time"

// Observer is told how callers fared with the limiter; package metrics
// implements it. Its methods must be quick and must not block.
type Observer interface {
	// LimiterWaited: a caller of Await reached its slot of operation d
	// after it asked for one (Reserve).
	LimiterWaited(operation string, d time.Duration)
	// LimiterDeferred: Reserve refused a slot of operation because the next
	// free one was beyond the horizon.
	LimiterDeferred(operation string)
}

// SetObserver sets the observer of l's waits and deferrals. Call it before
// l is used.
func (l *Limiter) SetObserver(o Observer) { l.obs = o }

func (l *Limiter) waited(op string, d time.Duration) {
	if l.obs != nil {
		l.obs.LimiterWaited(op, d)
	}
}

func (l *Limiter) deferred(op string) {
	if l.obs != nil {
		l.obs.LimiterDeferred(op)
	}
}

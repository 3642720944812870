package request

import "fmt"

// Status is a request's state.
type Status string

// The states of a request. See docs/ARCHITECTURE.md for the diagram.
const (
	StatusPending   Status = "pending"
	StatusApproved  Status = "approved"
	StatusExecuting Status = "executing"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusRejected  Status = "rejected"
	StatusExpired   Status = "expired"
	StatusCancelled Status = "cancelled"
	StatusDenied    Status = "denied"
)

// Statuses lists every state, in lifecycle order.
var Statuses = []Status{
	StatusPending, StatusApproved, StatusExecuting, StatusSucceeded, StatusFailed,
	StatusRejected, StatusExpired, StatusCancelled, StatusDenied,
}

// transitions is the whole state machine. executing → approved is taken
// only when the call provably did not happen, so it may be made again: the
// API answered with a retryable error, the call was never sent, or
// reconciliation found the endpoint still present after an attempt whose
// outcome was unknown. approved → failed is a job that gave up before any
// call. approved → cancelled is a bulk request's target withdrawn before its
// call ("cancel the rest"); executing → cancelled is a bulk request whose
// targets ended with some cancelled and none failed. Withdrawing a single
// request is pending → cancelled only (Service.Cancel checks).
var transitions = map[Status][]Status{
	StatusPending:   {StatusApproved, StatusRejected, StatusExpired, StatusCancelled},
	StatusApproved:  {StatusExecuting, StatusFailed, StatusCancelled},
	StatusExecuting: {StatusSucceeded, StatusFailed, StatusApproved, StatusCancelled},
}

// Valid reports whether s is one of the known states.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Terminal reports whether no transition leaves s.
func (s Status) Terminal() bool { return len(transitions[s]) == 0 }

// CanTransition reports whether from → to is legal.
func CanTransition(from, to Status) bool {
	for _, t := range transitions[from] {
		if t == to {
			return true
		}
	}
	return false
}

// Transition returns nil when from → to is legal, else an error wrapping
// ErrConflict that names both states.
func Transition(from, to Status) error {
	if !CanTransition(from, to) {
		return fmt.Errorf("request is %s, cannot become %s: %w", from, to, ErrConflict)
	}
	return nil
}

// ParseStatus returns the Status named s, or a validation error for field.
func ParseStatus(field, s string) (Status, error) {
	st := Status(s)
	if !st.Valid() {
		return "", Invalid(field, "unknown status %q", s)
	}
	return st, nil
}

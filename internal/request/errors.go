package request

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Category sentinels. Every error that leaves a use case wraps one of them, and
// the web layer maps each to one HTTP status (see web.ErrorHandler).
var (
	// ErrNotFound: the request (or another named thing) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the input is malformed; a *ValidationError says which field.
	ErrInvalid = errors.New("invalid input")
	// ErrConflict: the action is illegal in the request's current state
	// (an illegal transition, a second vote).
	ErrConflict = errors.New("conflict")
	// ErrForbidden: the actor may not do this (not the requester, not an
	// eligible approver, self-approval).
	ErrForbidden = errors.New("forbidden")
	// ErrDenied: the policy denied the request at intake.
	ErrDenied = errors.New("denied by policy")
	// ErrAlreadyVoted is the conflict of a second vote by the same
	// approver, told apart from the request having changed (both are
	// ErrConflict); its text is ErrConflict's, so messages read as before.
	ErrAlreadyVoted error = conflictKind{"already voted"}
)

// conflictKind is a kind of ErrConflict that callers may test for.
type conflictKind struct{ kind string }

func (conflictKind) Error() string { return ErrConflict.Error() }
func (conflictKind) Unwrap() error { return ErrConflict }

// ValidationError names the field whose value is unacceptable.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// ValidationErrors are every field that is wrong, one error each, in the
// order of the form. errors.As finds the first *ValidationError in it and
// errors.Is(err, ErrInvalid) holds, as for a single one.
type ValidationErrors []*ValidationError

// Error joins the errors: "region_id: is required; ticket: ...".
func (e ValidationErrors) Error() string {
	parts := make([]string, len(e))
	for i, v := range e {
		parts[i] = v.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap returns the errors for errors.Is and errors.As.
func (e ValidationErrors) Unwrap() []error {
	out := make([]error, len(e))
	for i, v := range e {
		out[i] = v
	}
	return out
}

// Fields returns the *ValidationErrors err holds: every one of a
// ValidationErrors, or the one *ValidationError; nil when err is neither.
func Fields(err error) []*ValidationError {
	var all ValidationErrors
	if errors.As(err, &all) {
		return all
	}
	var one *ValidationError
	if errors.As(err, &one) {
		return []*ValidationError{one}
	}
	return nil
}

// Invalid returns a *ValidationError for field.
func Invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// CheckText returns a *ValidationError naming field when v is not valid
// UTF-8 or holds a NUL: PostgreSQL's text refuses both, so they are refused
// at the boundary, not as a failed write.
func CheckText(field, v string) error {
	if !utf8.ValidString(v) {
		return Invalid(field, "must be valid UTF-8 text")
	}
	if strings.ContainsRune(v, 0) {
		return Invalid(field, "must not contain NUL characters")
	}
	return nil
}

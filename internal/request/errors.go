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
)

// ValidationError names the field whose value is unacceptable.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

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

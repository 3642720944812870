package rdssim

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
)

// Fault is one fault-injection rule. JSON:
//
//	{"instance":"rm-...","action":"ReleaseInstanceConnection","code":"Throttling.User",
//	 "delay_ms":0,"code_after_release":false,"drop_after_release":false,"times":1}
type Fault struct {
	// Instance matches the request's DBInstanceId; empty matches any.
	Instance string `json:"instance,omitempty"`
	// Action matches x-acs-action; empty matches any.
	Action string `json:"action,omitempty"`
	// Code, if set, is answered instead of processing the request, with the
	// catalog's HTTP status and message. It must be in aliyun.Catalog().
	Code string `json:"code,omitempty"`
	// CodeAfterRelease performs the operation first (for
	// ReleaseInstanceConnection: the release) and then answers Code instead
	// of its result, as a server failing after the backend acted (e.g. 500
	// InternalError once the endpoint is gone). It needs Code.
	CodeAfterRelease bool `json:"code_after_release,omitempty"`
	// DelayMS sleeps this long before processing; the sleep ends early if the
	// client goes away, and then nothing is performed.
	DelayMS int `json:"delay_ms,omitempty"`
	// DropAfterRelease performs the operation (for ReleaseInstanceConnection:
	// the release) and then closes the connection without answering.
	// Ignored when Code is set. It needs a real connection to hijack: under
	// an httptest.ResponseRecorder the handler panics with
	// http.ErrAbortHandler instead.
	DropAfterRelease bool `json:"drop_after_release,omitempty"`
	// Times is how many more calls the rule applies to; 0 means forever.
	Times int `json:"times,omitempty"`
}

func (f Fault) validate() error {
	if f.Code != "" {
		if _, ok := aliyun.LookupError(f.Code); !ok {
			return fmt.Errorf("fault: code %q is not in the catalog", f.Code)
		}
	}
	if f.DelayMS < 0 {
		return fmt.Errorf("fault: negative delay_ms %d", f.DelayMS)
	}
	if f.Times < 0 {
		return fmt.Errorf("fault: negative times %d", f.Times)
	}
	if f.Code == "" && f.DelayMS == 0 && !f.DropAfterRelease {
		return errors.New("fault: set code, delay_ms or drop_after_release")
	}
	if f.CodeAfterRelease && f.Code == "" {
		return errors.New("fault: code_after_release needs a code")
	}
	return nil
}

func (f Fault) matches(action, instance string) bool {
	return (f.Action == "" || f.Action == action) && (f.Instance == "" || f.Instance == instance)
}

func (f Fault) delay() time.Duration { return time.Duration(f.DelayMS) * time.Millisecond }

// LoadFaults reads a rule file: a JSON array of Fault objects. Every rule is
// validated.
func LoadFaults(path string) ([]Fault, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load faults: %w", err)
	}
	var faults []Fault
	if err := decodeStrict(b, &faults); err != nil {
		return nil, fmt.Errorf("load faults %s: %w", path, err)
	}
	for i, f := range faults {
		if err := f.validate(); err != nil {
			return nil, fmt.Errorf("load faults %s: rule %d: %w", path, i, err)
		}
	}
	return faults, nil
}

// AddFault appends a rule after validating it.
func (s *Server) AddFault(f Fault) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
	return nil
}

// ClearFaults removes every rule.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Faults returns the rules in order, with their remaining Times.
func (s *Server) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Fault{}, s.faults...)
}

// takeFaultLocked returns the first rule matching the call and uses it up
// once. The caller holds s.mu.
func (s *Server) takeFaultLocked(action, instance string) (Fault, bool) {
	for i, f := range s.faults {
		if !f.matches(action, instance) {
			continue
		}
		if f.Times > 0 {
			s.faults[i].Times--
			if s.faults[i].Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return f, true
	}
	return Fault{}, false
}

// quotaKey identifies one sliding window.
type quotaKey struct {
	account string
	action  string
}

// admitLocked applies the quota: it reports whether a call at now is inside
// the limit and, if so, counts it. When refused it also returns how long
// until the oldest counted call leaves the window. The caller holds s.mu.
func (s *Server) admitLocked(account, action string, now time.Time) (bool, time.Duration) {
	return s.admitRateLocked(account, action, s.rate, now)
}

// admitRateLocked is admitLocked with rate calls per window (LookupEvents
// has a quota of its own). The caller holds s.mu.
func (s *Server) admitRateLocked(account, action string, rate int, now time.Time) (bool, time.Duration) {
	key := quotaKey{account, action}
	window := s.windows[key]
	cut := 0
	for cut < len(window) && !window[cut].After(now.Add(-s.window)) {
		cut++
	}
	window = window[cut:]
	if len(window) >= rate {
		s.windows[key] = window
		wait := window[0].Add(s.window).Sub(now)
		if wait < time.Millisecond {
			wait = time.Millisecond
		}
		return false, wait
	}
	s.windows[key] = append(window, now)
	return true, 0
}

package web

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReadTicketRule: a pattern is shown by an example it takes when one
// of the usual forms fits, else as itself; an empty ticket makes it
// optional, and a pattern any text passes asks nothing.
func TestReadTicketRule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern string
		want    ticketRule
	}{
		{`^[A-Z]+-[0-9]+$`, ticketRule{Example: "OPS-123"}},
		{`^CHG[0-9]{7}$`, ticketRule{Example: "CHG0012345"}},
		{`^RDS/\d{4}$`, ticketRule{}},
		{`^$|^[A-Z]+-[0-9]+$`, ticketRule{Example: "OPS-123", Optional: true}},
		{`.*`, ticketRule{Example: "OPS-123", Optional: true, Any: true}},
		{``, ticketRule{Example: "OPS-123", Optional: true, Any: true}},
	} {
		tc.want.Pattern = tc.pattern
		if d := cmp.Diff(tc.want, readTicketRule(tc.pattern)); d != "" {
			t.Errorf("%q (-want +got):\n%s", tc.pattern, d)
		}
	}
}

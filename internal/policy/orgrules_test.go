package policy

import (
	"context"
	"testing"
)

// TestOrgRules: the form's hints come from the loaded org data.
func TestOrgRules(t *testing.T) {
	t.Parallel()
	e, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.OrgRules(); got != (OrgRules{TicketPattern: "^[A-Z]+-[0-9]+$", JustificationMinLength: 10}) {
		t.Errorf("OrgRules() = %+v, want the example org.json's", got)
	}
}

package app

import "github.com/rdsgate/rdsgate/internal/policy"

// accountRegistry is lifecycle.Accounts over the policy engine, which
// loads accounts.json with the rest of the policy data (and reloads it).
type accountRegistry struct{ e *policy.Engine }

// AccountIDs lists the accounts of accounts.json; nil without one.
func (r accountRegistry) AccountIDs() []string {
	accs := r.e.Accounts()
	if accs == nil {
		return nil
	}
	ids := make([]string, len(accs))
	for i, a := range accs {
		ids[i] = a.ID
	}
	return ids
}

// DefaultAccountID is the account of requests that name none.
func (r accountRegistry) DefaultAccountID() string { return r.e.DefaultAccountID() }

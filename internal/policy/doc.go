// Package policy decides requests to release an RDS instance's public
// endpoint, and votes on them, by evaluating the Rego policies of
// github.com/rdsgate/rdsgate/policies in-process with OPA.
//
// An Engine serves one revision at a time: the Rego modules plus the data
// directory (ram.json and org.json or org.yaml; for several Alibaba Cloud
// accounts, accounts.json and ram/<account_id>.json), compiled and prepared
// once.
// Reload and Watch swap in a new revision atomically, or keep serving the old
// one when the new one does not load. Every decision carries the revision and
// the fields of an OPA decision log entry, for the audit trail.
//
// The Rego is the policy, and the only implementation of the decision: the
// prepared query evaluates the modules as written. Loading compiles the data
// once per revision, doing whatever does not depend on the request
// (ramdata.go, orgdata.go, stage.go), and the users' statements live in an
// index that answers rdsgate.ram.lookup (lookup.go): data, not logic.
//
// The package owns policy evaluation only: it records nothing and must not
// import the store, audit or web packages.
//
// docs/POLICY.md explains what runs in Go, and why.
package policy

// Package policy decides requests to release an RDS instance's public
// endpoint, and votes on them, by evaluating the Rego policies of
// github.com/rdsgate/rdsgate/policies in-process with OPA.
//
// An Engine serves one revision at a time: the Rego modules plus the data
// directory (ram.json and org.json or org.yaml), compiled and prepared once.
// Reload and Watch swap in a new revision atomically, or keep serving the old
// one when the new one does not load. Every decision carries the revision and
// the fields of an OPA decision log entry, for the audit trail.
//
// The package owns policy evaluation only: it records nothing and must not
// import the store, audit or web packages.
package policy

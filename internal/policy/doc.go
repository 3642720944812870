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
// The Rego is the policy. Loading does whatever does not depend on the
// request (ramdata.go, orgdata.go, stage.go, lookup.go), and when a
// revision's modules are exactly the shipped ones the RAM and org answers
// are computed in Go (native_*.go), because OPA's evaluator is several times
// slower on them; differential tests hold the Go to the Rego, and modules
// that differ in any byte are evaluated as written.
//
// The package owns policy evaluation only: it records nothing and must not
// import the store, audit or web packages.
//
// docs/POLICY.md explains what runs in Go, and why.
package policy

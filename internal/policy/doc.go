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
// # What runs in Go, and why
//
// The decisions are the Rego's: RAM semantics (actions and NotAction,
// wildcards, conditions, deny over allow, the statement reported) and the
// organisation's rules are written, and unit-tested, in policies/. OPA's
// evaluator costs about a microsecond per expression on the machines rdsgate
// runs on, so the engine arranges for a decision to evaluate as few
// expressions as possible, in three ways:
//
//   - Loading compiles the data files into the documents the Rego reads,
//     doing there whatever does not depend on the request: each user's
//     statements resolved from its policies and groups, in the order RAM
//     reports them; the environment of every instance org.json names; each
//     environment's approval paths and sentences; the freeze windows of each
//     environment (ramdata.go, orgdata.go).
//
//   - The request-independent functions of rdsgate.ram, applies (does a
//     statement concern rds:ReleaseInstanceConnection) and
//     condition_problems (which conditions cannot be evaluated), are
//     evaluated by the revision's own Rego when it loads, once per distinct
//     action or condition list, and only the statements that apply are kept,
//     each with its problems (stage.go).
//
//   - rdsgate.ram's lookup(subject, arn), the user's statements whose
//     Resource matches the instance, is answered from an index (lookup.go):
//     the prepared query replaces the Rego function with a builtin (`with
//     data.rdsgate.ram.lookup as rdsgate.ram_lookup`) that matches the
//     user's few patterns in Go. The Rego definition stays the reference:
//     the Rego tests and an OPA server given Engine.Data evaluate it, and
//     TestLookupMatchesRego and TestEngineMatchesReferencePolicy check that
//     the engine agrees with it. The statements then live in the index, not
//     in OPA's store, which keeps the live heap (and the garbage collector's
//     work) small: 10,000 users' statements were 1.6 million AST objects.
//
// docs/BENCHMARKS.md ("Policy decisions") has the figures. The heap is small,
// so the default GOGC suits; a process that serves many decisions a second
// and has memory to spare may raise it (GOGC=200) to halve collections.
//
// The package owns policy evaluation only: it records nothing and must not
// import the store, audit or web packages.
package policy

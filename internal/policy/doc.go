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
// organisation's rules are written, and unit-tested, in policies/, and
// rdsgate.release.compose turns RAM's answer (rdsgate.ram.answer) and the
// org rules' answer (rdsgate.org.answer) into the decision. OPA's evaluator
// costs one to two microseconds per expression on the machines rdsgate runs
// on, and the two answers are about 120 expressions, so the engine does the
// following:
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
//   - The users' statements live in an index (lookup.go), not in OPA's
//     store, which keeps the live heap (and the garbage collector's work)
//     small: 10,000 users' statements were 1.6 million AST objects.
//     rdsgate.ram's lookup(subject, arn) is answered from it by a builtin
//     (`with data.rdsgate.ram.lookup as rdsgate.ram_lookup`).
//
//   - When a revision's modules are exactly the shipped ones, the two
//     answers are computed in Go (native_ram.go, native_org.go) by builtins,
//     and the prepared query is rdsgate.release.compose over them: Rego
//     still composes the decision. The Go reads the Rego's own answers to
//     applies and condition_problems, and calls OPA's builtins where it must
//     read a value exactly as the Rego does. TestNativeAnswersMatchRego* and
//     TestEngineMatchesReferencePolicy hold it to the policies as written
//     (the whole data, no index, no Go answers), over every condition
//     operator and org rule; TestNativeOperatorsAreRegos checks that both
//     know the same operators. Modules that differ in any byte (an edited
//     Options.PolicyDir) are evaluated as written: an edit is never ignored,
//     only slower.
//
// docs/BENCHMARKS.md ("Policy decisions") has the figures: the Go answers
// make a decision about five times faster than the policies as written.
//
// The package owns policy evaluation only: it records nothing and must not
// import the store, audit or web packages.
package policy

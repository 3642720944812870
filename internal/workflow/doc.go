// Package workflow holds rdsgate's use cases for a release request: file it
// (the policy decides at once), vote on it, cancel it, expire it, read it.
//
// Each use case is one database transaction that changes the state, appends
// its audit events and, on approval, enqueues the execution job, so that no
// state change exists without its audit record and no job without its
// approval. Handlers (package web) call these; these call policy, store,
// audit and the executor's enqueue hook.
package workflow

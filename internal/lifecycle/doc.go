// Package lifecycle is the one place where a release request changes
// state: file, vote, cancel, expire, start an attempt, record its outcome,
// reconcile, give up, re-queue. Each is one method of Service and one
// transaction, whose only write is Tx.Apply(Change): the state change and
// the audit records that tell of it, written together or not at all. It
// also serves the read models the pages and the API share (a request's
// detail with its votes and attempts, lists, instance look-ups).
//
// It declares the storage it needs (Store, Tx), which package store
// implements, and imports only request, audit (the record type) and
// policy. Handlers (web) and the executor call it; it calls neither.
package lifecycle

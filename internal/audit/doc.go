// Package audit owns rdsgate's append-only, hash-chained audit trail: the
// event record, appending events inside the caller's transaction, sealing
// them into the SHA-256 chain, signing the chain head (checkpoints),
// verifying the trail online and from an export, exporting it, and
// searching it.
//
// Appending and chaining are split on purpose. Append inserts the event in
// the same transaction as the state change it records, so an event exists if
// and only if its change committed; it takes no lock. The Sealer then gives
// committed events their place in the chain (seq, prev_hash, hash), in one
// writer at a time across all replicas (a transaction-scoped advisory lock),
// in batches. A chain whose head is locked inside every business transaction
// serialises every commit behind it; this design keeps writers concurrent and
// still yields one linear chain. The Checkpointer signs the sealed head with
// Ed25519 under the same lock, so that a database administrator cannot
// rewrite or cut the sealed trail unnoticed. Chain holds the one
// implementation of the rules that Verify (database) and VerifyStream
// (export file) share. docs/AUDIT.md states the guarantees and the formats.
//
// It must not import any other rdsgate package: it talks to PostgreSQL
// through pgx directly.
package audit

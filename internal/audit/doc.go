// Package audit owns rdsgate's append-only, hash-chained audit trail: the
// event record, appending events inside the caller's transaction, sealing
// them into the SHA-256 chain, and verifying the chain.
//
// Appending and chaining are split on purpose. Append inserts the event in
// the same transaction as the state change it records, so an event exists if
// and only if its change committed; it takes no lock. The Sealer then gives
// committed events their place in the chain (seq, prev_hash, hash), in one
// writer at a time across all replicas (a transaction-scoped advisory lock),
// in batches. A chain whose head is locked inside every business transaction
// serialises every commit behind it; this design keeps writers concurrent and
// still yields one linear chain. docs/ARCHITECTURE.md states the guarantees.
//
// The package imports nothing of rdsgate's but the database driver.
package audit

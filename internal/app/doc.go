// Package app is the one place that builds rdsgate from a Config: the
// database pools and migrations, the store, the audit sealer and
// checkpointer, the policy engine and its watcher, the RDS clients (or the
// in-process simulator), the executor, the request lifecycle, request
// expiry and the HTTP server. `rdsgate serve` and `rdsgate dev`, the server
// and browser tests and the benchmarks all start it with Start and stop it
// with Close.
//
// It imports everything; nothing imports it but commands and tests.
package app

// Package metrics owns rdsgate's Prometheus metrics (prefix rdsgate_): their
// names, help and labels, one registry per application (so that several in
// one test process do not collide), and the /metrics handler that package
// app serves on a listener of its own (RDSGATE_METRICS_ADDR).
//
// Counters and histograms are counted where the event happens, through
// small observer interfaces that lifecycle, quota and the wiring declare
// and *Metrics satisfies (a nil *Metrics counts nothing). Gauges that are
// facts of the database (the queue, unsealed events, the last checkpoint,
// requests whose outcome is unknown) are read at scrape time by one
// collector with a short timeout, through a function the wiring supplies:
// the SQL stays with the packages that own the tables.
//
// It imports nothing of rdsgate's. docs/monitoring/README.md describes
// every metric and the example alerts.
package metrics

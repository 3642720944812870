// Package store owns rdsgate's PostgreSQL access: the pgx pool, migrations
// (goose for ours, River's migrator for the queue's), and the SQL of
// requests, votes, execution attempts and the job queue. DB implements
// lifecycle.Store: InTx commits and then kicks the audit sealer, and a
// transaction writes only through Apply, which sends a change's rows, its
// audit records and its queue job together.
//
// It turns pgx.ErrNoRows into request.ErrNotFound and unique violations
// into request.ErrConflict, so callers see domain errors only. The audit
// trail's own SQL is package audit's; the rate limiter's is package
// quota's; API tokens' is package auth's.
package store

// Package store owns rdsgate's PostgreSQL access: the pgx pool, migrations,
// transactions, and the SQL for requests, votes and API tokens.
//
// It turns pgx.ErrNoRows into request.ErrNotFound and unique violations into
// request.ErrConflict, so callers only see domain errors. The audit trail's
// SQL lives in package audit, which the use cases call with the same
// transaction.
package store

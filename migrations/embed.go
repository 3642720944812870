// Package migrations embeds the numbered SQL migrations that the rdsgate
// binary applies with goose (`rdsgate migrate`, and `rdsgate serve` at start).
//
// Files are named NNNNN_what.sql and carry goose's `-- +goose Up` / `-- +goose
// Down` sections. They are plain SQL so that a DBA can read and review them.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS

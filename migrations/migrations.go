// Package migrations holds hookd's SQL schema as numbered migration files, one directory per dialect
// (postgres/, sqlite/), embedded in the binary. storesql applies them in order and records each version
// in schema_migrations.
package migrations

import "embed"

// FS holds postgres/NNNN_name.up.sql and sqlite/NNNN_name.up.sql.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS

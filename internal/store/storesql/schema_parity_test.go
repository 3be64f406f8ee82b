package storesql_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/store/storesql"
	"github.com/hookd/hookd/internal/store/storetest"
)

// intendedDifferences are the schema objects that exist in one dialect only, on purpose. Everything else (every
// table, every column with its kind of type and its nullability, every index) must exist on both sides after all
// migrations. Besides these, by design and not compared: column types are the dialect's own (timestamptz and
// DATETIME, jsonb or json and TEXT, bytea and BLOB, … — compared by kind, see typeKind), PostgreSQL's log tables
// are partitioned by day (the partitions are not compared, their parents are), and primary keys and unique
// constraints are compared as columns, not by the names of the indexes behind them.
var intendedDifferences = []struct{ dialect, entry, why string }{
	{storesql.DialectSQLite, "index events.events_create_time_idx",
		"SQLite purges old events by create_time; PostgreSQL drops whole daily partitions instead"},
	{storesql.DialectSQLite, "index executions.executions_receive_time_idx",
		"SQLite purges old executions by receive_time; PostgreSQL drops whole daily partitions instead"},
	{storesql.DialectPostgres, "column webhook_stats.latency type bigint[] NOT NULL",
		"the latency histogram is an array on PostgreSQL (summed in the upsert) and a JSON array on SQLite"},
	{storesql.DialectSQLite, "column webhook_stats.latency text NOT NULL",
		"the latency histogram is an array on PostgreSQL (summed in the upsert) and a JSON array on SQLite"},
}

// TestSchemaParity migrates a PostgreSQL and a SQLite database to the latest version and compares their schemas:
// a migration written for one dialect only (a forgotten column, index or NOT NULL) fails here.
func TestSchemaParity(t *testing.T) {
	t.Parallel()
	pg := postgresSchema(t, storetest.NewPostgres(t))
	lite := sqliteSchema(t, storetest.NewSQLite(t))
	require.NotEmpty(t, pg)
	require.Contains(t, pg, "table webhooks", "the introspection sees the schema")

	intended := map[string]map[string]bool{storesql.DialectPostgres: {}, storesql.DialectSQLite: {}}
	for _, d := range intendedDifferences {
		intended[d.dialect][d.entry] = true
	}
	var problems []string
	check := func(dialect string, have, other map[string]bool) {
		for _, e := range slices.Sorted(maps.Keys(have)) {
			switch {
			case !other[e] && !intended[dialect][e]:
				problems = append(problems, fmt.Sprintf("only on %s: %s", dialect, e))
			case other[e] && intended[dialect][e]:
				problems = append(problems, fmt.Sprintf("listed as %s only, but on both: %s (update intendedDifferences)", dialect, e))
			}
		}
		for e := range intended[dialect] {
			if !have[e] {
				problems = append(problems, fmt.Sprintf("listed as %s only, but missing there: %s (update intendedDifferences)", dialect, e))
			}
		}
	}
	check(storesql.DialectPostgres, pg, lite)
	check(storesql.DialectSQLite, lite, pg)
	require.Empty(t, problems, "the migrations of the two dialects disagree:\n%s", strings.Join(problems, "\n"))
}

// postgresSchema lists the tables ("table t"), columns ("column t.c <kind> [NOT NULL]") and indexes ("index t.i")
// of the current schema, leaving out partitions and the indexes of primary keys and unique constraints.
func postgresSchema(t *testing.T, st *storetest.DB) map[string]bool {
	t.Helper()
	ctx := context.Background()
	out := map[string]bool{}
	rows, err := st.Pool().QueryContext(ctx, `
		SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition`)
	require.NoError(t, err)
	for rows.Next() {
		var table, column, typ string
		var notNull bool
		require.NoError(t, rows.Scan(&table, &column, &typ, &notNull))
		out["table "+table] = true
		out[columnEntry(table, column, typ, notNull)] = true
	}
	require.NoError(t, rows.Err())
	rows, err = st.Pool().QueryContext(ctx, `
		SELECT t.relname, i.relname
		FROM pg_index x
		JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_class t ON t.oid = x.indrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		WHERE n.nspname = current_schema() AND NOT t.relispartition
		  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid AND k.contype IN ('p', 'u'))`)
	require.NoError(t, err)
	for rows.Next() {
		var table, index string
		require.NoError(t, rows.Scan(&table, &index))
		out["index "+table+"."+index] = true
	}
	require.NoError(t, rows.Err())
	return out
}

// sqliteSchema is postgresSchema for SQLite (automatic indexes of keys and unique constraints left out).
func sqliteSchema(t *testing.T, st *storetest.DB) map[string]bool {
	t.Helper()
	ctx := context.Background()
	out := map[string]bool{}
	var tables []string
	require.NoError(t, st.Pool().SelectContext(ctx, &tables, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`))
	for _, table := range tables {
		out["table "+table] = true
		rows, err := st.Pool().QueryContext(ctx, `SELECT name, type, "notnull", pk FROM pragma_table_info(?)`, table)
		require.NoError(t, err)
		for rows.Next() {
			var column, typ string
			var notNull, pk int
			require.NoError(t, rows.Scan(&column, &typ, &notNull, &pk))
			out[columnEntry(table, column, typ, notNull == 1 || pk > 0)] = true
		}
		require.NoError(t, rows.Err())
	}
	rows, err := st.Pool().QueryContext(ctx, `SELECT tbl_name, name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`)
	require.NoError(t, err)
	for rows.Next() {
		var table, index string
		require.NoError(t, rows.Scan(&table, &index))
		out["index "+table+"."+index] = true
	}
	require.NoError(t, rows.Err())
	return out
}

func columnEntry(table, column, typ string, notNull bool) string {
	e := "column " + table + "." + column + " " + typeKind(typ)
	if notNull {
		e += " NOT NULL"
	}
	return e
}

// typeKind maps a column type of either dialect to what it holds; an unknown type is its own kind (and so
// differs from the other side until it is added here).
func typeKind(typ string) string {
	switch strings.ToLower(typ) {
	case "text", "json", "jsonb": // SQLite keeps JSON as TEXT
		return "text"
	case "integer", "bigint", "smallint":
		return "integer"
	case "boolean":
		return "boolean"
	case "real", "double precision":
		return "real"
	case "bytea", "blob":
		return "bytes"
	case "timestamp with time zone", "datetime":
		return "time"
	}
	return "type " + typ
}

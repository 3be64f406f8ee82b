package storesql_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store/storesql"
	"github.com/hookd/hookd/internal/store/storetest"
)

// oldSchema is a fresh database migrated to an earlier schema version, filled with raw SQL before upgrade opens it.
type oldSchema struct {
	t   *testing.T
	url string
	db  *sqlx.DB
}

// openOldSchema returns a fresh database of dialect migrated to version.
func openOldSchema(t *testing.T, dialect string, version int64) *oldSchema {
	t.Helper()
	url := storetest.MigrateTo(t, dialect, version)
	driver, dsn := "postgres", url
	if dialect == storesql.DialectSQLite {
		driver, dsn = "sqlite", url+"?_time_format=sqlite"
	}
	db, err := sqlx.Open(driver, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return &oldSchema{t: t, url: url, db: db}
}

// exec runs q (with ? placeholders) on the old schema.
func (o *oldSchema) exec(q string, args ...any) {
	o.t.Helper()
	_, err := o.db.ExecContext(context.Background(), o.db.Rebind(q), args...)
	require.NoError(o.t, err, q)
}

// upgrade closes the raw connection and opens the database with Open, which migrates it to the latest version.
func (o *oldSchema) upgrade(ctx context.Context) *storetest.DB {
	o.t.Helper()
	require.NoError(o.t, o.db.Close())
	s, err := storesql.Open(ctx, storesql.Config{URL: o.url, Logger: slog.New(slog.DiscardHandler), Keyring: secret.NewRandom()})
	require.NoError(o.t, err)
	o.t.Cleanup(func() { _ = s.Close() })
	return storetest.Wrap(s)
}

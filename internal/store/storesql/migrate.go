package storesql

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/hookd/hookd/migrations"
)

// migrationLockID is the pg_advisory_lock key held while migrating ("hookd" in ASCII).
const migrationLockID = 0x686f6f6b64

// migration is one numbered .up.sql file.
type migration struct {
	version int64
	name    string
	sql     string
}

// loadMigrations reads the dialect's migrations in version order.
func loadMigrations(dialect string) ([]migration, error) {
	entries, err := fs.ReadDir(migrations.FS, dialect)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".up.sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and '_'", name)
		}
		body, err := fs.ReadFile(migrations.FS, path.Join(dialect, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		out = append(out, migration{version: v, name: strings.TrimSuffix(name, ".up.sql"), sql: string(body)})
	}
	slices.SortFunc(out, func(a, b migration) int { return int(a.version - b.version) })
	return out, nil
}

// migrate applies pending migrations, each in its own transaction with its schema_migrations row.
// On PostgreSQL it holds an advisory lock so that processes starting together migrate once.
func migrate(ctx context.Context, db *sqlx.DB, dialect string, log *slog.Logger) error {
	return migrateTo(ctx, db, dialect, log, 0)
}

// MigrateTo applies the pending migrations up to and including version to the database of cfg (upgrade tests
// build a database of an older schema with it; 0 means all). It does not open a Store: the code of this
// version may not work on an older schema.
func MigrateTo(ctx context.Context, cfg Config, version int64) error {
	s, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.closeDB()
	return migrateTo(ctx, s.db, s.dialect, s.log, version)
}

// migrateTo is migrate stopping after version (0: all).
func migrateTo(ctx context.Context, db *sqlx.DB, dialect string, log *slog.Logger, version int64) error {
	all, err := loadMigrations(dialect)
	if err != nil {
		return err
	}
	if version > 0 {
		all = slices.DeleteFunc(all, func(m migration) bool { return m.version > version })
	}
	conn, err := db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if dialect == DialectPostgres {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockID); err != nil {
			return fmt.Errorf("migrate: take lock: %w", err)
		}
		defer func() {
			// A fresh context: the lock must be released even when ctx ended.
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockID)
		}()
	}
	for _, m := range all {
		applied, err := applyMigration(ctx, conn, dialect, m)
		if err != nil {
			return err
		}
		if applied {
			log.InfoContext(ctx, "applied migration", "dialect", dialect, "version", m.version, "name", m.name)
		}
	}
	return nil
}

// applyMigration runs m unless schema_migrations already lists it; it reports whether m ran.
func applyMigration(ctx context.Context, conn *sqlx.Conn, dialect string, m migration) (bool, error) {
	tx, err := conn.BeginTxx(ctx, nil) // BEGIN IMMEDIATE on SQLite: one migrator at a time
	if err != nil {
		return false, fmt.Errorf("migration %s: begin: %w", m.name, err)
	}
	defer func() { _ = tx.Rollback() }()
	var exists bool
	existsQuery := "SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations')"
	if dialect == DialectSQLite {
		existsQuery = "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')"
	}
	if err := tx.GetContext(ctx, &exists, existsQuery); err != nil {
		return false, fmt.Errorf("migration %s: check schema_migrations: %w", m.name, err)
	}
	if exists {
		var n int
		if err := tx.GetContext(ctx, &n, tx.Rebind("SELECT COUNT(*) FROM schema_migrations WHERE version = ?"), m.version); err != nil {
			return false, fmt.Errorf("migration %s: read schema_migrations: %w", m.name, err)
		}
		if n > 0 {
			return false, nil
		}
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("migration %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx, tx.Rebind("INSERT INTO schema_migrations (version, name, apply_time) VALUES (?, ?, ?)"),
		m.version, m.name, ts(time.Now())); err != nil {
		return false, fmt.Errorf("migration %s: record version: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migration %s: commit: %w", m.name, err)
	}
	return true, nil
}

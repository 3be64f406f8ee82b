// Package storetest gives tests real, isolated stores: a SQLite file in a temp dir, or a fresh PostgreSQL
// database cloned from a migrated template (TEST_DATABASE_URL, default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable). Every database is dropped in t.Cleanup.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
	"github.com/hookd/hookd/migrations"
)

// DefaultDatabaseURL is the PostgreSQL server used when TEST_DATABASE_URL is unset.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// templateLockID serializes template creation across test binaries running at once.
const templateLockID = 0x686f6f6b6474

// DB is a test's database: every part of an open storesql.DB embedded, so that a test calls any store method on
// one value and passes it wherever a part's interface is expected. Production code wires the parts one by one
// (storesql.DB's accessors); only tests hold them together.
type DB struct {
	*storesql.Store
	*storesql.Queue
	*storesql.RateWindows
	*storesql.Feed
	// Handle is the open database the parts belong to.
	Handle *storesql.DB
}

// Wrap returns the test handle of an open database.
func Wrap(db *storesql.DB) *DB {
	return &DB{Store: db.Store(), Queue: db.Queue(), RateWindows: db.RateWindows(), Feed: db.Feed(), Handle: db}
}

// Notifier returns the database's notifier.
func (d *DB) Notifier() *storesql.Notifier { return d.Handle.Notifier() }

// Dialect is "postgres" or "sqlite".
func (d *DB) Dialect() string { return d.Handle.Dialect() }

// Pool returns the main connection pool.
func (d *DB) Pool() *sqlx.DB { return d.Handle.Pool() }

// Close closes the database.
func (d *DB) Close() error { return d.Handle.Close() }

// NewSQLite returns a migrated SQLite store in a temporary directory, closed in t.Cleanup.
func NewSQLite(t testing.TB) *DB {
	t.Helper()
	s, err := storesql.Open(context.Background(), storesql.Config{URL: t.TempDir(), Logger: quietLogger(), Keyring: secret.NewRandom()})
	if err != nil {
		t.Fatalf("storetest: open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return Wrap(s)
}

// NewPostgres returns a store on a fresh migrated PostgreSQL database, closed and dropped in t.Cleanup.
// Without a reachable server the test is skipped (it fails when CI=true).
func NewPostgres(t testing.TB) *DB {
	t.Helper()
	u := PostgresURL(t)
	s, err := storesql.Open(context.Background(), storesql.Config{URL: u, Logger: quietLogger(), MaxOpenConns: 10,
		Keyring: secret.NewRandom()})
	if err != nil {
		t.Fatalf("storetest: open postgres: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() }) // runs before the database drop registered by PostgresURL
	return Wrap(s)
}

// PostgresURL creates a fresh migrated PostgreSQL database and returns its URL (for tests that start real hookd
// processes); the database is dropped in t.Cleanup. Without a reachable server the test is skipped (fails
// when CI=true).
func PostgresURL(t testing.TB) string {
	t.Helper()
	return createDatabase(t, server(t).template)
}

// createDatabase creates a database copied from template and drops it in t.Cleanup.
func createDatabase(t testing.TB, template string) string {
	t.Helper()
	srv := server(t)
	name := "hookd_test_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := retryInUse(ctx, func() error {
		_, err := srv.db.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, pq.QuoteIdentifier(name), pq.QuoteIdentifier(template)))
		return err
	})
	if err != nil {
		t.Fatalf("storetest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := srv.db.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, pq.QuoteIdentifier(name))); err != nil {
			t.Errorf("storetest: drop database %s: %v", name, err)
		}
	})
	return withDatabase(srv.url, name)
}

// EmptyPostgresURL creates a fresh database without any migration and returns its URL (for migration tests);
// it is dropped in t.Cleanup. Without a reachable server the test is skipped (fails when CI=true).
func EmptyPostgresURL(t testing.TB) string {
	t.Helper()
	return createDatabase(t, "template0")
}

// MigrateTo returns the URL of a fresh database of dialect (storesql.DialectSQLite or DialectPostgres) migrated
// up to version only, for upgrade tests: fill it with the old schema's SQL, then storesql.Open migrates it forward.
// A SQLite URL is the path of a .db file (open it with database/sql and the "sqlite" driver); the database is
// removed in t.Cleanup.
func MigrateTo(t testing.TB, dialect string, version int64) string {
	t.Helper()
	var u string
	switch dialect {
	case storesql.DialectSQLite:
		u = filepath.Join(t.TempDir(), "hookd.db")
	case storesql.DialectPostgres:
		u = EmptyPostgresURL(t)
	default:
		t.Fatalf("storetest: unknown dialect %q", dialect)
	}
	if err := storesql.MigrateTo(context.Background(), storesql.Config{URL: u, Logger: quietLogger()}, version); err != nil {
		t.Fatalf("storetest: migrate %s to %d: %v", dialect, version, err)
	}
	return u
}

// ForEachBackend runs fn as the subtests "sqlite" and "postgres", each with its own fresh store.
func ForEachBackend(t *testing.T, fn func(t *testing.T, s store.Store)) {
	t.Helper()
	ForEachStore(t, func(t *testing.T, s *DB) { fn(t, s) })
}

// ForEachStore is ForEachBackend for tests that also use the queue, notifier, rate windows, feed or upkeep of the
// store.
func ForEachStore(t *testing.T, fn func(t *testing.T, s *DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, NewSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, NewPostgres(t)) })
}

// ForEachBackendParallel is ForEachBackend with parallel subtests.
func ForEachBackendParallel(t *testing.T, fn func(t *testing.T, s store.Store)) {
	t.Helper()
	ForEachStoreParallel(t, func(t *testing.T, s *DB) { fn(t, s) })
}

// ForEachStoreParallel is ForEachStore with parallel subtests. Each store is opened once its subtest runs, not
// while it waits for its turn: parallel subtests that opened their stores first held a PostgreSQL database and its
// connections each while they waited, more than a default server's 100 connections.
func ForEachStoreParallel(t *testing.T, fn func(t *testing.T, s *DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); fn(t, NewSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { t.Parallel(); fn(t, NewPostgres(t)) })
}

// ForEachClusterParallel runs fn as the parallel subtests "sqlite" and "postgres", each with two stores opened on
// one fresh database (sharing their secret keys), as two processes of a cluster would.
func ForEachClusterParallel(t *testing.T, fn func(t *testing.T, a, b *DB)) {
	t.Helper()
	open := func(t *testing.T, url string, keys *secret.Keyring) *DB {
		s, err := storesql.Open(context.Background(), storesql.Config{URL: url, Logger: quietLogger(), MaxOpenConns: 10, Keyring: keys})
		if err != nil {
			t.Fatalf("storetest: open %s: %v", url, err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return Wrap(s)
	}
	for name, url := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return t.TempDir() },
		"postgres": func(t *testing.T) string { return PostgresURL(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			u, keys := url(t), secret.NewRandom()
			fn(t, open(t, u, keys), open(t, u, keys))
		})
	}
}

// pgServer is the test PostgreSQL server: an admin connection and the migrated template database's name.
type pgServer struct {
	url      string
	db       *sql.DB
	template string
	err      error
}

var (
	serverOnce sync.Once
	theServer  pgServer
)

// server connects to the test server once per test binary and makes sure the template exists.
func server(t testing.TB) *pgServer {
	t.Helper()
	serverOnce.Do(func() { theServer = connectServer() })
	if theServer.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("storetest: PostgreSQL is required in CI: %v", theServer.err)
		}
		t.Skipf("storetest: SKIPPING POSTGRES TEST — no PostgreSQL at TEST_DATABASE_URL (%v); set TEST_DATABASE_URL or start a server", theServer.err)
	}
	return &theServer
}

func connectServer() pgServer {
	u := os.Getenv("TEST_DATABASE_URL")
	if u == "" {
		u = DefaultDatabaseURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, err := sql.Open("postgres", u)
	if err != nil {
		return pgServer{err: err}
	}
	pingCtx, pingCancel := context.WithTimeout(ctx, 5*time.Second)
	defer pingCancel()
	if err := db.PingContext(pingCtx); err != nil {
		_ = db.Close()
		return pgServer{err: err}
	}
	db.SetMaxOpenConns(4)
	tpl, err := ensureTemplate(ctx, db, u)
	if err != nil {
		_ = db.Close()
		return pgServer{err: fmt.Errorf("prepare template database: %w", err)}
	}
	return pgServer{url: u, db: db, template: tpl}
}

// ensureTemplate returns the name of a database migrated with the current migrations, creating it if needed.
// The name carries a hash of the migrations, so a changed schema gets a new template.
func ensureTemplate(ctx context.Context, db *sql.DB, adminURL string) (string, error) {
	name := "hookd_tpl_" + migrationsHash()
	conn, err := db.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, templateLockID); err != nil {
		return "", err
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, templateLockID)
	}()
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_building_" + randomHex(4)
	if _, err := conn.ExecContext(ctx, `CREATE DATABASE `+pq.QuoteIdentifier(building)); err != nil {
		return "", err
	}
	if err := storesql.Migrate(ctx, storesql.Config{URL: withDatabase(adminURL, building), Logger: quietLogger()}); err != nil {
		_, _ = conn.ExecContext(ctx, `DROP DATABASE IF EXISTS `+pq.QuoteIdentifier(building)+` WITH (FORCE)`)
		return "", err
	}
	// Renaming publishes the template only once it is complete.
	err = retryInUse(ctx, func() error {
		_, err := conn.ExecContext(ctx, fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, pq.QuoteIdentifier(building), pq.QuoteIdentifier(name)))
		return err
	})
	if err != nil {
		return "", err
	}
	return name, nil
}

// retryInUse retries fn while PostgreSQL reports the source database in use (a just-closed connection
// may linger for a moment).
func retryInUse(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		var pqErr *pq.Error
		if err == nil || !errors.As(err, &pqErr) || pqErr.Code != "55006" {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// migrationsHash identifies the PostgreSQL migrations' content.
func migrationsHash() string {
	h := sha256.New()
	_ = fs.WalkDir(migrations.FS, "postgres", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, p)
		if err != nil {
			return err
		}
		h.Write([]byte(p))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// withDatabase returns the URL u pointing at database name.
func withDatabase(u, name string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return u
	}
	parsed.Path = "/" + name
	return parsed.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// quietLogger keeps warnings and errors of the test stores, not the migration chatter.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

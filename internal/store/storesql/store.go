// Package storesql implements store.Store with one sqlx-based code base for two dialects: PostgreSQL
// (lib/pq; several hookd processes may share a database) and embedded SQLite (modernc.org/sqlite, pure Go).
// Dialect-specific SQL is limited to the queue claim, batched completions, rate buckets and migrations.
package storesql

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hookd/hookd/internal/filter"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
)

// Dialect names returned by Store.Dialect.
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite"
)

// DefaultDataDir is the SQLite directory used when Config.URL is empty.
const DefaultDataDir = "./hookd-data"

// sqliteFileName is the database file inside the SQLite data directory.
const sqliteFileName = "hookd.db"

// workChannel is the PostgreSQL NOTIFY channel that wakes idle senders.
const workChannel = "hookd_work"

// Config says which database to open.
type Config struct {
	// URL is a PostgreSQL URL (postgres:// or postgresql://), or else the path of the SQLite data directory
	// (or of a file ending in .db, .sqlite or .sqlite3). Empty means DefaultDataDir.
	URL string
	// Logger logs migrations and listener problems (default slog.Default()).
	Logger *slog.Logger
	// MaxOpenConns caps the connection pool (default 20 on PostgreSQL, 8 on SQLite).
	MaxOpenConns int
	// Keyring encrypts secrets at rest (required by Open; Migrate without one applies the schema only).
	Keyring *secret.Keyring
}

// Store is the SQL implementation of store.Store, store.Queue and store.RateWindows; Listener returns its
// store.Listener.
type Store struct {
	db *sqlx.DB
	// async is a second PostgreSQL pool whose sessions commit with synchronous_commit = off: claims and
	// completions, whose loss in a crash only means one more send of the same delivery (at least once). On
	// SQLite it is db.
	async   *sqlx.DB
	dialect string
	url     string
	log     *slog.Logger
	hub     *hub
	origin  string // identifies this store's NOTIFYs, so that its listener skips them
	keys    *secret.Keyring
	// filters caches the compiled subscription filters publishing evaluates.
	filters *filter.Cache
	// changed is closed and replaced after every commit that finishes deliveries (see DeliveriesChanged).
	changed changeSignal
	// feed routes delivery changes to watchers (WatchDeliveries).
	feed *feed
	// noBooks skips the books (statistics, health, operational events): only BenchmarkQueueCycle sets it, to
	// measure what they cost.
	noBooks bool

	closeOnce sync.Once
	// prepared holds the hot statements prepared on PostgreSQL, by text (see hotStatements).
	prepared map[string]*sqlx.Stmt
	// sqliteStmts caches SQLite's prepared statements, by text (see stmt).
	sqliteMu    sync.Mutex
	sqliteStmts map[string]*sqlx.Stmt

	notifyOnce sync.Once
	notifyMu   sync.Mutex
	notifyDue  time.Time // earliest due time of the wake-ups the pending NOTIFY carries
	notifyCh   chan struct{}
	notifyStop chan struct{}
	notifyDone chan struct{}
}

var (
	_ store.Store       = (*Store)(nil)
	_ store.Queue       = (*Store)(nil)
	_ store.RateWindows = (*Store)(nil)
)

func init() {
	sqlx.BindDriver("sqlite", sqlx.QUESTION)
}

// Open connects to the database of cfg, runs pending migrations and returns the store.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Keyring == nil {
		return nil, errors.New("open store: no keyring for the secrets at rest (Config.Keyring)")
	}
	s, err := connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, s.db, s.dialect, s.log); err != nil {
		s.closeDB()
		return nil, err
	}
	if err := s.prepareSecrets(ctx); err != nil {
		s.closeDB()
		return nil, err
	}
	if err := s.bindPrivateOrigins(ctx); err != nil {
		s.closeDB()
		return nil, err
	}
	// Every project has the operational event types, in their current form.
	if err := s.ensureOperationalTypes(ctx, s.db, time.Now()); err != nil {
		s.closeDB()
		return nil, err
	}
	if err := s.prepareHot(ctx); err != nil {
		s.closeDB()
		return nil, err
	}
	return s, nil
}

// Migrate applies pending migrations to the database of cfg and closes it (`hookd migrate`); with a keyring it
// also encrypts secrets left in clear by older versions, as Open does.
func Migrate(ctx context.Context, cfg Config) error {
	s, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.closeDB()
	if err := migrate(ctx, s.db, s.dialect, s.log); err != nil {
		return err
	}
	if err := s.bindPrivateOrigins(ctx); err != nil {
		return err
	}
	if cfg.Keyring != nil {
		return s.prepareSecrets(ctx)
	}
	return nil
}

// IsPostgresURL reports whether url selects PostgreSQL rather than SQLite.
func IsPostgresURL(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

func connect(ctx context.Context, cfg Config) (*Store, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Store{log: log, hub: newHub(), keys: cfg.Keyring, origin: randomToken(9), filters: filter.NewCache()}
	s.feed = newFeed(s)
	var err error
	if IsPostgresURL(cfg.URL) {
		s.dialect, s.url = DialectPostgres, postgresURL(cfg.URL)
		s.db, err = sqlx.Open("postgres", s.url)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		// As many idle connections as open ones: a pool that closes busy-time extras reopens them moments
		// later, and every new PostgreSQL session is a new backend process.
		s.db.SetMaxOpenConns(cmp.Or(cfg.MaxOpenConns, 20))
		s.db.SetMaxIdleConns(cmp.Or(cfg.MaxOpenConns, 20))
		s.db.SetConnMaxIdleTime(5 * time.Minute)
		// lib/pq sends unknown URL parameters as session settings.
		s.async, err = sqlx.Open("postgres", withParam(s.url, "synchronous_commit", "off"))
		if err != nil {
			_ = s.db.Close()
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		s.async.SetMaxOpenConns(asyncConns)
		s.async.SetMaxIdleConns(asyncConns)
		s.async.SetConnMaxIdleTime(5 * time.Minute)
	} else {
		var dsn string
		dsn, s.url, err = sqliteDSN(cfg.URL)
		if err != nil {
			return nil, err
		}
		s.dialect = DialectSQLite
		s.db, err = sqlx.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		s.db.SetMaxOpenConns(cmp.Or(cfg.MaxOpenConns, 8))
		s.db.SetMaxIdleConns(8)
		s.async = s.db
	}
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s.db.PingContext(pingCtx); err != nil {
		s.closeDB()
		return nil, fmt.Errorf("connect to %s: %w", s.dialect, err)
	}
	return s, nil
}

// asyncConns is the size of the PostgreSQL pool for claims and completions: one claimer and a few flushers.
const asyncConns = 6

// closeDB closes the pools.
func (s *Store) closeDB() error {
	err := s.db.Close()
	if s.async != nil && s.async != s.db {
		_ = s.async.Close()
	}
	return err
}

// Close stops the notifier and closes the database; safe to call twice. Listeners are stopped by their owner.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.notifyOnce.Do(func() {}) // no notifier may start after Close
		if s.notifyStop != nil {
			close(s.notifyStop)
			<-s.notifyDone
		}
		s.feed.close()
		s.closePrepared()
		err = s.closeDB()
	})
	return err
}

// Ping checks the database is reachable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// Dialect is "postgres" or "sqlite".
func (s *Store) Dialect() string { return s.dialect }

// DB returns the underlying pool (for tests and diagnostics; hookd itself goes through Store methods).
func (s *Store) DB() *sqlx.DB { return s.db }

func (s *Store) pg() bool { return s.dialect == DialectPostgres }

// queryer is what both *sqlx.DB and *sqlx.Tx offer.
type queryer interface {
	sqlx.ExtContext
	GetContext(ctx context.Context, dest any, query string, args ...any) error
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
}

// inTx runs fn in a transaction (BEGIN IMMEDIATE on SQLite) and commits when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		s.feed.finished(tx, false)
		return err
	}
	if err := tx.Commit(); err != nil {
		s.feed.finished(tx, false)
		return fmt.Errorf("commit: %w", mapErr(err))
	}
	s.feed.finished(tx, true)
	return nil
}

// rebind turns ? placeholders into the dialect's.
func (s *Store) rebind(q string) string { return s.db.Rebind(q) }

// inList returns the query and arguments that match a list: on SQLite q with its list expanded (sqlx.In), on
// PostgreSQL pgQuery with the list as one text[] argument (a fixed text, so it can be prepared). The list is the
// last argument of both.
func (s *Store) inList(q, pgQuery string, list []string, args ...any) (string, []any, error) {
	if s.pg() {
		return pgQuery, append(args, textArray(list)), nil
	}
	return s.in(q, append(args, list)...)
}

// in expands slice arguments of q (sqlx.In) and rebinds the placeholders.
func (s *Store) in(q string, args ...any) (string, []any, error) {
	q, args, err := sqlx.In(q, args...)
	if err != nil {
		return "", nil, fmt.Errorf("expand query: %w", err)
	}
	return s.rebind(q), args, nil
}

// mapErr turns driver errors about constraints into store errors.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code {
		case "23505":
			return fmt.Errorf("%w: %s", store.ErrAlreadyExists, pqErr.Constraint)
		case "23503":
			return fmt.Errorf("%w: %s", store.ErrConflict, pqErr.Constraint)
		}
		return err
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %s", store.ErrAlreadyExists, sqErr.Error())
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %s", store.ErrConflict, sqErr.Error())
		}
	}
	if strings.Contains(err.Error(), "UNIQUE constraint failed") {
		return fmt.Errorf("%w: %s", store.ErrAlreadyExists, err.Error())
	}
	return err
}

// wrap maps driver errors and adds what was being done.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, mapErr(err))
}

// ts normalizes a time for storage: UTC, microsecond precision (what PostgreSQL keeps), so that both
// dialects return exactly what was stored and SQLite's text times sort in time order.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// tsPtr is ts for optional times.
func tsPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

// orNow returns t normalized, or now when t is zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return ts(time.Now())
	}
	return ts(t)
}

// randomToken returns n random bytes, base64url encoded without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// claimToken returns a random token identifying one claim.
func claimToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// pageArgs returns the keyset condition and limit of a page ordered by id DESC.
func pageCond(page store.Page, col string, where []string, args []any) ([]string, []any) {
	if page.After != "" {
		where = append(where, col+" < ?")
		args = append(args, page.After)
	}
	return where, args
}

// limit returns the page size (at least 1).
func limit(page store.Page) int {
	if page.Size <= 0 {
		return 1
	}
	return page.Size
}

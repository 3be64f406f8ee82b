// Package storesql implements hookd's store with one sqlx-based code base for two dialects: PostgreSQL (lib/pq;
// several hookd processes may share a database) and embedded SQLite (modernc.org/sqlite, pure Go). It is the only
// package with SQL.
//
// Open returns a DB whose parts are separate types over one shared connection (conn: the pools, the dialect,
// the statement caches, the keyring that seals secrets at rest, the notifier and the feed):
//
//   - Store (store.Store): configuration (projects, keys, integrations, webhooks, event types, subscriptions,
//     triggers), publishing, the delivery and execution logs, webhook health and statistics, retention (purge,
//     partitions) and secret rotation;
//   - Queue (store.Queue): claims and completions of deliveries, with the books (statistics, health,
//     operational events) kept in the completing transaction; claims and completions commit asynchronously on
//     PostgreSQL (a second pool);
//   - RateWindows (store.RateWindows): rolling one-second rate windows shared by the processes of a cluster;
//   - Feed (store.DeliveryFeed): delivery watches and the cross-process watcher registry;
//   - Notifier (store.Listener): the process's one LISTEN connection, whose topics are work wake-ups, delivery
//     changes and watcher announcements, plus the in-process signal of committed outcomes (DeliveriesChanged).
//
// The notifier and the feed are background services with startstop's Start/Stop; their owner (internal/server)
// starts them, and DB.Close stops them if it has not.
//
// Dialect differences are branches on conn.pg() (or dialect-specific statement texts chosen beside them), in most
// files: connection setup and URLs (store.go, dialect.go), migrations (migrate.go, one directory per dialect),
// prepared statements (prepared.go), the queue claim and batched completions (queue.go), the books (account.go),
// publishing and bulk inserts (event.go, bulk.go), health and replays (health.go), rate windows (ratewindow.go),
// retention and partitions (retention.go: PostgreSQL drops day partitions, SQLite deletes in batches), secret
// rotation locks (secrets.go), trigger signatures (trigger.go), private-origin binding (webhook.go), deliveries
// (delivery.go), and NOTIFY/LISTEN in the notifier and the feed (notify.go, watch.go: in-process only on SQLite).
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
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hookd/hookd/internal/filter"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
)

// Dialect names returned by DB.Dialect.
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite"
)

// DefaultDataDir is the SQLite directory used when Config.URL is empty.
const DefaultDataDir = "./hookd-data"

// sqliteFileName is the database file inside the SQLite data directory.
const sqliteFileName = "hookd.db"

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

// conn is what the store's parts share: the pools and the dialect, the statement caches, the keyring that seals
// secrets, the notifier (wake-ups go out after commit) and the feed (transactions note changes for watchers).
// Every part embeds it, so that helpers written once (inTx, rebind, stmt, the books) serve them all.
type conn struct {
	db *sqlx.DB
	// async is a second PostgreSQL pool whose sessions commit with synchronous_commit = off: claims and
	// completions, whose loss in a crash only means one more send of the same delivery (at least once). On
	// SQLite it is db.
	async   *sqlx.DB
	dialect string
	url     string
	log     *slog.Logger
	origin  string // identifies this process's NOTIFYs, so that its notifier skips them
	keys    *secret.Keyring
	// notify carries wake-ups, delivery changes and watcher announcements (see Notifier).
	notify *Notifier
	// handoff is the sender of this process that publishes hand their deliveries to (see handoff.go).
	handoff handoffSlot
	// feed routes delivery changes to watchers (see Feed).
	feed *Feed
	// filters caches the compiled subscription filters publishing evaluates.
	filters *filter.Cache
	// routes remembers publishes' route lookups (PostgreSQL, see routecache.go).
	routes routeCache
	// noBooks skips the books (statistics, health, operational events): only BenchmarkQueueCycle sets it (through
	// export_test.go), to measure what they cost.
	noBooks bool

	// prepared holds the hot statements prepared on PostgreSQL, by text (see hotStatements); preparedAsync the same
	// on the async pool, for transactions begun there (asyncTxs).
	prepared, preparedAsync map[string]*sqlx.Stmt
	// asyncTxs holds the transactions open on the async pool (inAsyncTx), whose statements use preparedAsync.
	asyncTxs sync.Map
	// sqliteStmts caches SQLite's prepared statements, by text (see stmt).
	sqliteMu    sync.Mutex
	sqliteStmts map[string]*sqlx.Stmt
	// sqliteClosed (under sqliteMu) stops new statements being prepared; sqlitePrepares counts the preparations
	// running, which Close waits for (a connection still preparing would outlive the closed pool).
	sqliteClosed   bool
	sqlitePrepares sync.WaitGroup
	// sqliteWriter admits one write transaction of this process at a time, first come first served (SQLite has one
	// writer; its busy handler polls and is not fair, so that under many concurrent writers one could wait past
	// busy_timeout while holding a pool connection). nil on PostgreSQL.
	sqliteWriter chan struct{}

	// resealedAtOpen counts the secrets Open re-encrypted under the current key (reported by RotateSecrets).
	resealedAtOpen RotateResult
	// closed is set by DB.Close: wake-ups are no longer sent.
	closed atomic.Bool
}

// DB is an open database: Open returns it, and the server wires each of its parts where it is needed. The parts
// are separate types over one shared connection (pools, dialect, statement caches, keyring):
//
//   - Store: configuration, events and the logs (store.Store), retention and secret rotation;
//   - Queue: claims and completions of deliveries with their books (store.Queue), on the async pool;
//   - RateWindows: the rolling one-second rate windows shared by the processes of a cluster (store.RateWindows);
//   - Feed: delivery watches (store.DeliveryFeed) and the cross-process watcher registry;
//   - Notifier: the one LISTEN connection of the process and the in-process fan-out of its topics
//     (store.Listener for wake-ups).
type DB struct {
	c     *conn
	store *Store
	queue *Queue
	rates *RateWindows

	closeOnce sync.Once
}

// Store is the configuration, events and logs of the database: store.Store, plus retention (the purger's) and
// secret rotation.
type Store struct{ *conn }

// Queue is the delivery queue (store.Queue): claims and completions with their books.
type Queue struct{ *conn }

// RateWindows are the rate limits shared by the processes of a cluster (store.RateWindows): at most N admissions
// of a key in any rolling second.
type RateWindows struct{ *conn }

var (
	_ store.Store        = (*Store)(nil)
	_ store.Queue        = (*Queue)(nil)
	_ store.RateWindows  = (*RateWindows)(nil)
	_ store.DeliveryFeed = (*Feed)(nil)
	_ store.Listener     = (*Notifier)(nil)
)

// Store returns the configuration, events and logs.
func (d *DB) Store() *Store { return d.store }

// Queue returns the delivery queue.
func (d *DB) Queue() *Queue { return d.queue }

// RateWindows returns the shared rate windows.
func (d *DB) RateWindows() *RateWindows { return d.rates }

// Feed returns the delivery feed (WatchDeliveries); every serving process starts it.
func (d *DB) Feed() *Feed { return d.c.feed }

// Notifier returns the process's notifier; its owner starts it before the services that listen through it.
func (d *DB) Notifier() *Notifier { return d.c.notify }

func init() {
	sqlx.BindDriver("sqlite", sqlx.QUESTION)
}

// Open connects to the database of cfg, runs pending migrations and returns it.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.Keyring == nil {
		return nil, errors.New("open store: no keyring for the secrets at rest (Config.Keyring)")
	}
	s, err := connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	st := &Store{s}
	if err := migrate(ctx, s.db, s.dialect, s.log); err != nil {
		s.closeDB()
		return nil, err
	}
	if err := st.prepareSecrets(ctx); err != nil {
		s.closeDB()
		return nil, err
	}
	if err := st.bindPrivateOrigins(ctx); err != nil {
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
	return &DB{c: s, store: st, queue: &Queue{s}, rates: &RateWindows{s}}, nil
}

// Migrate applies pending migrations to the database of cfg and closes it (`hookd migrate`); with a keyring it
// also encrypts secrets left in clear by older versions, as Open does.
func Migrate(ctx context.Context, cfg Config) error {
	s, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.closeDB()
	st := &Store{s}
	if err := migrate(ctx, s.db, s.dialect, s.log); err != nil {
		return err
	}
	if err := st.bindPrivateOrigins(ctx); err != nil {
		return err
	}
	if cfg.Keyring != nil {
		return st.prepareSecrets(ctx)
	}
	return nil
}

// IsPostgresURL reports whether url selects PostgreSQL rather than SQLite.
func IsPostgresURL(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

func connect(ctx context.Context, cfg Config) (*conn, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &conn{log: log, keys: cfg.Keyring, origin: randomToken(9), filters: filter.NewCache()}
	s.notify = newNotifier(s)
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
		if err := createPrivate(s.url); err != nil {
			return nil, err
		}
		s.db, err = sqlx.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		s.db.SetMaxOpenConns(cmp.Or(cfg.MaxOpenConns, 8))
		s.db.SetMaxIdleConns(8)
		s.async = s.db
		s.sqliteWriter = make(chan struct{}, 1)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s.db.PingContext(pingCtx); err != nil {
		s.closeDB()
		return nil, fmt.Errorf("connect to %s: %w", s.dialect, err)
	}
	if s.dialect == DialectSQLite {
		if err := s.privateFiles(); err != nil {
			s.closeDB()
			return nil, err
		}
	}
	return s, nil
}

// createPrivate creates the SQLite database file with mode 0600 when it does not exist yet, whatever the umask
// (SQLite gives its -wal and -shm files the database file's mode).
func createPrivate(file string) error {
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create sqlite database: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return fmt.Errorf("create sqlite database: %w", err)
	}
	return f.Close()
}

// privateFiles makes the SQLite database and its -wal and -shm files readable by their owner only (files made by
// versions that created them 0644 included) and warns when others may read the data directory.
func (s *conn) privateFiles() error {
	for _, f := range []string{s.url, s.url + "-wal", s.url + "-shm"} {
		fi, err := os.Stat(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlite database: %w", err)
		}
		if fi.Mode().Perm() != 0o600 {
			if err := os.Chmod(f, 0o600); err != nil {
				return fmt.Errorf("make the sqlite database private: %w", err)
			}
		}
	}
	dir := filepath.Dir(s.url)
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		s.log.Warn("the data directory can be read by other users than its owner; the database and key files in it are private, but consider chmod 700",
			"path", dir, "mode", fi.Mode().Perm().String())
	}
	return nil
}

// asyncConns is the size of the PostgreSQL pool for claims and completions: one claimer and a few flushers.
const asyncConns = 6

// closeDB closes the pools.
func (s *conn) closeDB() error {
	err := s.db.Close()
	if s.async != nil && s.async != s.db {
		_ = s.async.Close()
	}
	return err
}

// Close stops the feed and the notifier (if their owner has not) and closes the database; safe to call twice.
func (d *DB) Close() error {
	var err error
	d.closeOnce.Do(func() {
		d.c.feed.Stop()
		d.c.notify.Stop()
		d.c.closed.Store(true)
		d.c.closePrepared()
		err = d.c.closeDB()
	})
	return err
}

// Ping checks the database is reachable.
func (d *DB) Ping(ctx context.Context) error { return d.store.Ping(ctx) }

// Ping checks the database is reachable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// Dialect is "postgres" or "sqlite".
func (d *DB) Dialect() string { return d.c.dialect }

// Pool returns the main connection pool (for tests and diagnostics; hookd itself goes through the parts' methods).
func (d *DB) Pool() *sqlx.DB { return d.c.db }

func (s *conn) pg() bool { return s.dialect == DialectPostgres }

// queryer is what both *sqlx.DB and *sqlx.Tx offer.
type queryer interface {
	sqlx.ExtContext
	GetContext(ctx context.Context, dest any, query string, args ...any) error
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
}

// inTx runs fn in a transaction (BEGIN IMMEDIATE on SQLite) and commits when it returns nil.
func (s *conn) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return s.inTxOn(ctx, false, fn)
}

// inTxOn is inTx, on the async pool when async is set (PostgreSQL: its sessions commit with synchronous_commit
// off, and its statements are prepared there: see stmtIn).
func (s *conn) inTxOn(ctx context.Context, async bool, fn func(tx *sqlx.Tx) error) error {
	if s.sqliteWriter != nil {
		select {
		case s.sqliteWriter <- struct{}{}:
			defer func() { <-s.sqliteWriter }()
		case <-ctx.Done():
			return fmt.Errorf("begin: %w", ctx.Err())
		}
	}
	pool := s.db
	if async && s.pg() {
		pool = s.async
	}
	tx, err := pool.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if pool != s.db {
		s.asyncTxs.Store(tx, struct{}{})
		defer s.asyncTxs.Delete(tx)
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
func (s *conn) rebind(q string) string { return s.db.Rebind(q) }

// inList returns the query and arguments that match a list: on SQLite q with its list expanded (sqlx.In), on
// PostgreSQL pgQuery with the list as one text[] argument (a fixed text, so it can be prepared). The list is the
// last argument of both.
func (s *conn) inList(q, pgQuery string, list []string, args ...any) (string, []any, error) {
	if s.pg() {
		return pgQuery, append(args, textArray(list)), nil
	}
	return s.in(q, append(args, list)...)
}

// in expands slice arguments of q (sqlx.In) and rebinds the placeholders.
func (s *conn) in(q string, args ...any) (string, []any, error) {
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

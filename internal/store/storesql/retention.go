package storesql

import (
	"context"
	"crypto/sha256"
	"database/sql/driver"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/oklog/ulid/v2"
	"modernc.org/sqlite"
)

// Retention and upkeep. On PostgreSQL the log tables (events, deliveries, attempts, executions) have one partition
// per UTC day of their ids; partitions are created a week ahead (and on demand when a row's day has none, e.g. a
// clock far from the wall clock) and retention drops whole days: DETACH PARTITION … CONCURRENTLY, which blocks
// neither readers nor writers, then DROP TABLE. SQLite keeps one table each and deletes old rows in small batches.

// logTables are the partitioned log tables, in the order their partitions are dropped.
var logTables = []string{"attempts", "deliveries", "events", "executions"}

// partitionName matches the name of a day partition: <table>_pYYYYMMDD.
var partitionName = regexp.MustCompile(`^(attempts|deliveries|events|executions)_p(\d{8})$`)

func init() {
	// hookd_sha256 lets SQLite migrations hash values as PostgreSQL's sha256() does.
	sqlite.MustRegisterDeterministicScalarFunction("hookd_sha256", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		var b []byte
		switch v := args[0].(type) {
		case string:
			b = []byte(v)
		case []byte:
			b = v
		case nil:
			return nil, nil
		default:
			return nil, fmt.Errorf("hookd_sha256: want text, got %T", v)
		}
		sum := sha256.Sum256(b)
		return sum[:], nil
	})
}

// day is the UTC day of t at midnight.
func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// EnsurePartitions creates the day partitions (PostgreSQL) from the day of from through the day of to; a no-op
// on SQLite.
func (s *Store) EnsurePartitions(ctx context.Context, from, to time.Time) error {
	return s.ensurePartitions(ctx, from, to)
}

// ensurePartitions is EnsurePartitions, for every part of the store (inPartitionedTx).
func (s *conn) ensurePartitions(ctx context.Context, from, to time.Time) error {
	if !s.pg() {
		return nil
	}
	for d := day(from); !d.After(day(to)); d = d.AddDate(0, 0, 1) {
		create := func() error {
			_, err := s.db.ExecContext(ctx, `SELECT hookd_create_day_partitions($1::date)`, d.Format(time.DateOnly))
			return err
		}
		err := create()
		if isCreatedMeanwhile(err) {
			err = create() // another transaction created some of the day's tables first: the rest now
		}
		if err != nil {
			return wrap("create partitions of "+d.Format(time.DateOnly), err)
		}
	}
	return nil
}

// isCreatedMeanwhile reports a CREATE TABLE that lost a race with a concurrent one (the function checks that the
// table is missing, but two transactions may both see it missing): the table exists now.
func isCreatedMeanwhile(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && (pqErr.Code == "23505" || pqErr.Code == "42P07") // unique_violation on pg_type, duplicate_table
}

// isMissingPartition reports a row that no partition takes (its day has none yet).
func isMissingPartition(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "23514" && strings.Contains(pqErr.Message, "no partition")
}

// inPartitionedTx is inTx for transactions that insert log rows with ids made at times: when a row's day has no
// partition (ids made with a clock far from the wall clock), the partitions of those days are created and fn runs
// again.
func (s *conn) inPartitionedTx(ctx context.Context, times []time.Time, fn func(tx *sqlx.Tx) error) error {
	return s.inPartitionedTxOn(ctx, false, times, fn)
}

// inPartitionedTxOn is inPartitionedTx, on the async pool when async is set (see inTxOn).
func (s *conn) inPartitionedTxOn(ctx context.Context, async bool, times []time.Time, fn func(tx *sqlx.Tx) error) error {
	err := s.inTxOn(ctx, async, fn)
	if err == nil || !s.pg() || !isMissingPartition(err) {
		return err
	}
	days := map[time.Time]bool{}
	for _, t := range times {
		if d := day(t); !days[d] {
			days[d] = true
			if perr := s.ensurePartitions(ctx, d, d); perr != nil {
				return errors.Join(err, perr)
			}
		}
	}
	return s.inTxOn(ctx, async, fn)
}

// DropPartitionsBefore drops the day partitions of every log table whose day ended by cutoff (PostgreSQL), after
// removing the queue rows of their deliveries; it returns the days dropped. A no-op on SQLite (see Purge).
func (s *Store) DropPartitionsBefore(ctx context.Context, cutoff time.Time) ([]time.Time, error) {
	if !s.pg() {
		return nil, nil
	}
	var names []string
	if err := s.db.SelectContext(ctx, &names, `SELECT c.relname FROM pg_inherits i
			JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
			WHERE p.relname = ANY($1::text[]) AND p.relnamespace = current_schema()::regnamespace`,
		textArray(logTables)); err != nil {
		return nil, wrap("list partitions", err)
	}
	byDay := map[time.Time][]string{}
	for _, n := range names {
		m := partitionName.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		d, err := time.Parse("20060102", m[2])
		if err != nil || d.AddDate(0, 0, 1).After(cutoff) {
			continue
		}
		byDay[d] = append(byDay[d], n)
	}
	var dropped []time.Time
	for d := range byDay {
		dropped = append(dropped, d)
	}
	slices.SortFunc(dropped, func(a, b time.Time) int { return a.Compare(b) })
	for _, d := range dropped {
		lo, hi := ulidPrefix(d), ulidPrefix(d.AddDate(0, 0, 1))
		// (ordering_keys: the chains whose tail is a delivery of that day are over; a later publish of the key starts
		// a new one, as it would once the tail was final.)
		for _, q := range []string{`DELETE FROM delivery_queue WHERE delivery_id >= $1 AND delivery_id < $2`,
			`DELETE FROM action_tokens WHERE delivery_id >= $1 AND delivery_id < $2`,
			`DELETE FROM ordering_keys WHERE last_delivery_id >= $1 AND last_delivery_id < $2`} {
			if _, err := s.db.ExecContext(ctx, q, "dlv_"+lo, "dlv_"+hi); err != nil {
				return nil, wrap("drop partitions: dequeue", err)
			}
		}
		if err := s.releaseOrphans(ctx, s.db); err != nil {
			return nil, fmt.Errorf("drop partitions: %w", err)
		}
		parts := byDay[d]
		slices.SortFunc(parts, func(a, b string) int {
			return slices.Index(logTables, partitionName.FindStringSubmatch(a)[1]) -
				slices.Index(logTables, partitionName.FindStringSubmatch(b)[1])
		})
		for _, p := range parts {
			if err := s.dropPartition(ctx, partitionName.FindStringSubmatch(p)[1], p); err != nil {
				return nil, err
			}
		}
	}
	return dropped, nil
}

// dropPartition detaches partition p of table concurrently (finishing a detach a crash interrupted) and drops it.
func (s *Store) dropPartition(ctx context.Context, table, p string) error {
	_, err := s.db.ExecContext(ctx, fmt.Sprintf(`ALTER TABLE %s DETACH PARTITION %s CONCURRENTLY`,
		pq.QuoteIdentifier(table), pq.QuoteIdentifier(p)))
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && strings.Contains(pqErr.Message, "pending") {
		_, err = s.db.ExecContext(ctx, fmt.Sprintf(`ALTER TABLE %s DETACH PARTITION %s FINALIZE`,
			pq.QuoteIdentifier(table), pq.QuoteIdentifier(p)))
	}
	if err != nil {
		return wrap("detach partition "+p, err)
	}
	if _, err := s.db.ExecContext(ctx, `DROP TABLE `+pq.QuoteIdentifier(p)); err != nil {
		return wrap("drop partition "+p, err)
	}
	return nil
}

// ulidPrefix is the 10-character time part of a lowercase ULID for t (the SQL function hookd_ulid_prefix).
func ulidPrefix(t time.Time) string {
	var u ulid.ULID
	_ = u.SetTime(ulid.Timestamp(t))
	return strings.ToLower(u.String()[:10])
}

// Purge deletes, on SQLite, up to limit events created before cutoff (with their deliveries, queue rows and
// attempts) and up to limit trigger executions received before cutoff, in one short transaction; it returns the
// events deleted. On PostgreSQL it deletes nothing (DropPartitionsBefore drops whole days) and returns 0.
func (s *Store) Purge(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	if s.pg() {
		return 0, nil
	}
	cutoff = ts(cutoff)
	var deleted int
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var ids []string
		if err := tx.SelectContext(ctx, &ids, `SELECT id FROM events WHERE create_time < ? ORDER BY create_time LIMIT ?`,
			cutoff, limit); err != nil {
			return wrap("purge: find events", err)
		}
		if len(ids) > 0 {
			for _, stmt := range []string{
				`DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_id IN (?))`,
				`DELETE FROM delivery_queue WHERE event_id IN (?)`,
				`DELETE FROM action_tokens WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_id IN (?))`,
				`DELETE FROM ordering_keys WHERE last_delivery_id IN (SELECT id FROM deliveries WHERE event_id IN (?))`,
				`DELETE FROM deliveries WHERE event_id IN (?)`,
				`DELETE FROM events WHERE id IN (?)`,
			} {
				q, args, err := s.in(stmt, ids)
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, q, args...); err != nil {
					return wrap("purge", err)
				}
			}
			if err := s.releaseOrphans(ctx, tx); err != nil {
				return fmt.Errorf("purge: %w", err)
			}
		}
		deleted = len(ids)
		_, err := tx.ExecContext(ctx, `DELETE FROM executions WHERE id IN (
			SELECT id FROM executions WHERE receive_time < ? ORDER BY receive_time LIMIT ?)`, cutoff, limit)
		return wrap("purge: executions", err)
	})
	if err != nil {
		return 0, err
	}
	return deleted, nil
}

// ExpireIdempotencyKeys deletes up to limit idempotency keys taken before cutoff; it returns how many.
func (s *Store) ExpireIdempotencyKeys(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	res, err := s.db.ExecContext(ctx, s.rebind(`DELETE FROM idempotency_keys WHERE (project_id, key) IN (
		SELECT project_id, key FROM idempotency_keys WHERE create_time < ? ORDER BY create_time LIMIT ?)`), ts(cutoff), limit)
	if err != nil {
		return 0, wrap("expire idempotency keys", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("expire idempotency keys", err)
}

// ExpireTriggerSignatures deletes up to limit remembered trigger signatures that expired by now; it returns how
// many.
func (s *Store) ExpireTriggerSignatures(ctx context.Context, now time.Time, limit int) (int, error) {
	res, err := s.db.ExecContext(ctx, s.rebind(`DELETE FROM trigger_signatures WHERE (trigger_id, digest) IN (
		SELECT trigger_id, digest FROM trigger_signatures WHERE expire_time <= ? ORDER BY expire_time LIMIT ?)`), ts(now), limit)
	if err != nil {
		return 0, wrap("expire trigger signatures", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("expire trigger signatures", err)
}

// VacuumQueue vacuums the queue table (PostgreSQL) when the server's autovacuum is off: every delivery inserts,
// claims and deletes a queue row, and without vacuum the dead rows would pile up in its indexes. With autovacuum
// on, the table's own autovacuum settings (migration 0002) take care of it; a no-op on SQLite.
func (s *Store) VacuumQueue(ctx context.Context) error {
	if !s.pg() {
		return nil
	}
	var auto string
	if err := s.db.GetContext(ctx, &auto, `SELECT current_setting('autovacuum')`); err != nil {
		return wrap("vacuum queue", err)
	}
	if auto == "on" {
		return nil
	}
	for _, t := range []string{"delivery_queue", "idempotency_keys", "rate_windows", "rate_window_log"} {
		if _, err := s.db.ExecContext(ctx, `VACUUM (ANALYZE) `+t); err != nil {
			return wrap("vacuum "+t, err)
		}
	}
	return nil
}

// Commits is a PostgreSQL database's commit counter (pg_stat_database.xact_commit) and its cluster's WAL position,
// for benchmarks: it opens its own connection, without migrations or keys.
type Commits struct{ db *sqlx.DB }

// OpenCommits connects to the PostgreSQL database of url.
func OpenCommits(ctx context.Context, url string) (*Commits, error) {
	db, err := sqlx.Open("postgres", postgresURL(url))
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	return &Commits{db: db}, nil
}

// Count returns the database's commits so far (the statistics are read fresh, not from a cached snapshot).
func (c *Commits) Count(ctx context.Context) (int64, error) {
	var n int64
	if _, err := c.db.ExecContext(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
		return 0, wrap("read commits", err)
	}
	err := c.db.GetContext(ctx, &n, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`)
	return n, wrap("read commits", err)
}

// WALBytes returns the cluster's current WAL write position in bytes (pg_current_wal_lsn() as an offset from 0/0):
// the difference of two readings is the WAL written between them. WAL is one stream for the whole cluster, so the
// difference counts every database's writes, not only this one's. The reading is a read-only transaction and counts
// as one commit of the database.
func (c *Commits) WALBytes(ctx context.Context) (int64, error) {
	var n int64
	err := c.db.GetContext(ctx, &n, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint`)
	return n, wrap("read wal position", err)
}

// Close closes the connection.
func (c *Commits) Close() error { return c.db.Close() }

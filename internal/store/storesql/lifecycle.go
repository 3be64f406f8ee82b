package storesql

import (
	"context"
	"database/sql"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/hookd/hookd/internal/store"
)

// Per-project retention (issue 26). The instance's retention drops whole day partitions (PostgreSQL) or deletes
// old rows in batches (SQLite, Purge); a project that keeps less, or drops its payloads earlier, is handled here
// in short transactions of a bounded number of rows, found through the (project_id, id) indexes of the log
// tables: ids start with their creation time, so "made before t" is "id < prefix_<ULID time of t>", and a batch
// never scans more than its rows. Rows are deleted or rewritten only in the old days' partitions, never in the
// partitions publishing writes to.

// UpdateProject writes p's name and retention settings over the version it was read at and sets p.UpdateTime (now
// when zero) and p.Version; ErrNotFound when the project does not exist, ErrStale when it changed since it was read.
func (s *Store) UpdateProject(ctx context.Context, p *store.Project) error {
	p.UpdateTime = orNow(p.UpdateTime)
	const what = "update project"
	res, err := s.db.ExecContext(ctx, s.rebind(`UPDATE projects SET name = ?, retention_seconds = ?, payload_retention_seconds = ?,
		update_time = ?, version = version + 1 WHERE id = ? AND version = ?`), p.Name, int64(p.Retention/time.Second),
		int64(p.PayloadRetention/time.Second), p.UpdateTime, p.ID, p.Version)
	if err != nil {
		return wrap(what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap(what, err)
	} else if n == 1 {
		p.Version++
		return nil
	}
	if _, err := s.GetProject(ctx, p.ID); err != nil {
		return wrap(what, err)
	}
	return wrap(what, store.ErrStale)
}

// ProjectLifecycles lists the projects whose retention or payload retention is set.
func (s *Store) ProjectLifecycles(ctx context.Context) ([]store.ProjectLifecycle, error) {
	var rows []struct {
		ID                      string   `db:"id"`
		RetentionSeconds        int64    `db:"retention_seconds"`
		PayloadRetentionSeconds int64    `db:"payload_retention_seconds"`
		PayloadExpireTime       nullTime `db:"payload_expire_time"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT id, retention_seconds, payload_retention_seconds, payload_expire_time
		FROM projects WHERE retention_seconds > 0 OR payload_retention_seconds > 0 ORDER BY id`); err != nil {
		return nil, wrap("list project retention", err)
	}
	out := make([]store.ProjectLifecycle, len(rows))
	for i, r := range rows {
		out[i] = store.ProjectLifecycle{ProjectID: r.ID, Retention: time.Duration(r.RetentionSeconds) * time.Second,
			PayloadRetention: time.Duration(r.PayloadRetentionSeconds) * time.Second, PayloadExpireTime: r.PayloadExpireTime.t}
	}
	return out, nil
}

// idBefore is the smallest id with the prefix made at t: ids made before t sort before it.
func idBefore(prefix string, t time.Time) string { return prefix + ulidPrefix(t) }

// PurgeProject deletes one batch of the project's log made before cutoff: up to limit deliveries (with their
// attempts, queue rows and action tokens), then, once no such delivery is left, up to limit events (with their
// idempotency keys) and up to limit executions, each table in its own transaction. Deliveries go before their
// events, so that a delivery never outlives its event. It returns the rows deleted (0: nothing left).
func (s *Store) PurgeProject(ctx context.Context, projectID string, cutoff time.Time, limit int) (int, error) {
	n, err := s.deleteDeliveries(ctx, s.db, `SELECT id FROM deliveries WHERE project_id = ? AND id < ? ORDER BY id LIMIT ?`,
		projectID, idBefore("dlv_", cutoff), limit)
	if err != nil || n.deliveries > 0 {
		return n.deliveries, err
	}
	events, err := s.deleteEvents(ctx, s.db, `SELECT id, idempotency_key FROM events WHERE project_id = ? AND id < ?
		ORDER BY id LIMIT ?`, projectID, idBefore("evt_", cutoff), limit)
	if err != nil {
		return 0, err
	}
	res, err := s.db.ExecContext(ctx, s.rebind(`DELETE FROM executions WHERE id IN (
		SELECT id FROM executions WHERE project_id = ? AND id < ? ORDER BY id LIMIT ?)`), projectID, idBefore("exe_", cutoff), limit)
	if err != nil {
		return 0, wrap("purge project executions", err)
	}
	executions, _ := res.RowsAffected()
	return events.events + int(executions), nil
}

// deleted counts the rows deleteDeliveries and deleteEvents removed.
type deleted struct {
	deliveries, attempts, events, keys int
}

// txBeginner is what *sqlx.DB and *sqlx.Conn offer to start a transaction.
type txBeginner interface {
	BeginTxx(ctx context.Context, opts *sql.TxOptions) (*sqlx.Tx, error)
}

// inTxOn is inTx on a given pool or connection, for transactions that note no delivery changes.
func (s *Store) inTxOn(ctx context.Context, db txBeginner, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return wrap("begin", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return wrap("commit", tx.Commit())
}

// deleteDeliveries deletes, in one transaction, the deliveries that sel (a SELECT of ids with args) finds, with
// their attempts, queue rows and action tokens. A delivery whose attempt is in flight loses its queue row: the
// attempt's completion finds no claim and records nothing.
func (s *Store) deleteDeliveries(ctx context.Context, db txBeginner, sel string, args ...any) (deleted, error) {
	var n deleted
	err := s.inTxOn(ctx, db, func(tx *sqlx.Tx) error {
		var ids []string
		if err := tx.SelectContext(ctx, &ids, s.rebind(sel), args...); err != nil {
			return wrap("find deliveries", err)
		}
		if len(ids) == 0 {
			return nil
		}
		for i, stmt := range []string{
			`DELETE FROM attempts WHERE delivery_id IN (?)`,
			`DELETE FROM delivery_queue WHERE delivery_id IN (?)`,
			`DELETE FROM action_tokens WHERE delivery_id IN (?)`,
			`DELETE FROM deliveries WHERE id IN (?)`,
		} {
			q, qargs, err := s.in(stmt, ids)
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, q, qargs...)
			if err != nil {
				return wrap("delete deliveries", err)
			}
			if i == 0 {
				a, _ := res.RowsAffected()
				n.attempts = int(a)
			}
		}
		n.deliveries = len(ids)
		return nil
	})
	return n, err
}

// deleteEvents deletes, in one transaction, the events that sel (a SELECT of id and idempotency_key with args)
// finds, with their idempotency keys and whatever deliveries of theirs are left.
func (s *Store) deleteEvents(ctx context.Context, db txBeginner, sel string, args ...any) (deleted, error) {
	var n deleted
	err := s.inTxOn(ctx, db, func(tx *sqlx.Tx) error {
		var rows []struct {
			ID  string `db:"id"`
			Key string `db:"idempotency_key"`
		}
		if err := tx.SelectContext(ctx, &rows, s.rebind(sel), args...); err != nil {
			return wrap("find events", err)
		}
		if len(rows) == 0 {
			return nil
		}
		var ids, keys []string
		for _, r := range rows {
			ids = append(ids, r.ID)
			if r.Key != "" {
				keys = append(keys, r.Key)
			}
		}
		if len(keys) > 0 {
			var projectID string
			q, qargs, err := s.in(`SELECT project_id FROM events WHERE id IN (?) LIMIT 1`, ids)
			if err != nil {
				return err
			}
			if err := tx.GetContext(ctx, &projectID, q, qargs...); err != nil {
				return wrap("delete events", err)
			}
			q, qargs, err = s.in(`DELETE FROM idempotency_keys WHERE project_id = ? AND key IN (?) AND event_id IN (?)`, projectID, keys, ids)
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, q, qargs...)
			if err != nil {
				return wrap("delete idempotency keys", err)
			}
			k, _ := res.RowsAffected()
			n.keys = int(k)
		}
		q, qargs, err := s.in(`DELETE FROM events WHERE id IN (?)`, ids)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q, qargs...); err != nil {
			return wrap("delete events", err)
		}
		n.events = len(ids)
		return nil
	})
	return n, err
}

// ExpirePayloads drops the payloads of the project's log rows made from its payload_expire_time (or the
// beginning) until cutoff: event payloads become {}, attempt request and response bodies and execution bodies
// become empty, and each row is marked payload_expired. Each table is walked in id order, limit rows per
// transaction; pause runs between transactions (the purger lets other writers in). At the end the project's
// payload_expire_time becomes cutoff, so that the next round starts there and no row is read twice. An event
// with unfinished deliveries keeps its payload (the sender still needs it). It returns the rows changed.
func (s *Store) ExpirePayloads(ctx context.Context, projectID string, from, cutoff time.Time, limit int,
	pause func(context.Context) error) (int, error) {
	if !from.Before(cutoff) {
		return 0, nil
	}
	total := 0
	walk := func(prefix string, step func(tx *sqlx.Tx, ids []string) (int, error)) error {
		after := prefix // every id of the table sorts after its bare prefix
		if !from.IsZero() {
			after = idBefore(prefix, from)
		}
		for {
			var ids []string
			var changed int
			err := s.inTx(ctx, func(tx *sqlx.Tx) error {
				table := map[string]string{"evt_": "events", "dlv_": "deliveries", "exe_": "executions"}[prefix]
				if err := tx.SelectContext(ctx, &ids, s.rebind(`SELECT id FROM `+table+` WHERE project_id = ? AND id > ? AND id < ?
					ORDER BY id LIMIT ?`), projectID, after, idBefore(prefix, cutoff), limit); err != nil {
					return wrap("expire payloads: find "+table, err)
				}
				if len(ids) == 0 {
					return nil
				}
				var err error
				changed, err = step(tx, ids)
				return err
			})
			if err != nil {
				return err
			}
			total += changed
			if len(ids) < limit {
				return nil
			}
			after = ids[len(ids)-1]
			if err := pause(ctx); err != nil {
				return err
			}
		}
	}
	exec := func(tx *sqlx.Tx, stmt string, args ...any) (int, error) {
		q, qargs, err := s.in(stmt, args...)
		if err != nil {
			return 0, err
		}
		res, err := tx.ExecContext(ctx, q, qargs...)
		if err != nil {
			return 0, wrap("expire payloads", err)
		}
		n, _ := res.RowsAffected()
		return int(n), nil
	}
	if err := walk("evt_", func(tx *sqlx.Tx, ids []string) (int, error) {
		// Events with unfinished deliveries keep their payloads: their deliveries are made in the same instant as
		// them, so they lie in the same id range.
		var busy []string
		q, qargs, err := s.in(`SELECT DISTINCT event_id FROM deliveries WHERE project_id = ? AND status IN ('queued', 'retrying', 'waiting')
			AND id >= ? AND id < ? AND event_id IN (?)`, projectID, "dlv_"+ids[0][4:14], "dlv_"+ids[len(ids)-1][4:14]+"~", ids)
		if err != nil {
			return 0, err
		}
		if err := tx.SelectContext(ctx, &busy, q, qargs...); err != nil {
			return 0, wrap("expire payloads: unfinished deliveries", err)
		}
		if len(busy) > 0 {
			return exec(tx, `UPDATE events SET payload = '{}', payload_expired = TRUE WHERE id IN (?) AND id NOT IN (?)
				AND NOT payload_expired`, ids, busy)
		}
		return exec(tx, `UPDATE events SET payload = '{}', payload_expired = TRUE WHERE id IN (?) AND NOT payload_expired`, ids)
	}); err != nil {
		return total, err
	}
	if err := walk("dlv_", func(tx *sqlx.Tx, ids []string) (int, error) {
		return exec(tx, `UPDATE attempts SET request_body = '', response_body = '', payload_expired = TRUE
			WHERE delivery_id IN (?) AND NOT payload_expired`, ids)
	}); err != nil {
		return total, err
	}
	if err := walk("exe_", func(tx *sqlx.Tx, ids []string) (int, error) {
		return exec(tx, `UPDATE executions SET raw_body = '', body = NULL, payload_expired = TRUE
			WHERE id IN (?) AND NOT payload_expired`, ids)
	}); err != nil {
		return total, err
	}
	_, err := s.db.ExecContext(ctx, s.rebind(`UPDATE projects SET payload_expire_time = ?
		WHERE id = ? AND (payload_expire_time IS NULL OR payload_expire_time < ?)`), ts(cutoff), projectID, ts(cutoff))
	return total, wrap("expire payloads: advance", err)
}

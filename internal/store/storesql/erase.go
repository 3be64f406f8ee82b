package storesql

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/store"
)

// Subject erasure (issue 26). EraseSubject works in steps, each a series of short transactions of at most batch
// rows, in an order that keeps the log consistent wherever it stops (a crash, a cancelled request) — a second
// call finds what is left and finishes the job:
//  1. the subject's unfinished deliveries are cancelled (their queue rows go, so no sender claims them again
//     and an attempt in flight records nothing);
//  2. its deliveries go, with their attempts, queue rows and action tokens;
//  3. its events go, with their idempotency keys (a delivery never outlives its event);
//  4. its trigger executions go;
//  5. the hookd.delivery.failed events whose payload names the subject go, with their deliveries;
//  6. hookd.subject.erased is published with the counts and the SHA-256 of the subject.
//
// On SQLite the erase runs on one connection with PRAGMA secure_delete = ON, so that the deleted rows are
// overwritten with zeros in the database file (and in the pages the WAL carries into it), and the WAL is
// checkpointed at the end; on PostgreSQL the deleted rows are dead tuples until VACUUM reclaims them.

// EraseBatch is how many rows one transaction of EraseSubject deletes by default.
const EraseBatch = 500

// EraseSubject implements store.Lifecycle.
func (s *Store) EraseSubject(ctx context.Context, projectID, subject string, now time.Time, batch int) (store.EraseResult, error) {
	var res store.EraseResult
	if batch <= 0 {
		batch = EraseBatch
	}
	if err := s.requireProject(ctx, projectID); err != nil {
		return res, err
	}
	var db txBeginner = s.db
	if !s.pg() {
		conn, err := s.db.Connx(ctx)
		if err != nil {
			return res, wrap("erase subject: connect", err)
		}
		defer func() {
			// The pool keeps the connection: back to the default of every connection (see sqliteDSN).
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA secure_delete = FAST`)
			_ = conn.Close()
		}()
		if _, err := conn.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
			return res, wrap("erase subject: secure_delete", err)
		}
		db = conn
	}
	now = ts(now)

	// 1. Cancel the unfinished deliveries (in id order: a batch never scans the ones cancelled before it).
	for after := "dlv_"; ; {
		var n int
		err := s.inTxOn(ctx, db, func(tx *sqlx.Tx) error {
			var ids []string
			if err := tx.SelectContext(ctx, &ids, s.rebind(`SELECT id FROM deliveries WHERE project_id = ? AND subject = ? AND id > ?
				AND status IN ('queued', 'retrying', 'waiting') ORDER BY id LIMIT ?`), projectID, subject, after, batch); err != nil {
				return wrap("erase subject: find unfinished deliveries", err)
			}
			if len(ids) == 0 {
				return nil
			}
			for _, stmt := range []string{
				`DELETE FROM delivery_queue WHERE delivery_id IN (?)`,
				`UPDATE deliveries SET status = 'cancelled', reason = 'subject erased', update_time = ? WHERE id IN (?)`,
			} {
				args := []any{ids}
				if stmt[0] == 'U' {
					args = []any{now, ids}
				}
				q, qargs, err := s.in(stmt, args...)
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, q, qargs...); err != nil {
					return wrap("erase subject: cancel deliveries", err)
				}
			}
			n, after = len(ids), ids[len(ids)-1]
			return nil
		})
		if err != nil {
			return res, err
		}
		res.Cancelled += n
		if n < batch {
			break
		}
	}

	// 2. and 3. Deliveries, then events (again while a publish for the subject added some meanwhile).
	for {
		d, err := s.deleteDeliveries(ctx, db, `SELECT id FROM deliveries WHERE project_id = ? AND subject = ? ORDER BY id LIMIT ?`,
			projectID, subject, batch)
		if err != nil {
			return res, err
		}
		res.Deliveries += d.deliveries
		res.Attempts += d.attempts
		if d.deliveries > 0 {
			continue
		}
		e, err := s.deleteEvents(ctx, db, `SELECT id, idempotency_key FROM events WHERE project_id = ? AND subject = ?
			ORDER BY id LIMIT ?`, projectID, subject, batch)
		if err != nil {
			return res, err
		}
		res.Events += e.events
		res.IdempotencyKeys += e.keys
		if e.events == 0 {
			break
		}
	}

	// 4. Executions.
	for {
		var n int64
		err := s.inTxOn(ctx, db, func(tx *sqlx.Tx) error {
			r, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM executions WHERE id IN (
				SELECT id FROM executions WHERE project_id = ? AND subject = ? ORDER BY id LIMIT ?)`), projectID, subject, batch)
			if err != nil {
				return wrap("erase subject: delete executions", err)
			}
			n, _ = r.RowsAffected()
			return nil
		})
		if err != nil {
			return res, err
		}
		res.Executions += int(n)
		if int(n) < batch {
			break
		}
	}

	// 5. hookd.delivery.failed events that name the subject in their payload (their own subject is the webhook).
	named := `payload->>'subject' = ?`
	if !s.pg() {
		named = `json_extract(payload, '$.subject') = ?`
	}
	for after := "evt_"; ; {
		var rows []struct {
			ID  string `db:"id"`
			Hit bool   `db:"hit"`
		}
		if err := s.db.SelectContext(ctx, &rows, s.rebind(`SELECT id, COALESCE(`+named+`, FALSE) AS hit FROM events
			WHERE project_id = ? AND event_type = ? AND id > ? ORDER BY id LIMIT ?`), subject, projectID, health.EventDeliveryFailed,
			after, batch); err != nil {
			return res, wrap("erase subject: find operational events", err)
		}
		var hits []string
		for _, r := range rows {
			if r.Hit {
				hits = append(hits, r.ID)
			}
		}
		if len(hits) > 0 {
			q, qargs, err := s.in(`SELECT id FROM deliveries WHERE event_id IN (?)`, hits)
			if err != nil {
				return res, err
			}
			d, err := s.deleteDeliveries(ctx, db, q, qargs...)
			if err != nil {
				return res, err
			}
			res.Deliveries += d.deliveries
			res.Attempts += d.attempts
			q, qargs, err = s.in(`SELECT id, idempotency_key FROM events WHERE id IN (?)`, hits)
			if err != nil {
				return res, err
			}
			e, err := s.deleteEvents(ctx, db, q, qargs...)
			if err != nil {
				return res, err
			}
			res.OperationalEvents += e.events
		}
		if len(rows) < batch {
			break
		}
		after = rows[len(rows)-1].ID
	}

	// 6. The record of the erase.
	sum := sha256.Sum256([]byte(subject))
	var woke bool
	err := s.inPartitionedTx(ctx, []time.Time{now}, func(tx *sqlx.Tx) error {
		var err error
		woke, err = s.publishOperational(ctx, tx, now, []operational{{projectID: projectID,
			payload: health.SubjectErased{SubjectSHA256: hex.EncodeToString(sum[:]), Events: res.Events,
				Deliveries: res.Deliveries, Attempts: res.Attempts, Executions: res.Executions,
				CancelledDeliveries: res.Cancelled, IdempotencyKeys: res.IdempotencyKeys,
				OperationalEvents: res.OperationalEvents}}})
		return err
	})
	if err != nil {
		return res, err
	}
	if woke {
		s.wake(now)
	}
	if !s.pg() {
		// Best effort: a reader holding an old snapshot keeps the WAL's older pages until it ends.
		_, _ = s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	return res, nil
}

package storesql

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/hookd/hookd/server/store"
)

const (
	retryDelivery = `UPDATE deliveries SET status = 'retrying', resent = TRUE, next_attempt_time = ?, claim_token = '', lease_time = NULL,
		update_time = ?
		WHERE project_id = ? AND id = ? AND status IN ('done', 'failed')
		RETURNING ` + deliveryCols

	cancelDelivery = `UPDATE deliveries SET status = 'cancelled', update_time = ?
		WHERE project_id = ? AND id = ? AND status IN ('queued', 'retrying', 'waiting')
		RETURNING ` + deliveryCols

	purgeEvents     = `SELECT id FROM events WHERE create_time < ? ORDER BY create_time LIMIT ?`
	purgeAttempts   = `DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_id IN (?))`
	purgeDeliveries = `DELETE FROM deliveries WHERE event_id IN (?)`
	purgeEventRows  = `DELETE FROM events WHERE id IN (?)`
	purgeExecutions = `DELETE FROM executions WHERE id IN (
		SELECT id FROM executions WHERE receive_time < ? ORDER BY receive_time LIMIT ?)`
)

// queueStatuses are the unfinished statuses listed by the queue view.
var queueStatuses = []store.Status{store.StatusQueued, store.StatusRetrying, store.StatusWaiting}

type attemptRow struct {
	DeliveryID         string   `db:"delivery_id"`
	Number             int      `db:"number"`
	StartTime          dbTime   `db:"start_time"`
	DurationUS         int64    `db:"duration_us"`
	RequestMethod      string   `db:"request_method"`
	RequestURL         string   `db:"request_url"`
	RequestHeaders     jsonText `db:"request_headers"`
	RequestBody        string   `db:"request_body"`
	ResponseStatusCode int      `db:"response_status_code"`
	ResponseHeaders    jsonText `db:"response_headers"`
	ResponseBody       string   `db:"response_body"`
	Error              string   `db:"error"`
}

func (r attemptRow) record() (store.Attempt, error) {
	a := store.Attempt{
		DeliveryID: r.DeliveryID, Number: r.Number, StartTime: r.StartTime.t,
		Duration: time.Duration(r.DurationUS) * time.Microsecond, RequestMethod: r.RequestMethod, RequestURL: r.RequestURL,
		RequestBody: r.RequestBody, ResponseStatusCode: r.ResponseStatusCode, ResponseBody: r.ResponseBody, Error: r.Error,
	}
	if err := r.RequestHeaders.decode(&a.RequestHeaders); err != nil {
		return a, err
	}
	return a, r.ResponseHeaders.decode(&a.ResponseHeaders)
}

// GetDelivery returns a delivery of the project.
func (s *Store) GetDelivery(ctx context.Context, projectID, deliveryID string) (*store.Delivery, error) {
	var r deliveryRow
	if err := s.db.GetContext(ctx, &r, s.rebind(`SELECT `+deliveryCols+` FROM deliveries WHERE project_id = ? AND id = ?`),
		projectID, deliveryID); err != nil {
		return nil, wrap("get delivery", err)
	}
	d := r.record()
	return &d, nil
}

// ListAttempts returns a delivery's attempts in order. The caller has checked the delivery's project (GetDelivery).
func (s *Store) ListAttempts(ctx context.Context, deliveryID string) ([]store.Attempt, error) {
	var rows []attemptRow
	if err := s.db.SelectContext(ctx, &rows, s.rebind(`SELECT `+attemptCols+` FROM attempts WHERE delivery_id = ? ORDER BY number`),
		deliveryID); err != nil {
		return nil, wrap("list attempts", err)
	}
	return mapRowsErr(rows, s.attemptRecord)
}

// deliveryWhere turns a filter into conditions on deliveries (always scoped to the project).
func deliveryWhere(projectID string, f store.DeliveryFilter, statuses []store.Status) ([]string, []any) {
	where, args := []string{"project_id = ?"}, []any{projectID}
	if statuses != nil {
		where, args = append(where, "status IN (?)"), append(args, statusStrings(statuses))
	}
	for _, c := range []struct{ col, v string }{
		{"webhook_id", f.WebhookID}, {"integration_id", f.IntegrationID}, {"event_type", f.EventType},
		{"subject", f.Subject}, {"event_id", f.EventID},
	} {
		if c.v != "" {
			where, args = append(where, c.col+" = ?"), append(args, c.v)
		}
	}
	if !f.CreateAfter.IsZero() {
		where, args = append(where, "create_time >= ?"), append(args, ts(f.CreateAfter))
	}
	if !f.CreateBefore.IsZero() {
		where, args = append(where, "create_time < ?"), append(args, ts(f.CreateBefore))
	}
	return where, args
}

func statusStrings(st []store.Status) []string {
	out := make([]string, len(st))
	for i, v := range st {
		out[i] = string(v)
	}
	return out
}

// intersect keeps the statuses of want that are in allowed; all of allowed when want is empty.
func intersect(want, allowed []store.Status) []store.Status {
	if len(want) == 0 {
		return allowed
	}
	out := []store.Status{}
	for _, st := range allowed {
		if slices.Contains(want, st) {
			out = append(out, st)
		}
	}
	return out
}

// ListDeliveries lists a project's deliveries newest first by id. With queue=true it lists the unfinished ones
// (QUEUED/RETRYING/WAITING) by next attempt time, then id; the page cursor is then "<unix nanos>/<id>".
func (s *Store) ListDeliveries(ctx context.Context, projectID string, f store.DeliveryFilter, queue bool, page store.Page) ([]store.Delivery, error) {
	var where []string
	var args []any
	var order string
	if queue {
		statuses := intersect(f.Statuses, queueStatuses)
		if len(statuses) == 0 {
			return nil, nil
		}
		where, args = deliveryWhere(projectID, f, statuses)
		if page.After != "" {
			after, afterID, err := ParseQueueCursor(page.After)
			if err != nil {
				return nil, fmt.Errorf("list deliveries: %w", err)
			}
			where = append(where, "(next_attempt_time > ? OR (next_attempt_time = ? AND id > ?))")
			args = append(args, after, after, afterID)
		}
		order = " ORDER BY next_attempt_time, id"
	} else {
		var statuses []store.Status
		if len(f.Statuses) > 0 {
			statuses = f.Statuses
		}
		where, args = deliveryWhere(projectID, f, statuses)
		where, args = pageCond(page, "id", where, args)
		order = " ORDER BY id DESC"
	}
	q, args, err := s.in(`SELECT `+deliveryCols+` FROM deliveries`+whereClause(where)+order+` LIMIT ?`, append(args, limit(page))...)
	if err != nil {
		return nil, err
	}
	var rows []deliveryRow
	if err := s.db.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, wrap("list deliveries", err)
	}
	return mapRows(rows, deliveryRow.record), nil
}

// QueueCursor is the page cursor of the queue view after d: "<unix nanos of next attempt>/<id>".
func QueueCursor(d store.Delivery) string {
	return strconv.FormatInt(d.NextAttemptTime.UnixNano(), 10) + "/" + d.ID
}

// ParseQueueCursor splits a queue view cursor made by QueueCursor.
func ParseQueueCursor(cursor string) (time.Time, string, error) {
	nanos, afterID, ok := strings.Cut(cursor, "/")
	n, err := strconv.ParseInt(nanos, 10, 64)
	if !ok || err != nil || afterID == "" {
		return time.Time{}, "", fmt.Errorf("malformed queue cursor %q", cursor)
	}
	return ts(time.Unix(0, n)), afterID, nil
}

// RetryDelivery makes a DONE or FAILED delivery due now (RETRYING, resent); ErrConflict otherwise.
func (s *Store) RetryDelivery(ctx context.Context, projectID, deliveryID string, now time.Time) (*store.Delivery, error) {
	now = ts(now)
	var d store.Delivery
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var r deliveryRow
		if err := tx.GetContext(ctx, &r, s.rebind(retryDelivery), now, now, projectID, deliveryID); err != nil {
			return s.stateError(ctx, tx, "retry delivery", projectID, deliveryID, err)
		}
		d = r.record()
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.afterCommit(true)
	return &d, nil
}

// retryChunk is how many deliveries one transaction of RetryDeliveries resends.
const retryChunk = 500

// RetryDeliveries resends the DONE or FAILED deliveries matching f (FAILED only when f names no status), oldest
// id first, in transactions of retryChunk and at most store.MaxBulkRetry per call; it returns how many. A caller
// that gets store.MaxBulkRetry calls again for the rest (resent deliveries are RETRYING and no longer match).
func (s *Store) RetryDeliveries(ctx context.Context, projectID string, f store.DeliveryFilter, now time.Time) (int, error) {
	now = ts(now)
	statuses := []store.Status{store.StatusFailed}
	if len(f.Statuses) > 0 {
		statuses = intersect(f.Statuses, []store.Status{store.StatusDone, store.StatusFailed})
		if len(statuses) == 0 {
			return 0, nil
		}
	}
	total, after := 0, ""
	for total < store.MaxBulkRetry {
		where, args := deliveryWhere(projectID, f, statuses)
		if after != "" { // keyset: a delivery resent and finished meanwhile is not resent twice
			where, args = append(where, "id > ?"), append(args, after)
		}
		q, args, err := s.in(`SELECT id FROM deliveries`+whereClause(where)+` ORDER BY id LIMIT ?`,
			append(args, min(retryChunk, store.MaxBulkRetry-total))...)
		if err != nil {
			return total, err
		}
		var ids []string
		if err := s.db.SelectContext(ctx, &ids, q, args...); err != nil {
			return total, wrap("retry deliveries: select", err)
		}
		if len(ids) == 0 {
			break
		}
		after = ids[len(ids)-1]
		q, args, err = s.in(`UPDATE deliveries SET status = 'retrying', resent = TRUE, next_attempt_time = ?, claim_token = '',
			lease_time = NULL, update_time = ? WHERE project_id = ? AND id IN (?) AND status IN (?)`,
			now, now, projectID, ids, statusStrings(statuses))
		if err != nil {
			return total, err
		}
		var n int64
		err = s.inTx(ctx, func(tx *sqlx.Tx) error {
			res, err := tx.ExecContext(ctx, q, args...)
			if err != nil {
				return wrap("retry deliveries", err)
			}
			n, err = res.RowsAffected()
			return wrap("retry deliveries", err)
		})
		if err != nil {
			return total, err
		}
		total += int(n)
		s.afterCommit(n > 0)
		if len(ids) < retryChunk {
			break
		}
	}
	return total, nil
}

// CancelDelivery cancels a QUEUED, RETRYING or WAITING delivery; ErrConflict otherwise. An attempt already in
// flight is still recorded, but the delivery stays cancelled.
func (s *Store) CancelDelivery(ctx context.Context, projectID, deliveryID string, now time.Time) (*store.Delivery, error) {
	var d store.Delivery
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var r deliveryRow
		if err := tx.GetContext(ctx, &r, s.rebind(cancelDelivery), ts(now), projectID, deliveryID); err != nil {
			return s.stateError(ctx, tx, "cancel delivery", projectID, deliveryID, err)
		}
		d = r.record()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// stateError explains a conditional update that matched nothing: ErrNotFound when the delivery does not exist in
// the project, ErrConflict when it is in the wrong state.
func (s *Store) stateError(ctx context.Context, tx *sqlx.Tx, what, projectID, deliveryID string, err error) error {
	if !errors.Is(mapErr(err), store.ErrNotFound) {
		return wrap(what, err)
	}
	if err := s.requireRow(ctx, tx, what, `SELECT 1 FROM deliveries WHERE project_id = ? AND id = ?`, projectID, deliveryID); err != nil {
		return err
	}
	return fmt.Errorf("%s: wrong status: %w", what, store.ErrConflict)
}

// Purge deletes up to limit events created before cutoff, with their deliveries and attempts, and up to limit
// trigger executions received before cutoff, in one short transaction; it returns the events deleted.
func (s *Store) Purge(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	cutoff = ts(cutoff)
	var deleted int
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var ids []string
		if err := tx.SelectContext(ctx, &ids, s.rebind(purgeEvents), cutoff, limit); err != nil {
			return wrap("purge: find events", err)
		}
		if len(ids) > 0 {
			for _, stmt := range []string{purgeAttempts, purgeDeliveries, purgeEventRows} {
				q, args, err := s.in(stmt, ids)
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, q, args...); err != nil {
					return wrap("purge", err)
				}
			}
		}
		deleted = len(ids)
		_, err := tx.ExecContext(ctx, s.rebind(purgeExecutions), cutoff, limit)
		return wrap("purge: executions", err)
	})
	if err != nil {
		return 0, err
	}
	return deleted, nil
}

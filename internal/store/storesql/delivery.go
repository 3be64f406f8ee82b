package storesql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/hookd/hookd/internal/store"
)

const (
	deliveryCols = `id, project_id, event_id, webhook_id, integration_id, event_type, subject, status, attempts,
		last_status_code, reason, resent, resends, create_time, update_time, tenant_id, ordering_key`

	retryDelivery = `UPDATE deliveries SET status = 'retrying', resent = TRUE, resends = resends + 1, update_time = ?
		WHERE project_id = ? AND id = ? AND status IN ('done', 'failed')
		RETURNING ` + deliveryCols

	// sendNow makes a queued or retrying delivery that is not claimed due now.
	sendNow = `UPDATE delivery_queue SET due_time = ?, next_attempt_time = ?
		WHERE project_id = ? AND delivery_id = ? AND claim_token IS NULL AND status IN ('queued', 'retrying')`

	cancelDelivery = `UPDATE deliveries SET status = 'cancelled', update_time = ?
		WHERE project_id = ? AND id = ? AND status IN ('queued', 'retrying', 'waiting')
		RETURNING ` + deliveryCols

	// requeue puts resent deliveries back in the queue, due now. A row still there belongs to a finished delivery
	// whose last attempt is in flight: it is taken over (its claim is dropped, so that attempt's late completion
	// is ignored).
	requeue = ` ON CONFLICT (delivery_id) DO UPDATE SET status = excluded.status, attempts = excluded.attempts,
		resends = excluded.resends, due_time = excluded.due_time, next_attempt_time = excluded.next_attempt_time,
		blocked_by = NULL, claim_token = NULL`

	// loggedCols are the delivery columns with the queue's next attempt time (unfinished deliveries).
	loggedCols = `d.id, d.project_id, d.event_id, d.webhook_id, d.integration_id, d.event_type, d.subject, d.status,
		d.attempts, d.last_status_code, d.reason, d.resent, d.resends, d.create_time, d.update_time, d.tenant_id, d.ordering_key,
		q.next_attempt_time AS next_attempt_time, q.blocked_by AS blocked_by`
	loggedFrom = ` FROM deliveries d LEFT JOIN delivery_queue q ON q.delivery_id = d.id`
)

type deliveryRow struct {
	ID              string   `db:"id"`
	ProjectID       string   `db:"project_id"`
	EventID         string   `db:"event_id"`
	WebhookID       string   `db:"webhook_id"`
	IntegrationID   string   `db:"integration_id"`
	EventType       string   `db:"event_type"`
	Subject         string   `db:"subject"`
	Status          string   `db:"status"`
	Attempts        int      `db:"attempts"`
	LastStatusCode  int      `db:"last_status_code"`
	Reason          string   `db:"reason"`
	Resent          bool     `db:"resent"`
	Resends         int      `db:"resends"`
	CreateTime      dbTime   `db:"create_time"`
	UpdateTime      dbTime   `db:"update_time"`
	OrderingKey     string   `db:"ordering_key"`
	NextAttemptTime nullTime `db:"next_attempt_time"`
	TenantID        string   `db:"tenant_id"`
	// BlockedBy is the queue row's predecessor (ordered keys); NULL when not held or not read.
	BlockedBy sql.NullString `db:"blocked_by"`
}

func (r deliveryRow) record() store.Delivery {
	d := store.Delivery{
		ID: r.ID, ProjectID: r.ProjectID, EventID: r.EventID, WebhookID: r.WebhookID, IntegrationID: r.IntegrationID,
		EventType: r.EventType, Subject: r.Subject, Status: store.Status(r.Status), Attempts: r.Attempts,
		LastStatusCode: r.LastStatusCode, Reason: r.Reason, Resent: r.Resent, Resends: r.Resends,
		CreateTime: r.CreateTime.t, UpdateTime: r.UpdateTime.t, TenantID: r.TenantID, OrderingKey: r.OrderingKey,
	}
	if !store.IsFinal(d.Status) {
		d.NextAttemptTime, d.BlockedBy = r.NextAttemptTime.t, r.BlockedBy.String
	}
	return d
}

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
	PayloadExpired     bool     `db:"payload_expired"`
	// PayloadAt is where the event's payload goes back into RequestBody (0: stored whole), EventPayload that payload.
	PayloadAt    int            `db:"request_body_payload_at"`
	EventPayload sql.NullString `db:"event_payload"`
}

func (r attemptRow) record() (store.Attempt, error) {
	a := store.Attempt{
		DeliveryID: r.DeliveryID, Number: r.Number, StartTime: r.StartTime.t,
		Duration: time.Duration(r.DurationUS) * time.Microsecond, RequestMethod: r.RequestMethod, RequestURL: r.RequestURL,
		RequestBody: r.RequestBody, ResponseStatusCode: r.ResponseStatusCode, ResponseBody: r.ResponseBody, Error: r.Error,
		PayloadExpired: r.PayloadExpired,
	}
	if at := r.PayloadAt; at > 0 && at <= len(r.RequestBody) && !r.PayloadExpired && r.EventPayload.Valid {
		a.RequestBody = r.RequestBody[:at] + r.EventPayload.String + r.RequestBody[at:]
	}
	if err := r.RequestHeaders.decode(&a.RequestHeaders); err != nil {
		return a, err
	}
	return a, r.ResponseHeaders.decode(&a.ResponseHeaders)
}

// GetDelivery returns a delivery of the project.
func (s *Store) GetDelivery(ctx context.Context, projectID, deliveryID string) (*store.Delivery, error) {
	var r deliveryRow
	if err := s.db.GetContext(ctx, &r, s.rebind(`SELECT `+loggedCols+loggedFrom+` WHERE d.project_id = ? AND d.id = ?`),
		projectID, deliveryID); err != nil {
		return nil, wrap("get delivery", err)
	}
	d := r.record()
	return &d, nil
}

// ListAttempts returns the attempts of a delivery of the project, oldest first (none for another project's).
func (s *Store) ListAttempts(ctx context.Context, projectID, deliveryID string) ([]store.Attempt, error) {
	var rows []attemptRow
	if err := s.db.SelectContext(ctx, &rows, s.rebind(`SELECT `+prefixed("a", attemptCols)+`, a.payload_expired,
			CASE WHEN a.request_body_payload_at > 0 THEN (SELECT e.payload FROM events e WHERE e.id = d.event_id) END AS event_payload
		FROM attempts a
		JOIN deliveries d ON d.id = a.delivery_id AND d.project_id = ?
		WHERE a.delivery_id = ? ORDER BY a.number`), projectID, deliveryID); err != nil {
		return nil, wrap("list attempts", err)
	}
	return mapRowsErr(rows, s.attemptRecord)
}

// prefixed qualifies a comma-separated column list with a table alias.
func prefixed(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// deliveryWhere turns a filter into conditions on deliveries (always scoped to the project).
func deliveryWhere(projectID string, f store.DeliveryFilter, statuses []store.Status) ([]string, []any) {
	where, args := []string{"d.project_id = ?"}, []any{projectID}
	if statuses != nil {
		where, args = append(where, "d.status IN (?)"), append(args, statusStrings(statuses))
	}
	for _, c := range []struct{ col, v string }{
		{"d.webhook_id", f.WebhookID}, {"d.integration_id", f.IntegrationID}, {"d.event_type", f.EventType},
		{"d.subject", f.Subject}, {"d.event_id", f.EventID}, {"d.tenant_id", f.TenantID},
	} {
		if c.v != "" {
			where, args = append(where, c.col+" = ?"), append(args, c.v)
		}
	}
	// Ids start with their creation time: a time range is also an id range, which on PostgreSQL skips the day
	// partitions outside it.
	if !f.CreateAfter.IsZero() {
		where = append(where, "d.create_time >= ?", "d.id >= ?")
		args = append(args, ts(f.CreateAfter), "dlv_"+ulidPrefix(f.CreateAfter.Add(-time.Millisecond)))
	}
	if !f.CreateBefore.IsZero() {
		where = append(where, "d.create_time < ?", "d.id < ?")
		args = append(args, ts(f.CreateBefore), "dlv_"+ulidPrefix(f.CreateBefore.Add(time.Millisecond)))
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
func (s *Store) ListDeliveries(ctx context.Context, p store.ListDeliveriesParams) ([]store.Delivery, error) {
	projectID, f, queue, page := p.ProjectID, p.Filter, p.Queue, p.Page
	var where []string
	var args []any
	var q string
	if queue {
		statuses := intersect(f.Statuses, queueStatuses)
		if len(statuses) == 0 {
			return nil, nil
		}
		where, args = deliveryWhere(projectID, f, nil)
		where = append(where, "q.project_id = ?", "q.status IN (?)")
		args = append(args, projectID, statusStrings(statuses))
		if p.Blocked {
			where = append(where, "q.blocked_by IS NULL",
				"EXISTS (SELECT 1 FROM delivery_queue f WHERE f.blocked_by = q.delivery_id)")
		}
		if page.After != "" {
			after, afterID, err := ParseQueueCursor(page.After)
			if err != nil {
				return nil, fmt.Errorf("list deliveries: %w", err)
			}
			where = append(where, "(q.next_attempt_time > ? OR (q.next_attempt_time = ? AND q.delivery_id > ?))")
			args = append(args, after, after, afterID)
		}
		q = `SELECT ` + loggedCols + ` FROM delivery_queue q JOIN deliveries d ON d.id = q.delivery_id` + whereClause(where) +
			` ORDER BY q.next_attempt_time, q.delivery_id LIMIT ?`
	} else {
		var statuses []store.Status
		if len(f.Statuses) > 0 {
			statuses = f.Statuses
		}
		where, args = deliveryWhere(projectID, f, statuses)
		where, args = pageCond(page, "d.id", where, args)
		q = `SELECT ` + loggedCols + loggedFrom + whereClause(where) + ` ORDER BY d.id DESC LIMIT ?`
	}
	q, args, err := s.in(q, append(args, limit(page))...)
	if err != nil {
		return nil, err
	}
	ds, err := selectPage(ctx, s, q, args, page, noErr(deliveryRow.record))
	return ds, wrap("list deliveries", err)
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

// RetryDelivery makes a DONE or FAILED delivery due now (RETRYING, resent, with a new action-status token), and a
// QUEUED or RETRYING delivery whose attempt is not in flight due now (status unchanged, not resent); ErrConflict
// otherwise (WAITING, CANCELLED, or an attempt in flight).
func (s *Store) RetryDelivery(ctx context.Context, projectID, deliveryID string, now time.Time) (*store.Delivery, error) {
	now = ts(now)
	var d store.Delivery
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var r deliveryRow
		if err := tx.GetContext(ctx, &r, s.rebind(retryDelivery), now, projectID, deliveryID); err != nil {
			if !errors.Is(mapErr(err), store.ErrNotFound) {
				return wrap("retry delivery", err)
			}
			// Not finished: a QUEUED or RETRYING delivery not in flight is made due now ("send now").
			res, err := tx.ExecContext(ctx, s.rebind(sendNow), now, now, projectID, deliveryID)
			if err != nil {
				return wrap("send delivery now", err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return s.stateError(ctx, tx, "retry delivery", projectID, deliveryID, sql.ErrNoRows)
			}
			if err := tx.GetContext(ctx, &r, s.rebind(`SELECT `+loggedCols+loggedFrom+` WHERE d.project_id = ? AND d.id = ?`),
				projectID, deliveryID); err != nil {
				return wrap("get delivery", err)
			}
			d = r.record()
			s.note(tx, projectID, store.ChangeStatus, now, d.ID)
			return nil
		}
		d = r.record()
		d.NextAttemptTime = now
		s.note(tx, projectID, store.ChangeStatus, now, d.ID)
		return s.requeue(ctx, tx, []deliveryRow{r}, now)
	})
	if err != nil {
		return nil, err
	}
	s.wake(now)
	return &d, nil
}

// requeue puts resent deliveries back in the queue, due now.
func (s *Store) requeue(ctx context.Context, tx *sqlx.Tx, rows []deliveryRow, now time.Time) error {
	queued := make([][]any, len(rows))
	for i, r := range rows {
		queued[i] = queueArgs(r.ID, r.ProjectID, r.WebhookID, r.EventID, store.StatusRetrying, r.Attempts, r.Resends, now)
	}
	for chunk := range slices.Chunk(queued, deliveryChunk) {
		q, args := valuesQuery(`INSERT INTO delivery_queue (`+queueInsertCols+`) VALUES `, chunk, requeue)
		if _, err := tx.ExecContext(ctx, s.rebind(q), args...); err != nil {
			return wrap("requeue deliveries", err)
		}
	}
	return nil
}

// RetryChunk is how many deliveries one transaction of RetryDeliveries resends.
const RetryChunk = 500

// RetryDeliveries resends the DONE or FAILED deliveries matching f (FAILED only when f names no status), oldest
// first, in transactions of RetryChunk and at most store.MaxBulkRetry per call; it returns how many it resent. A
// caller that gets store.MaxBulkRetry calls again for the rest (resent deliveries no longer match).
func (s *Store) RetryDeliveries(ctx context.Context, projectID string, f store.DeliveryFilter, now time.Time) (int, error) {
	return s.RetryDeliveriesUpTo(ctx, projectID, f, now, store.MaxBulkRetry)
}

// RetryDeliveriesUpTo is RetryDeliveries resending at most most deliveries.
func (s *Store) RetryDeliveriesUpTo(ctx context.Context, projectID string, f store.DeliveryFilter, now time.Time, most int) (int, error) {
	now = ts(now)
	statuses := []store.Status{store.StatusFailed}
	if len(f.Statuses) > 0 {
		statuses = intersect(f.Statuses, []store.Status{store.StatusDone, store.StatusFailed})
		if len(statuses) == 0 {
			return 0, nil
		}
	}
	total, after := 0, ""
	for total < most {
		where, args := deliveryWhere(projectID, f, statuses)
		if after != "" {
			where, args = append(where, "d.id > ?"), append(args, after)
		}
		n := min(RetryChunk, most-total)
		var rows []deliveryRow
		err := s.inTx(ctx, func(tx *sqlx.Tx) error {
			q, qargs, err := s.in(`UPDATE deliveries SET status = 'retrying', resent = TRUE, resends = resends + 1,
				update_time = ? WHERE id IN (SELECT d.id FROM deliveries d`+whereClause(where)+` ORDER BY d.id LIMIT ?)
				RETURNING `+deliveryCols, append(append([]any{now}, args...), n)...)
			if err != nil {
				return err
			}
			if err := tx.SelectContext(ctx, &rows, q, qargs...); err != nil {
				return wrap("retry deliveries", err)
			}
			s.note(tx, projectID, store.ChangeStatus, now, rowIDs(rows)...)
			return s.requeue(ctx, tx, rows, now)
		})
		if err != nil {
			return total, err
		}
		total += len(rows)
		if len(rows) > 0 {
			s.wake(now)
		}
		if len(rows) < n {
			break
		}
		for _, r := range rows {
			if r.ID > after {
				after = r.ID
			}
		}
	}
	return total, nil
}

// CancelDelivery cancels a QUEUED, RETRYING or WAITING delivery; ErrConflict otherwise. An attempt already in
// flight is still recorded, but the delivery stays cancelled.
func (s *Store) CancelDelivery(ctx context.Context, projectID, deliveryID string, now time.Time) (*store.Delivery, error) {
	var d store.Delivery
	var released bool
	err := s.inPartitionedTx(ctx, []time.Time{now}, func(tx *sqlx.Tx) error {
		var r deliveryRow
		if err := tx.GetContext(ctx, &r, s.rebind(cancelDelivery), ts(now), projectID, deliveryID); err != nil {
			return s.stateError(ctx, tx, "cancel delivery", projectID, deliveryID, err)
		}
		d = r.record()
		var err error
		if released, err = s.settle(ctx, tx, store.StatusCancelled, deliveryID); err != nil {
			return err
		}
		s.noteChanges(tx, now, []change{deliveryChange(d)})
		_, err = s.account(ctx, tx, now, []change{deliveryChange(d)}, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	if released {
		s.wake(now)
	}
	return &d, nil
}

// UpdateActionStatus finishes (DONE or FAILED) the delivery of an action-status token while it is WAITING, or
// QUEUED or RETRYING with an attempt in flight (the receiver answered before its 202 was recorded), and while its
// resend count is the token's (a resend makes older tokens invalid). ErrNotFound when there is no such delivery.
func (s *Store) UpdateActionStatus(ctx context.Context, p store.UpdateActionStatusParams) (*store.Delivery, error) {
	deliveryID, resends, status, reason, now := p.DeliveryID, p.Resends, p.Status, p.Reason, p.Now
	if status != store.StatusDone && status != store.StatusFailed {
		return nil, fmt.Errorf("update action status: status %q is not done or failed: %w", status, store.ErrConflict)
	}
	var d store.Delivery
	var woke bool
	err := s.inPartitionedTx(ctx, []time.Time{now}, func(tx *sqlx.Tx) error {
		lock := ""
		if s.pg() {
			lock = " FOR UPDATE"
		}
		var q queueRow
		if err := tx.GetContext(ctx, &q, s.rebind(`SELECT `+queueCols+`, claim_token FROM delivery_queue
			WHERE delivery_id = ? AND resends = ?`+lock), deliveryID, resends); err != nil {
			return wrap("update action status", err)
		}
		inFlight := q.ClaimToken.Valid && (q.Status == string(store.StatusQueued) || q.Status == string(store.StatusRetrying))
		if q.Status != string(store.StatusWaiting) && !inFlight {
			return fmt.Errorf("update action status: delivery is %s: %w", q.Status, store.ErrNotFound)
		}
		var r deliveryRow
		if err := tx.GetContext(ctx, &r, s.rebind(`UPDATE deliveries SET status = ?, reason = ?, update_time = ?
			WHERE id = ? RETURNING `+deliveryCols), string(status), reason, ts(now), deliveryID); err != nil {
			return wrap("update action status", err)
		}
		d = r.record()
		released, err := s.settle(ctx, tx, status, deliveryID)
		if err != nil {
			return err
		}
		s.noteChanges(tx, now, []change{deliveryChange(d)})
		woke, err = s.account(ctx, tx, now, []change{deliveryChange(d)}, nil)
		woke = woke || released
		return err
	})
	if err != nil {
		return nil, err
	}
	s.deliveriesChanged()
	if woke {
		s.wake(now)
	}
	return &d, nil
}

// deliveryChange is the books' view of a delivery that became final without an attempt (a callback, a cancel).
func deliveryChange(d store.Delivery) change {
	return change{deliveryID: d.ID, projectID: d.ProjectID, webhookID: d.WebhookID, eventID: d.EventID, eventType: d.EventType,
		subject: d.Subject, status: d.Status, code: d.LastStatusCode, reason: d.Reason}
}

// DeliveryByLegacyToken finds the delivery of an action-status token handed out before tokens were derived, by
// the token's SHA-256 hash; ErrNotFound when unknown.
func (s *Store) DeliveryByLegacyToken(ctx context.Context, hash []byte) (*store.Delivery, error) {
	var r deliveryRow
	if err := s.db.GetContext(ctx, &r, s.rebind(`SELECT `+loggedCols+loggedFrom+`
		JOIN action_tokens t ON t.delivery_id = d.id WHERE t.hash = ?`), hash); err != nil {
		return nil, wrap("find action token", err)
	}
	d := r.record()
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

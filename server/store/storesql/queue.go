package storesql

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/hookd/hookd/server/store"
)

const (
	deliveryCols = `id, project_id, event_id, webhook_id, integration_id, event_type, subject, status, attempts,
		next_attempt_time, last_status_code, reason, resent, action_token, claim_token, create_time, update_time`

	// claimPostgres leases due deliveries in one statement: SKIP LOCKED lets concurrent claimers (other
	// processes) take disjoint rows; a claim sets claim_token and lease_time, so an abandoned claim is due
	// again once its lease ends. The claim changes no indexed column, so PostgreSQL updates the row in place
	// (a HOT update) instead of adding an entry to each of the table's indexes.
	claimPostgres = `WITH due AS (
			SELECT id FROM deliveries
			WHERE status IN ('queued', 'retrying') AND next_attempt_time <= $1
				AND (lease_time IS NULL OR lease_time <= $1)
			ORDER BY next_attempt_time
			LIMIT $2
			FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE deliveries d SET claim_token = $3, lease_time = $4
			FROM due WHERE d.id = due.id
			RETURNING d.*
		)
		SELECT %s, e.payload AS event_payload, e.create_time AS event_create_time
		FROM claimed c JOIN events e ON e.id = c.event_id
		ORDER BY c.id`

	// claimSQLite is the same lease inside a BEGIN IMMEDIATE transaction (SQLite has one writer at a time).
	claimSQLite = `UPDATE deliveries SET claim_token = ?, lease_time = ?
		WHERE id IN (
			SELECT id FROM deliveries
			WHERE status IN ('queued', 'retrying') AND next_attempt_time <= ?
				AND (lease_time IS NULL OR lease_time <= ?)
			ORDER BY next_attempt_time
			LIMIT ?
		)
		RETURNING ` + deliveryCols

	claimedPayloads = `SELECT id, payload, create_time FROM events WHERE id IN (?)`

	// completePostgres applies a batch of outcomes in one statement.
	completePostgres = `UPDATE deliveries d SET status = v.status, attempts = v.attempts,
			next_attempt_time = v.next_attempt_time, last_status_code = v.last_status_code, reason = v.reason,
			claim_token = '', lease_time = NULL, update_time = $1
		FROM unnest($2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::int[], $7::text[])
			AS v(id, status, attempts, next_attempt_time, last_status_code, reason)
		WHERE d.id = v.id`

	completeSQLite = `UPDATE deliveries SET status = ?, attempts = ?, next_attempt_time = ?, last_status_code = ?,
		reason = ?, claim_token = '', lease_time = NULL, update_time = ? WHERE id = ?`

	attemptCols = `delivery_id, number, start_time, duration_us, request_method, request_url, request_headers, request_body,
		response_status_code, response_headers, response_body, error`

	expireWaiting = `UPDATE deliveries SET status = 'failed', reason = ?, claim_token = '', lease_time = NULL, update_time = ?
		WHERE status = 'waiting' AND id IN (
			SELECT id FROM deliveries WHERE status = 'waiting' AND next_attempt_time <= ?
			ORDER BY next_attempt_time LIMIT ? %s
		)`

	updateActionStatus = `UPDATE deliveries SET status = ?, reason = ?, update_time = ?
		WHERE action_token = ?
			AND (status = 'waiting' OR (status IN ('queued', 'retrying') AND claim_token <> ''))
		RETURNING ` + deliveryCols
)

// claimPostgresQuery is claimPostgres selecting the delivery columns of the claimed rows.
var claimPostgresQuery = fmt.Sprintf(claimPostgres, prefixed("c", deliveryCols))

// ReasonActionTimeout is the reason of a WAITING delivery whose action status callback never came.
const ReasonActionTimeout = "action status callback timed out"

type deliveryRow struct {
	ID              string `db:"id"`
	ProjectID       string `db:"project_id"`
	EventID         string `db:"event_id"`
	WebhookID       string `db:"webhook_id"`
	IntegrationID   string `db:"integration_id"`
	EventType       string `db:"event_type"`
	Subject         string `db:"subject"`
	Status          string `db:"status"`
	Attempts        int    `db:"attempts"`
	NextAttemptTime dbTime `db:"next_attempt_time"`
	LastStatusCode  int    `db:"last_status_code"`
	Reason          string `db:"reason"`
	Resent          bool   `db:"resent"`
	ActionToken     string `db:"action_token"`
	ClaimToken      string `db:"claim_token"`
	CreateTime      dbTime `db:"create_time"`
	UpdateTime      dbTime `db:"update_time"`
}

func (r deliveryRow) record() store.Delivery {
	return store.Delivery{
		ID: r.ID, ProjectID: r.ProjectID, EventID: r.EventID, WebhookID: r.WebhookID, IntegrationID: r.IntegrationID,
		EventType: r.EventType, Subject: r.Subject, Status: store.Status(r.Status), Attempts: r.Attempts,
		NextAttemptTime: r.NextAttemptTime.t, LastStatusCode: r.LastStatusCode, Reason: r.Reason, Resent: r.Resent,
		ActionToken: r.ActionToken, CreateTime: r.CreateTime.t, UpdateTime: r.UpdateTime.t,
	}
}

type claimedRow struct {
	deliveryRow
	EventPayload    jsonText `db:"event_payload"`
	EventCreateTime dbTime   `db:"event_create_time"`
}

// prefixed qualifies a comma-separated column list with a table alias.
func prefixed(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// ClaimDeliveries leases up to limit due deliveries (QUEUED/RETRYING, next_attempt_time <= now) until now+lease.
// A lease that expires makes the delivery due again (the built-in rescuer).
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]store.ClaimedDelivery, error) {
	now = ts(now)
	leaseEnd, token := ts(now.Add(lease)), claimToken()
	var rows []claimedRow
	if s.pg() {
		s.startListener() // listen before the first claim so that no NOTIFY after it is missed
		if err := s.db.SelectContext(ctx, &rows, claimPostgresQuery, now, limit, token, leaseEnd); err != nil {
			return nil, wrap("claim deliveries", err)
		}
	} else {
		err := s.inTx(ctx, func(tx *sqlx.Tx) error {
			var drows []deliveryRow
			if err := tx.SelectContext(ctx, &drows, claimSQLite, token, leaseEnd, now, now, limit); err != nil {
				return wrap("claim deliveries", err)
			}
			if len(drows) == 0 {
				return nil
			}
			ids := make([]string, 0, len(drows))
			for _, d := range drows {
				ids = append(ids, d.EventID)
			}
			q, args, err := s.in(claimedPayloads, dedupe(ids))
			if err != nil {
				return err
			}
			var events []struct {
				ID         string   `db:"id"`
				Payload    jsonText `db:"payload"`
				CreateTime dbTime   `db:"create_time"`
			}
			if err := tx.SelectContext(ctx, &events, q, args...); err != nil {
				return wrap("claim deliveries: read payloads", err)
			}
			byID := make(map[string]int, len(events))
			for i, e := range events {
				byID[e.ID] = i
			}
			for _, d := range drows {
				e := events[byID[d.EventID]]
				rows = append(rows, claimedRow{deliveryRow: d, EventPayload: e.Payload, EventCreateTime: e.CreateTime})
			}
			slices.SortFunc(rows, func(a, b claimedRow) int { return strings.Compare(a.ID, b.ID) })
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]store.ClaimedDelivery, len(rows))
	for i, r := range rows {
		out[i] = store.ClaimedDelivery{
			Delivery: r.record(), EventPayload: r.EventPayload.raw(), EventCreateTime: r.EventCreateTime.t, ClaimToken: r.ClaimToken,
		}
		out[i].NextAttemptTime = leaseEnd // for the claimer the delivery is due again when its lease ends
	}
	return out, nil
}

// isFinal reports whether a delivery status is terminal.
func isFinal(st store.Status) bool {
	return st == store.StatusDone || st == store.StatusFailed || st == store.StatusCancelled
}

// CompleteDeliveries stores outcomes in one transaction. Outcomes whose claim token is stale (the lease expired
// and another claim followed, or the delivery was resent) are skipped. When the delivery became final meanwhile
// (an action-status callback or a cancel raced the sender) the attempt is recorded but the status is kept.
func (s *Store) CompleteDeliveries(ctx context.Context, outcomes []store.Outcome, now time.Time) error {
	if len(outcomes) == 0 {
		return nil
	}
	now = ts(now)
	ids := make([]string, 0, len(outcomes))
	for _, o := range outcomes {
		ids = append(ids, o.DeliveryID)
	}
	slices.Sort(ids) // lock rows in one order: concurrent batches cannot deadlock
	ids = slices.Compact(ids)
	var woke bool
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		lock := ""
		if s.pg() {
			lock = " FOR UPDATE"
		}
		q, args, err := s.in(`SELECT `+deliveryCols+` FROM deliveries WHERE id IN (?) ORDER BY id`+lock, ids)
		if err != nil {
			return err
		}
		var rows []deliveryRow
		if err := tx.SelectContext(ctx, &rows, q, args...); err != nil {
			return wrap("complete deliveries: lock", err)
		}
		current := make(map[string]*deliveryRow, len(rows))
		for i := range rows {
			current[rows[i].ID] = &rows[i]
		}

		var updates []deliveryRow
		var attempts [][]any
		var disable []string
		for _, o := range outcomes {
			cur := current[o.DeliveryID]
			if cur == nil || o.ClaimToken == "" || cur.ClaimToken != o.ClaimToken {
				s.log.DebugContext(ctx, "skipped stale delivery outcome", "delivery_id", o.DeliveryID)
				continue
			}
			cur.ClaimToken = "" // a repeated outcome in the batch is stale
			next := *cur
			if o.Attempt != nil {
				next.Attempts++
				next.LastStatusCode = o.LastStatusCode
				row, err := attemptArgs(o.DeliveryID, next.Attempts, s.sealedAttempt(o.Attempt))
				if err != nil {
					return err
				}
				attempts = append(attempts, row)
			}
			if !isFinal(store.Status(cur.Status)) {
				next.Status = string(o.Status)
				next.NextAttemptTime = dbTime{now}
				if !o.NextAttemptTime.IsZero() {
					next.NextAttemptTime = dbTime{ts(o.NextAttemptTime)}
				}
				if o.Attempt != nil || o.Reason != "" {
					next.Reason = o.Reason
				}
				if o.Attempt == nil && o.LastStatusCode != 0 {
					next.LastStatusCode = o.LastStatusCode
				}
				if o.Status == store.StatusQueued || o.Status == store.StatusRetrying {
					woke = true
				}
				if o.DisableWebhook {
					disable = append(disable, cur.WebhookID)
				}
			}
			updates = append(updates, next)
		}

		for chunk := range slices.Chunk(attempts, 200) {
			q, args, err := insertAttempts.query(s.pg(), chunk)
			if err != nil {
				return err
			}
			if _, err := s.txExec(ctx, tx, q, args...); err != nil {
				return wrap("complete deliveries: insert attempts", err)
			}
		}
		if err := s.applyOutcomes(ctx, tx, updates, now); err != nil {
			return err
		}
		if len(disable) > 0 {
			q, args, err := s.in(`UPDATE webhooks SET enabled = FALSE, update_time = ? WHERE id IN (?)`, now, dedupe(disable))
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return wrap("complete deliveries: disable webhooks", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.afterCommit(woke)
	s.changed.signal()
	return nil
}

// applyOutcomes writes the new state of completed deliveries (one statement on PostgreSQL).
func (s *Store) applyOutcomes(ctx context.Context, tx *sqlx.Tx, updates []deliveryRow, now time.Time) error {
	if len(updates) == 0 {
		return nil
	}
	if s.pg() {
		n := len(updates)
		ids, statuses, reasons, times := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		attempts, codes := make([]int64, n), make([]int64, n)
		for i, u := range updates {
			ids[i], statuses[i], reasons[i] = u.ID, u.Status, u.Reason
			times[i] = u.NextAttemptTime.t.Format(time.RFC3339Nano)
			attempts[i], codes[i] = int64(u.Attempts), int64(u.LastStatusCode)
		}
		if _, err := tx.ExecContext(ctx, completePostgres, now, pq.Array(ids), pq.Array(statuses), pq.Array(attempts),
			pq.Array(times), pq.Array(codes), pq.Array(reasons)); err != nil {
			return wrap("complete deliveries: update", err)
		}
		return nil
	}
	stmt, err := tx.PreparexContext(ctx, completeSQLite)
	if err != nil {
		return wrap("complete deliveries: prepare", err)
	}
	defer stmt.Close()
	for _, u := range updates {
		if _, err := stmt.ExecContext(ctx, u.Status, u.Attempts, u.NextAttemptTime.t, u.LastStatusCode, u.Reason, now, u.ID); err != nil {
			return wrap("complete deliveries: update", err)
		}
	}
	return nil
}

var insertAttempts = newBulkInsert(bulkInsert{
	into: `INSERT INTO attempts (` + attemptCols + `)`,
	pgTypes: []string{"text", "integer", "timestamptz", "bigint", "text", "text", "json", "text", "integer", "json",
		"text", "text"},
})

// attemptArgs are the attempts columns of a stored attempt.
func attemptArgs(deliveryID string, number int, a *store.Attempt) ([]any, error) {
	reqHeaders, err := jsonArg(nonNil(a.RequestHeaders))
	if err != nil {
		return nil, err
	}
	respHeaders, err := jsonArg(nonNil(a.ResponseHeaders))
	if err != nil {
		return nil, err
	}
	return []any{deliveryID, number, orNow(a.StartTime), a.Duration.Microseconds(), a.RequestMethod, a.RequestURL, reqHeaders,
		a.RequestBody, a.ResponseStatusCode, respHeaders, a.ResponseBody, a.Error}, nil
}

// ExpireWaiting fails up to limit WAITING deliveries whose wait ended by now; it returns how many.
func (s *Store) ExpireWaiting(ctx context.Context, now time.Time, limit int) (int, error) {
	now = ts(now)
	lock := ""
	if s.pg() {
		lock = "FOR UPDATE SKIP LOCKED"
	}
	res, err := s.db.ExecContext(ctx, s.rebind(fmt.Sprintf(expireWaiting, lock)), ReasonActionTimeout, now, now, limit)
	if err != nil {
		return 0, wrap("expire waiting deliveries", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap("expire waiting deliveries", err)
	}
	return int(n), nil
}

// UpdateActionStatus finishes (DONE or FAILED) the delivery of an action token while it is WAITING, or QUEUED or
// RETRYING with an attempt in flight (the receiver answered before its 202 was recorded). ErrNotFound when the
// token is unknown or its delivery already finished.
func (s *Store) UpdateActionStatus(ctx context.Context, token string, status store.Status, reason string, now time.Time) (*store.Delivery, error) {
	if status != store.StatusDone && status != store.StatusFailed {
		return nil, fmt.Errorf("update action status: status %q is not done or failed: %w", status, store.ErrConflict)
	}
	if token == "" {
		return nil, wrap("update action status", store.ErrNotFound)
	}
	var r deliveryRow
	if err := s.db.GetContext(ctx, &r, s.rebind(updateActionStatus), string(status), reason, ts(now), token); err != nil {
		return nil, wrap("update action status", err)
	}
	s.changed.signal()
	d := r.record()
	return &d, nil
}

// TakeRateToken takes one token from the bucket key (rate per second, burst = rate) shared by all processes;
// when none is left it returns false and when the next token is due.
func (s *Store) TakeRateToken(ctx context.Context, key string, rate int, now time.Time) (bool, time.Time, error) {
	n, next, err := s.TakeRateTokens(ctx, key, rate, 1, now)
	return n == 1, next, err
}

// TakeRateTokens takes up to n whole tokens from the bucket key (rate per second, burst = rate) in one
// statement (concurrent processes serialize on the row) and returns how many it got; with none, it returns
// when the next token is due.
func (s *Store) TakeRateTokens(ctx context.Context, key string, rate, n int, now time.Time) (int, time.Time, error) {
	if rate <= 0 {
		return n, now, nil
	}
	n = max(n, 1)
	least, greatest := "LEAST", "GREATEST"
	if !s.pg() {
		least, greatest = "MIN", "MAX"
	}
	r, micros := float64(rate), now.UnixMicro()
	avail := fmt.Sprintf(`%s(CAST(? AS DOUBLE PRECISION), rate_buckets.tokens + %s(0, CAST(? AS BIGINT) - rate_buckets.updated_micros) * CAST(? AS DOUBLE PRECISION) / 1000000.0)`, least, greatest)
	whole := func(x string) string { // whole tokens of a non-negative amount
		if s.pg() {
			return "FLOOR(" + x + ")"
		}
		return "CAST(" + x + " AS INTEGER)" // SQLite truncates, which floors x ≥ 0
	}
	q := s.rebind(fmt.Sprintf(`INSERT INTO rate_buckets (key, tokens, updated_micros, granted)
		VALUES (?, CAST(? AS DOUBLE PRECISION) - %[1]s(CAST(? AS DOUBLE PRECISION), CAST(? AS DOUBLE PRECISION)),
			CAST(? AS BIGINT), %[1]s(CAST(? AS DOUBLE PRECISION), CAST(? AS DOUBLE PRECISION)))
		ON CONFLICT (key) DO UPDATE SET
			granted = %[1]s(CAST(? AS DOUBLE PRECISION), %[3]s),
			tokens = %[2]s - %[1]s(CAST(? AS DOUBLE PRECISION), %[3]s),
			updated_micros = %[4]s(rate_buckets.updated_micros, CAST(? AS BIGINT))
		WHERE %[3]s >= 1
		RETURNING granted`, least, avail, whole(avail), greatest))
	fn := float64(n)
	args := []any{key, r, fn, r, micros, fn, r, // insert
		fn, r, micros, r, // granted
		r, micros, r, fn, r, micros, r, // tokens
		micros,       // updated_micros
		r, micros, r} // where
	var granted []float64
	if err := s.db.SelectContext(ctx, &granted, q, args...); err != nil {
		return 0, time.Time{}, wrap("take rate tokens", err)
	}
	if len(granted) > 0 && granted[0] >= 1 {
		return int(granted[0]), now, nil
	}
	var b struct {
		Tokens        float64 `db:"tokens"`
		UpdatedMicros int64   `db:"updated_micros"`
	}
	if err := s.db.GetContext(ctx, &b, s.rebind(`SELECT tokens, updated_micros FROM rate_buckets WHERE key = ?`), key); err != nil {
		return 0, time.Time{}, wrap("take rate tokens: read bucket", err)
	}
	have := math.Min(r, b.Tokens+float64(max(0, micros-b.UpdatedMicros))*r/1e6)
	wait := time.Duration(math.Ceil((1-have)/r*1e6)) * time.Microsecond
	return 0, now.Add(max(wait, time.Microsecond)), nil
}

// QueueDepth counts unfinished deliveries (QUEUED, RETRYING and WAITING) of all projects; the partial
// due and waiting indexes hold exactly these rows.
func (s *Store) QueueDepth(ctx context.Context) (int, error) {
	var n int
	err := s.db.GetContext(ctx, &n, `SELECT
		(SELECT count(*) FROM deliveries WHERE status IN ('queued', 'retrying')) +
		(SELECT count(*) FROM deliveries WHERE status = 'waiting')`)
	if err != nil {
		return 0, wrap("queue depth", err)
	}
	return n, nil
}

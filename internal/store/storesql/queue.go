package storesql

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/hookd/hookd/internal/store"
)

// The queue (delivery_queue) holds one row per unfinished delivery. A claim sets claim_token and moves due_time to
// the end of the lease, so an abandoned claim is due again when its lease ends (the built-in rescuer). Claims
// visit webhooks ("lanes") in webhook id order and take from each at most its room: the per-webhook cap minus
// what the claiming process already has in flight, and a fair share of the claim. A backlog or a hanging
// receiver of one webhook therefore never fills a claim.

const (
	// maxLanes is how many webhooks one claim visits; a claim that had to stop returns a cursor to go on from.
	maxLanes = 500

	queueCols = `delivery_id, project_id, webhook_id, event_id, status, attempts, resends, due_time, next_attempt_time, blocked_by`
	// queueInsertCols are the columns of a queueArgs row: queueCols and the claim token (set when a publish hands the
	// delivery to its sender, see handoff.go).
	queueInsertCols = queueCols + `, claim_token`

	// claimPostgres leases due rows in one statement. lane is a skip scan over delivery_queue_lane_idx: each step
	// finds the next webhook and its earliest due time. due_lane keeps the webhooks with due work and their room;
	// picked takes each one's due rows (SKIP LOCKED: other processes take disjoint rows); claimed leases them.
	// The result has one row per claimed delivery, or one row of NULLs, and on each row the claim's facts: the
	// earliest due time after now, whether the lane scan was cut short and where, whether a lane filled its fair
	// share of the claim (or the claim its limit), and whether a lane was held back by the per-webhook cap.
	claimPostgres = `WITH RECURSIVE lane AS (
			(SELECT q.webhook_id, q.due_time, 1 AS n FROM delivery_queue q
				WHERE q.webhook_id > $1 ORDER BY q.webhook_id, q.due_time LIMIT 1)
			UNION ALL
			SELECT nxt.webhook_id, nxt.due_time, lane.n + 1 FROM lane
			CROSS JOIN LATERAL (SELECT q.webhook_id, q.due_time FROM delivery_queue q
				WHERE q.webhook_id > lane.webhook_id ORDER BY q.webhook_id, q.due_time LIMIT 1) nxt
			WHERE lane.n < $2
		), due_lane AS (
			SELECT l.webhook_id, CEIL($3::float8 / GREATEST(1, count(*) OVER ()))::int AS share,
				GREATEST(0, $4 - COALESCE(f.busy, 0)) AS cap_room
			FROM lane l LEFT JOIN unnest($5::text[], $6::int[]) AS f(webhook_id, busy) ON f.webhook_id = l.webhook_id
			WHERE l.due_time <= $7
		), roomy AS (
			SELECT webhook_id, share, cap_room, LEAST(share, cap_room) AS room FROM due_lane
		), picked AS (
			SELECT c.delivery_id, dl.webhook_id FROM roomy dl CROSS JOIN LATERAL (
				SELECT q.delivery_id FROM delivery_queue q
				WHERE q.webhook_id = dl.webhook_id AND q.due_time <= $7
				ORDER BY q.due_time LIMIT dl.room
				FOR UPDATE SKIP LOCKED) c
			LIMIT $3
		), claimed AS (
			UPDATE delivery_queue q SET due_time = $8, claim_token = $9
			FROM picked WHERE q.delivery_id = picked.delivery_id
			RETURNING q.delivery_id, q.project_id, q.webhook_id, q.event_id, q.status, q.attempts, q.resends,
				q.next_attempt_time
		), facts AS (
			SELECT (SELECT min(due_time) FROM delivery_queue WHERE due_time > $7 AND due_time < $10) AS next_due,
				(SELECT count(*) FROM lane) >= $2 AS cut, (SELECT max(webhook_id) FROM lane) AS last_lane,
				(SELECT count(*) FROM picked) >= $3 AS full, (SELECT max(webhook_id) FROM picked) AS last_picked,
				((SELECT count(*) FROM picked) >= $3 OR EXISTS (SELECT 1 FROM roomy r WHERE r.room > 0 AND r.room = r.share
					AND (SELECT count(*) FROM picked p WHERE p.webhook_id = r.webhook_id) >= r.room)) AS filled,
				EXISTS (SELECT 1 FROM roomy r WHERE r.cap_room <= r.share
					AND (SELECT count(*) FROM picked p WHERE p.webhook_id = r.webhook_id) >= r.cap_room) AS capped
		)
		SELECT f.next_due, f.cut, COALESCE(f.last_lane, '') AS last_lane, f.full, COALESCE(f.last_picked, '') AS last_picked,
			f.filled, f.capped,
			c.delivery_id, c.project_id, c.webhook_id, c.event_id, c.status, c.attempts, c.resends, c.next_attempt_time,
			e.event_type, e.subject, e.payload AS event_payload, e.create_time AS event_create_time,
			e.traceparent AS event_traceparent, e.tracestate AS event_tracestate
		FROM facts f
		LEFT JOIN claimed c ON TRUE
		LEFT JOIN events e ON e.id = c.event_id
		ORDER BY c.delivery_id`

	// completePostgres applies a batch of outcomes in one statement, guarded by the claim tokens: fin deletes the
	// rows of deliveries that are finished (by this outcome, or by a callback or cancel that came first: then
	// "settled" keeps that status), again reschedules the others; only those rows' log entries and attempts
	// are written. It returns the log rows it changed, for the books (account).
	completePostgres = `WITH v AS (
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::int[], $7::text[],
				$8::bool[], $9::bool[], $10::text[])
				AS v(id, token, status, attempts, next_time, code, reason, attempted, disable, webhook_id)
		), fin AS (
			DELETE FROM delivery_queue q USING v
			WHERE q.delivery_id = v.id AND q.claim_token = v.token
				AND (v.status IN ('done', 'failed', 'cancelled') OR q.status IN ('done', 'failed', 'cancelled'))
			RETURNING q.delivery_id, q.status IN ('done', 'failed', 'cancelled') AS settled
		), again AS (
			UPDATE delivery_queue q SET status = v.status, attempts = v.attempts, due_time = v.next_time,
				next_attempt_time = v.next_time, claim_token = NULL
			FROM v WHERE q.delivery_id = v.id AND q.claim_token = v.token
				AND v.status NOT IN ('done', 'failed', 'cancelled') AND q.status NOT IN ('done', 'failed', 'cancelled')
			RETURNING q.delivery_id, FALSE AS settled
		), ok AS (
			SELECT * FROM fin UNION ALL SELECT * FROM again
		), logged AS (
			UPDATE deliveries d SET
				status = CASE WHEN ok.settled THEN d.status ELSE v.status END,
				reason = CASE WHEN NOT ok.settled AND (v.attempted OR v.reason <> '') THEN v.reason ELSE d.reason END,
				last_status_code = CASE WHEN v.attempted OR v.code <> 0 THEN v.code ELSE d.last_status_code END,
				attempts = v.attempts, update_time = $11
			FROM v JOIN ok ON ok.delivery_id = v.id
			WHERE d.id = v.id AND (v.attempted OR (NOT ok.settled AND (v.status <> d.status OR v.reason <> '')))
			RETURNING d.id, d.project_id, d.webhook_id, d.event_id, d.event_type, d.subject
		), attempted AS (
			INSERT INTO attempts (` + attemptCols + `)
			SELECT a.* FROM unnest($12::text[], $13::int[], $14::timestamptz[], $15::bigint[], $16::text[], $17::text[],
				$18::json[], $19::text[], $20::int[], $21::json[], $22::text[], $23::text[], $24::int[]) AS a(` + attemptCols + `)
			WHERE a.delivery_id IN (SELECT delivery_id FROM ok)
			RETURNING 1
		)
		SELECT l.id, l.project_id, l.webhook_id, l.event_id, l.event_type, l.subject, ok.settled
		FROM logged l JOIN ok ON ok.delivery_id = l.id` // (data-modifying CTEs run to completion whether read or not)

	attemptCols = `delivery_id, number, start_time, duration_us, request_method, request_url, request_headers, request_body,
		response_status_code, response_headers, response_body, error, request_body_payload_at`
)

// queueRow is a delivery_queue row.
type queueRow struct {
	DeliveryID      string         `db:"delivery_id"`
	ProjectID       string         `db:"project_id"`
	WebhookID       string         `db:"webhook_id"`
	EventID         string         `db:"event_id"`
	Status          string         `db:"status"`
	Attempts        int            `db:"attempts"`
	Resends         int            `db:"resends"`
	DueTime         dbTime         `db:"due_time"`
	NextAttemptTime dbTime         `db:"next_attempt_time"`
	BlockedBy       sql.NullString `db:"blocked_by"`
	ClaimToken      sql.NullString `db:"claim_token"`
}

// claimRow is one row of claimPostgres.
type claimRow struct {
	NextDue         nullTime       `db:"next_due"`
	Cut             bool           `db:"cut"`
	LastLane        string         `db:"last_lane"`
	Full            bool           `db:"full"`
	LastPicked      string         `db:"last_picked"`
	Filled          bool           `db:"filled"`
	Capped          bool           `db:"capped"`
	DeliveryID      sql.NullString `db:"delivery_id"`
	ProjectID       sql.NullString `db:"project_id"`
	WebhookID       sql.NullString `db:"webhook_id"`
	EventID         sql.NullString `db:"event_id"`
	Status          sql.NullString `db:"status"`
	Attempts        sql.NullInt64  `db:"attempts"`
	Resends         sql.NullInt64  `db:"resends"`
	NextAttemptTime nullTime       `db:"next_attempt_time"`
	EventType       sql.NullString `db:"event_type"`
	Subject         sql.NullString `db:"subject"`
	EventPayload    jsonText       `db:"event_payload"`
	EventCreateTime nullTime       `db:"event_create_time"`
	TraceParent     sql.NullString `db:"event_traceparent"`
	TraceState      sql.NullString `db:"event_tracestate"`
}

// ClaimDeliveries leases due deliveries (QUEUED, RETRYING, and WAITING ones whose wait ended) until now+Lease,
// visiting webhooks in turn and taking from each at most its room (see the package comment on the queue).
func (s *Queue) ClaimDeliveries(ctx context.Context, now time.Time, req store.ClaimRequest) (store.ClaimResult, error) {
	now = ts(now)
	req.Limit = max(req.Limit, 1)
	req.PerWebhook = max(req.PerWebhook, 1)
	leaseEnd, token := ts(now.Add(req.Lease)), claimToken()
	busyIDs, busyN := make([]string, 0, len(req.InFlight)), make([]int64, 0, len(req.InFlight))
	for id, n := range req.InFlight {
		if n > 0 {
			busyIDs, busyN = append(busyIDs, id), append(busyN, int64(n))
		}
	}
	if !s.pg() {
		return s.claimSQLite(ctx, now, leaseEnd, token, req)
	}
	var rows []claimRow
	if err := s.preparedAsync[claimPostgres].SelectContext(ctx, &rows, req.Cursor, maxLanes, req.Limit, req.PerWebhook,
		textArray(busyIDs), int64Array(busyN), now, leaseEnd, token, heldAfter); err != nil {
		return store.ClaimResult{}, wrap("claim deliveries", err)
	}
	var res store.ClaimResult
	for i, r := range rows {
		if i == 0 {
			res.NextDue, res.More, res.Capped = r.NextDue.t, r.Filled, r.Capped
			res.Cursor, res.More = nextCursor(req.Cursor, r.Full, r.LastPicked, r.Cut, r.LastLane, res.More)
		}
		if !r.DeliveryID.Valid {
			continue
		}
		res.Deliveries = append(res.Deliveries, store.ClaimedDelivery{
			Delivery: store.Delivery{
				ID: r.DeliveryID.String, ProjectID: r.ProjectID.String, EventID: r.EventID.String, WebhookID: r.WebhookID.String,
				EventType: r.EventType.String, Subject: r.Subject.String, Status: store.Status(r.Status.String),
				Attempts: int(r.Attempts.Int64), Resends: int(r.Resends.Int64), NextAttemptTime: r.NextAttemptTime.t,
			},
			EventPayload: r.EventPayload.raw(), EventCreateTime: r.EventCreateTime.t, ClaimToken: token, LeaseEnd: leaseEnd,
			EventTrace: store.TraceContext{Parent: r.TraceParent.String, State: r.TraceState.String},
		})
	}
	return res, nil
}

// nextCursor is where the next claim's lane scan starts, and whether it should come at once: after the last
// webhook served when the claim's limit ran out, after the last webhook visited when the scan was cut short, and
// from the start (once) when a scan that began at a cursor reached the end — the webhooks before the cursor
// were not visited this round.
func nextCursor(from string, full bool, lastPicked string, cut bool, lastLane string, more bool) (string, bool) {
	switch {
	case full && lastPicked != "":
		return lastPicked, true
	case cut:
		return lastLane, true
	case from != "":
		return "", true
	}
	return "", more
}

// claimSQLite is the claim inside one BEGIN IMMEDIATE transaction (SQLite has one writer at a time): the same
// lanes, rooms and facts as claimPostgres, a statement per visited webhook.
func (s *Queue) claimSQLite(ctx context.Context, now, leaseEnd time.Time, token string, req store.ClaimRequest) (store.ClaimResult, error) {
	var res store.ClaimResult
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		type lane struct {
			WebhookID string `db:"webhook_id"`
			DueTime   dbTime `db:"due_time"`
		}
		var lanes []lane
		// The skip scan: one step per webhook, each the first entry of delivery_queue_lane_idx after the last.
		if err := s.txSelect(ctx, tx, &lanes, `WITH RECURSIVE lane(webhook_id, due_time, n) AS (
				SELECT * FROM (SELECT webhook_id, due_time, 1 FROM delivery_queue WHERE webhook_id > ?
					ORDER BY webhook_id, due_time LIMIT 1)
				UNION ALL
				SELECT (SELECT q.webhook_id FROM delivery_queue q WHERE q.webhook_id > lane.webhook_id
						ORDER BY q.webhook_id, q.due_time LIMIT 1),
					(SELECT q.due_time FROM delivery_queue q WHERE q.webhook_id > lane.webhook_id
						ORDER BY q.webhook_id, q.due_time LIMIT 1),
					n + 1
				FROM lane WHERE lane.webhook_id IS NOT NULL AND n < ?
			)
			SELECT webhook_id, due_time FROM lane WHERE webhook_id IS NOT NULL`, req.Cursor, maxLanes); err != nil {
			return wrap("claim deliveries: lanes", err)
		}
		cut := len(lanes) >= maxLanes
		var due []string
		for _, l := range lanes {
			if !l.DueTime.t.After(now) {
				due = append(due, l.WebhookID)
			}
		}
		share := (req.Limit + max(len(due), 1) - 1) / max(len(due), 1)
		var picked []string
		lastPicked := ""
		for _, w := range due {
			capRoom := max(0, req.PerWebhook-req.InFlight[w])
			room := min(share, capRoom, req.Limit-len(picked))
			if room <= 0 {
				res.Capped = res.Capped || capRoom == 0
				res.More = res.More || capRoom > 0 // the claim's limit left this lane out
				continue
			}
			var ids []string
			if err := s.txSelect(ctx, tx, &ids, `SELECT delivery_id FROM delivery_queue
				WHERE webhook_id = ? AND due_time <= ? ORDER BY due_time LIMIT ?`, w, now, room); err != nil {
				return wrap("claim deliveries: pick", err)
			}
			if len(ids) >= room {
				res.More = res.More || room < capRoom
				res.Capped = res.Capped || room == capRoom
			}
			if len(ids) > 0 {
				lastPicked = w
			}
			picked = append(picked, ids...)
		}
		last := ""
		if len(lanes) > 0 {
			last = lanes[len(lanes)-1].WebhookID
		}
		res.Cursor, res.More = nextCursor(req.Cursor, len(picked) >= req.Limit, lastPicked, cut, last, res.More)
		if err := s.txGet(ctx, tx, &nullTimeScanner{&res.NextDue},
			`SELECT min(due_time) FROM delivery_queue WHERE due_time > ? AND due_time < ?`, now, heldAfter); err != nil {
			return wrap("claim deliveries: next due", err)
		}
		if len(picked) == 0 {
			return nil
		}
		q, args, err := s.in(`UPDATE delivery_queue SET due_time = ?, claim_token = ? WHERE delivery_id IN (?)
			RETURNING `+queueCols, leaseEnd, token, picked)
		if err != nil {
			return err
		}
		var rows []queueRow
		if err := s.txSelect(ctx, tx, &rows, q, args...); err != nil {
			return wrap("claim deliveries", err)
		}
		events, err := s.claimedEvents(ctx, tx, rows)
		if err != nil {
			return err
		}
		for _, r := range rows {
			e := events[r.EventID]
			res.Deliveries = append(res.Deliveries, store.ClaimedDelivery{
				Delivery: store.Delivery{
					ID: r.DeliveryID, ProjectID: r.ProjectID, EventID: r.EventID, WebhookID: r.WebhookID,
					EventType: e.EventType, Subject: e.Subject, Status: store.Status(r.Status), Attempts: r.Attempts,
					Resends: r.Resends, NextAttemptTime: r.NextAttemptTime.t,
				},
				EventPayload: e.Payload.raw(), EventCreateTime: e.CreateTime.t, ClaimToken: token, LeaseEnd: leaseEnd,
				EventTrace: store.TraceContext{Parent: e.TraceParent, State: e.TraceState},
			})
		}
		slices.SortFunc(res.Deliveries, func(a, b store.ClaimedDelivery) int { return strings.Compare(a.ID, b.ID) })
		return nil
	})
	return res, err
}

// claimedEvents reads the events of claimed rows by id.
func (s *Queue) claimedEvents(ctx context.Context, tx *sqlx.Tx, rows []queueRow) (map[string]eventRow, error) {
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.EventID)
	}
	q, args, err := s.in(`SELECT `+eventCols+` FROM events WHERE id IN (?)`, dedupe(ids))
	if err != nil {
		return nil, err
	}
	var events []eventRow
	if err := s.txSelect(ctx, tx, &events, q, args...); err != nil {
		return nil, wrap("claim deliveries: read events", err)
	}
	out := make(map[string]eventRow, len(events))
	for _, e := range events {
		out[e.ID] = e
	}
	return out, nil
}

// nullTimeScanner scans an optional time into *t (the zero time for NULL).
type nullTimeScanner struct{ t *time.Time }

// Scan implements sql.Scanner.
func (n *nullTimeScanner) Scan(src any) error {
	var v nullTime
	if err := v.Scan(src); err != nil {
		return err
	}
	*n.t = v.t
	return nil
}

// CompleteDeliveries stores outcomes in one statement (PostgreSQL) or transaction (SQLite). Outcomes whose claim
// token is stale (the lease expired and another claim followed, or the delivery was resent) are skipped. When the
// delivery became final meanwhile (an action-status callback or a cancel raced the sender) the attempt is recorded
// but that status is kept. Senders are told about rescheduled work once it committed. It runs to its end whatever
// becomes of ctx (see noCancel).
func (s *Queue) CompleteDeliveries(ctx context.Context, outcomes []store.Outcome, now time.Time) error {
	if len(outcomes) == 0 {
		return nil
	}
	ctx = noCancel(ctx)
	now = ts(now)
	outcomes = lastPerDelivery(outcomes)
	var woke bool
	// On the async pool (PostgreSQL): safe to commit lazily, a completion lost in a crash only means one more send
	// of the same delivery (webhook-id unchanged: at least once).
	err := s.inPartitionedTxOn(ctx, true, []time.Time{now}, func(tx *sqlx.Tx) error {
		var changes []change
		var err error
		if s.pg() {
			changes, err = s.completePostgres(ctx, tx, outcomes, now)
		} else {
			changes, err = s.completeSQLite(ctx, tx, outcomes, now)
		}
		if err != nil {
			return err
		}
		s.noteChanges(tx, now, changes)
		woke, err = s.account(ctx, tx, now, changes, gone(outcomes, changes))
		if err != nil {
			return err
		}
		// Ordered keys: the deliveries that left the queue release the ones they held (a later statement than the
		// DELETE, so that it sees a follower whose publish made the DELETE wait).
		ids := make([]string, len(outcomes))
		for i, o := range outcomes {
			ids[i] = o.DeliveryID
		}
		released, err := s.release(ctx, tx, ids)
		woke = woke || released > 0
		return err
	})
	if err != nil {
		return err
	}
	if woke {
		s.wake(now)
	}
	var next time.Time
	for _, o := range outcomes {
		if !store.IsFinal(o.Status) && (next.IsZero() || o.NextAttemptTime.Before(next)) {
			next = o.NextAttemptTime
		}
	}
	if !next.IsZero() {
		s.wake(next)
	}
	s.deliveriesChanged() // sync trigger requests of this process re-read their event
	return nil
}

// gone lists the webhooks whose receivers answered 410 in outcomes that were applied (and not settled by a callback
// or cancel first).
func gone(outcomes []store.Outcome, changes []change) []string {
	applied := make(map[string]change, len(changes))
	for _, c := range changes {
		applied[c.deliveryID] = c
	}
	var out []string
	for _, o := range outcomes {
		if c, ok := applied[o.DeliveryID]; ok && o.DisableWebhook && !c.settled {
			out = append(out, c.webhookID)
		}
	}
	return out
}

// outcomeChange is the books' view of an applied outcome of a delivery whose log row reads as given.
func outcomeChange(o store.Outcome, l loggedRow) change {
	c := change{deliveryID: o.DeliveryID, projectID: l.ProjectID, webhookID: l.WebhookID, eventID: l.EventID, eventType: l.EventType,
		subject: l.Subject, status: o.Status, settled: l.Settled, code: o.LastStatusCode, reason: o.Reason}
	if o.Attempt != nil {
		c.attempted, c.duration = true, o.Attempt.Duration
	}
	return c
}

// loggedRow is a delivery's log row a completion changed, for the books.
type loggedRow struct {
	ID        string `db:"id"`
	ProjectID string `db:"project_id"`
	WebhookID string `db:"webhook_id"`
	EventID   string `db:"event_id"`
	EventType string `db:"event_type"`
	Subject   string `db:"subject"`
	Settled   bool   `db:"settled"`
}

// lastPerDelivery keeps one outcome per delivery and claim (a repeated outcome in a batch is stale).
func lastPerDelivery(outcomes []store.Outcome) []store.Outcome {
	seen := make(map[string]bool, len(outcomes))
	out := outcomes[:0:0]
	for _, o := range outcomes {
		if !seen[o.DeliveryID] {
			seen[o.DeliveryID] = true
			out = append(out, o)
		}
	}
	return out
}

func (s *Queue) completePostgres(ctx context.Context, tx *sqlx.Tx, outcomes []store.Outcome, now time.Time) ([]change, error) {
	n := len(outcomes)
	ids, tokens, statuses, reasons, webhooks := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	attempts, codes := make([]int64, n), make([]int64, n)
	nexts := make([]time.Time, n)
	attempted, disable := make([]bool, n), make([]bool, n)
	var attemptRows [][]any
	for i, o := range outcomes {
		ids[i], tokens[i], statuses[i], reasons[i], webhooks[i] = o.DeliveryID, o.ClaimToken, string(o.Status), o.Reason, o.WebhookID
		attempts[i], codes[i] = int64(o.Attempts), int64(o.LastStatusCode)
		nexts[i] = ts(cmpTime(o.NextAttemptTime, now))
		attempted[i], disable[i] = o.Attempt != nil, o.DisableWebhook
		if o.Attempt != nil {
			row, err := attemptArgs(o.DeliveryID, o.Attempts, s.sealedAttempt(o.Attempt))
			if err != nil {
				return nil, err
			}
			attemptRows = append(attemptRows, row)
		}
	}
	args := []any{textArray(ids), textArray(tokens), textArray(statuses), int64Array(attempts), timeArray(nexts),
		int64Array(codes), textArray(reasons), boolArray(attempted), boolArray(disable), textArray(webhooks), now}
	for c, typ := range insertAttempts.pgTypes {
		arr, err := pgArray(typ, attemptRows, c)
		if err != nil {
			return nil, fmt.Errorf("complete deliveries: attempts column %d: %w", c+1, err)
		}
		args = append(args, arr)
	}
	var rows []loggedRow
	if err := s.txSelect(ctx, tx, &rows, completePostgres, args...); err != nil {
		return nil, wrap("complete deliveries", err)
	}
	byID := make(map[string]store.Outcome, len(outcomes))
	for _, o := range outcomes {
		byID[o.DeliveryID] = o
	}
	changes := make([]change, 0, len(rows))
	for _, r := range rows {
		changes = append(changes, outcomeChange(byID[r.ID], r))
	}
	return changes, nil
}

func (s *Queue) completeSQLite(ctx context.Context, tx *sqlx.Tx, outcomes []store.Outcome, now time.Time) ([]change, error) {
	ids := make([]string, len(outcomes))
	for i, o := range outcomes {
		ids[i] = o.DeliveryID
	}
	q, args, err := s.in(`SELECT `+queueCols+`, claim_token FROM delivery_queue WHERE delivery_id IN (?)`, ids)
	if err != nil {
		return nil, err
	}
	var rows []queueRow
	if err := s.txSelect(ctx, tx, &rows, q, args...); err != nil {
		return nil, wrap("complete deliveries: read queue", err)
	}
	current := make(map[string]queueRow, len(rows))
	for _, r := range rows {
		current[r.DeliveryID] = r
	}
	var attemptRows [][]any
	var changes []change
	for _, o := range outcomes {
		cur, ok := current[o.DeliveryID]
		if !ok || !cur.ClaimToken.Valid || cur.ClaimToken.String != o.ClaimToken {
			s.log.DebugContext(ctx, "skipped stale delivery outcome", "delivery_id", o.DeliveryID)
			continue
		}
		settled := store.IsFinal(store.Status(cur.Status))
		if settled || store.IsFinal(o.Status) {
			if _, err := s.txExec(ctx, tx, `DELETE FROM delivery_queue WHERE delivery_id = ?`, o.DeliveryID); err != nil {
				return nil, wrap("complete deliveries: dequeue", err)
			}
		} else {
			next := ts(cmpTime(o.NextAttemptTime, now))
			if _, err := s.txExec(ctx, tx, `UPDATE delivery_queue SET status = ?, attempts = ?, due_time = ?,
				next_attempt_time = ?, claim_token = NULL WHERE delivery_id = ?`, string(o.Status), o.Attempts, next, next,
				o.DeliveryID); err != nil {
				return nil, wrap("complete deliveries: reschedule", err)
			}
		}
		// The log row changes with an attempt, a new status or a reason; a delay without a request (a rate limit)
		// touches only the queue. The same rules as completePostgres.
		attempted := o.Attempt != nil
		var logged []loggedRow
		if err := s.txSelect(ctx, tx, &logged, `UPDATE deliveries SET
				status = CASE WHEN ? THEN status ELSE ? END,
				reason = CASE WHEN NOT ? AND (? OR ? <> '') THEN ? ELSE reason END,
				last_status_code = CASE WHEN ? OR ? <> 0 THEN ? ELSE last_status_code END,
				attempts = ?, update_time = ?
			WHERE id = ? AND (? OR (NOT ? AND (? <> status OR ? <> '')))
			RETURNING id, project_id, webhook_id, event_id, event_type, subject`,
			settled, string(o.Status), settled, attempted, o.Reason, o.Reason, attempted, o.LastStatusCode, o.LastStatusCode,
			o.Attempts, now, o.DeliveryID, attempted, settled, string(o.Status), o.Reason); err != nil {
			return nil, wrap("complete deliveries: log", err)
		}
		for _, l := range logged {
			l.Settled = settled
			changes = append(changes, outcomeChange(o, l))
		}
		if o.Attempt != nil {
			row, err := attemptArgs(o.DeliveryID, o.Attempts, s.sealedAttempt(o.Attempt))
			if err != nil {
				return nil, err
			}
			attemptRows = append(attemptRows, row)
		}
	}
	for chunk := range slices.Chunk(attemptRows, 200) {
		q, args, err := insertAttempts.query(false, chunk)
		if err != nil {
			return nil, err
		}
		if _, err := s.txExec(ctx, tx, q, args...); err != nil {
			return nil, wrap("complete deliveries: insert attempts", err)
		}
	}
	return changes, nil
}

// cmpTime returns t, or def when t is zero.
func cmpTime(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

var insertAttempts = newBulkInsert(bulkInsert{
	into: `INSERT INTO attempts (` + attemptCols + `)`,
	pgTypes: []string{"text", "integer", "timestamptz", "bigint", "text", "text", "json", "text", "integer", "json",
		"text", "text", "integer"},
})

// attemptArgs are the attempts columns of a stored attempt. A request body that holds the event's payload
// (Attempt.PayloadLen) is stored without it, with the place to put it back (request_body_payload_at; 0: whole).
func attemptArgs(deliveryID string, number int, a *store.Attempt) ([]any, error) {
	body, at := a.RequestBody, 0
	if a.PayloadLen > 0 && a.PayloadAt > 0 && a.PayloadAt+a.PayloadLen <= len(body) {
		body, at = body[:a.PayloadAt]+body[a.PayloadAt+a.PayloadLen:], a.PayloadAt
	}
	reqHeaders, err := jsonArg(nonNil(a.RequestHeaders))
	if err != nil {
		return nil, err
	}
	respHeaders, err := jsonArg(nonNil(a.ResponseHeaders))
	if err != nil {
		return nil, err
	}
	return []any{deliveryID, number, orNow(a.StartTime), a.Duration.Microseconds(), a.RequestMethod, a.RequestURL, reqHeaders,
		body, a.ResponseStatusCode, respHeaders, a.ResponseBody, a.Error, at}, nil
}

// QueueDepth counts unfinished deliveries (QUEUED, RETRYING and WAITING) of all projects.
func (s *Queue) QueueDepth(ctx context.Context) (int, error) {
	var n int
	if err := s.db.GetContext(ctx, &n, `SELECT count(*) FROM delivery_queue WHERE status IN ('queued', 'retrying', 'waiting')`); err != nil {
		return 0, wrap("queue depth", err)
	}
	return n, nil
}

// enqueue inserts the queue rows of new deliveries (due at their next attempt time).
func (s *conn) enqueue(ctx context.Context, tx *sqlx.Tx, rows [][]any) error {
	for chunk := range slices.Chunk(rows, deliveryChunk) {
		q, args, err := insertQueue.query(s.pg(), chunk)
		if err != nil {
			return err
		}
		if _, err := s.txExec(ctx, tx, q, args...); err != nil {
			return wrap("enqueue deliveries", err)
		}
	}
	return nil
}

var insertQueue = newBulkInsert(bulkInsert{
	into:    `INSERT INTO delivery_queue (` + queueInsertCols + `)`,
	pgTypes: []string{"text", "text", "text", "text", "text", "integer", "integer", "timestamptz", "timestamptz", "text", "text"},
})

// queueArgs are the delivery_queue columns (queueInsertCols) of a delivery due at next (not held: see chain; not
// claimed: see handoff.go).
func queueArgs(deliveryID, projectID, webhookID, eventID string, status store.Status, attempts, resends int, next time.Time) []any {
	return []any{deliveryID, projectID, webhookID, eventID, string(status), attempts, resends, next, next, sql.NullString{}, sql.NullString{}}
}

// settle takes a delivery out of the queue after the log made it final (a callback, a cancel): the row goes, or,
// while an attempt is in flight (claimed), it keeps its claim with the final status so that the attempt's
// completion records the attempt and keeps that status. A row that goes releases the ordered deliveries it held;
// settle reports whether it released any (senders to wake once committed).
func (s *conn) settle(ctx context.Context, tx *sqlx.Tx, status store.Status, deliveryIDs ...string) (bool, error) {
	held := map[string]string{} // held rows that go → their predecessors
	for chunk := range slices.Chunk(deliveryIDs, eventChunk) {
		if err := s.heldPredecessors(ctx, tx, chunk, held); err != nil {
			return false, err
		}
		q, args, err := s.in(`DELETE FROM delivery_queue WHERE claim_token IS NULL AND delivery_id IN (?)`, chunk)
		if err != nil {
			return false, err
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return false, wrap("dequeue", err)
		}
		q, args, err = s.in(`UPDATE delivery_queue SET status = ? WHERE delivery_id IN (?)`, string(status), chunk)
		if err != nil {
			return false, err
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return false, wrap("settle queued delivery", err)
		}
	}
	if err := s.skip(ctx, tx, held); err != nil {
		return false, err
	}
	released, err := s.release(ctx, tx, deliveryIDs)
	return released > 0, err
}

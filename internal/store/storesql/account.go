package storesql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/oklog/ulid/v2"

	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/store"
)

// The books: every change of a delivery's outcome is counted, in the transaction that makes it, into the
// webhook's statistics (webhook_stats: per minute and per hour) and its health (webhooks: consecutive failures,
// warnings, last success and failure). Health changes publish operational events in the webhook's project; a
// failure threshold reached disables the webhook.

// change is one counted outcome of a delivery.
type change struct {
	deliveryID, projectID, webhookID, eventID, eventType, subject string
	// status is the delivery's status after the change.
	status store.Status
	// attempted is set when an attempt was made, taking duration.
	attempted bool
	duration  time.Duration
	code      int
	reason    string
	// settled marks an attempt recorded after a callback or a cancel finished the delivery (counted then).
	settled bool
}

// final reports whether the change finished the delivery.
func (c change) final() bool { return store.IsFinal(c.status) && !c.settled }

// attemptFailed reports whether the change's attempt failed: anything but DONE or WAITING (an async receiver's
// 202) after a request.
func (c change) attemptFailed() bool {
	return c.attempted && c.status != store.StatusDone && c.status != store.StatusWaiting
}

// countsForHealth reports whether a final change moves the webhook's failure streak (health.CountsForStreak).
func (c change) countsForHealth() bool {
	return (c.status == store.StatusDone || c.status == store.StatusFailed) && health.CountsForStreak(c.eventType, c.reason)
}

// Resolutions of webhook_stats, their bucket sizes and how long they are kept.
var statResolutions = []struct {
	name string
	size time.Duration
	keep time.Duration
}{{"minute", time.Minute, 3 * time.Hour}, {"hour", time.Hour, 31 * 24 * time.Hour}}

// statsRow is one webhook's counts in one bucket.
type statsRow struct {
	done, failed, cancelled, attempts, failedAttempts int64
	latency                                           []int64
}

// counted reports whether the row holds anything to add.
func (r *statsRow) counted() bool { return r.done+r.failed+r.cancelled+r.attempts > 0 }

func (r *statsRow) add(c change) {
	switch {
	case c.status == store.StatusDone && c.final():
		r.done++
	case c.status == store.StatusFailed:
		r.failed++
	case c.status == store.StatusCancelled:
		r.cancelled++
	}
	if c.attempted {
		r.attempts++
		r.latency[store.LatencyBucket(c.duration)]++
	}
	if c.attemptFailed() {
		r.failedAttempts++
	}
}

// account counts changes (in tx) and returns whether it published operational events (senders to wake).
func (s *conn) account(ctx context.Context, tx *sqlx.Tx, now time.Time, changes []change, gone []string) (bool, error) {
	if (len(changes) == 0 && len(gone) == 0) || s.noBooks {
		return false, nil
	}
	now = ts(now)
	stats, hooks := statsOf(changes)
	streaks, healthHooks, ops := streaksOf(changes)
	hooks = append(hooks, healthHooks...)
	slices.Sort(hooks) // one lock order for concurrent batches
	hooks = slices.Compact(hooks)
	for _, w := range hooks {
		h, err := s.book(ctx, tx, now, w, stats[w], streaks[w])
		if err != nil {
			return false, err
		}
		if h != nil {
			op, err := s.checkHealth(ctx, tx, now, w, streaks[w], h)
			if err != nil {
				return false, err
			}
			ops = append(ops, op...)
		}
	}
	for _, w := range dedupe(gone) {
		op, err := s.disable(ctx, tx, w, health.DisabledByGone.String(), now)
		if err != nil {
			return false, err
		}
		ops = append(ops, op...)
	}
	return s.publishOperational(ctx, tx, now, ops)
}

// statsOf sums the changes that count in statistics (an attempt, or a final status) by webhook.
func statsOf(changes []change) (map[string]*statsRow, []string) {
	byHook := map[string]*statsRow{}
	var hooks []string
	for _, c := range changes {
		if !c.attempted && !c.final() {
			continue
		}
		r := byHook[c.webhookID]
		if r == nil {
			r = &statsRow{latency: make([]int64, len(store.LatencyBounds)+1)}
			byHook[c.webhookID] = r
			hooks = append(hooks, c.webhookID)
		}
		r.add(c)
	}
	return byHook, hooks
}

// countStats adds changes to the webhooks' minute and hour buckets (statistics only: the deliveries a disabled
// webhook fails at publish).
func (s *conn) countStats(ctx context.Context, tx *sqlx.Tx, now time.Time, changes []change) error {
	byHook, hooks := statsOf(changes)
	slices.Sort(hooks)
	for _, res := range statResolutions {
		bucket := ts(now.Truncate(res.size))
		for _, w := range hooks {
			if err := s.addStats(ctx, tx, w, res.name, bucket, byHook[w]); err != nil {
				return err
			}
		}
	}
	return nil
}

// healthRow is a webhook's health after a batch's outcomes were counted.
type healthRow struct {
	ProjectID           string `db:"project_id"`
	ConsecutiveFailures int    `db:"consecutive_failures"`
	FailureThreshold    int    `db:"failure_threshold"`
	WarnedPercent       int    `db:"warned_percent"`
	Enabled             bool   `db:"enabled"`
}

// booksPostgres counts one webhook's batch: its minute and hour statistics (when st) and its failure streak
// (when health), in one prepared statement; it returns the webhook's health (no row without health).
//
// The attempt streak ($15: an attempt succeeded in the batch, $16: failed attempts after the last successful one)
// moves the webhook's failed_attempt_streak and last_failure_time too; the health row is for the delivery streak
// ($10), so the webhook row is updated when either moved and returned when the delivery streak did.
const booksPostgres = `WITH st AS (
		INSERT INTO webhook_stats AS t (webhook_id, resolution, bucket, done, failed, cancelled, attempts, latency, failed_attempts)
		SELECT $1, r.resolution, r.bucket, $4, $5, $6, $7, $8::bigint[], $17
		FROM (VALUES ('minute'::text, $2::timestamptz), ('hour'::text, $3::timestamptz)) AS r(resolution, bucket)
		WHERE $9::bool
		ON CONFLICT (webhook_id, resolution, bucket) DO UPDATE SET done = t.done + excluded.done,
			failed = t.failed + excluded.failed, cancelled = t.cancelled + excluded.cancelled,
			attempts = t.attempts + excluded.attempts, failed_attempts = t.failed_attempts + excluded.failed_attempts,
			latency = (SELECT array_agg(COALESCE(a, 0) + COALESCE(b, 0) ORDER BY i)
				FROM unnest(t.latency, excluded.latency) WITH ORDINALITY AS u(a, b, i))
	), moved AS (
		UPDATE webhooks SET
			consecutive_failures = CASE WHEN NOT $10::bool THEN consecutive_failures
				WHEN $11::bool THEN $12::int ELSE consecutive_failures + $12::int END,
			warned_percent = CASE WHEN $10::bool AND $11::bool THEN 0 ELSE warned_percent END,
			last_success_time = CASE WHEN $11::bool THEN $14::timestamptz ELSE last_success_time END,
			last_failure_time = CASE WHEN $13::bool OR $16::int > 0 THEN $14::timestamptz ELSE last_failure_time END,
			failed_attempt_streak = CASE WHEN $15::bool THEN $16::int ELSE failed_attempt_streak + $16::int END
		WHERE id = $1 AND ($10::bool OR $15::bool OR $16::int > 0)
		RETURNING project_id, consecutive_failures, failure_threshold, warned_percent, enabled
	)
	SELECT * FROM moved WHERE $10::bool`

// book counts one webhook's statistics (r, may be nil) and failure streak (st, may be nil) and returns its
// health (nil without st, or when the webhook was deleted meanwhile).
func (s *conn) book(ctx context.Context, tx *sqlx.Tx, now time.Time, webhookID string, r *statsRow, st *streak) (*healthRow, error) {
	if st == nil {
		st = &streak{}
	}
	var rows []healthRow
	if s.pg() {
		if r == nil {
			r = &statsRow{latency: make([]int64, len(store.LatencyBounds)+1)}
		}
		err := s.txSelect(ctx, tx, &rows, booksPostgres, webhookID, now.Truncate(time.Minute), now.Truncate(time.Hour),
			r.done, r.failed, r.cancelled, r.attempts, pgIntArrayText(r.latency), r.counted(), st.counted(),
			st.hasDone, st.tail, st.hasFailed, now, st.attemptOK, st.attemptTail, r.failedAttempts)
		if err != nil {
			return nil, wrap("count webhook stats and health", err)
		}
	} else {
		if r != nil {
			for _, res := range statResolutions {
				if err := s.addStats(ctx, tx, webhookID, res.name, now.Truncate(res.size), r); err != nil {
					return nil, err
				}
			}
		}
		if st.counted() || st.attemptsCounted() {
			err := s.txSelect(ctx, tx, &rows, `UPDATE webhooks SET
					consecutive_failures = CASE WHEN NOT ? THEN consecutive_failures WHEN ? THEN ? ELSE consecutive_failures + ? END,
					warned_percent = CASE WHEN ? AND ? THEN 0 ELSE warned_percent END,
					last_success_time = CASE WHEN ? THEN ? ELSE last_success_time END,
					last_failure_time = CASE WHEN ? OR ? > 0 THEN ? ELSE last_failure_time END,
					failed_attempt_streak = CASE WHEN ? THEN ? ELSE failed_attempt_streak + ? END
				WHERE id = ?
				RETURNING project_id, consecutive_failures, failure_threshold, warned_percent, enabled`,
				st.counted(), st.hasDone, st.tail, st.tail, st.counted(), st.hasDone, st.hasDone, now, st.hasFailed, st.attemptTail, now,
				st.attemptOK, st.attemptTail, st.attemptTail, webhookID)
			if err != nil {
				return nil, wrap("count webhook health", err)
			}
			if !st.counted() {
				rows = nil // only the attempt streak moved: no delivery health to check
			}
		}
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

func (s *conn) addStats(ctx context.Context, tx *sqlx.Tx, webhookID, resolution string, bucket time.Time, r *statsRow) error {
	if s.pg() {
		_, err := s.txExec(ctx, tx, `INSERT INTO webhook_stats AS t (webhook_id, resolution, bucket, done, failed, cancelled, attempts, latency,
				failed_attempts)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8::bigint[], $9)
			ON CONFLICT (webhook_id, resolution, bucket) DO UPDATE SET done = t.done + excluded.done,
				failed = t.failed + excluded.failed, cancelled = t.cancelled + excluded.cancelled,
				attempts = t.attempts + excluded.attempts, failed_attempts = t.failed_attempts + excluded.failed_attempts,
				latency = (SELECT array_agg(COALESCE(a, 0) + COALESCE(b, 0) ORDER BY i)
					FROM unnest(t.latency, excluded.latency) WITH ORDINALITY AS u(a, b, i))`,
			webhookID, resolution, bucket, r.done, r.failed, r.cancelled, r.attempts, pgIntArrayText(r.latency), r.failedAttempts)
		return wrap("count webhook stats", err)
	}
	var old struct {
		Latency string `db:"latency"`
	}
	err := s.txGet(ctx, tx, &old, `SELECT latency FROM webhook_stats WHERE webhook_id = ? AND resolution = ? AND bucket = ?`,
		webhookID, resolution, bucket)
	if err != nil && !errNoRows(err) {
		return wrap("count webhook stats", err)
	}
	latency := slices.Clone(r.latency)
	if old.Latency != "" {
		var prev []int64
		if err := json.Unmarshal([]byte(old.Latency), &prev); err != nil {
			return fmt.Errorf("count webhook stats: %w", err)
		}
		for i := range min(len(prev), len(latency)) {
			latency[i] += prev[i]
		}
	}
	lat, _ := json.Marshal(latency)
	_, err = s.txExec(ctx, tx, `INSERT INTO webhook_stats (webhook_id, resolution, bucket, done, failed, cancelled, attempts, latency,
			failed_attempts)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (webhook_id, resolution, bucket) DO UPDATE SET done = done + excluded.done, failed = failed + excluded.failed,
			cancelled = cancelled + excluded.cancelled, attempts = attempts + excluded.attempts,
			failed_attempts = failed_attempts + excluded.failed_attempts, latency = excluded.latency`,
		webhookID, resolution, bucket, r.done, r.failed, r.cancelled, r.attempts, string(lat), r.failedAttempts)
	return wrap("count webhook stats", err)
}

// errNoRows reports a query that found no row.
func errNoRows(err error) bool {
	return errors.Is(err, sql.ErrNoRows) || errors.Is(err, store.ErrNotFound)
}

// pgIntArrayText is a PostgreSQL array literal of integers.
func pgIntArrayText(v []int64) string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.FormatInt(n, 10)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// operational is an operational event to publish.
type operational struct {
	projectID, subject string
	payload            health.Payload
}

// streak is one webhook's counted final outcomes in a batch, in order.
type streak struct {
	hasDone, hasFailed bool
	tail               int // failures after the last DONE one
	lastCode           int
	lastReason         string
	// attemptOK is set when an attempt of the batch succeeded; attemptTail counts the failed attempts after the
	// last successful one (the attempt-level streak: deliveries still retrying count).
	attemptOK   bool
	attemptTail int
}

// counted reports whether the batch moved the (delivery) streak.
func (st *streak) counted() bool { return st.hasDone || st.hasFailed }

// attemptsCounted reports whether the batch moved the attempt streak.
func (st *streak) attemptsCounted() bool { return st.attemptOK || st.attemptTail > 0 }

// streaksOf reads the failure streaks of a batch (final outcomes that count for health, in order) by webhook, and
// lists a hookd.delivery.failed event for each failure.
func streaksOf(changes []change) (map[string]*streak, []string, []operational) {
	streaks := map[string]*streak{}
	var hooks []string
	var ops []operational
	get := func(webhookID string) *streak {
		st := streaks[webhookID]
		if st == nil {
			st = &streak{}
			streaks[webhookID] = st
			hooks = append(hooks, webhookID)
		}
		return st
	}
	for _, c := range changes {
		if c.attempted && health.CountsForAttemptStreak(c.eventType) {
			st := get(c.webhookID)
			if c.attemptFailed() {
				st.attemptTail++
			} else {
				st.attemptOK, st.attemptTail = true, 0
			}
		}
		if !c.final() || !c.countsForHealth() {
			continue
		}
		st := get(c.webhookID)
		if c.status == store.StatusDone {
			st.hasDone, st.tail = true, 0
			continue
		}
		st.hasFailed = true
		st.tail++
		st.lastCode, st.lastReason = c.code, c.reason
		ops = append(ops, operational{projectID: c.projectID, subject: c.webhookID, payload: health.DeliveryFailed{
			DeliveryID: c.deliveryID, EventID: c.eventID, WebhookID: c.webhookID, EventType: c.eventType, Subject: c.subject,
			LastStatusCode: c.code, Reason: c.reason}})
	}
	return streaks, hooks, ops
}

// checkHealth persists what the webhook's streak calls for (health.Evaluate): the failing warnings it crossed
// and the disable when its threshold is reached; h is its health after the batch, st the batch's streak.
func (s *conn) checkHealth(ctx context.Context, tx *sqlx.Tx, now time.Time, w string, st *streak, h *healthRow) ([]operational, error) {
	d := health.Evaluate(health.Streak{Failures: h.ConsecutiveFailures, Threshold: h.FailureThreshold, Warned: h.WarnedPercent,
		Enabled: h.Enabled, Grew: st != nil && st.tail > 0})
	var ops []operational
	for _, p := range d.Warn {
		ops = append(ops, operational{projectID: h.ProjectID, subject: w, payload: health.WebhookFailing{WebhookID: w, Percent: p,
			ConsecutiveFailures: h.ConsecutiveFailures, FailureThreshold: h.FailureThreshold, LastStatusCode: st.lastCode,
			Reason: st.lastReason}})
	}
	if d.Warned != h.WarnedPercent {
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE webhooks SET warned_percent = ? WHERE id = ?`), d.Warned, w); err != nil {
			return nil, wrap("count webhook health", err)
		}
	}
	if d.Disable != "" {
		op, err := s.disable(ctx, tx, w, d.Disable.String(), now)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op...)
	}
	return ops, nil
}

// disable disables an enabled webhook with reason and returns its hookd.webhook.disabled event (none when it was
// disabled already).
func (s *conn) disable(ctx context.Context, tx *sqlx.Tx, webhookID, reason string, now time.Time) ([]operational, error) {
	var projectID string
	err := tx.GetContext(ctx, &projectID, s.rebind(`UPDATE webhooks SET enabled = FALSE, disabled_reason = ?, disable_time = ?,
		update_time = ? WHERE id = ? AND enabled RETURNING project_id`), reason, ts(now), ts(now), webhookID)
	if errNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap("disable webhook", err)
	}
	return []operational{{projectID: projectID, subject: webhookID,
		payload: health.WebhookDisabled{WebhookID: webhookID, Reason: health.DisableReason(reason)}}}, nil
}

// publishOperational publishes operational events (in tx), grouped by project; it reports whether deliveries were
// queued.
func (s *conn) publishOperational(ctx context.Context, tx *sqlx.Tx, now time.Time, ops []operational) (bool, error) {
	if len(ops) == 0 {
		return false, nil
	}
	byProject := map[string][]store.PublishInput{}
	var projects []string
	for _, op := range ops {
		payload, err := json.Marshal(op.payload)
		if err != nil {
			return false, fmt.Errorf("operational event: %w", err)
		}
		if _, ok := byProject[op.projectID]; !ok {
			projects = append(projects, op.projectID)
		}
		byProject[op.projectID] = append(byProject[op.projectID], store.PublishInput{Event: store.Event{
			EventType: op.payload.EventTypeName(), Subject: op.subject, Payload: payload}})
	}
	woke := false
	for _, p := range projects {
		_, w, err := s.publish(ctx, tx, nil, p, byProject[p], ts(now), 0)
		if err != nil {
			return false, fmt.Errorf("publish operational events: %w", err)
		}
		woke = woke || w
	}
	return woke, nil
}

// ensureOperationalTypes gives every project (or the listed ones) the operational event types, and brings their
// descriptions, schemas and samples up to date.
func (s *conn) ensureOperationalTypes(ctx context.Context, q sqlx.ExtContext, now time.Time, projectIDs ...string) error {
	var projects []string
	if len(projectIDs) > 0 {
		projects = projectIDs
	} else if err := sqlx.SelectContext(ctx, q, &projects, `SELECT id FROM projects`); err != nil {
		return wrap("list projects", err)
	}
	for _, p := range projects {
		for _, et := range health.EventTypes() {
			_, err := q.ExecContext(ctx, s.rebind(`INSERT INTO event_types (id, project_id, name, description, schema,
					sample_payload, create_time, update_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (project_id, name) DO UPDATE SET description = excluded.description, schema = excluded.schema,
					sample_payload = excluded.sample_payload`),
				operationalTypeID(p, et.Name), p, et.Name, et.Description, textArg(et.Schema), textArg(et.SamplePayload), ts(now), ts(now))
			if err != nil {
				return wrap("create operational event types", err)
			}
		}
	}
	return nil
}

// operationalTypeID is the id of an operational event type in a project: stable (re-creating is a no-op), a ULID
// of time zero (listed after the project's own types, which are newer) whose random part hashes project and name.
func operationalTypeID(projectID, name string) string {
	sum := sha256.Sum256([]byte(projectID + "\x00" + name))
	var u ulid.ULID
	copy(u[6:], sum[:10])
	return "et_" + strings.ToLower(u.String())
}

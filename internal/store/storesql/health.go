package storesql

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/store"
)

// SetWebhookEnabled enables or disables a webhook of the project and publishes hookd.webhook.enabled or
// hookd.webhook.disabled (reason: why it is disabled). Enabling clears the failure streak; with replay it re-queues,
// oldest first, the deliveries that FAILED with reason "webhook disabled" since the webhook was disabled — at most
// store.MaxReplay of them, in transactions of ReplayChunk after the one that enables the webhook — and returns
// how many. A webhook already in the asked state is left as it is (and replays nothing).
func (s *Store) SetWebhookEnabled(ctx context.Context, p store.SetWebhookEnabledParams) (*store.Webhook, int, error) {
	return s.SetWebhookEnabledUpTo(ctx, p, store.MaxReplay, ReplayChunk)
}

// ReplayChunk is how many missed deliveries one transaction of a replay (SetWebhookEnabled) re-queues.
const ReplayChunk = 500

// SetWebhookEnabledUpTo is SetWebhookEnabled replaying at most most deliveries, chunk per transaction.
func (s *Store) SetWebhookEnabledUpTo(ctx context.Context, p store.SetWebhookEnabledParams, most, chunk int) (*store.Webhook, int, error) {
	projectID, webhookID, enabled, reason, replay, now := p.ProjectID, p.WebhookID, p.Enabled, p.Reason, p.Replay, p.Now
	now = ts(now)
	var missed int
	var since time.Time
	var woke bool
	err := s.inPartitionedTx(ctx, []time.Time{now}, func(tx *sqlx.Tx) error {
		var r webhookRow
		if err := tx.GetContext(ctx, &r, s.rebind(`SELECT `+webhookReadCols+` FROM webhooks WHERE project_id = ? AND id = ?`+
			s.forUpdate()), projectID, webhookID); err != nil {
			return wrap("set webhook enabled", err)
		}
		var ops []operational
		switch {
		case enabled && !r.Enabled:
			if replay && r.DisableTime.valid {
				since = r.DisableTime.t
				// Counted here for hookd.webhook.enabled; re-queued after this transaction, in chunks.
				q := `SELECT COUNT(*) FROM (SELECT 1 FROM deliveries d` + whereClause(missedWhere) + ` LIMIT ?) AS missed`
				if err := tx.GetContext(ctx, &missed, s.rebind(q), missedArgs(projectID, webhookID, since, "", most)...); err != nil {
					return wrap("count missed deliveries", err)
				}
			}
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE webhooks SET enabled = TRUE, disabled_reason = '', disable_time = NULL,
				consecutive_failures = 0, warned_percent = 0, update_time = ? WHERE id = ?`), now, webhookID); err != nil {
				return wrap("enable webhook", err)
			}
			ops = append(ops, operational{projectID: projectID, subject: webhookID,
				payload: health.WebhookEnabled{WebhookID: webhookID, Replayed: missed}})
		case !enabled && r.Enabled:
			op, err := s.disable(ctx, tx, webhookID, reason, now)
			if err != nil {
				return err
			}
			ops = append(ops, op...)
		case enabled && replay && r.Enabled:
			// Already enabled: nothing was missed since.
		}
		w, err := s.publishOperational(ctx, tx, now, ops)
		woke = woke || w
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	if woke {
		s.wake(now)
	}
	replayed := 0
	if missed > 0 {
		if replayed, err = s.replayMissed(ctx, projectID, webhookID, since, now, most, chunk); err != nil {
			return nil, replayed, err
		}
	}
	w, err := s.GetWebhook(ctx, projectID, webhookID)
	return w, replayed, err
}

// missedWhere selects the deliveries a disabled webhook missed (FAILED with reason "webhook disabled" since it was
// disabled), with missedArgs.
var missedWhere = []string{"d.project_id = ?", "d.webhook_id = ?", "d.id >= ?", "d.id > ?", "d.status = 'failed'", "d.reason = ?",
	"d.update_time >= ?"}

// missedArgs are the arguments of missedWhere (after: the last id already replayed) and of the LIMIT that follows.
func missedArgs(projectID, webhookID string, since time.Time, after string, limit int) []any {
	return []any{projectID, webhookID, "dlv_" + ulidPrefix(since.Add(-time.Minute)) /* other processes' clocks */, after,
		health.FailWebhookDisabled.String(), ts(since), limit}
}

// replayMissed re-queues, oldest first and at most most, the deliveries of a webhook that FAILED with reason
// "webhook disabled" since it was disabled: chunk per transaction (so that a large replay never holds the writer
// for long), due in their order (one microsecond apart from now). It returns how many it re-queued. The missed
// deliveries beyond most stay FAILED (RetryDeliveries resends them).
func (s *Store) replayMissed(ctx context.Context, projectID, webhookID string, since, now time.Time, most, chunk int) (int, error) {
	total, after := 0, ""
	for total < most {
		n := min(chunk, most-total)
		var rows []deliveryRow
		err := s.inTx(ctx, func(tx *sqlx.Tx) error {
			if err := tx.SelectContext(ctx, &rows, s.rebind(`UPDATE deliveries SET status = 'retrying', reason = '', resent = TRUE,
				resends = resends + 1, update_time = ? WHERE id IN (SELECT d.id FROM deliveries d`+whereClause(missedWhere)+
				` ORDER BY d.id LIMIT ?) RETURNING `+deliveryCols), append([]any{now}, missedArgs(projectID, webhookID, since, after, n)...)...); err != nil {
				return wrap("replay missed deliveries", err)
			}
			slices.SortFunc(rows, func(a, b deliveryRow) int { return strings.Compare(a.ID, b.ID) })
			s.note(tx, projectID, store.ChangeStatus, now, rowIDs(rows)...)
			queued := make([][]any, len(rows))
			for i, r := range rows {
				due := now.Add(time.Duration(total+i) * time.Microsecond)
				queued[i] = queueArgs(r.ID, r.ProjectID, r.WebhookID, r.EventID, store.StatusRetrying, r.Attempts, r.Resends, due)
			}
			for part := range slices.Chunk(queued, deliveryChunk) {
				q, args := valuesQuery(`INSERT INTO delivery_queue (`+queueInsertCols+`) VALUES `, part, requeue)
				if _, err := tx.ExecContext(ctx, s.rebind(q), args...); err != nil {
					return wrap("replay missed deliveries", err)
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		if len(rows) > 0 {
			total += len(rows)
			after = rows[len(rows)-1].ID
			s.wake(now)
		}
		if len(rows) < n {
			break
		}
	}
	return total, nil
}

// forUpdate locks the rows a PostgreSQL query reads (SQLite transactions hold the database).
func (s *Store) forUpdate() string {
	if s.pg() {
		return " FOR UPDATE"
	}
	return ""
}

// GetWebhookStats counts a webhook's outcomes over the window ending now — in whole minutes for windows up to
// 3 hours, in whole hours beyond — and its deliveries unfinished now.
func (s *Store) GetWebhookStats(ctx context.Context, p store.WebhookStatsParams) (*store.WebhookStats, error) {
	projectID, webhookID, window, now := p.ProjectID, p.WebhookID, p.Window, p.Now
	w, err := s.GetWebhook(ctx, projectID, webhookID)
	if err != nil {
		return nil, err
	}
	res := statResolutions[0]
	if window > res.keep {
		res = statResolutions[1]
	}
	from := ts(now.Add(-window).Truncate(res.size))
	var rows []struct {
		Done           int64  `db:"done"`
		Failed         int64  `db:"failed"`
		Cancelled      int64  `db:"cancelled"`
		Attempts       int64  `db:"attempts"`
		FailedAttempts int64  `db:"failed_attempts"`
		Latency        []byte `db:"latency"`
	}
	latency := "latency"
	if s.pg() {
		latency = "array_to_json(latency)::text AS latency"
	}
	if err := s.db.SelectContext(ctx, &rows, s.rebind(`SELECT done, failed, cancelled, attempts, failed_attempts, `+latency+` FROM webhook_stats
		WHERE webhook_id = ? AND resolution = ? AND bucket >= ?`), webhookID, res.name, from); err != nil {
		return nil, wrap("webhook stats", err)
	}
	st := &store.WebhookStats{Window: window, Latency: make([]int64, len(store.LatencyBounds)+1),
		LastSuccessTime: w.LastSuccessTime, LastFailureTime: w.LastFailureTime, ConsecutiveFailures: w.ConsecutiveFailures}
	if err := s.db.GetContext(ctx, &st.ConsecutiveFailedAttempts, s.rebind(`SELECT failed_attempt_streak FROM webhooks WHERE id = ?`),
		webhookID); err != nil {
		return nil, wrap("webhook stats: attempt streak", err)
	}
	for _, r := range rows {
		st.Done, st.Failed, st.Cancelled, st.Attempts = st.Done+r.Done, st.Failed+r.Failed, st.Cancelled+r.Cancelled, st.Attempts+r.Attempts
		st.FailedAttempts += r.FailedAttempts
		var lat []int64
		if err := json.Unmarshal(r.Latency, &lat); err != nil {
			return nil, fmt.Errorf("webhook stats: %w", err)
		}
		for i := range min(len(lat), len(st.Latency)) {
			st.Latency[i] += lat[i]
		}
	}
	var counts []struct {
		Status string `db:"status"`
		N      int64  `db:"n"`
	}
	if err := s.db.SelectContext(ctx, &counts, s.rebind(`SELECT status, count(*) AS n FROM delivery_queue WHERE webhook_id = ?
		GROUP BY status`), webhookID); err != nil {
		return nil, wrap("webhook stats: queue", err)
	}
	for _, c := range counts {
		switch store.Status(c.Status) {
		case store.StatusQueued:
			st.Queued = c.N
		case store.StatusRetrying:
			st.Retrying = c.N
		case store.StatusWaiting:
			st.Waiting = c.N
		}
	}
	return st, nil
}

// ExpireStats deletes statistics buckets older than their resolution keeps them; it returns how many.
func (s *Store) ExpireStats(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for _, res := range statResolutions {
		r, err := s.db.ExecContext(ctx, s.rebind(`DELETE FROM webhook_stats WHERE resolution = ? AND bucket < ?`),
			res.name, ts(now.Add(-res.keep)))
		if err != nil {
			return total, wrap("expire webhook stats", err)
		}
		n, _ := r.RowsAffected()
		total += int(n)
	}
	return total, nil
}

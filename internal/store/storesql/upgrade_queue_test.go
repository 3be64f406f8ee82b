package storesql_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
)

// TestUpgradeQueueFrom0001: a database of the shipped 0001 schema with deliveries in every status — one of them
// claimed by a sender that was running — migrates forward (0002 moves the queue out of the log and, on
// PostgreSQL, partitions the log tables); every delivery is listed as before, the unfinished ones are still
// delivered, an old action-status token still works, an idempotency key still answers.
func TestUpgradeQueueFrom0001(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{storesql.DialectSQLite, storesql.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			old := openOldSchema(t, dialect, 1)
			now := time.Now().UTC().Truncate(time.Second)
			exec := old.exec
			exec(`INSERT INTO projects (id, name, create_time, update_time) VALUES ('prj_1', 'acme', ?, ?)`, now, now)
			exec(`INSERT INTO webhooks (id, project_id, name, system_name, method, url, retry_policy, timeout_ms, secret,
				create_time, update_time) VALUES ('wh_1', 'prj_1', 'Orders', 'orders', 'POST', 'https://example.com/', '{"kind":"exponential"}',
				15000, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', ?, ?)`, now, now)

			// One event per delivery; the oldest ones are from a week ago.
			type row struct {
				status, reason, actionToken, claim string
				attempts                           int
				age, next, lease                   time.Duration // before now; next attempt and lease end after now
			}
			rows := map[string]row{
				"queued":    {status: "queued", age: time.Minute},
				"retrying":  {status: "retrying", attempts: 2, reason: "HTTP 500", age: time.Hour, next: time.Hour},
				"waiting":   {status: "waiting", attempts: 1, actionToken: "legacy-token-waiting", age: 2 * time.Hour, next: 20 * time.Hour},
				"in-flight": {status: "queued", claim: "old-claim", age: 3 * time.Minute, lease: 30 * time.Second},
				"done":      {status: "done", attempts: 1, age: 7 * 24 * time.Hour},
				"failed":    {status: "failed", attempts: 16, reason: "retries exhausted", age: 3 * 24 * time.Hour},
				"cancelled": {status: "cancelled", reason: "webhook deleted", age: 24 * time.Hour},
			}
			ids := map[string]string{}
			for name, r := range rows {
				created := now.Add(-r.age)
				evt, dlv := id.New(id.Event, created), id.New(id.Delivery, created)
				ids[name] = dlv
				key := ""
				if name == "queued" {
					key = "order-42"
				}
				exec(`INSERT INTO events (id, project_id, event_type, subject, payload, idempotency_key, create_time)
					VALUES (?, 'prj_1', 'order.paid', 'cus_1', '{"n":1}', ?, ?)`, evt, key, created)
				var lease any
				if r.lease > 0 {
					lease = now.Add(r.lease)
				}
				token := r.actionToken
				if token == "" {
					token = "tok-" + name
				}
				exec(`INSERT INTO deliveries (id, project_id, event_id, webhook_id, event_type, subject, status, attempts,
					next_attempt_time, reason, action_token, claim_token, lease_time, create_time, update_time)
					VALUES (?, 'prj_1', ?, 'wh_1', 'order.paid', 'cus_1', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					dlv, evt, r.status, r.attempts, now.Add(r.next), r.reason, token, r.claim, lease, created, created)
				for n := 1; n <= r.attempts; n++ {
					exec(`INSERT INTO attempts (delivery_id, number, start_time, response_status_code) VALUES (?, ?, ?, 500)`, dlv, n, created)
				}
			}

			s := old.upgrade(ctx)

			// Listed as before.
			all, err := s.ListDeliveries(ctx, store.ListDeliveriesParams{ProjectID: "prj_1", Filter: store.DeliveryFilter{}, Page: store.Page{Size: 100}})
			require.NoError(t, err)
			require.Len(t, all, len(rows))
			for _, d := range all {
				for name, id := range ids {
					if d.ID != id {
						continue
					}
					r := rows[name]
					assert.Equal(t, store.Status(r.status), d.Status, name)
					assert.Equal(t, r.attempts, d.Attempts, name)
					assert.Equal(t, r.reason, d.Reason, name)
					if store.IsFinal(d.Status) {
						assert.Zero(t, d.NextAttemptTime, name)
					} else {
						assert.Equal(t, now.Add(r.next), d.NextAttemptTime, name)
					}
					atts, err := s.ListAttempts(ctx, "prj_1", d.ID)
					require.NoError(t, err)
					assert.Len(t, atts, r.attempts, name)
				}
			}
			failed, err := s.ListDeliveries(ctx, store.ListDeliveriesParams{ProjectID: "prj_1", Filter: store.DeliveryFilter{Statuses: []store.Status{store.StatusFailed}}, Page: store.Page{Size: 10}})
			require.NoError(t, err)
			require.Len(t, failed, 1)
			assert.Equal(t, ids["failed"], failed[0].ID)
			queue, err := s.ListDeliveries(ctx, store.ListDeliveriesParams{ProjectID: "prj_1", Filter: store.DeliveryFilter{}, Queue: true, Page: store.Page{Size: 10}})
			require.NoError(t, err)
			assert.Equal(t, []string{ids["in-flight"], ids["queued"], ids["retrying"], ids["waiting"]},
				mapIDs(queue), "the queue view, by next attempt (then id)")

			// Still delivered: the queued one now; the old sender's claim stays leased until its lease ends.
			claim := func(at time.Time) []string {
				res, err := s.ClaimDeliveries(ctx, at, store.ClaimRequest{Limit: 10, Lease: 48 * time.Hour, PerWebhook: 10})
				require.NoError(t, err)
				var out []string
				for _, d := range res.Deliveries {
					out = append(out, d.ID)
				}
				return out
			}
			assert.Equal(t, []string{ids["queued"]}, claim(now))
			assert.Equal(t, []string{ids["in-flight"]}, claim(now.Add(31*time.Second)), "rescued after the old lease")
			assert.Equal(t, []string{ids["retrying"]}, claim(now.Add(time.Hour)))
			assert.Equal(t, []string{ids["waiting"]}, claim(now.Add(20*time.Hour)), "the wait still ends")

			// The waiting delivery's receiver still holds its old token.
			sum := sha256.Sum256([]byte("legacy-token-waiting"))
			d, err := s.DeliveryByLegacyToken(ctx, sum[:])
			require.NoError(t, err)
			assert.Equal(t, ids["waiting"], d.ID)
			sum = sha256.Sum256([]byte("tok-done"))
			_, err = s.DeliveryByLegacyToken(ctx, sum[:])
			assert.ErrorIs(t, err, store.ErrNotFound, "finished deliveries' tokens are not kept")

			// The idempotency key of an hour ago still answers with its event.
			res, err := s.PublishEvents(ctx, store.PublishEventsParams{ProjectID: "prj_1", Events: []store.PublishInput{{Event: store.Event{EventType: "order.paid",
				IdempotencyKey: "order-42", Payload: []byte(`{}`)}}}, Now: now, IdempotencyWindow: store.IdempotencyWindow})
			require.NoError(t, err)
			assert.True(t, res[0].Duplicate)
			assert.Equal(t, []string{ids["queued"]}, res[0].DeliveryIDs)

			if dialect == storesql.DialectPostgres {
				var part string
				require.NoError(t, s.Pool().GetContext(ctx, &part, `SELECT tableoid::regclass::text FROM deliveries WHERE id = $1`, ids["done"]))
				assert.Equal(t, "deliveries_p"+now.Add(-7*24*time.Hour).Format("20060102"), part, "old rows live in their day's partition")
			}
		})
	}
}

func mapIDs(ds []store.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

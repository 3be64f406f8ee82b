package storesql_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
)

// TestUpgradeTo0006Tracing fills a database of the 0004 schema (the log tables partitioned by day on
// PostgreSQL) with a webhook and an event whose delivery is still queued, migrates it forward with Open, and
// checks that 0006_tracing kept everything as it was — the webhook sends traceparent (the default), the old
// event has no trace context and its delivery is still claimed — and that the new columns take values, also in a
// day partition created after the migration.
func TestUpgradeTo0006Tracing(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{storesql.DialectSQLite, storesql.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			old := openOldSchema(t, dialect, 4)
			now := time.Now().UTC().Truncate(time.Second)
			evt, dlv := id.New(id.Event, now), id.New(id.Delivery, now)
			exec := old.exec
			exec(`INSERT INTO projects (id, name, create_time, update_time) VALUES ('prj_1', 'acme', ?, ?)`, now, now)
			exec(`INSERT INTO webhooks (id, project_id, name, system_name, method, url, retry_policy, timeout_ms, secret,
				create_time, update_time)
				VALUES ('wh_1', 'prj_1', 'Orders', 'orders', 'POST', 'https://example.com/hook', '{"kind":"exponential"}', 15000,
				'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', ?, ?)`, now, now)
			exec(`INSERT INTO events (id, project_id, event_type, subject, payload, create_time)
				VALUES (?, 'prj_1', 'order.paid', 'cus_1', '{"total":1}', ?)`, evt, now)
			exec(`INSERT INTO deliveries (id, project_id, event_id, webhook_id, event_type, subject, status, create_time, update_time)
				VALUES (?, 'prj_1', ?, 'wh_1', 'order.paid', 'cus_1', 'queued', ?, ?)`, dlv, evt, now, now)
			exec(`INSERT INTO delivery_queue (delivery_id, project_id, webhook_id, event_id, status, due_time, next_attempt_time)
				VALUES (?, 'prj_1', 'wh_1', ?, 'queued', ?, ?)`, dlv, evt, now, now)

			s := old.upgrade(ctx)
			var versions []int64
			require.NoError(t, s.Pool().SelectContext(ctx, &versions, `SELECT version FROM schema_migrations ORDER BY version`))
			assert.Contains(t, versions, int64(6))

			w, err := s.GetWebhook(ctx, "prj_1", "wh_1")
			require.NoError(t, err)
			assert.False(t, w.NoTraceparent, "existing webhooks send traceparent, the default")
			assert.Equal(t, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", w.Secret)
			ev, err := s.GetEvent(ctx, "prj_1", evt)
			require.NoError(t, err)
			assert.Equal(t, store.TraceContext{}, ev.Trace, "an old event has no trace context")
			assert.JSONEq(t, `{"total":1}`, string(ev.Payload))
			claimed, err := s.ClaimDeliveries(ctx, now.Add(time.Second), store.ClaimRequest{Limit: 10, Lease: time.Minute, PerWebhook: 10})
			require.NoError(t, err)
			require.Len(t, claimed.Deliveries, 1, "the old delivery is still due")
			assert.Equal(t, dlv, claimed.Deliveries[0].ID)
			assert.Equal(t, store.TraceContext{}, claimed.Deliveries[0].EventTrace)
			require.NoError(t, s.CompleteDeliveries(ctx, []store.Outcome{{DeliveryID: dlv, ClaimToken: claimed.Deliveries[0].ClaimToken,
				Status: store.StatusDone, Attempts: 1, WebhookID: "wh_1"}}, now.Add(time.Second)))

			// The new columns take values.
			w.NoTraceparent = true
			require.NoError(t, s.UpdateWebhook(ctx, w))
			w2, err := s.GetWebhook(ctx, "prj_1", "wh_1")
			require.NoError(t, err)
			assert.True(t, w2.NoTraceparent)
			w2.NoTraceparent = false
			require.NoError(t, s.UpdateWebhook(ctx, w2))
			created := &store.Webhook{ProjectID: "prj_1", Name: "Quiet", SystemName: "quiet", Method: "POST",
				URL: "https://example.com/quiet", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Enabled: true,
				NoTraceparent: true, CreateTime: now}
			require.NoError(t, s.CreateWebhook(ctx, created))
			got, err := s.GetWebhook(ctx, "prj_1", created.ID)
			require.NoError(t, err)
			assert.True(t, got.NoTraceparent)

			// A month ahead: on PostgreSQL a day partition made after the migration, which has the columns too.
			later := now.Add(30 * 24 * time.Hour)
			tc := store.TraceContext{Parent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", State: "vendor=abc"}
			res, err := s.PublishEvents(ctx, store.PublishEventsParams{ProjectID: "prj_1", Events: []store.PublishInput{{
				Event: store.Event{EventType: "order.paid", Payload: []byte(`{}`), Trace: tc}, WebhookIDs: []string{"wh_1"},
			}}, Now: later, IdempotencyWindow: store.IdempotencyWindow})
			require.NoError(t, err)
			ev, err = s.GetEvent(ctx, "prj_1", res[0].Event.ID)
			require.NoError(t, err)
			assert.Equal(t, tc, ev.Trace)
			claimed, err = s.ClaimDeliveries(ctx, later.Add(time.Second), store.ClaimRequest{Limit: 10, Lease: time.Minute, PerWebhook: 10})
			require.NoError(t, err)
			require.Len(t, claimed.Deliveries, 1)
			assert.Equal(t, res[0].DeliveryIDs[0], claimed.Deliveries[0].ID)
			assert.Equal(t, tc, claimed.Deliveries[0].EventTrace, "the claim carries the publish's trace context")
		})
	}
}

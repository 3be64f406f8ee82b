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

// TestUpgradeTo0012Tenants fills a database of the 0009 schema with a webhook subscribed to an event type, an
// event and its delivery, migrates it with Open, and checks that 0012_tenants made them the project's own (no
// tenant): they are listed unfiltered and not under a tenant, and a new event of a tenant still reaches the old
// webhook (through the fan-out index rows written before the migration), while a new tenant webhook gets only
// its tenant's events.
func TestUpgradeTo0012Tenants(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{storesql.DialectSQLite, storesql.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			old := openOldSchema(t, dialect, 9)
			now := time.Now().UTC().Truncate(time.Minute)
			evt, dlv := id.New(id.Event, now), id.New(id.Delivery, now)
			exec := old.exec
			exec(`INSERT INTO projects (id, name, create_time, update_time) VALUES ('prj_1', 'acme', ?, ?)`, now, now)
			exec(`INSERT INTO webhooks (id, project_id, name, system_name, method, url, retry_policy, timeout_ms, secret,
				create_time, update_time)
				VALUES ('wh_1', 'prj_1', 'Orders', 'orders', 'POST', 'https://example.com/hook', '{"kind":"exponential"}', 15000,
				'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', ?, ?)`, now, now)
			exec(`INSERT INTO event_types (id, project_id, name, create_time, update_time) VALUES ('et_1', 'prj_1', 'order.paid', ?, ?)`, now, now)
			exec(`INSERT INTO subscriptions (id, project_id, webhook_id, event_types, create_time, update_time)
				VALUES ('sub_1', 'prj_1', 'wh_1', '["order.paid"]', ?, ?)`, now, now)
			exec(`INSERT INTO subscription_event_types (subscription_id, project_id, event_type) VALUES ('sub_1', 'prj_1', 'order.paid')`)
			exec(`INSERT INTO events (id, project_id, event_type, subject, payload, create_time)
				VALUES (?, 'prj_1', 'order.paid', 'cus_1', '{"total":1}', ?)`, evt, now)
			exec(`INSERT INTO deliveries (id, project_id, event_id, webhook_id, event_type, subject, status, attempts, create_time, update_time)
				VALUES (?, 'prj_1', ?, 'wh_1', 'order.paid', 'cus_1', 'done', 1, ?, ?)`, dlv, evt, now, now)

			s := old.upgrade(ctx)
			w, err := s.GetWebhook(ctx, "prj_1", "wh_1")
			require.NoError(t, err)
			assert.Empty(t, w.TenantID)
			d, err := s.GetDelivery(ctx, "prj_1", dlv)
			require.NoError(t, err)
			assert.Empty(t, d.TenantID)
			e, err := s.GetEvent(ctx, "prj_1", evt)
			require.NoError(t, err)
			assert.Empty(t, e.TenantID)
			ds, err := s.ListDeliveries(ctx, store.ListDeliveriesParams{ProjectID: "prj_1", Filter: store.DeliveryFilter{TenantID: "t1"}, Page: store.Page{Size: 10}})
			require.NoError(t, err)
			assert.Empty(t, ds)
			ds, err = s.ListDeliveries(ctx, store.ListDeliveriesParams{ProjectID: "prj_1", Filter: store.DeliveryFilter{}, Page: store.Page{Size: 10}})
			require.NoError(t, err)
			assert.Len(t, ds, 1)

			tw := &store.Webhook{ProjectID: "prj_1", Name: "T1", SystemName: "t1", Method: "POST", URL: "https://t1.example/hook",
				Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Enabled: true, TenantID: "t1", CreateTime: now,
				RetryPolicy: store.RetryPolicy{Kind: store.RetryExponential}}
			require.NoError(t, s.CreateWebhook(ctx, tw))
			require.NoError(t, s.CreateSubscription(ctx, &store.Subscription{ProjectID: "prj_1", WebhookID: tw.ID,
				EventTypes: []string{"order.paid"}, Enabled: true, CreateTime: now}))
			res, err := s.PublishEvents(ctx, store.PublishEventsParams{ProjectID: "prj_1", Events: []store.PublishInput{
				{Event: store.Event{EventType: "order.paid", TenantID: "t1"}},
				{Event: store.Event{EventType: "order.paid", TenantID: "t2"}},
			}, Now: now.Add(time.Second), IdempotencyWindow: store.IdempotencyWindow})
			require.NoError(t, err)
			require.Len(t, res[0].DeliveryIDs, 2, "t1's event: the old project webhook and t1's")
			require.Len(t, res[1].DeliveryIDs, 1, "t2's event: the old project webhook only")
			d, err = s.GetDelivery(ctx, "prj_1", res[1].DeliveryIDs[0])
			require.NoError(t, err)
			assert.Equal(t, "wh_1", d.WebhookID)
			ds, err = s.ListDeliveries(ctx, store.ListDeliveriesParams{ProjectID: "prj_1", Filter: store.DeliveryFilter{TenantID: "t1"}, Page: store.Page{Size: 10}})
			require.NoError(t, err)
			require.Len(t, ds, 1)
			assert.Equal(t, tw.ID, ds[0].WebhookID)
		})
	}
}

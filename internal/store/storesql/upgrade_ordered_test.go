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

// TestUpgradeTo0014OrderedDelivery fills a database of the 0010 schema with a webhook and a queued delivery,
// migrates it with Open, and checks that 0014_ordered_delivery leaves the webhook unordered and the delivery
// unheld and claimable, and that the webhook can then be made ordered and chains new deliveries.
func TestUpgradeTo0014OrderedDelivery(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{storesql.DialectSQLite, storesql.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			old := openOldSchema(t, dialect, 10)
			now := time.Now().UTC().Truncate(time.Minute)
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
			w, err := s.GetWebhook(ctx, "prj_1", "wh_1")
			require.NoError(t, err)
			assert.False(t, w.Ordered)
			d, err := s.GetDelivery(ctx, "prj_1", dlv)
			require.NoError(t, err)
			assert.Empty(t, d.OrderingKey)
			assert.Empty(t, d.BlockedBy)
			claimed, err := s.ClaimDeliveries(ctx, now.Add(time.Second), store.ClaimRequest{Limit: 10, Lease: time.Minute, PerWebhook: 10})
			require.NoError(t, err)
			require.Len(t, claimed.Deliveries, 1, "the old delivery is claimable")

			w.Ordered = true
			require.NoError(t, s.UpdateWebhook(ctx, w))
			res, err := s.PublishEvents(ctx, store.PublishEventsParams{ProjectID: "prj_1", Now: now, Events: []store.PublishInput{
				{Event: store.Event{EventType: "order.paid", OrderingKey: "ord_1"}, WebhookIDs: []string{"wh_1"}},
				{Event: store.Event{EventType: "order.paid", OrderingKey: "ord_1"}, WebhookIDs: []string{"wh_1"}},
			}})
			require.NoError(t, err)
			d, err = s.GetDelivery(ctx, "prj_1", res[1].DeliveryIDs[0])
			require.NoError(t, err)
			assert.Equal(t, res[0].DeliveryIDs[0], d.BlockedBy)
		})
	}
}

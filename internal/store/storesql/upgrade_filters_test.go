package storesql_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/signature"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
)

// TestUpgradeTo0013FiltersWindowsSignatures fills a database of the 0008 schema with a webhook, a subscription
// and a token bucket, migrates it forward with Open, and checks that the subscription has no filter (every event
// matches), the webhook signs with the Standard Webhooks headers, and rate limits work on the new windows.
func TestUpgradeTo0013FiltersWindowsSignatures(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{storesql.DialectSQLite, storesql.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			old := openOldSchema(t, dialect, 8)
			now := time.Now().UTC().Truncate(time.Second)
			old.exec(`INSERT INTO projects (id, name, create_time, update_time) VALUES ('prj_1', 'acme', ?, ?)`, now, now)
			old.exec(`INSERT INTO event_types (id, project_id, name, create_time, update_time) VALUES ('evt_t', 'prj_1', 'user.created', ?, ?)`, now, now)
			old.exec(`INSERT INTO webhooks (id, project_id, name, system_name, method, url, retry_policy, timeout_ms, secret,
				create_time, update_time) VALUES ('wh_1', 'prj_1', 'Orders', 'orders', 'POST', 'https://example.com/hook',
				'{"kind":"exponential"}', 15000, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', ?, ?)`, now, now)
			old.exec(`INSERT INTO subscriptions (id, project_id, webhook_id, event_types, subject_filter, enabled, create_time, update_time)
				VALUES ('sub_1', 'prj_1', 'wh_1', '["user.created"]', '', TRUE, ?, ?)`, now, now)
			old.exec(`INSERT INTO subscription_event_types (subscription_id, project_id, event_type) VALUES ('sub_1', 'prj_1', 'user.created')`)
			old.exec(`INSERT INTO rate_buckets (key, tokens, updated_micros) VALUES ('int:x', 0, 0)`)

			s := old.upgrade(ctx)
			sub, err := s.GetSubscription(ctx, "prj_1", "sub_1")
			require.NoError(t, err)
			assert.Empty(t, sub.Filter)
			w, err := s.GetWebhook(ctx, "prj_1", "wh_1")
			require.NoError(t, err)
			assert.Equal(t, signature.Scheme{IDHeader: "webhook-id", TimestampHeader: "webhook-timestamp",
				SignatureHeader: "webhook-signature", Style: store.SignatureStandardWebhooks}, signature.SchemeOf(w))
			res, err := s.PublishEvents(ctx, store.PublishEventsParams{ProjectID: "prj_1", Events: []store.PublishInput{{Event: store.Event{EventType: "user.created", Payload: []byte(`{"a":1}`)}}}, Now: now, IdempotencyWindow: time.Hour})
			require.NoError(t, err)
			assert.Len(t, res[0].DeliveryIDs, 1, "no filter: the event is delivered")
			got, _, err := s.TakeRate(ctx, store.TakeRateParams{Key: "int:x", Rate: 2, N: 5, Now: now, Hold: 0})
			require.NoError(t, err)
			assert.Equal(t, 2, got)
		})
	}
}

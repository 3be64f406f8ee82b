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

// TestUpgradeTo0009AttemptHealth fills a database of the 0006 schema with a webhook, its statistics and a delivery
// still retrying, migrates it with Open, and checks that 0009_attempt_health kept the old counts (no failed attempts
// known, attempt streak 0) and that the next failing attempt is counted.
func TestUpgradeTo0009AttemptHealth(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{storesql.DialectSQLite, storesql.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			old := openOldSchema(t, dialect, 6)
			now := time.Now().UTC().Truncate(time.Minute)
			evt, dlv := id.New(id.Event, now), id.New(id.Delivery, now)
			exec := old.exec
			exec(`INSERT INTO projects (id, name, create_time, update_time) VALUES ('prj_1', 'acme', ?, ?)`, now, now)
			exec(`INSERT INTO webhooks (id, project_id, name, system_name, method, url, retry_policy, timeout_ms, secret,
				consecutive_failures, create_time, update_time)
				VALUES ('wh_1', 'prj_1', 'Orders', 'orders', 'POST', 'https://example.com/hook', '{"kind":"exponential"}', 15000,
				'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 2, ?, ?)`, now, now)
			latency := `[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]`
			if dialect == storesql.DialectPostgres {
				latency = `{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}`
			}
			exec(`INSERT INTO webhook_stats (webhook_id, resolution, bucket, done, failed, cancelled, attempts, latency)
				VALUES ('wh_1', 'hour', ?, 5, 2, 0, 9, ?)`, now.Truncate(time.Hour), latency)
			exec(`INSERT INTO events (id, project_id, event_type, subject, payload, create_time)
				VALUES (?, 'prj_1', 'order.paid', 'cus_1', '{"total":1}', ?)`, evt, now)
			exec(`INSERT INTO deliveries (id, project_id, event_id, webhook_id, event_type, subject, status, attempts, create_time, update_time)
				VALUES (?, 'prj_1', ?, 'wh_1', 'order.paid', 'cus_1', 'retrying', 1, ?, ?)`, dlv, evt, now, now)
			exec(`INSERT INTO delivery_queue (delivery_id, project_id, webhook_id, event_id, status, attempts, due_time, next_attempt_time)
				VALUES (?, 'prj_1', 'wh_1', ?, 'retrying', 1, ?, ?)`, dlv, evt, now, now)

			s := old.upgrade(ctx)
			st, err := s.GetWebhookStats(ctx, store.WebhookStatsParams{ProjectID: "prj_1", WebhookID: "wh_1", Window: 24 * time.Hour, Now: now})
			require.NoError(t, err)
			assert.Equal(t, int64(5), st.Done)
			assert.Equal(t, int64(9), st.Attempts)
			assert.Zero(t, st.FailedAttempts, "failed attempts were not counted before 0009")
			assert.Zero(t, st.ConsecutiveFailedAttempts)
			assert.Equal(t, 2, st.ConsecutiveFailures)

			claimed, err := s.ClaimDeliveries(ctx, now.Add(time.Second), store.ClaimRequest{Limit: 10, Lease: time.Minute, PerWebhook: 10})
			require.NoError(t, err)
			require.Len(t, claimed.Deliveries, 1)
			require.NoError(t, s.CompleteDeliveries(ctx, []store.Outcome{{DeliveryID: dlv, ClaimToken: claimed.Deliveries[0].ClaimToken,
				Status: store.StatusRetrying, Attempts: 2, WebhookID: "wh_1", NextAttemptTime: now.Add(time.Hour), LastStatusCode: 503,
				Attempt: &store.Attempt{StartTime: now, ResponseStatusCode: 503}}}, now.Add(time.Second)))
			st, err = s.GetWebhookStats(ctx, store.WebhookStatsParams{ProjectID: "prj_1", WebhookID: "wh_1", Window: 24 * time.Hour, Now: now.Add(time.Second)})
			require.NoError(t, err)
			assert.Equal(t, int64(1), st.FailedAttempts)
			assert.Equal(t, 1, st.ConsecutiveFailedAttempts)
			assert.Equal(t, 2, st.ConsecutiveFailures, "a retried attempt leaves failure_threshold's streak alone")
			require.NotNil(t, st.LastFailureTime)
		})
	}
}

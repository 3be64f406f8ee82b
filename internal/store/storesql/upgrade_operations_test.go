package storesql_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
)

// TestUpgradeTo0005Operations fills a database of the 0004 schema with a project, an enabled webhook with a
// queued delivery and a webhook a 410 disabled, migrates it forward with Open, and checks what 0005_operations
// adds: the disabled webhook says it was disabled before reasons were kept (and can be enabled again), the
// project has the operational event types, the old delivery is still delivered and counted in the statistics.
func TestUpgradeTo0005Operations(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{storesql.DialectSQLite, storesql.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			old := openOldSchema(t, dialect, 4)
			now := time.Now().UTC().Truncate(time.Second)
			disabledAt := now.Add(-time.Hour)
			evt, dlv := id.New(id.Event, now), id.New(id.Delivery, now)
			exec := old.exec
			exec(`INSERT INTO projects (id, name, create_time, update_time) VALUES ('prj_1', 'acme', ?, ?)`, now, now)
			for _, w := range []struct {
				id      string
				enabled bool
				updated time.Time
			}{{"wh_1", true, now}, {"wh_gone", false, disabledAt}} {
				exec(`INSERT INTO webhooks (id, project_id, name, system_name, method, url, retry_policy, timeout_ms, secret,
					enabled, create_time, update_time)
					VALUES (?, 'prj_1', ?, ?, 'POST', 'https://example.com/hook', '{"kind":"exponential"}', 15000,
					'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', ?, ?, ?)`, w.id, w.id, w.id, w.enabled, now, w.updated)
			}
			exec(`INSERT INTO events (id, project_id, event_type, subject, payload, create_time)
				VALUES (?, 'prj_1', 'order.paid', 'cus_1', '{"total":1}', ?)`, evt, now)
			exec(`INSERT INTO deliveries (id, project_id, event_id, webhook_id, event_type, subject, status, create_time, update_time)
				VALUES (?, 'prj_1', ?, 'wh_1', 'order.paid', 'cus_1', 'queued', ?, ?)`, dlv, evt, now, now)
			exec(`INSERT INTO delivery_queue (delivery_id, project_id, webhook_id, event_id, status, due_time, next_attempt_time)
				VALUES (?, 'prj_1', 'wh_1', ?, 'queued', ?, ?)`, dlv, evt, now, now)

			s := old.upgrade(ctx)

			gone, err := s.GetWebhook(ctx, "prj_1", "wh_gone")
			require.NoError(t, err)
			assert.False(t, gone.Enabled)
			assert.Equal(t, "disabled before hookd kept reasons", gone.DisabledReason)
			require.NotNil(t, gone.DisableTime)
			assert.True(t, disabledAt.Equal(*gone.DisableTime), "disable_time is the last update: %s", gone.DisableTime)
			w, err := s.GetWebhook(ctx, "prj_1", "wh_1")
			require.NoError(t, err)
			assert.True(t, w.Enabled)
			assert.Empty(t, w.DisabledReason)
			assert.Zero(t, w.FailureThreshold, "never disabled by failures unless asked")
			for _, et := range health.EventTypes() {
				_, err := s.GetEventTypeByName(ctx, "prj_1", et.Name)
				assert.NoError(t, err, et.Name)
			}

			claimed, err := s.ClaimDeliveries(ctx, now.Add(time.Second), store.ClaimRequest{Limit: 10, Lease: time.Minute, PerWebhook: 10})
			require.NoError(t, err)
			require.Len(t, claimed.Deliveries, 1, "the old delivery is still due")
			require.NoError(t, s.CompleteDeliveries(ctx, []store.Outcome{{DeliveryID: dlv, ClaimToken: claimed.Deliveries[0].ClaimToken,
				Status: store.StatusDone, Attempts: 1, LastStatusCode: 200, Attempt: &store.Attempt{StartTime: now, Duration: time.Millisecond}}},
				now.Add(time.Second)))
			st, err := s.GetWebhookStats(ctx, store.WebhookStatsParams{ProjectID: "prj_1", WebhookID: "wh_1", Window: time.Hour, Now: now.Add(2 * time.Second)})
			require.NoError(t, err)
			assert.Equal(t, int64(1), st.Done)
			assert.Equal(t, int64(1), st.Attempts)

			_, _, err = s.SetWebhookEnabled(ctx, store.SetWebhookEnabledParams{ProjectID: "prj_1", WebhookID: "wh_gone", Enabled: true, Replay: true, Now: now.Add(3 * time.Second)})
			require.NoError(t, err)
			gone, err = s.GetWebhook(ctx, "prj_1", "wh_gone")
			require.NoError(t, err)
			assert.True(t, gone.Enabled)
			assert.Empty(t, gone.DisabledReason)
		})
	}
}

package storesql_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
)

// TestUpgradeFrom0001 fills a database of the shipped 0001 schema with the old SQL, migrates it forward with Open
// and checks that every record reads back with the defaults of the options added by 0004_options (any 2xx,
// HMAC signing, no subject) and that the new fields can then be written.
func TestUpgradeFrom0001(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{storesql.DialectSQLite, storesql.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			old := openOldSchema(t, dialect, 1)
			now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
			exec := old.exec
			exec(`INSERT INTO projects (id, name, create_time, update_time) VALUES ('prj_1', 'acme', ?, ?)`, now, now)
			exec(`INSERT INTO integrations (id, project_id, name, base_url, headers, create_time, update_time)
				VALUES ('int_1', 'prj_1', 'CRM', 'https://crm.example.com/', '[]', ?, ?)`, now, now)
			exec(`INSERT INTO webhooks (id, project_id, integration_id, name, system_name, method, path, retry_policy,
				timeout_ms, secret, create_time, update_time)
				VALUES ('wh_1', 'prj_1', 'int_1', 'Orders', 'orders', 'POST', 'orders', '{"kind":"fixed","interval":10000000000,"max_retries":5}',
				15000, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', ?, ?)`, now, now)
			exec(`INSERT INTO event_types (id, project_id, name, create_time, update_time) VALUES ('et_1', 'prj_1', 'order.paid', ?, ?)`, now, now)
			exec(`INSERT INTO triggers (id, project_id, name, event_type, routes, create_time, update_time)
				VALUES ('trg_1', 'prj_1', 'shop', 'order.paid', '[{"header":"X-Kind","value":"paid","event_type":"order.paid"}]', ?, ?)`, now, now)
			exec(`INSERT INTO events (id, project_id, event_type, subject, payload, create_time)
				VALUES ('evt_1', 'prj_1', 'order.paid', 'cus_1', '{"total":1}', ?)`, now)
			exec(`INSERT INTO executions (id, project_id, trigger_id, receive_time, method, body, status, event_id, event_type)
				VALUES ('exe_1', 'prj_1', 'trg_1', ?, 'POST', '{"total":1}', 200, 'evt_1', 'order.paid')`, now)
			exec(`INSERT INTO deliveries (id, project_id, event_id, webhook_id, integration_id, event_type, subject, status,
				attempts, next_attempt_time, action_token, create_time, update_time)
				VALUES ('dlv_1', 'prj_1', 'evt_1', 'wh_1', 'int_1', 'order.paid', 'cus_1', 'retrying', 2, ?, 'tok_1', ?, ?)`, now, now, now)

			s := old.upgrade(ctx)
			var versions []int64
			require.NoError(t, s.Pool().SelectContext(ctx, &versions, `SELECT version FROM schema_migrations ORDER BY version`))
			assert.Contains(t, versions, int64(4))

			w, err := s.GetWebhook(ctx, "prj_1", "wh_1")
			require.NoError(t, err)
			assert.Equal(t, store.RetryPolicy{Kind: store.RetryFixed, Interval: 10 * time.Second, MaxRetries: 5}, w.RetryPolicy)
			assert.Equal(t, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", w.Secret)
			assert.Nil(t, w.SuccessStatusCodes, "any 2xx, as before")
			assert.Equal(t, store.SigningHMACSHA256, w.SigningAlgorithm)
			assert.Empty(t, w.PublicKey)
			tr, err := s.GetTrigger(ctx, "prj_1", "trg_1")
			require.NoError(t, err)
			assert.True(t, tr.Subject.IsZero())
			require.Len(t, tr.Routes, 1)
			assert.Nil(t, tr.Routes[0].Subject)
			e, err := s.GetExecution(ctx, "prj_1", "exe_1")
			require.NoError(t, err)
			assert.Empty(t, e.Subject)
			assert.Equal(t, "evt_1", e.EventID)
			ds, err := s.ListDeliveries(ctx, store.ListDeliveriesParams{ProjectID: "prj_1", Filter: store.DeliveryFilter{Subject: "cus_1"}, Page: store.Page{Size: 10}})
			require.NoError(t, err)
			require.Len(t, ds, 1)
			assert.Equal(t, 2, ds[0].Attempts)
			names, err := s.WebhookNames(ctx, "prj_1", []string{"wh_1", "wh_gone"})
			require.NoError(t, err)
			assert.Equal(t, map[string]string{"wh_1": "Orders"}, names)
			claimed, err := s.ClaimDeliveries(ctx, now.Add(time.Second), store.ClaimRequest{Limit: 10, Lease: time.Minute, PerWebhook: 10})
			require.NoError(t, err)
			require.Len(t, claimed.Deliveries, 1, "the old delivery is still due")

			// The new columns take values.
			w.SuccessStatusCodes, w.SigningAlgorithm, w.PublicKey = []int{200}, store.SigningEd25519, "whpk_x"
			require.NoError(t, s.UpdateWebhook(ctx, w))
			w2, err := s.GetWebhook(ctx, "prj_1", "wh_1")
			require.NoError(t, err)
			assert.Equal(t, []int{200}, w2.SuccessStatusCodes)
			assert.Equal(t, store.SigningEd25519, w2.SigningAlgorithm)
			assert.Equal(t, "whpk_x", w2.PublicKey)
			tr.Subject = store.TriggerSubject{JSONField: "customer.id"}
			tr.Routes[0].Subject = &store.TriggerSubject{Header: "X-Customer"}
			require.NoError(t, s.UpdateTrigger(ctx, tr))
			tr2, err := s.GetTrigger(ctx, "prj_1", "trg_1")
			require.NoError(t, err)
			assert.Equal(t, tr.Subject, tr2.Subject)
			assert.Equal(t, tr.Routes, tr2.Routes)
			exe := &store.Execution{ProjectID: "prj_1", TriggerID: "trg_1", Method: "POST", Status: 200, Subject: "cus_9"}
			_, err = s.RecordExecution(ctx, exe, &store.PublishInput{Event: store.Event{EventType: "order.paid", Subject: "cus_9", Payload: []byte(`{}`)}}, now)
			require.NoError(t, err)
			e, err = s.GetExecution(ctx, "prj_1", exe.ID)
			require.NoError(t, err)
			assert.Equal(t, "cus_9", e.Subject)
		})
	}
}

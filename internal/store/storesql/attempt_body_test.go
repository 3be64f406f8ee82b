package storesql_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
	"github.com/hookd/hookd/internal/store/storetest"
)

// TestAttemptBodyRefersToPayload: an attempt whose request body holds the event's payload (Attempt.PayloadAt and
// PayloadLen, set by the sender for the default envelope) is stored without that copy and read back whole; one
// without (a template's body) is stored as it is; once the payloads expire, the body reads empty.
func TestAttemptBodyRefersToPayload(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		payload := `{"order":"` + strings.Repeat("x", 500) + `","total":12}`
		_, err := s.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: f.project.ID, Events: []store.PublishInput{
			{Event: store.Event{EventType: "user.created", Payload: []byte(payload)}},
			{Event: store.Event{EventType: "user.created", Payload: []byte(payload)}}}, Now: t0, IdempotencyWindow: time.Hour})
		require.NoError(t, err)
		claimed := f.claim(t, t0, 10)
		require.Len(t, claimed, 2)

		envelope := func(c store.ClaimedDelivery) string {
			return `{"id":"` + c.EventID + `","type":"user.created","data":` + string(c.EventPayload) + `,"meta":{"attempt":1}}`
		}
		byRef, whole := claimed[0], claimed[1]
		refBody := envelope(byRef)
		at := strings.Index(refBody, `"data":`) + len(`"data":`)
		outcomes := []store.Outcome{
			{DeliveryID: byRef.ID, ClaimToken: byRef.ClaimToken, WebhookID: byRef.WebhookID, Status: store.StatusDone, Attempts: 1,
				Attempt: &store.Attempt{StartTime: t0, RequestMethod: "POST", RequestBody: refBody, ResponseStatusCode: 200,
					PayloadAt: at, PayloadLen: len(payload)}},
			{DeliveryID: whole.ID, ClaimToken: whole.ClaimToken, WebhookID: whole.WebhookID, Status: store.StatusDone, Attempts: 1,
				Attempt: &store.Attempt{StartTime: t0, RequestMethod: "POST", RequestBody: "order " + whole.EventID, ResponseStatusCode: 200}},
		}
		require.NoError(t, s.CompleteDeliveries(f.ctx, outcomes, t0.Add(time.Second)))

		got, err := s.ListAttempts(f.ctx, f.project.ID, byRef.ID)
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.Equal(t, refBody, got[0].RequestBody, "read back whole")
		assert.Zero(t, got[0].PayloadLen)
		var stored string
		require.NoError(t, s.Pool().GetContext(f.ctx, &stored, s.Pool().Rebind(`SELECT request_body FROM attempts WHERE delivery_id = ?`), byRef.ID))
		assert.Equal(t, len(refBody)-len(payload), len(stored), "stored without the payload")
		assert.NotContains(t, stored, "xxxx")

		got, err = s.ListAttempts(f.ctx, f.project.ID, whole.ID)
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.Equal(t, "order "+whole.EventID, got[0].RequestBody)

		n, err := s.ExpirePayloads(f.ctx, f.project.ID, time.Time{}, t0.Add(time.Hour), 100, func(context.Context) error { return nil })
		require.NoError(t, err)
		assert.Positive(t, n)
		got, err = s.ListAttempts(f.ctx, f.project.ID, byRef.ID)
		require.NoError(t, err)
		assert.Empty(t, got[0].RequestBody, "expired: nothing of the payload is put back")
		assert.True(t, got[0].PayloadExpired)
	})
}

// TestUpgradeTo0017AttemptBodyReference fills a database of the 0016 schema with an attempt, migrates it with Open,
// and checks that the attempt reads as it was stored (whole: nothing to put back).
func TestUpgradeTo0017AttemptBodyReference(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{storesql.DialectSQLite, storesql.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			old := openOldSchema(t, dialect, 16)
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
			exec(`INSERT INTO deliveries (id, project_id, event_id, webhook_id, event_type, subject, status, attempts, create_time, update_time)
				VALUES (?, 'prj_1', ?, 'wh_1', 'order.paid', 'cus_1', 'done', 1, ?, ?)`, dlv, evt, now, now)
			body := `{"id":"` + evt + `","data":{"total":1}}`
			exec(`INSERT INTO attempts (delivery_id, number, start_time, duration_us, request_method, request_url, request_headers,
				request_body, response_status_code, response_headers, response_body, error)
				VALUES (?, 1, ?, 1000, 'POST', 'https://example.com/hook', '[]', ?, 200, '[]', 'ok', '')`, dlv, now, body)

			s := old.upgrade(ctx)
			got, err := s.ListAttempts(ctx, "prj_1", dlv)
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, body, got[0].RequestBody)
			assert.Equal(t, "ok", got[0].ResponseBody)
		})
	}
}

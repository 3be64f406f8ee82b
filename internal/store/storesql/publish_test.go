package storesql_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

func TestPublishFanOut(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		f.newEventType(t, f.project.ID, "order.paid")
		in := &store.Integration{ProjectID: f.project.ID, Name: "crm", CreateTime: t0}
		require.NoError(t, s.CreateIntegration(f.ctx, in))

		wAll := f.newWebhook(t, f.project.ID, "all")
		wAll.IntegrationID = in.ID
		require.NoError(t, s.UpdateWebhook(f.ctx, wAll))
		f.subscribe(t, f.project.ID, wAll.ID, "", "*")
		f.subscribe(t, f.project.ID, wAll.ID, "", "user.created") // same webhook twice: one delivery

		wSubject := f.newWebhook(t, f.project.ID, "subject")
		f.subscribe(t, f.project.ID, wSubject.ID, "cus_1", "user.created")

		wOff := f.newWebhook(t, f.project.ID, "disabled")
		f.subscribe(t, f.project.ID, wOff.ID, "", "*")
		_, _, err := s.SetWebhookEnabled(f.ctx, store.SetWebhookEnabledParams{ProjectID: f.project.ID, WebhookID: wOff.ID, Enabled: false, Reason: health.DisabledByPerson.String(), Now: t0})
		require.NoError(t, err)

		wSubOff := f.newWebhook(t, f.project.ID, "sub-disabled")
		sub := f.subscribe(t, f.project.ID, wSubOff.ID, "", "*")
		sub.Enabled = false
		require.NoError(t, s.UpdateSubscription(f.ctx, sub))

		// Another project's catch-all subscription never matches.
		other := f.newProject(t, "other")
		f.subscribe(t, other.ID, f.newWebhook(t, other.ID, "x").ID, "", "*")

		res, err := s.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: f.project.ID, Events: []store.PublishInput{
			{Event: store.Event{EventType: "user.created", Subject: "cus_1", Payload: []byte(`{"id":1}`)}},
			{Event: store.Event{EventType: "user.created", Subject: "cus_2", Payload: []byte(`{"id":2}`)}},
			{Event: store.Event{EventType: "order.paid", Payload: []byte(`{"id":3}`)}},
			{Event: store.Event{EventType: "nobody.listens"}, WebhookIDs: nil},
			{Event: store.Event{EventType: "order.paid"}, WebhookIDs: []string{wOff.ID, wOff.ID}},
		}, Now: t0, IdempotencyWindow: 24 * time.Hour})
		require.NoError(t, err)
		require.Len(t, res, 5)

		webhooksOf := func(r store.PublishResult) []string {
			var out []string
			for _, id := range r.DeliveryIDs {
				d, err := s.GetDelivery(f.ctx, f.project.ID, id)
				require.NoError(t, err)
				assert.Equal(t, r.Event.ID, d.EventID)
				assert.Equal(t, r.Event.EventType, d.EventType)
				assert.Equal(t, r.Event.Subject, d.Subject)
				if d.WebhookID == wOff.ID { // a disabled webhook's delivery fails at once (replay_missed re-queues it)
					assert.Equal(t, store.StatusFailed, d.Status)
					assert.Equal(t, health.FailWebhookDisabled.String(), d.Reason)
					out = append(out, d.WebhookID)
					continue
				}
				assert.Equal(t, store.StatusQueued, d.Status)
				assert.Equal(t, t0.Truncate(time.Microsecond), d.NextAttemptTime)
				if d.WebhookID == wAll.ID {
					assert.Equal(t, in.ID, d.IntegrationID)
				}
				out = append(out, d.WebhookID)
			}
			return out
		}
		assert.ElementsMatch(t, []string{f.webhook.ID, wAll.ID, wSubject.ID, wOff.ID}, webhooksOf(res[0]))
		assert.ElementsMatch(t, []string{f.webhook.ID, wAll.ID, wOff.ID}, webhooksOf(res[1]))
		assert.ElementsMatch(t, []string{wAll.ID, wOff.ID}, webhooksOf(res[2]))
		assert.ElementsMatch(t, []string{wAll.ID, wOff.ID}, webhooksOf(res[3]), "only the catch-all subscriptions")
		assert.Equal(t, []string{wOff.ID}, webhooksOf(res[4]), "explicit webhooks bypass subscriptions, once each")
		for _, r := range res {
			assert.False(t, r.Duplicate)
			assert.Equal(t, f.project.ID, r.Event.ProjectID)
		}
		assert.JSONEq(t, `{}`, string(res[3].Event.Payload), "a missing payload is stored as {}")

		ev, err := s.GetEvent(f.ctx, f.project.ID, res[0].Event.ID)
		require.NoError(t, err)
		assert.Equal(t, store.DeliveryCounts{store.StatusQueued: 3, store.StatusFailed: 1}, ev.Counts)
		assert.JSONEq(t, `{"id":1}`, string(ev.Payload))
		_, err = s.GetEvent(f.ctx, other.ID, res[0].Event.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)

		// Unknown (or foreign) explicit webhooks reject the whole batch.
		_, err = s.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: f.project.ID, Events: []store.PublishInput{
			{Event: store.Event{EventType: "user.created"}},
			{Event: store.Event{EventType: "user.created"}, WebhookIDs: []string{"wh_missing"}},
		}, Now: t0, IdempotencyWindow: time.Hour})
		assert.ErrorIs(t, err, store.ErrNotFound)
		events, err := s.ListEvents(f.ctx, f.project.ID, store.EventFilter{}, store.Page{Size: 100})
		require.NoError(t, err)
		assert.Len(t, events, 6, "nothing of the failed batch was stored (five published, one hookd.webhook.disabled)")
	})
}

func TestPublishIdempotency(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		other := f.newProject(t, "other")
		ev := func(key string) store.PublishInput {
			return store.PublishInput{Event: store.Event{EventType: "user.created", IdempotencyKey: key, Payload: []byte(`{}`)}}
		}
		first, err := s.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: f.project.ID, Events: []store.PublishInput{ev("k1"), ev("k1"), ev("")}, Now: t0, IdempotencyWindow: 24 * time.Hour})
		require.NoError(t, err)
		assert.False(t, first[0].Duplicate)
		assert.True(t, first[1].Duplicate, "the same key twice in one batch")
		assert.Equal(t, first[0].Event.ID, first[1].Event.ID)
		assert.Equal(t, first[0].DeliveryIDs, first[1].DeliveryIDs)
		require.Len(t, first[0].DeliveryIDs, 1)

		again, err := s.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: f.project.ID, Events: []store.PublishInput{ev("k1"), ev("k2")}, Now: t0.Add(23 * time.Hour), IdempotencyWindow: 24 * time.Hour})
		require.NoError(t, err)
		assert.True(t, again[0].Duplicate)
		assert.Equal(t, first[0].Event.ID, again[0].Event.ID)
		assert.Equal(t, first[0].DeliveryIDs, again[0].DeliveryIDs)
		assert.Equal(t, first[0].Event.CreateTime, again[0].Event.CreateTime)
		assert.False(t, again[1].Duplicate)

		// Keys are per project.
		o, err := s.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: other.ID, Events: []store.PublishInput{ev("k1")}, Now: t0, IdempotencyWindow: 24 * time.Hour})
		require.NoError(t, err)
		assert.False(t, o[0].Duplicate)

		// After the window the key may be used again.
		later, err := s.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: f.project.ID, Events: []store.PublishInput{ev("k1")}, Now: t0.Add(25 * time.Hour), IdempotencyWindow: 24 * time.Hour})
		require.NoError(t, err)
		assert.False(t, later[0].Duplicate)
		assert.NotEqual(t, first[0].Event.ID, later[0].Event.ID)

		events, err := s.ListEvents(f.ctx, f.project.ID, store.EventFilter{}, store.Page{Size: 100})
		require.NoError(t, err)
		assert.Len(t, events, 4)
	})
}

func TestListEvents(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		f.newEventType(t, f.project.ID, "order.paid")
		var all []string
		for i := range 6 {
			typ, subject := "user.created", "a"
			if i%2 == 1 {
				typ, subject = "order.paid", "b"
			}
			res, err := s.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: f.project.ID, Events: []store.PublishInput{{Event: store.Event{EventType: typ, Subject: subject}}}, Now: t0.Add(time.Duration(i) * time.Second), IdempotencyWindow: time.Hour})
			require.NoError(t, err)
			all = append([]string{res[0].Event.ID}, all...)
		}
		list := func(filter store.EventFilter, page store.Page) []store.Event {
			events, err := s.ListEvents(f.ctx, f.project.ID, filter, page)
			require.NoError(t, err)
			return events
		}
		evID := func(e store.Event) string { return e.ID }
		assert.Equal(t, all, ids(list(store.EventFilter{}, store.Page{Size: 10}), evID))
		assert.Equal(t, all[:2], ids(list(store.EventFilter{}, store.Page{Size: 2}), evID))
		assert.Equal(t, all[2:4], ids(list(store.EventFilter{}, store.Page{Size: 2, After: all[1]}), evID))
		assert.Len(t, list(store.EventFilter{EventType: "order.paid"}, store.Page{Size: 10}), 3)
		assert.Len(t, list(store.EventFilter{Subject: "a"}, store.Page{Size: 10}), 3)
		ranged := list(store.EventFilter{CreateAfter: t0.Add(time.Second), CreateBefore: t0.Add(3 * time.Second)}, store.Page{Size: 10})
		assert.Equal(t, all[3:5], ids(ranged, evID))
		for _, e := range list(store.EventFilter{EventType: "user.created"}, store.Page{Size: 10}) {
			assert.Equal(t, store.DeliveryCounts{store.StatusQueued: 1}, e.Counts)
		}
		for _, e := range list(store.EventFilter{EventType: "order.paid"}, store.Page{Size: 10}) {
			assert.Equal(t, store.DeliveryCounts{}, e.Counts)
		}
	})
}

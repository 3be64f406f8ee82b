package storesql_test

import (
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

func TestProjectsAndAPIKeys(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		other := f.newProject(t, "other")
		require.True(t, id.HasPrefix(f.project.ID, id.Project))

		got, err := s.GetProject(f.ctx, f.project.ID)
		require.NoError(t, err)
		assert.Equal(t, *f.project, *got)
		_, err = s.GetProject(f.ctx, "prj_missing")
		assert.ErrorIs(t, err, store.ErrNotFound)

		projects, err := s.ListProjects(f.ctx, store.Page{Size: 10})
		require.NoError(t, err)
		assert.Equal(t, []string{other.ID, f.project.ID}, ids(projects, func(p store.Project) string { return p.ID }))

		n, err := s.CountAPIKeys(f.ctx)
		require.NoError(t, err)
		assert.Zero(t, n)

		hash := sha256.Sum256([]byte("hk_secret"))
		key := &store.APIKey{ProjectID: f.project.ID, Name: "ci", Role: store.RoleAdmin, InstanceAdmin: true, Prefix: "hk_sec", Hash: hash[:], CreateTime: t0}
		require.NoError(t, s.CreateAPIKey(f.ctx, key))
		dup := &store.APIKey{ProjectID: f.project.ID, Name: "dup", Role: store.RoleViewer, Prefix: "hk_sec", Hash: hash[:]}
		assert.ErrorIs(t, s.CreateAPIKey(f.ctx, dup), store.ErrAlreadyExists)
		assert.ErrorIs(t, s.CreateAPIKey(f.ctx, &store.APIKey{ProjectID: "prj_missing", Role: store.RoleViewer, Hash: []byte("x")}), store.ErrNotFound)

		byHash, err := s.APIKeyByHash(f.ctx, hash[:])
		require.NoError(t, err)
		assert.Equal(t, *key, *byHash)
		_, err = s.APIKeyByHash(f.ctx, []byte("nope"))
		assert.ErrorIs(t, err, store.ErrNotFound)

		keys, err := s.ListAPIKeys(f.ctx, other.ID, store.Page{Size: 10})
		require.NoError(t, err)
		assert.Empty(t, keys)

		_, err = s.RevokeAPIKey(f.ctx, other.ID, key.ID, t0)
		assert.ErrorIs(t, err, store.ErrNotFound, "a key is invisible to other projects")
		revoked, err := s.RevokeAPIKey(f.ctx, f.project.ID, key.ID, t0.Add(time.Hour))
		require.NoError(t, err)
		require.NotNil(t, revoked.RevokeTime)
		assert.Equal(t, t0.Add(time.Hour), *revoked.RevokeTime)
		again, err := s.RevokeAPIKey(f.ctx, f.project.ID, key.ID, t0.Add(2*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, t0.Add(time.Hour), *again.RevokeTime, "revoking twice keeps the first time")

		n, err = s.CountAPIKeys(f.ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
	})
}

func TestIntegrations(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		other := f.newProject(t, "other")
		in := &store.Integration{
			ProjectID: f.project.ID, Name: "Stripe", BaseURL: "https://api.stripe.com", RateLimitPerSecond: 5,
			Headers:    []store.Header{{Name: "authorization", Value: "Bearer x", Private: true}, {Name: "x-a", Value: "1"}},
			CreateTime: t0,
		}
		require.NoError(t, s.CreateIntegration(f.ctx, in))
		require.True(t, id.HasPrefix(in.ID, id.Integration))

		got, err := s.GetIntegration(f.ctx, f.project.ID, in.ID)
		require.NoError(t, err)
		assert.Equal(t, *in, *got)
		_, err = s.GetIntegration(f.ctx, other.ID, in.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)

		in.Name, in.Headers, in.UpdateTime = "Stripe v2", nil, t0.Add(time.Minute)
		require.NoError(t, s.UpdateIntegration(f.ctx, in))
		got, err = s.GetIntegration(f.ctx, f.project.ID, in.ID)
		require.NoError(t, err)
		assert.Equal(t, "Stripe v2", got.Name)
		assert.Empty(t, got.Headers)
		assert.Equal(t, t0.Add(time.Minute), got.UpdateTime)
		assert.ErrorIs(t, s.UpdateIntegration(f.ctx, &store.Integration{ProjectID: other.ID, ID: in.ID}), store.ErrNotFound)

		w := f.newWebhook(t, f.project.ID, "stripe-hook")
		w.IntegrationID = in.ID
		require.NoError(t, s.UpdateWebhook(f.ctx, w))
		assert.ErrorIs(t, s.DeleteIntegration(f.ctx, f.project.ID, in.ID), store.ErrConflict)

		require.NoError(t, s.DeleteWebhook(f.ctx, f.project.ID, w.ID, t0))
		assert.ErrorIs(t, s.DeleteIntegration(f.ctx, other.ID, in.ID), store.ErrNotFound)
		require.NoError(t, s.DeleteIntegration(f.ctx, f.project.ID, in.ID))
		_, err = s.GetIntegration(f.ctx, f.project.ID, in.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}

func TestWebhooks(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		other := f.newProject(t, "other")
		in := &store.Integration{ProjectID: f.project.ID, Name: "crm", BaseURL: "https://crm.example.com", CreateTime: t0}
		require.NoError(t, s.CreateIntegration(f.ctx, in))
		expire := t0.Add(24 * time.Hour)
		w := &store.Webhook{
			ProjectID: f.project.ID, IntegrationID: in.ID, Name: "Create contact", SystemName: "create_contact",
			Description: "adds a contact", Method: "PUT", Path: "/contacts/{{.Data.id}}",
			IntegrationHeaders: []store.IntegrationHeader{{Name: "authorization", Use: true}},
			Headers:            []store.Header{{Name: "x-idempotency", Value: "{{.TransactionalId}}"}},
			BodyTemplate:       `{"id":"{{.Data.id}}"}`,
			RetryPolicy:        store.RetryPolicy{Kind: store.RetryFixed, Interval: 10 * time.Second, MaxRetries: 5},
			Timeout:            5 * time.Second, AsyncStatus: true, AsyncTimeout: time.Hour, Enabled: true,
			Secret: "whsec_new", PreviousSecret: "whsec_old", PreviousSecretExpireTime: &expire, CreateTime: t0,
		}
		require.NoError(t, s.CreateWebhook(f.ctx, w))
		got, err := s.GetWebhook(f.ctx, f.project.ID, w.ID)
		require.NoError(t, err)
		assert.Equal(t, *w, *got)

		_, err = s.GetWebhook(f.ctx, other.ID, w.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)

		dup := &store.Webhook{ProjectID: f.project.ID, Name: "x", SystemName: "create_contact", Method: "POST", Secret: "s"}
		assert.ErrorIs(t, s.CreateWebhook(f.ctx, dup), store.ErrAlreadyExists)
		dup.ProjectID = other.ID
		require.NoError(t, s.CreateWebhook(f.ctx, dup), "system names are unique per project only")

		bad := &store.Webhook{ProjectID: other.ID, IntegrationID: in.ID, Name: "x", SystemName: "y", Method: "POST", Secret: "s"}
		assert.ErrorIs(t, s.CreateWebhook(f.ctx, bad), store.ErrNotFound, "another project's integration")

		list, err := s.ListWebhooks(f.ctx, f.project.ID, in.ID, store.Page{Size: 10})
		require.NoError(t, err)
		assert.Equal(t, []string{w.ID}, ids(list, func(w store.Webhook) string { return w.ID }))
		list, err = s.ListWebhooks(f.ctx, f.project.ID, "", store.Page{Size: 10})
		require.NoError(t, err)
		assert.Len(t, list, 2)

		w.Enabled, w.PreviousSecretExpireTime, w.IntegrationID, w.URL = false, nil, "", "https://other.example.com"
		require.NoError(t, s.UpdateWebhook(f.ctx, w))
		got, err = s.GetWebhook(f.ctx, f.project.ID, w.ID)
		require.NoError(t, err)
		assert.True(t, got.Enabled, "UpdateWebhook leaves enabled to SetWebhookEnabled (and the engine)")
		got, _, err = s.SetWebhookEnabled(f.ctx, store.SetWebhookEnabledParams{ProjectID: f.project.ID, WebhookID: w.ID, Enabled: false, Reason: health.DisabledByPerson.String(), Now: t0})
		require.NoError(t, err)
		assert.False(t, got.Enabled)
		assert.Equal(t, health.DisabledByPerson.String(), got.DisabledReason)
		require.NotNil(t, got.DisableTime)
		assert.Equal(t, t0.Truncate(time.Microsecond), *got.DisableTime)
		assert.Nil(t, got.PreviousSecretExpireTime)
		assert.Empty(t, got.IntegrationID)

		// Renaming onto a taken system name.
		w.SystemName = f.webhook.SystemName
		assert.ErrorIs(t, s.UpdateWebhook(f.ctx, w), store.ErrAlreadyExists)

		// Deleting cancels unfinished deliveries and removes subscriptions.
		res := f.publish(t, "user.created", "")
		require.Len(t, res.DeliveryIDs, 1)
		require.ErrorIs(t, s.DeleteWebhook(f.ctx, other.ID, f.webhook.ID, t0), store.ErrNotFound)
		require.NoError(t, s.DeleteWebhook(f.ctx, f.project.ID, f.webhook.ID, t0.Add(time.Second)))
		d, err := s.GetDelivery(f.ctx, f.project.ID, res.DeliveryIDs[0])
		require.NoError(t, err)
		assert.Equal(t, store.StatusCancelled, d.Status)
		subs, err := s.ListSubscriptions(f.ctx, f.project.ID, store.SubscriptionFilter{}, store.Page{Size: 10})
		require.NoError(t, err)
		assert.Empty(t, subs)
		assert.ErrorIs(t, s.DeleteWebhook(f.ctx, f.project.ID, f.webhook.ID, t0), store.ErrNotFound)
	})
}

func TestEventTypes(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		other := f.newProject(t, "other")
		et := &store.EventType{
			ProjectID: f.project.ID, Name: "order.paid", Description: "an order was paid",
			Schema: json.RawMessage(`{"type":"object"}`), SamplePayload: json.RawMessage(`{"amount":10}`), CreateTime: t0,
		}
		require.NoError(t, s.CreateEventType(f.ctx, et))
		got, err := s.GetEventTypeByName(f.ctx, f.project.ID, "order.paid")
		require.NoError(t, err)
		assert.Equal(t, et.ID, got.ID)
		assert.JSONEq(t, `{"type":"object"}`, string(got.Schema))
		assert.JSONEq(t, `{"amount":10}`, string(got.SamplePayload))
		_, err = s.GetEventTypeByName(f.ctx, other.ID, "order.paid")
		assert.ErrorIs(t, err, store.ErrNotFound)

		assert.ErrorIs(t, s.CreateEventType(f.ctx, &store.EventType{ProjectID: f.project.ID, Name: "order.paid"}), store.ErrAlreadyExists)
		require.NoError(t, s.CreateEventType(f.ctx, &store.EventType{ProjectID: other.ID, Name: "order.paid"}))

		et.Schema, et.Description = nil, "changed"
		require.NoError(t, s.UpdateEventType(f.ctx, et))
		got, err = s.GetEventType(f.ctx, f.project.ID, et.ID)
		require.NoError(t, err)
		assert.Nil(t, got.Schema)
		assert.Equal(t, "changed", got.Description)

		// In use by a subscription: no delete, no rename.
		sub := f.subscribe(t, f.project.ID, f.webhook.ID, "", "order.paid")
		assert.ErrorIs(t, s.DeleteEventType(f.ctx, f.project.ID, et.ID), store.ErrConflict)
		et.Name = "order.settled"
		assert.ErrorIs(t, s.UpdateEventType(f.ctx, et), store.ErrConflict)
		require.NoError(t, s.DeleteSubscription(f.ctx, f.project.ID, sub.ID))
		require.NoError(t, s.UpdateEventType(f.ctx, et))
		assert.ErrorIs(t, s.DeleteEventType(f.ctx, other.ID, et.ID), store.ErrNotFound)
		require.NoError(t, s.DeleteEventType(f.ctx, f.project.ID, et.ID))

		list, err := s.ListEventTypes(f.ctx, f.project.ID, store.Page{Size: 10})
		require.NoError(t, err)
		var own []string
		for _, e := range list {
			if !health.IsOperational(e.Name) {
				own = append(own, e.Name)
			}
		}
		assert.Equal(t, []string{"user.created"}, own)
		assert.Len(t, list, 1+len(health.EventTypes()), "and the operational event types, in every project")
	})
}

func TestSubscriptions(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		other := f.newProject(t, "other")
		f.newEventType(t, f.project.ID, "order.paid")
		w2 := f.newWebhook(t, f.project.ID, "second")

		assert.ErrorIs(t, s.CreateSubscription(f.ctx, &store.Subscription{ProjectID: f.project.ID, WebhookID: w2.ID, EventTypes: []string{"nope"}}), store.ErrNotFound)
		assert.ErrorIs(t, s.CreateSubscription(f.ctx, &store.Subscription{ProjectID: f.project.ID, WebhookID: "wh_missing", EventTypes: []string{"*"}}), store.ErrNotFound)
		assert.ErrorIs(t, s.CreateSubscription(f.ctx, &store.Subscription{ProjectID: other.ID, WebhookID: w2.ID, EventTypes: []string{"*"}}), store.ErrNotFound)

		all := f.subscribe(t, f.project.ID, w2.ID, "cus_1", "*")
		paid := f.subscribe(t, f.project.ID, w2.ID, "", "order.paid", "order.paid")
		assert.Equal(t, []string{"order.paid"}, paid.EventTypes, "duplicates are dropped")

		got, err := s.GetSubscription(f.ctx, f.project.ID, all.ID)
		require.NoError(t, err)
		assert.Equal(t, *all, *got)
		_, err = s.GetSubscription(f.ctx, other.ID, all.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)

		list := func(filter store.SubscriptionFilter) []string {
			subs, err := s.ListSubscriptions(f.ctx, f.project.ID, filter, store.Page{Size: 10})
			require.NoError(t, err)
			return ids(subs, func(s store.Subscription) string { return s.ID })
		}
		assert.Len(t, list(store.SubscriptionFilter{}), 3)
		assert.ElementsMatch(t, []string{paid.ID, all.ID}, list(store.SubscriptionFilter{WebhookID: w2.ID}))
		assert.ElementsMatch(t, []string{paid.ID, all.ID}, list(store.SubscriptionFilter{EventType: "order.paid"}))
		assert.Len(t, list(store.SubscriptionFilter{EventType: "user.created"}), 2)

		paid.EventTypes, paid.Enabled = []string{"user.created"}, false
		require.NoError(t, s.UpdateSubscription(f.ctx, paid))
		assert.Equal(t, []string{all.ID}, list(store.SubscriptionFilter{EventType: "order.paid"}))
		paid.EventTypes = []string{"missing"}
		assert.ErrorIs(t, s.UpdateSubscription(f.ctx, paid), store.ErrNotFound)

		assert.ErrorIs(t, s.DeleteSubscription(f.ctx, other.ID, paid.ID), store.ErrNotFound)
		require.NoError(t, s.DeleteSubscription(f.ctx, f.project.ID, paid.ID))
		assert.ErrorIs(t, s.DeleteSubscription(f.ctx, f.project.ID, paid.ID), store.ErrNotFound)
	})
}

func TestPagination(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		var created []string
		for i := range 7 {
			in := &store.Integration{ProjectID: f.project.ID, Name: "i", CreateTime: t0.Add(time.Duration(i) * time.Millisecond)}
			require.NoError(t, s.CreateIntegration(f.ctx, in))
			created = append([]string{in.ID}, created...) // newest first
		}
		var seen []string
		page := store.Page{Size: 3}
		for range 5 {
			items, err := s.ListIntegrations(f.ctx, f.project.ID, page)
			require.NoError(t, err)
			require.LessOrEqual(t, len(items), 3)
			seen = append(seen, ids(items, func(i store.Integration) string { return i.ID })...)
			if len(items) < page.Size {
				break
			}
			page.After = items[len(items)-1].ID
		}
		assert.Equal(t, created, seen)
	})
}

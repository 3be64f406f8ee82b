package storesql_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/filter"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// TestPublishFilters: a subscription's CEL filter decides, inside the publish, whether an event reaches its
// webhook; a filter that fails on an event (a missing key) is no match and counts in hookd_filter_errors_total;
// an update of the filter takes effect at the next publish; the filter round-trips.
func TestPublishFilters(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		filtered := func(name, expr string) (*store.Webhook, *store.Subscription) {
			w := f.newWebhook(t, f.project.ID, name)
			sub := &store.Subscription{ProjectID: f.project.ID, WebhookID: w.ID, EventTypes: []string{"*"}, Filter: expr,
				Enabled: true, CreateTime: f.next()}
			require.NoError(t, s.CreateSubscription(f.ctx, sub))
			return w, sub
		}
		big, bigSub := filtered("big", `data.amount > 100 && subject.startsWith("cus_")`)
		typed, _ := filtered("typed", `type == "user.created" && tenant_id == ""`)
		nested, _ := filtered("nested", `data.items.exists(i, i.sku == "x")`)

		got, err := s.GetSubscription(f.ctx, f.project.ID, bigSub.ID)
		require.NoError(t, err)
		assert.Equal(t, bigSub.Filter, got.Filter)

		publish := func(subject, payload string) []string {
			res, err := s.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: f.project.ID, Events: []store.PublishInput{{Event: store.Event{
				EventType: "user.created", Subject: subject, Payload: []byte(payload)}}}, Now: f.next(), IdempotencyWindow: time.Hour})
			require.NoError(t, err)
			var out []string
			for _, id := range res[0].DeliveryIDs {
				d, err := s.GetDelivery(f.ctx, f.project.ID, id)
				require.NoError(t, err)
				out = append(out, d.WebhookID)
			}
			return out
		}
		errorsBefore := testutil.ToFloat64(filter.ErrorsTotal)
		assert.ElementsMatch(t, []string{f.webhook.ID, big.ID, typed.ID, nested.ID},
			publish("cus_1", `{"amount":150,"items":[{"sku":"x"}]}`))
		assert.ElementsMatch(t, []string{f.webhook.ID, typed.ID}, publish("cus_1", `{"amount":50,"items":[]}`))
		assert.ElementsMatch(t, []string{f.webhook.ID, typed.ID}, publish("usr_1", `{"amount":500,"items":[{"sku":"y"}]}`))
		assert.ElementsMatch(t, []string{f.webhook.ID, typed.ID}, publish("cus_1", `{}`), "missing keys: no match")
		assert.GreaterOrEqual(t, testutil.ToFloat64(filter.ErrorsTotal), errorsBefore+2, "the two missing-key evaluations are counted")

		bigSub.Filter = `data.amount > 10`
		require.NoError(t, s.UpdateSubscription(f.ctx, bigSub))
		assert.ElementsMatch(t, []string{f.webhook.ID, big.ID, typed.ID}, publish("usr_1", `{"amount":50,"items":[]}`),
			"the new filter applies at once")
	})
}

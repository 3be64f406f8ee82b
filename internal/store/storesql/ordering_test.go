package storesql_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
	"github.com/hookd/hookd/internal/store/storetest"
)

// orderedFixture adds an ordered webhook subscribed to user.created beside the fixture's unordered one.
func orderedFixture(t *testing.T, s *storetest.DB) (*fixture, *store.Webhook) {
	t.Helper()
	f := setup(t, s)
	w := &store.Webhook{
		ProjectID: f.project.ID, Name: "Ordered", SystemName: "ordered", Method: "POST", URL: "https://example.com/ordered",
		Enabled: true, Secret: "whsec_ordered", RetryPolicy: store.RetryPolicy{Kind: store.RetryExponential},
		Timeout: 15 * time.Second, CreateTime: f.next(), Ordered: true,
	}
	require.NoError(t, s.CreateWebhook(f.ctx, w))
	f.subscribe(t, f.project.ID, w.ID, "", "user.created")
	got, err := s.GetWebhook(f.ctx, f.project.ID, w.ID)
	require.NoError(t, err)
	require.True(t, got.Ordered, "ordered is stored")
	return f, w
}

// publishKeys publishes one user.created event per key in one batch and returns, per event, its delivery to
// webhookID.
func publishKeys(t *testing.T, f *fixture, webhookID string, now time.Time, keys ...string) []string {
	t.Helper()
	in := make([]store.PublishInput, len(keys))
	for i, k := range keys {
		in[i] = store.PublishInput{Event: store.Event{EventType: "user.created", OrderingKey: k, Payload: []byte(`{}`)}}
	}
	res, err := f.s.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: f.project.ID, Events: in, Now: now})
	require.NoError(t, err)
	out := make([]string, len(res))
	for i, r := range res {
		for _, id := range r.DeliveryIDs {
			d, err := f.s.GetDelivery(f.ctx, f.project.ID, id)
			require.NoError(t, err)
			if d.WebhookID == webhookID {
				out[i] = id
			}
		}
		require.NotEmpty(t, out[i])
	}
	return out
}

// claimedOf keeps the ids of claimed deliveries of webhookID, with their claims.
func claimedOf(got []store.ClaimedDelivery, webhookID string) map[string]store.ClaimedDelivery {
	out := map[string]store.ClaimedDelivery{}
	for _, c := range got {
		if c.WebhookID == webhookID {
			out[c.ID] = c
		}
	}
	return out
}

func TestOrderedKeyChain(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f, ow := orderedFixture(t, s)
		first := publishKeys(t, f, ow.ID, t0, "A", "A", "B", "")
		a1, a2, b1, n1 := first[0], first[1], first[2], first[3]
		a3 := publishKeys(t, f, ow.ID, t0, "A")[0]

		d, err := s.GetDelivery(f.ctx, f.project.ID, a2)
		require.NoError(t, err)
		assert.Equal(t, "A", d.OrderingKey)
		assert.Equal(t, a1, d.BlockedBy, "a later delivery of the key in the same publish waits for the earlier")
		d, err = s.GetDelivery(f.ctx, f.project.ID, a3)
		require.NoError(t, err)
		assert.Equal(t, a2, d.BlockedBy, "a later publish waits for the tail of the key")

		res, err := s.ClaimDeliveries(f.ctx, t0.Add(time.Second), store.ClaimRequest{Limit: 100, Lease: time.Minute, PerWebhook: 100})
		require.NoError(t, err)
		got := claimedOf(res.Deliveries, ow.ID)
		assert.ElementsMatch(t, []string{a1, b1, n1}, keys(got), "the heads of the keys and the unkeyed delivery")
		assert.Len(t, claimedOf(res.Deliveries, f.webhook.ID), 5, "the unordered webhook gets all its deliveries")
		assert.True(t, res.NextDue.IsZero(), "held deliveries are not due at any time: %v", res.NextDue)

		// The head of A is retried: A waits, B goes on.
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{
			{DeliveryID: a1, ClaimToken: got[a1].ClaimToken, Attempt: &store.Attempt{StartTime: t0, ResponseStatusCode: 500},
				Attempts: 1, Status: store.StatusRetrying, NextAttemptTime: t0.Add(10 * time.Second), LastStatusCode: 500},
			{DeliveryID: b1, ClaimToken: got[b1].ClaimToken, Attempt: &store.Attempt{StartTime: t0, ResponseStatusCode: 200},
				Attempts: 1, Status: store.StatusDone, LastStatusCode: 200},
		}, t0.Add(2*time.Second)))
		res, err = s.ClaimDeliveries(f.ctx, t0.Add(3*time.Second), store.ClaimRequest{Limit: 100, Lease: time.Minute, PerWebhook: 100})
		require.NoError(t, err)
		assert.Empty(t, claimedOf(res.Deliveries, ow.ID), "A's followers wait for its retrying head")
		assert.Equal(t, t0.Add(10*time.Second), res.NextDue, "the next due time is the head's retry, not a held row")

		blocked, err := s.ListDeliveries(f.ctx, store.ListDeliveriesParams{ProjectID: f.project.ID, Queue: true, Blocked: true,
			Page: store.Page{Size: 10}})
		require.NoError(t, err)
		require.Len(t, blocked, 1, "the blocked filter shows the head of the blocked key")
		assert.Equal(t, a1, blocked[0].ID)
		assert.Equal(t, 1, blocked[0].Attempts)

		// The head fails for good: the next of A goes, then the one after it.
		a1c := f.claimOne(t, t0.Add(11*time.Second))
		require.Equal(t, a1, a1c.ID)
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{{DeliveryID: a1, ClaimToken: a1c.ClaimToken,
			Attempt: &store.Attempt{StartTime: t0}, Attempts: 2, Status: store.StatusFailed, LastStatusCode: 500}}, t0.Add(12*time.Second)))
		next := f.claimOne(t, t0.Add(12*time.Second))
		assert.Equal(t, a2, next.ID, "a FAILED head releases its follower")
		d, err = s.GetDelivery(f.ctx, f.project.ID, a2)
		require.NoError(t, err)
		assert.Empty(t, d.BlockedBy)
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{{DeliveryID: a2, ClaimToken: next.ClaimToken,
			Attempt: &store.Attempt{StartTime: t0}, Attempts: 1, Status: store.StatusDone, LastStatusCode: 200}}, t0.Add(13*time.Second)))
		assert.Equal(t, a3, f.claimOne(t, t0.Add(13*time.Second)).ID, "a DONE head releases its follower")
	})
}

func TestOrderedCancelAndResend(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f, ow := orderedFixture(t, s)
		ds := publishKeys(t, f, ow.ID, t0, "K", "K", "K")
		k1, k2, k3 := ds[0], ds[1], ds[2]
		head := claimedOf(f.claim(t, t0.Add(time.Second), 100), ow.ID)
		require.Contains(t, head, k1)
		require.Len(t, head, 1)

		// Cancelling a held delivery makes its follower wait for the head instead (never two in flight).
		_, err := s.CancelDelivery(f.ctx, f.project.ID, k2, t0.Add(time.Second))
		require.NoError(t, err)
		d, err := s.GetDelivery(f.ctx, f.project.ID, k3)
		require.NoError(t, err)
		assert.Equal(t, k1, d.BlockedBy, "the follower of a cancelled held delivery waits for its predecessor")
		assert.Empty(t, claimedOf(f.claim(t, t0.Add(2*time.Second), 100), ow.ID))

		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{{DeliveryID: k1, ClaimToken: head[k1].ClaimToken,
			Attempt: &store.Attempt{StartTime: t0}, Attempts: 1, Status: store.StatusDone, LastStatusCode: 200}}, t0.Add(3*time.Second)))
		c3 := f.claimOne(t, t0.Add(3*time.Second))
		require.Equal(t, k3, c3.ID)
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{{DeliveryID: k3, ClaimToken: c3.ClaimToken,
			Attempt: &store.Attempt{StartTime: t0}, Attempts: 1, Status: store.StatusDone, LastStatusCode: 200}}, t0.Add(4*time.Second)))

		// A resend of a DONE delivery is sent at once, outside the key's order: it is not held, and a new event of
		// the key does not wait for it even when it is the key's tail.
		_, err = s.RetryDelivery(f.ctx, f.project.ID, k3, t0.Add(5*time.Second))
		require.NoError(t, err)
		k4 := publishKeys(t, f, ow.ID, t0.Add(5*time.Second), "K")[0]
		d, err = s.GetDelivery(f.ctx, f.project.ID, k4)
		require.NoError(t, err)
		assert.Empty(t, d.BlockedBy, "the tail k3 is being resent, which does not hold the key")
		_, err = s.RetryDelivery(f.ctx, f.project.ID, k1, t0.Add(6*time.Second))
		require.NoError(t, err)
		k5 := publishKeys(t, f, ow.ID, t0.Add(6*time.Second), "K")[0]
		d, err = s.GetDelivery(f.ctx, f.project.ID, k5)
		require.NoError(t, err)
		assert.Equal(t, k4, d.BlockedBy, "k5 waits for the key's tail k4")
		got := claimedOf(f.claim(t, t0.Add(7*time.Second), 100), ow.ID)
		assert.ElementsMatch(t, []string{k1, k3, k4}, keys(got), "resends go at once, beside the key's head")
	})
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestOrderedRetention(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f, ow := orderedFixture(t, s)
		head := publishKeys(t, f, ow.ID, t0, "K", "L")[0]
		later := publishKeys(t, f, ow.ID, t0.Add(48*time.Hour), "K")[0]
		d, err := s.GetDelivery(f.ctx, f.project.ID, later)
		require.NoError(t, err)
		require.Equal(t, head, d.BlockedBy)

		cutoff := t0.Add(24 * time.Hour)
		if s.Dialect() == storesql.DialectPostgres {
			_, err = s.DropPartitionsBefore(f.ctx, cutoff)
		} else {
			_, err = s.Purge(f.ctx, cutoff, 100)
		}
		require.NoError(t, err)
		d, err = s.GetDelivery(f.ctx, f.project.ID, later)
		require.NoError(t, err)
		assert.Empty(t, d.BlockedBy, "a delivery whose predecessor retention removed is released")
		got := claimedOf(f.claim(t, t0.Add(48*time.Hour), 100), ow.ID)
		assert.Contains(t, got, later)
		var keys []string
		require.NoError(t, s.Pool().SelectContext(f.ctx, &keys, `SELECT ordering_key FROM ordering_keys ORDER BY ordering_key`))
		assert.Equal(t, []string{"K"}, keys, "the chain whose tail retention removed is forgotten")
	})
}

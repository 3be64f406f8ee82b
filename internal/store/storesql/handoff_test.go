package storesql_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
	"github.com/hookd/hookd/internal/store/storetest"
)

// fakeHandoff grants up to room[webhook] deliveries per reservation and records what it was handed.
type fakeHandoff struct {
	mu        sync.Mutex
	room      map[string]int
	lease     time.Duration
	onReserve func()
	open      int                     // reservations not ended
	handed    []store.ClaimedDelivery // what committed publishes handed over
	returned  int                     // reservations ended without deliveries
}

func (h *fakeHandoff) Reserve(want map[string]int) (map[string]int, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	granted := map[string]int{}
	for w, n := range want {
		if g := min(n, h.room[w]); g > 0 {
			granted[w] = g
		}
	}
	if len(granted) == 0 {
		return nil, 0
	}
	h.open++
	if h.onReserve != nil {
		h.onReserve()
	}
	return granted, h.lease
}

func (h *fakeHandoff) Hand(_ map[string]int, claimed []store.ClaimedDelivery) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open--
	if len(claimed) == 0 {
		h.returned++
	}
	h.handed = append(h.handed, claimed...)
}

// TestPublishHandsOffDeliveries: with a handoff set, a publish leases the deliveries the handoff grants room for in
// its own transaction and hands them over once committed: the claim does not see them, their lease ends like a
// claim's (then they are due again), and their completion is accepted with the handed token. What the handoff
// does not take is queued as before; a delivery held behind an ordered predecessor is never handed over.
func TestPublishHandsOffDeliveries(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f, ow := orderedFixture(t, s)
		h := &fakeHandoff{room: map[string]int{f.webhook.ID: 2, ow.ID: 5}, lease: time.Minute}
		s.SetHandoff(h)
		t.Cleanup(func() { s.SetHandoff(nil) })

		// Three events: both webhooks subscribe to user.created; the ordered one gets the same key each time.
		var in []store.PublishInput
		for range 3 {
			in = append(in, store.PublishInput{Event: store.Event{EventType: "user.created", Payload: []byte(`{"n":1}`), OrderingKey: "k"}})
		}
		res, err := s.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: f.project.ID, Events: in, Now: t0, IdempotencyWindow: time.Hour})
		require.NoError(t, err)
		require.Len(t, res, 3)
		require.Zero(t, h.open, "every reservation ended")

		byHook := map[string][]store.ClaimedDelivery{}
		for _, c := range h.handed {
			byHook[c.WebhookID] = append(byHook[c.WebhookID], c)
			assert.NotEmpty(t, c.ClaimToken)
			assert.True(t, c.LeaseEnd.Equal(t0.Add(time.Minute)), "leased for the handoff's lease")
			assert.Equal(t, store.StatusQueued, c.Status)
			assert.JSONEq(t, `{"n":1}`, string(c.EventPayload))
		}
		require.Len(t, byHook[f.webhook.ID], 2, "the unordered webhook's deliveries, as far as the room goes")
		require.Len(t, byHook[ow.ID], 1, "only the head of the ordered key's chain: the others wait for it")
		assert.Equal(t, res[0].DeliveryIDs, deliveryIDsOf(res[0].DeliveryIDs, h.handed), "the first event's deliveries were both handed")

		// The claim sees only what was not handed over (the third unordered delivery; the held ones are not due).
		got := f.claim(t, t0, 100)
		require.Len(t, got, 1)
		assert.Equal(t, f.webhook.ID, got[0].WebhookID)
		assert.NotContains(t, ids(h.handed, func(c store.ClaimedDelivery) string { return c.ID }), got[0].ID)

		// A handed delivery completes with its token; the ordered head's completion releases its follower.
		var outcomes []store.Outcome
		for _, c := range h.handed {
			outcomes = append(outcomes, store.Outcome{DeliveryID: c.ID, ClaimToken: c.ClaimToken, Status: store.StatusDone, Attempts: 1,
				WebhookID: c.WebhookID, Attempt: &store.Attempt{StartTime: t0, ResponseStatusCode: 200}})
		}
		require.NoError(t, s.CompleteDeliveries(f.ctx, outcomes, t0.Add(time.Second)))
		for _, c := range h.handed {
			d, err := s.GetDelivery(f.ctx, f.project.ID, c.ID)
			require.NoError(t, err)
			assert.Equal(t, store.StatusDone, d.Status, c.ID)
		}
		next := f.claim(t, t0.Add(time.Second), 100)
		require.Len(t, next, 1, "the ordered key's second delivery is due now")
		assert.Equal(t, ow.ID, next[0].WebhookID)

		// A handed delivery whose sender vanished is due again when its lease ends, like a claimed one.
		h.room = map[string]int{f.webhook.ID: 1}
		f.publish(t, "user.created", "lost") // (and to the ordered webhook, without a key: queued)
		lost := h.handed[len(h.handed)-1]
		assert.Equal(t, f.webhook.ID, lost.WebhookID)
		assert.Empty(t, claimedOf(f.claim(t, t0.Add(59*time.Second), 100), f.webhook.ID), "leased until t0+1m")
		again := claimedOf(f.claim(t, t0.Add(time.Minute), 100), f.webhook.ID)
		assert.Contains(t, again, lost.ID, "due again when the lease ended")
	})
}

// TestHandoffRolledBack: a publish that fails after its reservation hands nothing over and gives the room back;
// nothing of it is stored. (A publish with an idempotency key takes the transaction on both backends: the
// request's context ending rolls it back.)
func TestHandoffRolledBack(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		ctx, cancel := context.WithCancel(f.ctx)
		defer cancel()
		h := &fakeHandoff{room: map[string]int{f.webhook.ID: 10}, lease: time.Minute, onReserve: cancel}
		s.SetHandoff(h)
		t.Cleanup(func() { s.SetHandoff(nil) })
		_, err := s.PublishEvents(ctx, store.PublishEventsParams{ProjectID: f.project.ID, Events: []store.PublishInput{
			{Event: store.Event{EventType: "user.created", Payload: []byte(`{}`), IdempotencyKey: "k1"}}}, Now: t0,
			IdempotencyWindow: time.Hour})
		require.Error(t, err, "the request's context ended while it was publishing")
		assert.Zero(t, h.open, "the reservation ended")
		assert.Equal(t, 1, h.returned, "with nothing handed over")
		assert.Empty(t, h.handed)
		events, err := s.ListEvents(f.ctx, f.project.ID, store.EventFilter{}, store.Page{Size: 10})
		require.NoError(t, err)
		assert.Empty(t, events, "nothing was stored")
	})
}

// TestHandoffOfStaleRoute: on PostgreSQL a publish routed with remembered rows (the route cache) reserves room,
// then finds in its statement that the routing changed: it writes nothing, gives the room back and publishes
// again with what the database holds now.
func TestHandoffOfStaleRoute(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		if s.Dialect() != storesql.DialectPostgres {
			t.Skip("the route cache is PostgreSQL's (SQLite publishes in one transaction)")
		}
		f := setup(t, s)
		h := &fakeHandoff{room: map[string]int{f.webhook.ID: 10}, lease: time.Minute}
		s.SetHandoff(h)
		t.Cleanup(func() { s.SetHandoff(nil) })
		require.Len(t, f.publish(t, "user.created", "").DeliveryIDs, 1) // remembers the route
		require.Len(t, h.handed, 1)

		h.onReserve = func() { // the subscription goes between the reservation and the statement
			_, err := s.Pool().ExecContext(f.ctx, `UPDATE subscriptions SET enabled = FALSE WHERE webhook_id = $1`, f.webhook.ID)
			require.NoError(t, err)
		}
		res := f.publish(t, "user.created", "")
		assert.Empty(t, res.DeliveryIDs, "published as the database routes it now: to nobody")
		assert.Zero(t, h.open, "the reservation ended")
		assert.Equal(t, 1, h.returned, "with nothing handed over")
		assert.Len(t, h.handed, 1)
		ds, err := s.ListDeliveries(f.ctx, store.ListDeliveriesParams{ProjectID: f.project.ID, Page: store.Page{Size: 10}})
		require.NoError(t, err)
		assert.Len(t, ds, 1, "only the first publish's delivery")
	})
}

// deliveryIDsOf returns the ids among want that are in handed, in want's order.
func deliveryIDsOf(want []string, handed []store.ClaimedDelivery) []string {
	in := map[string]bool{}
	for _, c := range handed {
		in[c.ID] = true
	}
	var out []string
	for _, id := range want {
		if in[id] {
			out = append(out, id)
		}
	}
	return out
}

// TestPublishFollowsRoutingChanges: publishes route with what the previous publish of the same kind found (the
// route cache, PostgreSQL) only while the database still holds it: a webhook subscribed, unsubscribed, disabled,
// made ordered or deleted between two publishes is honoured by the second.
func TestPublishFollowsRoutingChanges(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		targets := func(r store.PublishResult) []string {
			var out []string
			for _, id := range r.DeliveryIDs {
				d, err := s.GetDelivery(f.ctx, f.project.ID, id)
				require.NoError(t, err)
				out = append(out, d.WebhookID+":"+string(d.Status))
			}
			return out
		}
		first := f.webhook
		require.Equal(t, []string{first.ID + ":queued"}, targets(f.publish(t, "user.created", "")))
		require.Equal(t, []string{first.ID + ":queued"}, targets(f.publish(t, "user.created", "")), "the same again")

		second := f.newWebhook(t, f.project.ID, "second")
		sub := f.subscribe(t, f.project.ID, second.ID, "", "user.created")
		assert.ElementsMatch(t, []string{first.ID + ":queued", second.ID + ":queued"}, targets(f.publish(t, "user.created", "")),
			"a new subscription is seen at once")

		sub.Enabled = false
		require.NoError(t, s.UpdateSubscription(f.ctx, sub))
		assert.Equal(t, []string{first.ID + ":queued"}, targets(f.publish(t, "user.created", "")), "a disabled subscription is left out")

		_, _, err := s.SetWebhookEnabled(f.ctx, store.SetWebhookEnabledParams{ProjectID: f.project.ID, WebhookID: first.ID,
			Enabled: false, Reason: "test", Now: t0})
		require.NoError(t, err)
		assert.Equal(t, []string{first.ID + ":failed"}, targets(f.publish(t, "user.created", "")), "a disabled webhook's delivery fails at once")

		// Explicit webhooks: the same for a publish naming them.
		direct := func() ([]store.PublishResult, error) {
			return s.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: f.project.ID, Events: []store.PublishInput{{
				Event: store.Event{EventType: "user.created", Payload: []byte(`{}`)}, WebhookIDs: []string{second.ID}}}, Now: t0,
				IdempotencyWindow: time.Hour})
		}
		res, err := direct()
		require.NoError(t, err)
		assert.Equal(t, []string{second.ID + ":queued"}, targets(res[0]))
		// A batch mixing both kinds (looked up, then written in one statement on PostgreSQL).
		_, _, err = s.SetWebhookEnabled(f.ctx, store.SetWebhookEnabledParams{ProjectID: f.project.ID, WebhookID: first.ID,
			Enabled: true, Now: t0})
		require.NoError(t, err)
		res, err = s.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: f.project.ID, Events: []store.PublishInput{
			{Event: store.Event{EventType: "user.created", Payload: []byte(`{}`)}, WebhookIDs: []string{second.ID}},
			{Event: store.Event{EventType: "user.created", Payload: []byte(`{}`)}}}, Now: t0, IdempotencyWindow: time.Hour})
		require.NoError(t, err)
		require.Len(t, res, 2)
		assert.Equal(t, []string{second.ID + ":queued"}, targets(res[0]), "the named webhook")
		assert.Equal(t, []string{first.ID + ":queued"}, targets(res[1]), "the subscribed webhook")
		require.NoError(t, s.DeleteWebhook(f.ctx, f.project.ID, second.ID, t0))
		_, err = direct()
		assert.ErrorIs(t, err, store.ErrNotFound, "a deleted webhook is not found")
	})
}

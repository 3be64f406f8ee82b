package storesql_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
	"github.com/hookd/hookd/internal/store/storetest"
)

// nextChange reads one change within 10 s.
func nextChange(t *testing.T, ch <-chan store.DeliveryChange) store.DeliveryChange {
	t.Helper()
	select {
	case c, ok := <-ch:
		require.True(t, ok, "the watch ended")
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery change within 10 s")
		return store.DeliveryChange{}
	}
}

func TestWatchDeliveries(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		other := f.newProject(t, "other")
		otherHook := f.newWebhook(t, other.ID, "x")
		f.subscribe(t, other.ID, otherHook.ID, "", "*")

		ctx, cancel := context.WithCancel(f.ctx)
		defer cancel()
		ch, watchErr, err := s.WatchDeliveries(ctx, f.project.ID, 100)
		require.NoError(t, err)

		_, err = s.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: other.ID, Events: []store.PublishInput{{Event: store.Event{EventType: "user.created"}}}, Now: t0, IdempotencyWindow: time.Hour})
		require.NoError(t, err) // another project's: not seen
		ids := f.publishN(t, 1, t0)
		c := nextChange(t, ch)
		assert.Equal(t, store.ChangeCreated, c.Kind)
		assert.Equal(t, ids[0], c.Delivery.ID)
		assert.Equal(t, store.StatusQueued, c.Delivery.Status)
		assert.Equal(t, f.webhook.ID, c.Delivery.WebhookID)
		assert.Equal(t, t0.Truncate(time.Microsecond), c.Time.Truncate(time.Microsecond))

		var cl store.ClaimedDelivery
		for _, c := range f.claim(t, t0, 10) { // this project's, not the other's
			if c.ID == ids[0] {
				cl = c
			}
		}
		require.Equal(t, ids[0], cl.ID)
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{{DeliveryID: cl.ID, ClaimToken: cl.ClaimToken,
			Status: store.StatusRetrying, Attempts: 1, NextAttemptTime: t0.Add(6 * time.Second), LastStatusCode: 503,
			Attempt: &store.Attempt{StartTime: t0, ResponseStatusCode: 503}}}, t0))
		c = nextChange(t, ch)
		assert.Equal(t, store.ChangeAttempted, c.Kind)
		assert.Equal(t, store.StatusRetrying, c.Delivery.Status)
		assert.Equal(t, 1, c.Delivery.Attempts)
		assert.Equal(t, 503, c.Delivery.LastStatusCode)
		assert.Equal(t, t0.Add(6*time.Second).Truncate(time.Microsecond), c.Delivery.NextAttemptTime)

		_, err = s.CancelDelivery(f.ctx, f.project.ID, ids[0], t0)
		require.NoError(t, err)
		c = nextChange(t, ch)
		assert.Equal(t, store.ChangeStatus, c.Kind)
		assert.Equal(t, store.StatusCancelled, c.Delivery.Status)

		// Missed while disabled (created FAILED), then replayed (RETRYING, resent).
		_, _, err = s.SetWebhookEnabled(f.ctx, store.SetWebhookEnabledParams{ProjectID: f.project.ID, WebhookID: f.webhook.ID, Enabled: false, Reason: health.DisabledByPerson.String(), Now: t0})
		require.NoError(t, err)
		missed := f.publishN(t, 1, t0)
		c = nextChange(t, ch)
		assert.Equal(t, store.ChangeCreated, c.Kind)
		assert.Equal(t, store.StatusFailed, c.Delivery.Status)
		_, _, err = s.SetWebhookEnabled(f.ctx, store.SetWebhookEnabledParams{ProjectID: f.project.ID, WebhookID: f.webhook.ID, Enabled: true, Replay: true, Now: t0})
		require.NoError(t, err)
		c = nextChange(t, ch)
		assert.Equal(t, store.ChangeStatus, c.Kind)
		assert.Equal(t, missed[0], c.Delivery.ID)
		assert.Equal(t, store.StatusRetrying, c.Delivery.Status)
		assert.True(t, c.Delivery.Resent)

		cancel()
		for range ch { // closed when ctx ends
		}
		assert.ErrorIs(t, watchErr(), context.Canceled)
	})
}

func TestWatchDropsSlowReader(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		slow, slowErr, err := s.WatchDeliveries(f.ctx, f.project.ID, 2)
		require.NoError(t, err)
		fast, _, err := s.WatchDeliveries(f.ctx, f.project.ID, 100)
		require.NoError(t, err)

		ids := f.publishN(t, 10, t0) // never waits for the readers
		for _, id := range ids {
			assert.Equal(t, id, nextChange(t, fast).Delivery.ID, "the other watcher gets everything, in order")
		}
		n := 0
		for range slow {
			n++
		}
		assert.Equal(t, 2, n, "the buffer, then the end")
		assert.ErrorIs(t, slowErr(), store.ErrFellBehind)
	})
}

func TestWatchAcrossProcesses(t *testing.T) {
	url := storetest.PostgresURL(t)
	keys := secret.NewRandom()
	open := func() *storetest.DB {
		s, err := storesql.Open(context.Background(), storesql.Config{URL: url, MaxOpenConns: 4, Keyring: keys})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return storetest.Wrap(s)
	}
	a, b := open(), open()
	f := setup(t, a)
	// Each process's notifier hears the others' announcements.
	for _, s := range []*storetest.DB{a, b} {
		require.NoError(t, s.Notifier().Start(f.ctx))
		t.Cleanup(s.Notifier().Stop)
	}
	ch, _, err := b.WatchDeliveries(f.ctx, f.project.ID, 100)
	require.NoError(t, err)
	require.NoError(t, a.Feed.Start(f.ctx)) // a reads the watcher registry as it starts

	ids := f.publishN(t, 1, t0)
	c := nextChange(t, ch)
	assert.Equal(t, store.ChangeCreated, c.Kind)
	assert.Equal(t, ids[0], c.Delivery.ID)
	cl := f.claimOne(t, t0)
	require.NoError(t, a.CompleteDeliveries(f.ctx, []store.Outcome{{DeliveryID: cl.ID, ClaimToken: cl.ClaimToken,
		Status: store.StatusDone, Attempts: 1, LastStatusCode: 200, Attempt: &store.Attempt{StartTime: t0, ResponseStatusCode: 200}}}, t0))
	c = nextChange(t, ch)
	assert.Equal(t, store.ChangeAttempted, c.Kind)
	assert.Equal(t, store.StatusDone, c.Delivery.Status)

	// A project watched later is announced to a (running) at once: its next publishes reach b.
	p2 := f.newProject(t, "later")
	w2 := f.newWebhook(t, p2.ID, "later")
	f.subscribe(t, p2.ID, w2.ID, "", "*")
	ch2, _, err := b.WatchDeliveries(f.ctx, p2.ID, 100)
	require.NoError(t, err)
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := a.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: p2.ID, Events: []store.PublishInput{{Event: store.Event{EventType: "user.created"}}}, Now: t0, IdempotencyWindow: time.Hour})
		require.NoError(t, err)
		select {
		case c := <-ch2:
			assert.Equal(t, p2.ID, c.Delivery.ProjectID)
			assert.Equal(t, res[0].DeliveryIDs[0], c.Delivery.ID)
			return
		case <-time.After(100 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "b's new watch was not announced to a within 5 s")
	}
}

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

func dlvID(d store.Delivery) string { return d.ID }

func TestListDeliveries(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		other := f.newProject(t, "other")
		in := &store.Integration{ProjectID: f.project.ID, Name: "crm", CreateTime: t0}
		require.NoError(t, s.CreateIntegration(f.ctx, in))
		w2 := f.newWebhook(t, f.project.ID, "second")
		w2.IntegrationID = in.ID
		require.NoError(t, s.UpdateWebhook(f.ctx, w2))
		f.newEventType(t, f.project.ID, "order.paid")
		f.subscribe(t, f.project.ID, w2.ID, "", "order.paid")

		// Six deliveries, one per second: user.created → f.webhook (subject a), order.paid → w2 (subject b).
		var all []string // newest first
		var events []string
		for i := range 6 {
			typ, subject := "user.created", "a"
			if i%2 == 1 {
				typ, subject = "order.paid", "b"
			}
			res, err := s.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: f.project.ID, Events: []store.PublishInput{{Event: store.Event{EventType: typ, Subject: subject}}}, Now: t0.Add(time.Duration(i) * time.Second), IdempotencyWindow: time.Hour})
			require.NoError(t, err)
			require.Len(t, res[0].DeliveryIDs, 1)
			all = append([]string{res[0].DeliveryIDs[0]}, all...)
			events = append(events, res[0].Event.ID)
		}
		// The oldest one fails.
		c := f.claimOne(t, t0)
		require.Equal(t, all[5], c.ID)
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{{DeliveryID: c.ID, ClaimToken: c.ClaimToken,
			Status: store.StatusFailed, Attempt: &store.Attempt{StartTime: t0, ResponseStatusCode: 400}, LastStatusCode: 400}}, t0))

		list := func(filter store.DeliveryFilter, page store.Page) []string {
			got, err := s.ListDeliveries(f.ctx, store.ListDeliveriesParams{ProjectID: f.project.ID, Filter: filter, Page: page})
			require.NoError(t, err)
			return ids(got, dlvID)
		}
		page := store.Page{Size: 10}
		assert.Equal(t, all, list(store.DeliveryFilter{}, page))
		assert.Equal(t, all[2:4], list(store.DeliveryFilter{}, store.Page{Size: 2, After: all[1]}))
		assert.Equal(t, []string{all[5]}, list(store.DeliveryFilter{Statuses: []store.Status{store.StatusFailed}}, page))
		assert.Equal(t, all[:5], list(store.DeliveryFilter{Statuses: []store.Status{store.StatusQueued, store.StatusDone}}, page))
		assert.Equal(t, []string{all[0], all[2], all[4]}, list(store.DeliveryFilter{WebhookID: w2.ID}, page))
		assert.Equal(t, []string{all[0], all[2], all[4]}, list(store.DeliveryFilter{IntegrationID: in.ID}, page))
		assert.Equal(t, []string{all[0], all[2], all[4]}, list(store.DeliveryFilter{EventType: "order.paid"}, page))
		assert.Equal(t, []string{all[1], all[3], all[5]}, list(store.DeliveryFilter{Subject: "a"}, page))
		assert.Equal(t, []string{all[3]}, list(store.DeliveryFilter{EventID: events[2]}, page))
		assert.Equal(t, all[3:5], list(store.DeliveryFilter{CreateAfter: t0.Add(time.Second), CreateBefore: t0.Add(3 * time.Second)}, page))
		got, err := s.ListDeliveries(f.ctx, store.ListDeliveriesParams{ProjectID: other.ID, Filter: store.DeliveryFilter{}, Page: page})
		require.NoError(t, err)
		assert.Empty(t, got, "projects are isolated")
		_, err = s.GetDelivery(f.ctx, other.ID, all[0])
		assert.ErrorIs(t, err, store.ErrNotFound)

		// Queue view: unfinished deliveries by next attempt time, paged by "<nanos>/<id>".
		queue := func(filter store.DeliveryFilter, page store.Page) []store.Delivery {
			got, err := s.ListDeliveries(f.ctx, store.ListDeliveriesParams{ProjectID: f.project.ID, Filter: filter, Queue: true, Page: page})
			require.NoError(t, err)
			return got
		}
		oldestFirst := []string{all[4], all[3], all[2], all[1], all[0]}
		assert.Equal(t, oldestFirst, ids(queue(store.DeliveryFilter{}, page), dlvID))
		first := queue(store.DeliveryFilter{}, store.Page{Size: 2})
		assert.Equal(t, oldestFirst[:2], ids(first, dlvID))
		rest := queue(store.DeliveryFilter{}, store.Page{Size: 10, After: storesql.QueueCursor(first[1])})
		assert.Equal(t, oldestFirst[2:], ids(rest, dlvID))
		assert.Equal(t, []string{all[4], all[2], all[0]}, ids(queue(store.DeliveryFilter{WebhookID: w2.ID}, page), dlvID))
		assert.Empty(t, queue(store.DeliveryFilter{Statuses: []store.Status{store.StatusFailed}}, page))
		_, err = s.ListDeliveries(f.ctx, store.ListDeliveriesParams{ProjectID: f.project.ID, Filter: store.DeliveryFilter{}, Queue: true, Page: store.Page{Size: 2, After: "garbage"}})
		assert.Error(t, err)
	})
}

func TestRetryAndCancel(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		other := f.newProject(t, "other")
		dl := f.publishN(t, 4, t0)
		claimed := f.claim(t, t0, 3)
		require.Len(t, claimed, 3)
		failed, failed2, done := claimed[0], claimed[1], claimed[2]
		var queued string
		for _, id := range dl {
			if id != failed.ID && id != failed2.ID && id != done.ID {
				queued = id
			}
		}
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{
			{DeliveryID: failed.ID, ClaimToken: failed.ClaimToken, Status: store.StatusFailed, Attempt: &store.Attempt{StartTime: t0}, Attempts: 1, Reason: "boom"},
			{DeliveryID: failed2.ID, ClaimToken: failed2.ClaimToken, Status: store.StatusFailed, Attempt: &store.Attempt{StartTime: t0}, Attempts: 1},
			{DeliveryID: done.ID, ClaimToken: done.ClaimToken, Status: store.StatusDone, Attempt: &store.Attempt{StartTime: t0}, Attempts: 1},
		}, t0))

		// A queued delivery (not in flight) is made due now: same status, not resent.
		early := t0.Add(-time.Minute)
		sent, err := s.RetryDelivery(f.ctx, f.project.ID, queued, early)
		require.NoError(t, err)
		assert.Equal(t, store.StatusQueued, sent.Status)
		assert.False(t, sent.Resent)
		assert.Equal(t, early.Truncate(time.Microsecond), sent.NextAttemptTime)
		_, err = s.RetryDelivery(f.ctx, other.ID, failed.ID, t0)
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.RetryDelivery(f.ctx, f.project.ID, "dlv_missing", t0)
		assert.ErrorIs(t, err, store.ErrNotFound)

		d, err := s.RetryDelivery(f.ctx, f.project.ID, failed.ID, t0.Add(time.Hour))
		require.NoError(t, err)
		assert.Equal(t, store.StatusRetrying, d.Status)
		assert.True(t, d.Resent)
		assert.Equal(t, t0.Add(time.Hour).Truncate(time.Microsecond), d.NextAttemptTime)
		again := f.claim(t, t0.Add(time.Hour), 10)
		assert.ElementsMatch(t, []string{failed.ID, queued}, ids(again, func(c store.ClaimedDelivery) string { return c.ID }))
		for _, c := range again {
			if c.ID == failed.ID {
				require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{{DeliveryID: c.ID, ClaimToken: c.ClaimToken,
					Status: store.StatusDone, Attempt: &store.Attempt{StartTime: t0}, Attempts: c.Attempts + 1}}, t0.Add(time.Hour)))
			}
		}
		attempts, err := s.ListAttempts(f.ctx, f.project.ID, failed.ID)
		require.NoError(t, err)
		assert.Equal(t, []int{1, 2}, ids(attempts, func(a store.Attempt) int { return a.Number }))

		// Bulk: FAILED only by default; DONE when asked; never unfinished ones.
		n, err := s.RetryDeliveries(f.ctx, f.project.ID, store.DeliveryFilter{}, t0.Add(2*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		d, err = s.GetDelivery(f.ctx, f.project.ID, failed2.ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusRetrying, d.Status)
		n, err = s.RetryDeliveries(f.ctx, f.project.ID, store.DeliveryFilter{Statuses: []store.Status{store.StatusDone, store.StatusQueued}}, t0.Add(2*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		n, err = s.RetryDeliveries(f.ctx, other.ID, store.DeliveryFilter{Statuses: []store.Status{store.StatusDone, store.StatusFailed}}, t0)
		require.NoError(t, err)
		assert.Zero(t, n)
		n, err = s.RetryDeliveries(f.ctx, f.project.ID, store.DeliveryFilter{Statuses: []store.Status{store.StatusQueued}}, t0)
		require.NoError(t, err)
		assert.Zero(t, n)

		// Cancel.
		d, err = s.CancelDelivery(f.ctx, f.project.ID, failed2.ID, t0.Add(3*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, store.StatusCancelled, d.Status)
		_, err = s.CancelDelivery(f.ctx, f.project.ID, failed2.ID, t0.Add(3*time.Hour))
		assert.ErrorIs(t, err, store.ErrConflict)
		_, err = s.CancelDelivery(f.ctx, other.ID, queued, t0)
		assert.ErrorIs(t, err, store.ErrNotFound)
		none := f.claim(t, t0.Add(3*time.Hour), 10)
		assert.NotContains(t, ids(none, func(c store.ClaimedDelivery) string { return c.ID }), failed2.ID)
	})
}

func TestPurge(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		old := f.publishN(t, 3, t0)
		recent := f.publishN(t, 1, t0.Add(48*time.Hour))
		claimed := f.claim(t, t0, 1)
		require.Len(t, claimed, 1)
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{{DeliveryID: claimed[0].ID, ClaimToken: claimed[0].ClaimToken,
			Status: store.StatusDone, Attempt: &store.Attempt{StartTime: t0}, Attempts: 1}}, t0))
		trg := &store.Trigger{ProjectID: f.project.ID, Name: "in", EventType: "user.created", Enabled: true}
		require.NoError(t, s.CreateTrigger(f.ctx, trg))
		for _, at := range []time.Time{t0, t0.Add(48 * time.Hour)} {
			_, err := s.RecordExecution(f.ctx, &store.Execution{ProjectID: f.project.ID, TriggerID: trg.ID, ReceiveTime: at, Method: "POST"}, nil, at)
			require.NoError(t, err)
		}

		cutoff := t0.Add(24 * time.Hour)
		if s.Dialect() == storesql.DialectPostgres {
			// Whole days go: the day of t0 ended before the cutoff, the day of the recent rows did not.
			days, err := s.DropPartitionsBefore(f.ctx, cutoff)
			require.NoError(t, err)
			assert.Contains(t, days, time.Date(t0.Year(), t0.Month(), t0.Day(), 0, 0, 0, 0, time.UTC))
			for _, d := range days {
				assert.False(t, d.AddDate(0, 0, 1).After(cutoff), "only days that ended by the cutoff are dropped")
			}
			n, err := s.Purge(f.ctx, cutoff, 2)
			require.NoError(t, err)
			assert.Zero(t, n, "PostgreSQL deletes no rows")
		} else {
			total := 0
			for range 5 {
				n, err := s.Purge(f.ctx, cutoff, 2)
				require.NoError(t, err)
				require.LessOrEqual(t, n, 2)
				total += n
				if n == 0 {
					break
				}
			}
			assert.Equal(t, 3, total)
		}
		depth, err := s.QueueDepth(f.ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, depth, "the purged deliveries left the queue; the recent one is still queued")
		for _, id := range old {
			_, err := s.GetDelivery(f.ctx, f.project.ID, id)
			assert.ErrorIs(t, err, store.ErrNotFound)
		}
		attempts, err := s.ListAttempts(f.ctx, f.project.ID, claimed[0].ID)
		require.NoError(t, err)
		assert.Empty(t, attempts)
		_, err = s.GetDelivery(f.ctx, f.project.ID, recent[0])
		require.NoError(t, err)
		events, err := s.ListEvents(f.ctx, f.project.ID, store.EventFilter{}, store.Page{Size: 10})
		require.NoError(t, err)
		assert.Len(t, events, 1)
		execs, err := s.ListExecutions(f.ctx, f.project.ID, trg.ID, store.Page{Size: 10})
		require.NoError(t, err)
		assert.Len(t, execs, 1, "old executions are purged too")
	})
}

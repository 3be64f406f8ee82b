package storesql_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/server/store"
	"github.com/hookd/hookd/server/store/storesql"
	"github.com/hookd/hookd/server/store/storetest"
)

func TestClaimAndComplete(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		t.Parallel()
		f := setup(t, s)
		first := f.publishN(t, 1, t0)
		second := f.publishN(t, 2, t0.Add(time.Second))

		_, err := s.ClaimDeliveries(f.ctx, t0.Add(-time.Second), 10, time.Minute)
		require.NoError(t, err)
		got, err := s.ClaimDeliveries(f.ctx, t0.Add(time.Second), 2, time.Minute)
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.Contains(t, ids(got, func(c store.ClaimedDelivery) string { return c.ID }), first[0], "the oldest due first")
		for _, c := range got {
			assert.NotEmpty(t, c.ClaimToken)
			assert.JSONEq(t, `{}`, string(c.EventPayload))
			assert.False(t, c.EventCreateTime.IsZero())
			assert.Equal(t, t0.Add(time.Second+time.Minute).Truncate(time.Microsecond), c.NextAttemptTime, "the lease end")
			assert.Equal(t, store.StatusQueued, c.Status)
			assert.NotEmpty(t, c.ActionToken)
		}
		last := f.claimOne(t, t0.Add(2*time.Second))
		assert.Contains(t, second, last.ID)
		none, err := s.ClaimDeliveries(f.ctx, t0.Add(3*time.Second), 10, time.Minute)
		require.NoError(t, err)
		assert.Empty(t, none, "leased deliveries are not due")

		done, retry := got[0], got[1]
		attempt := &store.Attempt{
			StartTime: t0.Add(time.Second), Duration: 150 * time.Millisecond, RequestMethod: "POST", RequestURL: "https://example.com/orders",
			RequestHeaders: []store.Header{{Name: "webhook-id", Value: done.ID}}, RequestBody: `{"a":1}`,
			ResponseStatusCode: 200, ResponseHeaders: []store.Header{{Name: "content-type", Value: "application/json"}},
			ResponseBody: `{"ok":true}`,
		}
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{
			{DeliveryID: done.ID, ClaimToken: done.ClaimToken, Attempt: attempt, Status: store.StatusDone, LastStatusCode: 200},
			{DeliveryID: retry.ID, ClaimToken: retry.ClaimToken, Attempt: &store.Attempt{StartTime: t0, Error: "connection refused"},
				Status: store.StatusRetrying, NextAttemptTime: t0.Add(10 * time.Second), Reason: "connection refused"},
		}, t0.Add(2*time.Second)))

		d, err := s.GetDelivery(f.ctx, f.project.ID, done.ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusDone, d.Status)
		assert.Equal(t, 1, d.Attempts)
		assert.Equal(t, 200, d.LastStatusCode)
		assert.Equal(t, t0.Add(2*time.Second).Truncate(time.Microsecond), d.UpdateTime)
		attempts, err := s.ListAttempts(f.ctx, done.ID)
		require.NoError(t, err)
		require.Len(t, attempts, 1)
		want := *attempt
		want.DeliveryID, want.Number, want.StartTime = done.ID, 1, attempt.StartTime.Truncate(time.Microsecond)
		assert.Equal(t, want, attempts[0])

		d, err = s.GetDelivery(f.ctx, f.project.ID, retry.ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusRetrying, d.Status)
		assert.Equal(t, "connection refused", d.Reason)
		assert.Equal(t, t0.Add(10*time.Second), d.NextAttemptTime)

		none, err = s.ClaimDeliveries(f.ctx, t0.Add(9*time.Second), 10, time.Minute)
		require.NoError(t, err)
		assert.Empty(t, none)
		again := f.claimOne(t, t0.Add(10*time.Second))
		assert.Equal(t, retry.ID, again.ID)
		assert.Equal(t, store.StatusRetrying, again.Status)
		assert.Equal(t, 1, again.Attempts)

		// A delay without a request (rate limit): no attempt, status queued, reason and code kept.
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{
			{DeliveryID: again.ID, ClaimToken: again.ClaimToken, Status: store.StatusQueued, NextAttemptTime: t0.Add(11 * time.Second)},
		}, t0.Add(10*time.Second)))
		d, err = s.GetDelivery(f.ctx, f.project.ID, retry.ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusQueued, d.Status)
		assert.Equal(t, 1, d.Attempts)
		assert.Equal(t, "connection refused", d.Reason)
	})
}

func TestLeaseExpiryAndStaleClaims(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		t.Parallel()
		f := setup(t, s)
		f.publishN(t, 1, t0)
		crashed := f.claimOne(t, t0)
		none, err := s.ClaimDeliveries(f.ctx, t0.Add(59*time.Second), 10, time.Minute)
		require.NoError(t, err)
		assert.Empty(t, none)

		rescued := f.claimOne(t, t0.Add(61*time.Second))
		assert.Equal(t, crashed.ID, rescued.ID, "an expired lease makes the delivery due again")
		assert.NotEqual(t, crashed.ClaimToken, rescued.ClaimToken)

		// The first claimer's late outcome is ignored.
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{{
			DeliveryID: crashed.ID, ClaimToken: crashed.ClaimToken, Status: store.StatusFailed,
			Attempt: &store.Attempt{StartTime: t0}, Reason: "late",
		}}, t0.Add(62*time.Second)))
		d, err := s.GetDelivery(f.ctx, f.project.ID, crashed.ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusQueued, d.Status)
		assert.Zero(t, d.Attempts)

		// The rescuer's outcome counts, once.
		outcome := store.Outcome{DeliveryID: rescued.ID, ClaimToken: rescued.ClaimToken, Status: store.StatusFailed,
			Attempt: &store.Attempt{StartTime: t0, ResponseStatusCode: 404}, LastStatusCode: 404, Reason: "not found"}
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{outcome, outcome}, t0.Add(62*time.Second)))
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{outcome}, t0.Add(63*time.Second)))
		d, err = s.GetDelivery(f.ctx, f.project.ID, crashed.ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusFailed, d.Status)
		assert.Equal(t, 1, d.Attempts)
		assert.Equal(t, 404, d.LastStatusCode)
		assert.Equal(t, "not found", d.Reason)

		none, err = s.ClaimDeliveries(f.ctx, t0.Add(time.Hour), 10, time.Minute)
		require.NoError(t, err)
		assert.Empty(t, none, "final deliveries are never claimed")
	})
}

func TestConcurrentClaimers(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		f := setup(t, s)
		const n = 600
		f.publishN(t, n, t0)
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					got, err := s.ClaimDeliveries(f.ctx, t0, 25, time.Minute)
					if !assert.NoError(t, err) || len(got) == 0 {
						return
					}
					mu.Lock()
					for _, c := range got {
						seen[c.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		assert.Len(t, seen, n)
		for id, count := range seen {
			if count != 1 {
				t.Errorf("delivery %s claimed %d times", id, count)
			}
		}
	})
}

func TestActionStatus(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		t.Parallel()
		f := setup(t, s)
		f.publishN(t, 3, t0)
		claimed, err := s.ClaimDeliveries(f.ctx, t0, 3, time.Minute)
		require.NoError(t, err)
		require.Len(t, claimed, 3)
		waiting, raced, expiring := claimed[0], claimed[1], claimed[2]

		_, err = s.UpdateActionStatus(f.ctx, "unknown-token", store.StatusDone, "", t0)
		assert.ErrorIs(t, err, store.ErrNotFound)

		// A 202 makes the delivery WAITING until the receiver reports.
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{
			{DeliveryID: waiting.ID, ClaimToken: waiting.ClaimToken, Status: store.StatusWaiting, NextAttemptTime: t0.Add(time.Hour),
				Attempt: &store.Attempt{StartTime: t0, ResponseStatusCode: 202}, LastStatusCode: 202},
			{DeliveryID: expiring.ID, ClaimToken: expiring.ClaimToken, Status: store.StatusWaiting, NextAttemptTime: t0.Add(time.Minute),
				Attempt: &store.Attempt{StartTime: t0, ResponseStatusCode: 202}, LastStatusCode: 202},
		}, t0))
		none, err := s.ClaimDeliveries(f.ctx, t0.Add(2*time.Hour), 10, time.Minute)
		require.NoError(t, err)
		assert.Equal(t, []string{raced.ID}, ids(none, func(c store.ClaimedDelivery) string { return c.ID }), "waiting deliveries are not claimed")
		raced = none[0]

		d, err := s.UpdateActionStatus(f.ctx, waiting.ActionToken, store.StatusFailed, "card declined", t0.Add(time.Minute))
		require.NoError(t, err)
		assert.Equal(t, waiting.ID, d.ID)
		assert.Equal(t, store.StatusFailed, d.Status)
		assert.Equal(t, "card declined", d.Reason)
		_, err = s.UpdateActionStatus(f.ctx, waiting.ActionToken, store.StatusDone, "", t0.Add(time.Minute))
		assert.ErrorIs(t, err, store.ErrNotFound, "a token is used up once its delivery finished")

		// The receiver answers before the sender recorded its 202: the callback wins, the attempt is still kept.
		d, err = s.UpdateActionStatus(f.ctx, raced.ActionToken, store.StatusDone, "", t0.Add(2*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, store.StatusDone, d.Status)
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{{
			DeliveryID: raced.ID, ClaimToken: raced.ClaimToken, Status: store.StatusWaiting, NextAttemptTime: t0.Add(3 * time.Hour),
			Attempt: &store.Attempt{StartTime: t0, ResponseStatusCode: 202}, LastStatusCode: 202,
		}}, t0.Add(2*time.Hour)))
		d, err = s.GetDelivery(f.ctx, f.project.ID, raced.ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusDone, d.Status)
		assert.Equal(t, 1, d.Attempts)

		// A queued delivery with no attempt in flight has nothing to report on.
		q := f.publishN(t, 1, t0)
		dq, err := s.GetDelivery(f.ctx, f.project.ID, q[0])
		require.NoError(t, err)
		_, err = s.UpdateActionStatus(f.ctx, dq.ActionToken, store.StatusDone, "", t0)
		assert.ErrorIs(t, err, store.ErrNotFound)

		// Waits end.
		n, err := s.ExpireWaiting(f.ctx, t0.Add(30*time.Second), 10)
		require.NoError(t, err)
		assert.Zero(t, n)
		n, err = s.ExpireWaiting(f.ctx, t0.Add(time.Minute), 10)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		d, err = s.GetDelivery(f.ctx, f.project.ID, expiring.ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusFailed, d.Status)
		assert.Equal(t, storesql.ReasonActionTimeout, d.Reason)
	})
}

func TestDisableWebhookOutcome(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		t.Parallel()
		f := setup(t, s)
		f.publishN(t, 1, t0)
		c := f.claimOne(t, t0)
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{{
			DeliveryID: c.ID, ClaimToken: c.ClaimToken, Status: store.StatusFailed, DisableWebhook: true,
			Attempt: &store.Attempt{StartTime: t0, ResponseStatusCode: 410}, LastStatusCode: 410,
		}}, t0))
		w, err := s.GetWebhook(f.ctx, f.project.ID, f.webhook.ID)
		require.NoError(t, err)
		assert.False(t, w.Enabled)
		assert.Empty(t, f.publish(t, "user.created", "").DeliveryIDs, "a disabled webhook gets no new deliveries")
	})
}

func TestTakeRateToken(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		t.Parallel()
		ctx := context.Background()
		take := func(key string, rate int, now time.Time) (bool, time.Time) {
			ok, next, err := s.TakeRateToken(ctx, key, rate, now)
			require.NoError(t, err)
			return ok, next
		}
		for range 2 {
			ok, _ := take("int_a", 2, t0)
			require.True(t, ok, "burst = rate")
		}
		ok, next := take("int_a", 2, t0)
		assert.False(t, ok)
		assert.Equal(t, t0.Add(500*time.Millisecond), next)
		ok, _ = take("int_b", 2, t0)
		assert.True(t, ok, "buckets are per key")
		ok, _ = take("int_a", 2, t0.Add(250*time.Millisecond))
		assert.False(t, ok)
		ok, _ = take("int_a", 2, t0.Add(500*time.Millisecond))
		assert.True(t, ok)
		ok, _ = take("int_a", 2, t0.Add(time.Hour))
		assert.True(t, ok)
		ok, _ = take("int_a", 2, t0.Add(time.Hour))
		assert.True(t, ok, "refill is capped at the burst")
		ok, _ = take("int_a", 2, t0.Add(time.Hour))
		assert.False(t, ok)
		ok, _ = take("int_a", 0, t0)
		assert.True(t, ok, "rate 0 is unlimited")
	})
}

func TestTakeRateTokens(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		t.Parallel()
		ctx := context.Background()
		take := func(n int, at time.Time) (int, time.Time) {
			got, next, err := s.TakeRateTokens(ctx, "trg_x", 10, n, at)
			require.NoError(t, err)
			return got, next
		}
		got, _ := take(4, t0)
		assert.Equal(t, 4, got, "a new bucket starts full (burst = rate)")
		got, _ = take(100, t0)
		assert.Equal(t, 6, got, "no more than what is left")
		got, next := take(3, t0)
		assert.Equal(t, 0, got)
		assert.Equal(t, t0.Add(100*time.Millisecond), next)
		got, _ = take(3, t0.Add(250*time.Millisecond))
		assert.Equal(t, 2, got, "only whole tokens: 2.5 refilled")
		ok, _, err := s.TakeRateToken(ctx, "trg_x", 10, t0.Add(300*time.Millisecond))
		require.NoError(t, err)
		assert.True(t, ok, "0.5 left + 0.5 refilled = one token for TakeRateToken")
		got, _ = take(50, t0.Add(time.Hour))
		assert.Equal(t, 10, got, "refill is capped at the burst")
	})
}

func TestWaitForWork(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		t.Parallel()
		f := setup(t, s)
		// A timeout with nothing published.
		start := time.Now()
		s.WaitForWork(f.ctx, 50*time.Millisecond)
		assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)

		// A publish wakes every waiter at once.
		woke := make(chan time.Duration, 2)
		var ready sync.WaitGroup
		for range 2 {
			ready.Go(func() {
				start := time.Now()
				s.WaitForWork(f.ctx, 20*time.Second)
				woke <- time.Since(start)
			})
		}
		time.Sleep(300 * time.Millisecond) // let the waiters (and the PostgreSQL listener) settle
		f.publishN(t, 1, t0)
		for range 2 {
			select {
			case d := <-woke:
				assert.Less(t, d, 10*time.Second)
			case <-time.After(10 * time.Second):
				t.Fatal("WaitForWork was not woken by a publish")
			}
		}
		ready.Wait()

		ctx, cancel := context.WithCancel(f.ctx)
		cancel()
		s.WaitForWork(ctx, time.Minute) // returns at once
	})
}

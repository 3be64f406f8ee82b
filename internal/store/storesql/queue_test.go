package storesql_test

import (
	"context"
	"fmt"
	"sync"
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

func TestClaimAndComplete(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		first := f.publishN(t, 1, t0)
		second := f.publishN(t, 2, t0.Add(time.Second))

		res, err := s.ClaimDeliveries(f.ctx, t0.Add(-time.Second), store.ClaimRequest{Limit: 10, Lease: time.Minute, PerWebhook: 10})
		require.NoError(t, err)
		assert.Empty(t, res.Deliveries, "nothing is due before its time")
		assert.Equal(t, t0.Truncate(time.Microsecond), res.NextDue, "the claim tells when the next delivery is due")
		assert.False(t, res.More)

		got := f.claim(t, t0.Add(time.Second), 2)
		require.Len(t, got, 2)
		assert.Contains(t, ids(got, func(c store.ClaimedDelivery) string { return c.ID }), first[0], "the oldest due first")
		for _, c := range got {
			assert.NotEmpty(t, c.ClaimToken)
			assert.JSONEq(t, `{}`, string(c.EventPayload))
			assert.Equal(t, "user.created", c.EventType)
			assert.False(t, c.EventCreateTime.IsZero())
			assert.Equal(t, t0.Add(time.Second+time.Minute).Truncate(time.Microsecond), c.LeaseEnd)
			assert.Equal(t, store.StatusQueued, c.Status)
			assert.Equal(t, f.project.ID, c.ProjectID)
		}
		last := f.claimOne(t, t0.Add(2*time.Second))
		assert.Contains(t, second, last.ID)
		assert.Empty(t, f.claim(t, t0.Add(3*time.Second), 10), "leased deliveries are not due")

		done, retry := got[0], got[1]
		attempt := &store.Attempt{
			StartTime: t0.Add(time.Second), Duration: 150 * time.Millisecond, RequestMethod: "POST", RequestURL: "https://example.com/orders",
			RequestHeaders: []store.Header{{Name: "webhook-id", Value: done.ID}}, RequestBody: `{"a":1}`,
			ResponseStatusCode: 200, ResponseHeaders: []store.Header{{Name: "content-type", Value: "application/json"}},
			ResponseBody: `{"ok":true}`,
		}
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{
			{DeliveryID: done.ID, ClaimToken: done.ClaimToken, Attempt: attempt, Attempts: 1, Status: store.StatusDone, LastStatusCode: 200},
			{DeliveryID: retry.ID, ClaimToken: retry.ClaimToken, Attempt: &store.Attempt{StartTime: t0, Error: "connection refused"},
				Attempts: 1, Status: store.StatusRetrying, NextAttemptTime: t0.Add(10 * time.Second), Reason: "connection refused"},
		}, t0.Add(2*time.Second)))

		d, err := s.GetDelivery(f.ctx, f.project.ID, done.ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusDone, d.Status)
		assert.Equal(t, 1, d.Attempts)
		assert.Equal(t, 200, d.LastStatusCode)
		assert.Zero(t, d.NextAttemptTime, "a finished delivery has no next attempt")
		assert.Equal(t, t0.Add(2*time.Second).Truncate(time.Microsecond), d.UpdateTime)
		attempts, err := s.ListAttempts(f.ctx, f.project.ID, done.ID)
		require.NoError(t, err)
		require.Len(t, attempts, 1)
		want := *attempt
		want.DeliveryID, want.Number, want.StartTime = done.ID, 1, attempt.StartTime.Truncate(time.Microsecond)
		assert.Equal(t, want, attempts[0])
		other, err := s.ListAttempts(f.ctx, "prj_other", done.ID)
		require.NoError(t, err)
		assert.Empty(t, other, "attempts are read within the delivery's project only")

		d, err = s.GetDelivery(f.ctx, f.project.ID, retry.ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusRetrying, d.Status)
		assert.Equal(t, "connection refused", d.Reason)
		assert.Equal(t, t0.Add(10*time.Second), d.NextAttemptTime, "the API shows the queue's next attempt time")

		assert.Empty(t, f.claim(t, t0.Add(9*time.Second), 10))
		again := f.claimOne(t, t0.Add(10*time.Second))
		assert.Equal(t, retry.ID, again.ID)
		assert.Equal(t, store.StatusRetrying, again.Status)
		assert.Equal(t, 1, again.Attempts)

		// A delay without a request (rate limit): no attempt, the log row is left as it is.
		before, err := s.GetDelivery(f.ctx, f.project.ID, retry.ID)
		require.NoError(t, err)
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{
			{DeliveryID: again.ID, ClaimToken: again.ClaimToken, Status: store.StatusRetrying, Attempts: 1, NextAttemptTime: t0.Add(11 * time.Second)},
		}, t0.Add(10*time.Second)))
		d, err = s.GetDelivery(f.ctx, f.project.ID, retry.ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusRetrying, d.Status)
		assert.Equal(t, 1, d.Attempts)
		assert.Equal(t, "connection refused", d.Reason)
		assert.Equal(t, before.UpdateTime, d.UpdateTime, "a rate-limit delay does not rewrite the log row")
		assert.Equal(t, t0.Add(11*time.Second), d.NextAttemptTime)
	})
}

func TestLeaseExpiryAndStaleClaims(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		f.publishN(t, 1, t0)
		crashed := f.claimOne(t, t0)
		assert.Empty(t, f.claim(t, t0.Add(59*time.Second), 10))

		rescued := f.claimOne(t, t0.Add(61*time.Second))
		assert.Equal(t, crashed.ID, rescued.ID, "an expired lease makes the delivery due again")
		assert.NotEqual(t, crashed.ClaimToken, rescued.ClaimToken)

		// The first claimer's late outcome is ignored.
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{{
			DeliveryID: crashed.ID, ClaimToken: crashed.ClaimToken, Status: store.StatusFailed, Attempts: 1,
			Attempt: &store.Attempt{StartTime: t0}, Reason: "late",
		}}, t0.Add(62*time.Second)))
		d, err := s.GetDelivery(f.ctx, f.project.ID, crashed.ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusQueued, d.Status)
		assert.Zero(t, d.Attempts)

		// The rescuer's outcome counts, once.
		outcome := store.Outcome{DeliveryID: rescued.ID, ClaimToken: rescued.ClaimToken, Status: store.StatusFailed, Attempts: 1,
			Attempt: &store.Attempt{StartTime: t0, ResponseStatusCode: 404}, LastStatusCode: 404, Reason: "not found"}
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{outcome, outcome}, t0.Add(62*time.Second)))
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{outcome}, t0.Add(63*time.Second)))
		d, err = s.GetDelivery(f.ctx, f.project.ID, crashed.ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusFailed, d.Status)
		assert.Equal(t, 1, d.Attempts)
		assert.Equal(t, 404, d.LastStatusCode)
		assert.Equal(t, "not found", d.Reason)
		attempts, err := s.ListAttempts(f.ctx, f.project.ID, d.ID)
		require.NoError(t, err)
		assert.Len(t, attempts, 1)

		assert.Empty(t, f.claim(t, t0.Add(time.Hour), 10), "final deliveries are never claimed")
		n, err := s.QueueDepth(f.ctx)
		require.NoError(t, err)
		assert.Zero(t, n, "a final delivery leaves the queue")
	})
}

func TestConcurrentClaimers(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		const n = 600
		f.publishN(t, n, t0)
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					res, err := s.ClaimDeliveries(f.ctx, t0, store.ClaimRequest{Limit: 25, Lease: time.Minute, PerWebhook: n})
					if !assert.NoError(t, err) || len(res.Deliveries) == 0 {
						return
					}
					mu.Lock()
					for _, c := range res.Deliveries {
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

// TestClaimLanes: a claim visits every webhook with due work, gives each a fair share and no more than the room
// its cap leaves, so one webhook's backlog never fills a claim.
func TestClaimLanes(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		busyHook := f.webhook
		quiet := f.newWebhook(t, f.project.ID, "quiet")
		otherProject := f.newProject(t, "globex")
		other := f.newWebhook(t, otherProject.ID, "other")
		publishTo := func(projectID, webhookID string, n int, now time.Time) {
			in := make([]store.PublishInput, n)
			for i := range in {
				in[i] = store.PublishInput{Event: store.Event{EventType: "user.created", Payload: []byte(`{}`)}, WebhookIDs: []string{webhookID}}
			}
			_, err := s.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: projectID, Events: in, Now: now, IdempotencyWindow: time.Hour})
			require.NoError(t, err)
		}
		publishTo(f.project.ID, busyHook.ID, 300, t0)                // a backlog, due first
		publishTo(f.project.ID, quiet.ID, 2, t0.Add(time.Second))    // due later
		publishTo(otherProject.ID, other.ID, 1, t0.Add(time.Second)) // another project, due last

		now := t0.Add(2 * time.Second)
		byHook := func(ds []store.ClaimedDelivery) map[string]int {
			out := map[string]int{}
			for _, d := range ds {
				out[d.WebhookID]++
			}
			return out
		}
		res, err := s.ClaimDeliveries(f.ctx, now, store.ClaimRequest{Limit: 30, Lease: time.Minute, PerWebhook: 16})
		require.NoError(t, err)
		got := byHook(res.Deliveries)
		assert.Equal(t, 2, got[quiet.ID], "the later webhook is not behind the backlog")
		assert.Equal(t, 1, got[other.ID], "nor is another project's webhook")
		assert.Equal(t, 10, got[busyHook.ID], "the backlog gets its fair share of the claim (30 / 3 lanes)")
		assert.True(t, res.More, "the backlog's share was filled: there is more to claim")

		// The cap counts what the claiming process has in flight.
		res, err = s.ClaimDeliveries(f.ctx, now, store.ClaimRequest{Limit: 100, Lease: time.Minute, PerWebhook: 16,
			InFlight: map[string]int{busyHook.ID: 10}})
		require.NoError(t, err)
		assert.Equal(t, map[string]int{busyHook.ID: 6}, byHook(res.Deliveries), "16 in flight at most")
		assert.True(t, res.Capped)
		assert.False(t, res.More, "held back by the cap only: nothing to claim until one finishes")
		res, err = s.ClaimDeliveries(f.ctx, now, store.ClaimRequest{Limit: 100, Lease: time.Minute, PerWebhook: 16,
			InFlight: map[string]int{busyHook.ID: 16}})
		require.NoError(t, err)
		assert.Empty(t, res.Deliveries)
		assert.True(t, res.Capped)

		// Another process (its own in-flight counts) still gets the backlog, at its own cap.
		res, err = s.ClaimDeliveries(f.ctx, now, store.ClaimRequest{Limit: 100, Lease: time.Minute, PerWebhook: 16})
		require.NoError(t, err)
		assert.Equal(t, map[string]int{busyHook.ID: 16}, byHook(res.Deliveries))
		assert.Equal(t, t0.Add(2*time.Second+time.Minute).Truncate(time.Microsecond), res.NextDue, "the first lease ends next")
	})
}

// TestClaimLaneCursor: with more webhooks than one claim visits, the claim says where to go on, and the next
// claims reach every webhook.
func TestClaimLaneCursor(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 510 webhooks")
	}
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		var in []store.PublishInput
		for i := range 510 {
			w := f.newWebhook(t, f.project.ID, fmt.Sprintf("lane-%03d", i))
			in = append(in, store.PublishInput{Event: store.Event{EventType: "user.created", Payload: []byte(`{}`)}, WebhookIDs: []string{w.ID}})
		}
		_, err := s.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: f.project.ID, Events: in, Now: t0, IdempotencyWindow: time.Hour})
		require.NoError(t, err)
		seen := map[string]bool{}
		cursor := ""
		for range 20 {
			res, err := s.ClaimDeliveries(f.ctx, t0, store.ClaimRequest{Limit: 100, Lease: time.Minute, PerWebhook: 1, Cursor: cursor})
			require.NoError(t, err)
			for _, d := range res.Deliveries {
				seen[d.WebhookID] = true
			}
			if !res.More {
				break
			}
			cursor = res.Cursor
		}
		assert.Len(t, seen, 510, "every webhook's delivery was claimed")
	})
}

func TestWaitingAndActionStatus(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		f.publishN(t, 3, t0)
		claimed := f.claim(t, t0, 3)
		require.Len(t, claimed, 3)
		waiting, raced, expiring := claimed[0], claimed[1], claimed[2]

		_, err := s.UpdateActionStatus(f.ctx, store.UpdateActionStatusParams{DeliveryID: "dlv_unknown", Resends: 0, Status: store.StatusDone, Now: t0})
		assert.ErrorIs(t, err, store.ErrNotFound)

		// A 202 makes the delivery WAITING until the receiver reports.
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{
			{DeliveryID: waiting.ID, ClaimToken: waiting.ClaimToken, Status: store.StatusWaiting, NextAttemptTime: t0.Add(time.Hour),
				Attempt: &store.Attempt{StartTime: t0, ResponseStatusCode: 202}, Attempts: 1, LastStatusCode: 202},
			{DeliveryID: expiring.ID, ClaimToken: expiring.ClaimToken, Status: store.StatusWaiting, NextAttemptTime: t0.Add(time.Minute),
				Attempt: &store.Attempt{StartTime: t0, ResponseStatusCode: 202}, Attempts: 1, LastStatusCode: 202},
		}, t0))

		_, err = s.UpdateActionStatus(f.ctx, store.UpdateActionStatusParams{DeliveryID: waiting.ID, Resends: 1, Status: store.StatusDone, Now: t0})
		assert.ErrorIs(t, err, store.ErrNotFound, "a token of another resend count is worthless")
		d, err := s.UpdateActionStatus(f.ctx, store.UpdateActionStatusParams{DeliveryID: waiting.ID, Resends: 0, Status: store.StatusFailed, Reason: "card declined", Now: t0.Add(time.Second)})
		require.NoError(t, err)
		assert.Equal(t, waiting.ID, d.ID)
		assert.Equal(t, store.StatusFailed, d.Status)
		assert.Equal(t, "card declined", d.Reason)
		_, err = s.UpdateActionStatus(f.ctx, store.UpdateActionStatusParams{DeliveryID: waiting.ID, Resends: 0, Status: store.StatusDone, Now: t0.Add(time.Second)})
		assert.ErrorIs(t, err, store.ErrNotFound, "a token is used up once its delivery finished")

		// The receiver answers before the sender recorded its 202: the callback wins, the attempt is still kept.
		d, err = s.UpdateActionStatus(f.ctx, store.UpdateActionStatusParams{DeliveryID: raced.ID, Resends: 0, Status: store.StatusDone, Now: t0})
		require.NoError(t, err)
		assert.Equal(t, store.StatusDone, d.Status)
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{{
			DeliveryID: raced.ID, ClaimToken: raced.ClaimToken, Status: store.StatusWaiting, NextAttemptTime: t0.Add(3 * time.Hour),
			Attempt: &store.Attempt{StartTime: t0, ResponseStatusCode: 202}, Attempts: 1, LastStatusCode: 202,
		}}, t0))
		d, err = s.GetDelivery(f.ctx, f.project.ID, raced.ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusDone, d.Status)
		assert.Equal(t, 1, d.Attempts)

		// A queued delivery with no attempt in flight has nothing to report on.
		q := f.publishN(t, 1, t0)
		_, err = s.UpdateActionStatus(f.ctx, store.UpdateActionStatusParams{DeliveryID: q[0], Resends: 0, Status: store.StatusDone, Now: t0})
		assert.ErrorIs(t, err, store.ErrNotFound)
		res, err := s.ClaimDeliveries(f.ctx, t0, store.ClaimRequest{Limit: 10, Lease: time.Hour, PerWebhook: 10})
		require.NoError(t, err)
		require.Len(t, res.Deliveries, 1, "(q is leased for an hour: out of the way below)")

		// A WAITING delivery is claimed when its wait ends (the sender then fails it), not before.
		assert.Empty(t, f.claim(t, t0.Add(30*time.Second), 10))
		exp := f.claimOne(t, t0.Add(time.Minute))
		assert.Equal(t, expiring.ID, exp.ID)
		assert.Equal(t, store.StatusWaiting, exp.Status)
	})
}

func TestDisableWebhookOutcome(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		f.publishN(t, 1, t0)
		c := f.claimOne(t, t0)
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{{
			DeliveryID: c.ID, ClaimToken: c.ClaimToken, Status: store.StatusFailed, DisableWebhook: true, WebhookID: c.WebhookID,
			Attempt: &store.Attempt{StartTime: t0, ResponseStatusCode: 410}, Attempts: 1, LastStatusCode: 410,
		}}, t0))
		w, err := s.GetWebhook(f.ctx, f.project.ID, f.webhook.ID)
		require.NoError(t, err)
		assert.False(t, w.Enabled)
		assert.Equal(t, health.DisabledByGone.String(), w.DisabledReason)
		assert.NotNil(t, w.DisableTime)
		ids := f.publish(t, "user.created", "").DeliveryIDs
		require.Len(t, ids, 1)
		d, err := s.GetDelivery(f.ctx, f.project.ID, ids[0])
		require.NoError(t, err)
		assert.Equal(t, store.StatusFailed, d.Status, "a disabled webhook's new deliveries fail at once")
		assert.Equal(t, health.FailWebhookDisabled.String(), d.Reason)
	})
}

// TestTakeRate: the shared rate windows admit at most rate in any rolling second (a sliding-window log): a
// burst of rate at once, then nothing until the first of them is a second old, then one as each leaves.
func TestTakeRate(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		ctx := context.Background()
		take := func(key string, rate, n int, at time.Time, hold time.Duration) (int, time.Time) {
			got, next, err := s.TakeRate(ctx, store.TakeRateParams{Key: key, Rate: rate, N: n, Now: at, Hold: hold})
			require.NoError(t, err)
			return got, next
		}
		ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
		got, _ := take("trg_x", 10, 4, t0, 0)
		assert.Equal(t, 4, got, "a new window is empty")
		got, _ = take("trg_x", 10, 100, ms(300), 0)
		assert.Equal(t, 6, got, "no more than rate in the second")
		got, next := take("trg_x", 10, 3, ms(999), 0)
		assert.Equal(t, 0, got, "nothing refills before the first admission is a second old")
		assert.Equal(t, ms(1000), next)
		got, next = take("trg_x", 10, 10, ms(1000), 0)
		assert.Equal(t, 4, got, "the four of t0 left the window; those of +300 ms have not")
		assert.Equal(t, ms(1000), next)
		got, next = take("trg_x", 10, 1, ms(1299), 0)
		assert.Equal(t, 0, got)
		assert.Equal(t, ms(1300), next)
		got, _ = take("trg_x", 10, 50, t0.Add(time.Hour), 0)
		assert.Equal(t, 10, got, "an idle window admits rate at once, never more")

		got, _ = take("blk", 10, 5, t0, 200*time.Millisecond)
		assert.Equal(t, 5, got)
		got, next = take("blk", 10, 10, ms(1100), 0)
		assert.Equal(t, 5, got, "only the five not held")
		assert.Equal(t, ms(1100), next)
		got, next = take("blk", 10, 10, ms(1150), 0)
		assert.Equal(t, 0, got, "held admissions count from the end of their hold")
		assert.Equal(t, ms(1200), next)

		got, _ = take("trg_y", 10, 1, t0, 0)
		assert.Equal(t, 1, got, "windows are per key")
		got, _ = take("trg_z", 0, 7, t0, 0)
		assert.Equal(t, 7, got, "rate 0 is unlimited")
	})
}

// TestListenerWakeups: committed work wakes subscribers with its due time, in this process at once and — on
// PostgreSQL — in every other process through NOTIFY.
func TestListenerWakeups(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		l := s.Notifier()
		require.NoError(t, l.Start(f.ctx))
		defer l.Stop()
		wakeups, unsubscribe := l.Subscribe()
		defer unsubscribe()

		f.publishN(t, 1, t0)
		receiveDue(t, wakeups, t0) // a publish is due at once

		c := f.claimOne(t, t0)
		require.NoError(t, s.CompleteDeliveries(f.ctx, []store.Outcome{{DeliveryID: c.ID, ClaimToken: c.ClaimToken,
			Status: store.StatusRetrying, Attempts: 1, NextAttemptTime: t0.Add(6 * time.Second), Attempt: &store.Attempt{StartTime: t0}}}, t0))
		receiveDue(t, wakeups, t0.Add(6*time.Second)) // a retry wakes with its due time
	})
}

func TestListenerAcrossProcesses(t *testing.T) {
	url := storetest.PostgresURL(t)
	keys := secret.NewRandom() // the processes of a cluster share their keys
	open := func() *storetest.DB {
		s, err := storesql.Open(context.Background(), storesql.Config{URL: url, MaxOpenConns: 4, Keyring: keys})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return storetest.Wrap(s)
	}
	a, b := open(), open()
	l := b.Notifier()
	require.NoError(t, l.Start(context.Background()))
	defer l.Stop()
	wakeups, unsubscribe := l.Subscribe()
	defer unsubscribe()

	f := setup(t, a)
	f.publishN(t, 1, t0)
	c := f.claimOne(t, t0)
	receiveDue(t, wakeups, t0) // b hears of a's publish
	require.NoError(t, a.CompleteDeliveries(f.ctx, []store.Outcome{{DeliveryID: c.ID, ClaimToken: c.ClaimToken,
		Status: store.StatusRetrying, Attempts: 1, NextAttemptTime: t0.Add(21 * time.Second), Attempt: &store.Attempt{StartTime: t0}}}, t0))
	receiveDue(t, wakeups, t0.Add(21*time.Second)) // and of a's retry, with its due time
}

// receiveDue waits for a wake-up due at want (to the microsecond); earlier ones (a NOTIFY echoing a wake-up
// already seen) are skipped.
func receiveDue(t *testing.T, ch <-chan store.Wakeup, want time.Time) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case w := <-ch:
			if w.Due.Truncate(time.Microsecond).Equal(want.Truncate(time.Microsecond)) {
				return
			}
			if w.Due.After(want) {
				t.Fatalf("wake-up due at %s, want %s", w.Due, want)
			}
		case <-deadline:
			t.Fatalf("no wake-up due at %s within 10 s", want)
		}
	}
}

// TestSessionSettings: PostgreSQL sessions run without JIT (it cost ~0.9 s per claim with a million deliveries
// queued) and in UTC (the async pool is opened from the same URL).
func TestSessionSettings(t *testing.T) {
	s := storetest.NewPostgres(t)
	for _, q := range []struct{ setting, want string }{{"jit", "off"}, {"TimeZone", "UTC"}} {
		var got string
		require.NoError(t, s.Pool().QueryRowContext(context.Background(), "SHOW "+q.setting).Scan(&got))
		assert.Equal(t, q.want, got, q.setting)
	}
}

// TestConcurrentPartitionCreation: processes creating the same day's partitions at once all succeed (a CREATE
// that loses the race finds the table there), as publishes at a day's first moment from several processes do.
func TestConcurrentPartitionCreation(t *testing.T) {
	s := storetest.NewPostgres(t)
	ctx := context.Background()
	for round := range 5 {
		d := time.Date(2031, 1, 1+round, 0, 0, 0, 0, time.UTC)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.EnsurePartitions(ctx, d, d)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
	}
}

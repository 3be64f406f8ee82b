package storesql_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// finish claims every due delivery of webhookID and completes it with status (and HTTP code), each attempt taking
// took; other webhooks' claimed deliveries are put back by completing them as queued again.
func (f *fixture) finish(t *testing.T, now time.Time, webhookID string, status store.Status, code int, took time.Duration) []string {
	t.Helper()
	var done []string
	var outs []store.Outcome
	for _, c := range f.claim(t, now, 1000) {
		o := store.Outcome{DeliveryID: c.ID, ClaimToken: c.ClaimToken, Status: store.StatusQueued, NextAttemptTime: now.Add(time.Hour),
			Attempts: c.Attempts}
		if c.WebhookID == webhookID {
			o.Status, o.LastStatusCode, o.Attempts = status, code, c.Attempts+1
			o.Attempt = &store.Attempt{StartTime: now, Duration: took, ResponseStatusCode: code}
			if status == store.StatusFailed {
				o.Reason = "HTTP 503"
			}
			if status == store.StatusRetrying {
				o.NextAttemptTime = now.Add(time.Minute)
			}
			done = append(done, c.ID)
		}
		outs = append(outs, o)
	}
	require.NoError(t, f.s.CompleteDeliveries(f.ctx, outs, now))
	return done
}

// opEvents lists the project's events of an operational type, oldest first, with their payloads decoded.
func (f *fixture) opEvents(t *testing.T, eventType string) []map[string]any {
	t.Helper()
	evs, err := f.s.ListEvents(f.ctx, f.project.ID, store.EventFilter{EventType: eventType}, store.Page{Size: 100})
	require.NoError(t, err)
	var out []map[string]any
	for i := len(evs) - 1; i >= 0; i-- {
		var p map[string]any
		require.NoError(t, json.Unmarshal(evs[i].Payload, &p))
		out = append(out, p)
	}
	return out
}

func TestFailureThresholdDisables(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		f.webhook.FailureThreshold = 4
		require.NoError(t, s.UpdateWebhook(f.ctx, f.webhook))
		ops := f.newWebhook(t, f.project.ID, "ops")
		f.subscribe(t, f.project.ID, ops.ID, "", health.EventWebhookDisabled, health.EventWebhookFailing)
		catchAll := f.newWebhook(t, f.project.ID, "all")
		f.subscribe(t, f.project.ID, catchAll.ID, "", "*")

		// A streak of 1 failure is broken by a success: no warning.
		f.publishN(t, 1, t0)
		f.finish(t, t0, f.webhook.ID, store.StatusFailed, 503, 0)
		f.publishN(t, 1, t0)
		f.finish(t, t0, f.webhook.ID, store.StatusDone, 200, 0)
		w, err := s.GetWebhook(f.ctx, f.project.ID, f.webhook.ID)
		require.NoError(t, err)
		assert.Equal(t, 0, w.ConsecutiveFailures)
		assert.NotNil(t, w.LastSuccessTime)
		assert.NotNil(t, w.LastFailureTime)
		assert.Empty(t, f.opEvents(t, health.EventWebhookFailing))

		// Retries do not count; four failed deliveries in a row do: warnings at 50, 70 and 90 % (at 2, 3 and 4 of
		// 4), once each, and the webhook is disabled.
		f.publishN(t, 1, t0)
		f.finish(t, t0, f.webhook.ID, store.StatusRetrying, 503, 0)
		w, err = s.GetWebhook(f.ctx, f.project.ID, f.webhook.ID)
		require.NoError(t, err)
		assert.Equal(t, 0, w.ConsecutiveFailures, "a retry is not a failed delivery")
		now := t0.Add(2 * time.Minute)
		f.finish(t, now, f.webhook.ID, store.StatusFailed, 503, 0)
		for range 3 {
			now = now.Add(time.Millisecond) // operational events in order
			f.publishN(t, 1, now)
			f.finish(t, now, f.webhook.ID, store.StatusFailed, 503, 0)
		}

		w, err = s.GetWebhook(f.ctx, f.project.ID, f.webhook.ID)
		require.NoError(t, err)
		assert.False(t, w.Enabled)
		assert.Equal(t, health.DisabledByThreshold(4).String(), w.DisabledReason)
		require.NotNil(t, w.DisableTime)
		assert.Equal(t, now, *w.DisableTime)
		assert.Equal(t, 4, w.ConsecutiveFailures)

		failing := f.opEvents(t, health.EventWebhookFailing)
		require.Len(t, failing, 3)
		assert.EqualValues(t, 50, failing[0]["percent"])
		assert.EqualValues(t, 70, failing[1]["percent"])
		assert.EqualValues(t, 90, failing[2]["percent"])
		assert.EqualValues(t, 3, failing[1]["consecutiveFailures"])
		assert.EqualValues(t, 503, failing[1]["lastStatusCode"])
		assert.Equal(t, f.webhook.ID, failing[1]["webhookId"])
		disabled := f.opEvents(t, health.EventWebhookDisabled)
		require.Len(t, disabled, 1)
		assert.Equal(t, map[string]any{"webhookId": f.webhook.ID, "reason": health.DisabledByThreshold(4).String()}, disabled[0])
		assert.Len(t, f.opEvents(t, health.EventDeliveryFailed), 5)

		// The ops webhook got the warnings and the disable; the catch-all subscription got no operational event.
		opsDeliveries, err := s.ListDeliveries(f.ctx, store.ListDeliveriesParams{ProjectID: f.project.ID, Filter: store.DeliveryFilter{WebhookID: ops.ID}, Page: store.Page{Size: 100}})
		require.NoError(t, err)
		assert.Len(t, opsDeliveries, 4)
		for _, d := range opsDeliveries {
			assert.Equal(t, store.StatusQueued, d.Status)
		}
		all, err := s.ListDeliveries(f.ctx, store.ListDeliveriesParams{ProjectID: f.project.ID, Filter: store.DeliveryFilter{WebhookID: catchAll.ID}, Page: store.Page{Size: 100}})
		require.NoError(t, err)
		for _, d := range all {
			assert.False(t, health.IsOperational(d.EventType), "* matched %s", d.EventType)
		}

		// The operational deliveries' own failures publish nothing more.
		before := len(f.opEvents(t, health.EventDeliveryFailed))
		f.finish(t, now, ops.ID, store.StatusFailed, 500, 0)
		assert.Len(t, f.opEvents(t, health.EventDeliveryFailed), before)
		o, err := s.GetWebhook(f.ctx, f.project.ID, ops.ID)
		require.NoError(t, err)
		assert.Equal(t, 0, o.ConsecutiveFailures)
	})
}

func TestFailingWarningsOncePerStreak(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		f.webhook.FailureThreshold = 10
		require.NoError(t, s.UpdateWebhook(f.ctx, f.webhook))
		streak := func(n int) {
			for range n {
				now := f.next() // operational events in order
				f.publishN(t, 1, now)
				f.finish(t, now, f.webhook.ID, store.StatusFailed, 503, 0)
			}
		}
		streak(6)
		assert.Len(t, f.opEvents(t, health.EventWebhookFailing), 1, "50 % once, not again at 60 %")
		f.publishN(t, 1, f.next())
		f.finish(t, f.next(), f.webhook.ID, store.StatusDone, 200, 0)
		streak(9)
		var percents []float64
		for _, e := range f.opEvents(t, health.EventWebhookFailing) {
			percents = append(percents, e["percent"].(float64))
		}
		assert.Equal(t, []float64{50, 50, 70, 90}, percents, "a success starts a new streak")
		w, err := s.GetWebhook(f.ctx, f.project.ID, f.webhook.ID)
		require.NoError(t, err)
		assert.True(t, w.Enabled)
		assert.Equal(t, 90, w.WarnedPercent)

		// Failures past the threshold in one completion batch disable once, with no warning told twice.
		now := f.next()
		require.Len(t, f.publishN(t, 5, now), 5)
		f.finish(t, now, f.webhook.ID, store.StatusFailed, 503, 0)
		assert.Len(t, f.opEvents(t, health.EventWebhookDisabled), 1)
		assert.Len(t, f.opEvents(t, health.EventWebhookFailing), 4)
	})
}

func TestReplayMissed(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		f.publishN(t, 1, t0)
		f.finish(t, t0, f.webhook.ID, store.StatusFailed, 503, 0) // failed before: not replayed

		off := t0.Add(time.Minute)
		w, n, err := s.SetWebhookEnabled(f.ctx, store.SetWebhookEnabledParams{ProjectID: f.project.ID, WebhookID: f.webhook.ID, Enabled: false, Reason: health.DisabledByPerson.String(), Now: off})
		require.NoError(t, err)
		assert.Zero(t, n)
		assert.False(t, w.Enabled)
		assert.Equal(t, health.DisabledByPerson.String(), w.DisabledReason)
		missed := f.publishN(t, 3, off.Add(time.Second))
		require.Len(t, missed, 3)
		assert.Empty(t, f.claim(t, off.Add(time.Hour), 10), "nothing is queued for a disabled webhook")

		on := off.Add(time.Hour)
		w, n, err = s.SetWebhookEnabled(f.ctx, store.SetWebhookEnabledParams{ProjectID: f.project.ID, WebhookID: f.webhook.ID, Enabled: true, Replay: true, Now: on})
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		assert.True(t, w.Enabled)
		assert.Empty(t, w.DisabledReason)
		assert.Nil(t, w.DisableTime)
		got := f.claim(t, on.Add(time.Millisecond), 10) // due one microsecond apart from on
		assert.Equal(t, missed, ids(got, func(c store.ClaimedDelivery) string { return c.ID }), "exactly the missed ones, oldest first")
		for _, c := range got {
			assert.Equal(t, store.StatusRetrying, c.Status)
		}
		enabled := f.opEvents(t, health.EventWebhookEnabled)
		require.Len(t, enabled, 1)
		assert.EqualValues(t, 3, enabled[0]["replayed"])
		assert.Len(t, f.opEvents(t, health.EventWebhookDisabled), 1)

		// Enabling again (already enabled) replays nothing and publishes nothing.
		_, n, err = s.SetWebhookEnabled(f.ctx, store.SetWebhookEnabledParams{ProjectID: f.project.ID, WebhookID: f.webhook.ID, Enabled: true, Replay: true, Now: on})
		require.NoError(t, err)
		assert.Zero(t, n)
		assert.Len(t, f.opEvents(t, health.EventWebhookEnabled), 1)

		// Without replay_missed the missed deliveries stay FAILED.
		_, _, err = s.SetWebhookEnabled(f.ctx, store.SetWebhookEnabledParams{ProjectID: f.project.ID, WebhookID: f.webhook.ID, Enabled: false, Reason: health.DisabledByPerson.String(), Now: on})
		require.NoError(t, err)
		again := f.publishN(t, 1, on)
		_, n, err = s.SetWebhookEnabled(f.ctx, store.SetWebhookEnabledParams{ProjectID: f.project.ID, WebhookID: f.webhook.ID, Enabled: true, Now: on.Add(time.Second)})
		require.NoError(t, err)
		assert.Zero(t, n)
		d, err := s.GetDelivery(f.ctx, f.project.ID, again[0])
		require.NoError(t, err)
		assert.Equal(t, store.StatusFailed, d.Status)

		_, _, err = s.SetWebhookEnabled(f.ctx, store.SetWebhookEnabledParams{ProjectID: f.project.ID, WebhookID: "wh_missing", Enabled: true, Replay: true, Now: on})
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}

// TestReplayMissedChunkedAndCapped: a replay re-queues at most its cap, oldest first, in chunks (each chunk its own
// transaction, due in order across chunks); the newer missed deliveries stay FAILED "webhook disabled".
func TestReplayMissedChunkedAndCapped(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		off := t0.Add(time.Minute)
		_, _, err := s.SetWebhookEnabled(f.ctx, store.SetWebhookEnabledParams{ProjectID: f.project.ID, WebhookID: f.webhook.ID, Enabled: false, Reason: health.DisabledByPerson.String(), Now: off})
		require.NoError(t, err)
		missed := f.publishN(t, 7, off.Add(time.Second))
		require.Len(t, missed, 7)

		on := off.Add(time.Hour)
		w, n, err := s.SetWebhookEnabledUpTo(f.ctx, store.SetWebhookEnabledParams{ProjectID: f.project.ID, WebhookID: f.webhook.ID, Enabled: true, Replay: true, Now: on}, 5, 2)
		require.NoError(t, err)
		assert.True(t, w.Enabled)
		assert.Equal(t, 5, n, "capped at 5")
		got := f.claim(t, on.Add(time.Millisecond), 10)
		assert.Equal(t, missed[:5], ids(got, func(c store.ClaimedDelivery) string { return c.ID }), "the oldest five, in order across chunks")
		for _, id := range missed[5:] {
			d, err := s.GetDelivery(f.ctx, f.project.ID, id)
			require.NoError(t, err)
			assert.Equal(t, store.StatusFailed, d.Status, "beyond the cap")
			assert.Equal(t, health.FailWebhookDisabled.String(), d.Reason)
		}
		enabled := f.opEvents(t, health.EventWebhookEnabled)
		require.Len(t, enabled, 1)
		assert.EqualValues(t, 5, enabled[0]["replayed"])

		// The rest can be resent with RetryDeliveries.
		r, err := s.RetryDeliveries(f.ctx, f.project.ID, store.DeliveryFilter{WebhookID: f.webhook.ID, Statuses: []store.Status{store.StatusFailed}}, on)
		require.NoError(t, err)
		assert.Equal(t, 2, r)
	})
}

func TestWebhookStats(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		f.publishN(t, 3, t0)
		f.finish(t, t0, f.webhook.ID, store.StatusDone, 200, 3*time.Millisecond)
		f.publishN(t, 2, t0)
		f.finish(t, t0.Add(time.Minute), f.webhook.ID, store.StatusRetrying, 503, 40*time.Millisecond)
		f.finish(t, t0.Add(2*time.Minute), f.webhook.ID, store.StatusFailed, 503, 2*time.Second)
		f.publishN(t, 1, t0)
		c := f.claimOne(t, t0.Add(2*time.Minute))
		_, err := s.CancelDelivery(f.ctx, f.project.ID, c.ID, t0.Add(2*time.Minute))
		require.NoError(t, err)
		f.publishN(t, 4, t0) // queued

		now := t0.Add(3 * time.Minute)
		st, err := s.GetWebhookStats(f.ctx, store.WebhookStatsParams{ProjectID: f.project.ID, WebhookID: f.webhook.ID, Window: 24 * time.Hour, Now: now})
		require.NoError(t, err)
		assert.Equal(t, int64(3), st.Done)
		assert.Equal(t, int64(2), st.Failed)
		assert.Equal(t, int64(1), st.Cancelled)
		assert.Equal(t, int64(7), st.Attempts)
		assert.Equal(t, int64(4), st.Queued)
		assert.Equal(t, 2, st.ConsecutiveFailures)
		assert.Equal(t, int64(3), st.Latency[store.LatencyBucket(3*time.Millisecond)])
		assert.Equal(t, int64(2), st.Latency[store.LatencyBucket(40*time.Millisecond)])
		assert.Equal(t, int64(2), st.Latency[store.LatencyBucket(2*time.Second)])

		// A 2-minute window (minute buckets) leaves out the successes of minute 0.
		st, err = s.GetWebhookStats(f.ctx, store.WebhookStatsParams{ProjectID: f.project.ID, WebhookID: f.webhook.ID, Window: time.Minute, Now: t0.Add(2 * time.Minute)})
		require.NoError(t, err)
		assert.Zero(t, st.Done)
		assert.Equal(t, int64(2), st.Failed)

		// Expiry keeps hours for 31 days, minutes for 3 hours.
		n, err := s.ExpireStats(f.ctx, t0.Add(4*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, 3, n, "the three minute buckets")
		st, err = s.GetWebhookStats(f.ctx, store.WebhookStatsParams{ProjectID: f.project.ID, WebhookID: f.webhook.ID, Window: 24 * time.Hour, Now: t0.Add(4 * time.Hour)})
		require.NoError(t, err)
		assert.Equal(t, int64(3), st.Done, "hour buckets remain")
		_, err = s.ExpireStats(f.ctx, t0.Add(32*24*time.Hour))
		require.NoError(t, err)
		st, err = s.GetWebhookStats(f.ctx, store.WebhookStatsParams{ProjectID: f.project.ID, WebhookID: f.webhook.ID, Window: 30 * 24 * time.Hour, Now: t0.Add(32 * 24 * time.Hour)})
		require.NoError(t, err)
		assert.Zero(t, st.Done+st.Failed+st.Cancelled)
	})
}

func TestOperationalEventTypes(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		for _, want := range health.EventTypes() {
			et, err := s.GetEventTypeByName(f.ctx, f.project.ID, want.Name)
			require.NoError(t, err, want.Name)
			assert.Equal(t, want.Description, et.Description)
			assert.JSONEq(t, string(want.Schema), string(et.Schema))
			assert.JSONEq(t, string(want.SamplePayload), string(et.SamplePayload))
		}
	})
}

func TestThresholdReachedInOneBatch(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		f.webhook.FailureThreshold = 3
		require.NoError(t, s.UpdateWebhook(f.ctx, f.webhook))
		f.publishN(t, 3, t0)
		require.Len(t, f.finish(t, t0, f.webhook.ID, store.StatusFailed, 503, 0), 3, "one completion batch")
		var percents []float64
		for _, e := range f.opEvents(t, health.EventWebhookFailing) {
			percents = append(percents, e["percent"].(float64))
		}
		assert.ElementsMatch(t, []float64{50, 70, 90}, percents, "every share crossed, once, before the disable")
		assert.Len(t, f.opEvents(t, health.EventWebhookDisabled), 1)
	})
}

// TestHealthCountsFailingAttempts (issue 21 item 11): a webhook failing every attempt of a delivery that is still
// retrying is not "no deliveries, never failed": its last failure, its attempt streak and its failed attempts show
// at once; a successful attempt ends the streak. The delivery streak (failure_threshold's) moves only on FAILED.
func TestHealthCountsFailingAttempts(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		f.publishN(t, 1, t0)
		for i := range 3 {
			f.finish(t, t0.Add(time.Duration(i)*time.Hour), f.webhook.ID, store.StatusRetrying, 503, 10*time.Millisecond)
		}
		now := t0.Add(3 * time.Hour)
		st, err := s.GetWebhookStats(f.ctx, store.WebhookStatsParams{ProjectID: f.project.ID, WebhookID: f.webhook.ID, Window: 24 * time.Hour, Now: now})
		require.NoError(t, err)
		assert.Zero(t, st.Done+st.Failed, "no delivery finished")
		assert.Equal(t, int64(1), st.Retrying)
		assert.Equal(t, int64(3), st.Attempts)
		assert.Equal(t, int64(3), st.FailedAttempts)
		assert.Equal(t, 3, st.ConsecutiveFailedAttempts)
		require.NotNil(t, st.LastFailureTime, "last failure: the latest failed attempt")
		assert.Equal(t, t0.Add(2*time.Hour), st.LastFailureTime.UTC())
		assert.Zero(t, st.ConsecutiveFailures, "no FAILED delivery: failure_threshold's streak does not move")

		f.finish(t, now, f.webhook.ID, store.StatusDone, 200, 10*time.Millisecond)
		st, err = s.GetWebhookStats(f.ctx, store.WebhookStatsParams{ProjectID: f.project.ID, WebhookID: f.webhook.ID, Window: 24 * time.Hour, Now: now})
		require.NoError(t, err)
		assert.Zero(t, st.ConsecutiveFailedAttempts)
		assert.Equal(t, int64(3), st.FailedAttempts)
		assert.Equal(t, int64(4), st.Attempts)
		assert.Equal(t, int64(1), st.Done)
	})
}

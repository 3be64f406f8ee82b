package purge

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// logged is one published event with its delivery (done after one attempt with bodies) and a trigger execution
// received at the same time.
type logged struct {
	event, delivery, execution string
}

// logAt publishes an event in project at time at, completes its delivery with one attempt, and records an
// execution of the project's trigger.
func logAt(t *testing.T, st *storetest.DB, projectID string, at time.Time) logged {
	t.Helper()
	ctx := context.Background()
	res, err := st.PublishEvents(ctx, store.PublishEventsParams{ProjectID: projectID, Events: []store.PublishInput{{Event: store.Event{EventType: "order.paid",
		Subject: "cus_1", Payload: []byte(`{"card":"4242"}`)}, WebhookIDs: []string{"wh_" + projectID}}}, Now: at, IdempotencyWindow: time.Hour})
	require.NoError(t, err)
	claimed, err := st.ClaimDeliveries(ctx, at, store.ClaimRequest{Limit: 10, Lease: time.Minute, PerWebhook: 10})
	require.NoError(t, err)
	require.Len(t, claimed.Deliveries, 1)
	c := claimed.Deliveries[0]
	require.NoError(t, st.CompleteDeliveries(ctx, []store.Outcome{{DeliveryID: c.ID, ClaimToken: c.ClaimToken,
		Status: store.StatusDone, LastStatusCode: 200, Attempts: 1, Attempt: &store.Attempt{DeliveryID: c.ID, StartTime: at,
			RequestMethod: "POST", RequestURL: "https://example.com/hook", RequestBody: `{"card":"4242"}`,
			ResponseStatusCode: 200, ResponseBody: "thanks 4242"}}}, at))
	e := &store.Execution{ProjectID: projectID, TriggerID: "trg_" + projectID, ReceiveTime: at, Method: "POST",
		RawBody: `{"card":"4242"}`, Body: []byte(`{"card":"4242"}`), Status: 200}
	_, err = st.RecordExecution(ctx, e, nil, at)
	require.NoError(t, err)
	return logged{event: res[0].Event.ID, delivery: res[0].DeliveryIDs[0], execution: e.ID}
}

// state is what is left of a logged row: "gone", "expired" (listed, payload dropped) or "full".
func state(t *testing.T, st *storetest.DB, projectID string, l logged) string {
	t.Helper()
	ctx := context.Background()
	ev, err := st.GetEvent(ctx, projectID, l.event)
	if err != nil {
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = st.GetDelivery(ctx, projectID, l.delivery)
		require.ErrorIs(t, err, store.ErrNotFound, "the delivery goes with its event")
		atts, err := st.ListAttempts(ctx, projectID, l.delivery)
		require.NoError(t, err)
		require.Empty(t, atts)
		_, err = st.GetExecution(ctx, projectID, l.execution)
		require.ErrorIs(t, err, store.ErrNotFound, "the execution goes with the event of its time")
		var n int
		require.NoError(t, st.Pool().Get(&n, st.Pool().Rebind(`SELECT COUNT(*) FROM attempts WHERE delivery_id = ?`), l.delivery))
		require.Zero(t, n, "no attempt row is left behind")
		return "gone"
	}
	_, err = st.GetDelivery(ctx, projectID, l.delivery)
	require.NoError(t, err)
	atts, err := st.ListAttempts(ctx, projectID, l.delivery)
	require.NoError(t, err)
	require.Len(t, atts, 1)
	exe, err := st.GetExecution(ctx, projectID, l.execution)
	require.NoError(t, err)
	a := atts[0]
	if ev.PayloadExpired {
		require.JSONEq(t, `{}`, string(ev.Payload))
		require.True(t, a.PayloadExpired, "the attempt's bodies expire with the event's payload")
		require.Empty(t, a.RequestBody)
		require.Empty(t, a.ResponseBody)
		require.Equal(t, 200, a.ResponseStatusCode, "metadata stays")
		require.True(t, exe.PayloadExpired)
		require.Empty(t, exe.RawBody)
		require.Empty(t, exe.Body)
		require.Equal(t, "cus_1", ev.Subject, "metadata stays")
		return "expired"
	}
	require.JSONEq(t, `{"card":"4242"}`, string(ev.Payload))
	require.False(t, a.PayloadExpired)
	require.Equal(t, "thanks 4242", a.ResponseBody)
	require.False(t, exe.PayloadExpired)
	require.Equal(t, `{"card":"4242"}`, exe.RawBody)
	return "full"
}

// TestProjectRetention (issue 26): two projects keep their log and their payloads for different times, a third
// keeps the instance's retention; with an injected clock, each round drops exactly the rows and bodies that
// passed their project's limits, and leaves the other projects' alone.
func TestProjectRetention(t *testing.T) {
	t.Parallel()
	storetest.ForEachStoreParallel(t, func(t *testing.T, st *storetest.DB) {
		ctx := context.Background()
		now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
		day := 24 * time.Hour
		// short: log 3 days, payloads 1 day; payloads: log as the instance (30 days), payloads 5 days; plain: nothing set.
		settings := map[string][2]time.Duration{"short": {3 * day, day}, "payloads": {0, 5 * day}, "plain": {0, 0}}
		ages := []time.Duration{6 * day, 4 * day, 2 * day, 12 * time.Hour}
		rows := map[string][]logged{}
		for _, name := range []string{"short", "payloads", "plain"} {
			pid := "prj_" + name
			require.NoError(t, st.CreateProject(ctx, &store.Project{ID: pid, Name: name}))
			require.NoError(t, st.CreateWebhook(ctx, &store.Webhook{ID: "wh_" + pid, ProjectID: pid, Name: "w", SystemName: "w",
				Method: "POST", URL: "https://example.com/hook", Enabled: true, RetryPolicy: store.RetryPolicy{Kind: store.RetryNone},
				Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}))
			require.NoError(t, st.CreateTrigger(ctx, &store.Trigger{ID: "trg_" + pid, ProjectID: pid, Name: "t", EventType: "order.paid",
				Enabled: true}))
			for _, age := range ages {
				rows[name] = append(rows[name], logAt(t, st, pid, now.Add(-age)))
			}
			p, err := st.GetProject(ctx, pid)
			require.NoError(t, err)
			p.Retention, p.PayloadRetention = settings[name][0], settings[name][1]
			require.NoError(t, st.UpdateProject(ctx, p))
			got, err := st.GetProject(ctx, pid)
			require.NoError(t, err)
			require.Equal(t, settings[name], [2]time.Duration{got.Retention, got.PayloadRetention})
		}
		states := func() map[string][]string {
			out := map[string][]string{}
			for name, ls := range rows {
				for _, l := range ls {
					out[name] = append(out[name], state(t, st, "prj_"+name, l))
				}
			}
			return out
		}
		clk := clock.NewFake(now)
		p := New(Config{Store: st, Retention: 30 * day, BatchSize: 1, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
		_, err := p.runOnce(ctx)
		require.NoError(t, err)
		// Ages 6d, 4d, 2d, 12h.
		require.Equal(t, map[string][]string{
			"short":    {"gone", "gone", "expired", "full"},
			"payloads": {"expired", "full", "full", "full"},
			"plain":    {"full", "full", "full", "full"},
		}, states())

		// A day and a half later: ages 7.5d, 5.5d, 3.5d, 2d.
		clk.Advance(day + day/2)
		_, err = p.runOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, map[string][]string{
			"short":    {"gone", "gone", "gone", "expired"},
			"payloads": {"expired", "expired", "full", "full"},
			"plain":    {"full", "full", "full", "full"},
		}, states())

		// The watermark: the next round starts where the last one stopped.
		ls, err := st.ProjectLifecycles(ctx)
		require.NoError(t, err)
		require.Len(t, ls, 2, "only the projects with settings")
		for _, l := range ls {
			require.Equal(t, clk.Now().Add(-settings[l.ProjectID[4:]][1]).UTC(), l.PayloadExpireTime.UTC(), l.ProjectID)
		}
	})
}

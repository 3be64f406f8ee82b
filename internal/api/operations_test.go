package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/store"
)

func failAll(d store.ClaimedDelivery) verdict {
	return verdict{status: store.StatusFailed, code: 503, reason: "HTTP 503"}
}

func TestWebhookHealthAPI(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx := context.Background()
		e := le.e
		for _, n := range []int32{-1, 10001} {
			_, err := e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "x", Url: "https://hooks.example.com/x",
				FailureThreshold: n}))
			requireCode(t, err, connect.CodeInvalidArgument, "failure_threshold")
		}
		res, err := e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "flaky", Url: "https://hooks.example.com/flaky",
			FailureThreshold: 2}))
		require.NoError(t, err)
		w := res.Msg.GetWebhook()
		assert.EqualValues(t, 2, w.GetFailureThreshold())
		createEventType(t, e.member, "order.paid", nil)
		subscribe(t, e.member, w.GetId(), "", true, "order.paid")

		for range 2 {
			le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.paid"})
			le.send(t, failAll)
		}
		got, err := e.viewer.webhooks.GetWebhook(ctx, creq(&hookdv1.GetWebhookRequest{Id: w.GetId()}))
		require.NoError(t, err)
		gw := got.Msg.GetWebhook()
		assert.False(t, gw.GetEnabled())
		assert.Equal(t, health.DisabledByThreshold(2).String(), gw.GetDisabledReason())
		assert.Equal(t, e.clock.Now(), gw.GetDisableTime().AsTime())
		assert.EqualValues(t, 2, gw.GetConsecutiveFailures())

		missed := le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.paid"}).GetDeliveryIds()
		require.Len(t, missed, 1)
		d, err := le.viewer.deliveries.GetDelivery(ctx, creq(&hookdv1.GetDeliveryRequest{Id: missed[0]}))
		require.NoError(t, err)
		assert.Equal(t, hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED, d.Msg.GetDelivery().GetStatus())
		assert.Equal(t, health.FailWebhookDisabled.String(), d.Msg.GetDelivery().GetReason())

		_, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(), ReplayMissed: true}))
		requireCode(t, err, connect.CodeInvalidArgument, "replay_missed")
		_, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(), FailureThreshold: proto.Int32(-3)}))
		requireCode(t, err, connect.CodeInvalidArgument, "failure_threshold")
		_, err = e.viewer.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(), Enabled: proto.Bool(true)}))
		requireCode(t, err, connect.CodePermissionDenied, "")

		up, err := e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(), Enabled: proto.Bool(true),
			ReplayMissed: true, FailureThreshold: proto.Int32(5)}))
		require.NoError(t, err)
		assert.EqualValues(t, 1, up.Msg.GetReplayed())
		uw := up.Msg.GetWebhook()
		assert.True(t, uw.GetEnabled())
		assert.Empty(t, uw.GetDisabledReason())
		assert.Nil(t, uw.GetDisableTime())
		assert.EqualValues(t, 0, uw.GetConsecutiveFailures())
		assert.EqualValues(t, 5, uw.GetFailureThreshold())
		assert.Equal(t, missed, le.send(t, func(store.ClaimedDelivery) verdict { return verdict{status: store.StatusDone, code: 200} }),
			"the missed delivery is sent again")

		// A person disables: the reason says so; the operational events tell the story in order.
		up, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(), Enabled: proto.Bool(false)}))
		require.NoError(t, err)
		assert.Equal(t, health.DisabledByPerson.String(), up.Msg.GetWebhook().GetDisabledReason())
		var types []string
		evs, err := le.viewer.events.ListEvents(ctx, creq(&hookdv1.ListEventsRequest{}))
		require.NoError(t, err)
		for _, ev := range evs.Msg.GetEvents() {
			if health.IsOperational(ev.GetEventType()) {
				types = append(types, ev.GetEventType())
			}
		}
		assert.ElementsMatch(t, []string{health.EventWebhookDisabled, health.EventWebhookEnabled, health.EventWebhookDisabled,
			health.EventDeliveryFailed, health.EventWebhookFailing, health.EventWebhookFailing, health.EventWebhookFailing,
			health.EventDeliveryFailed}, types) // one fake instant: ids unordered
	})
}

func TestOperationalEventTypesAPI(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx := context.Background()
		e := le.e
		res, err := e.viewer.eventTypes.ListEventTypes(ctx, creq(&hookdv1.ListEventTypesRequest{}))
		require.NoError(t, err)
		var ops []*hookdv1.EventType
		for _, et := range res.Msg.GetEventTypes() {
			if et.GetOperational() {
				ops = append(ops, et)
			}
		}
		require.Len(t, ops, len(health.EventTypes()), "every operational type (hookd.subject.erased too)")
		for _, et := range ops {
			assert.True(t, health.IsOperational(et.GetName()))
			assert.NotNil(t, et.GetSchema(), et.GetName())
			assert.NotNil(t, et.GetSamplePayload(), et.GetName())
		}
		_, err = e.admin.eventTypes.CreateEventType(ctx, creq(&hookdv1.CreateEventTypeRequest{Name: "hookd.mine"}))
		requireCode(t, err, connect.CodeInvalidArgument, "name")
		_, err = e.admin.eventTypes.UpdateEventType(ctx, creq(&hookdv1.UpdateEventTypeRequest{Id: ops[0].GetId(), Description: proto.String("x")}))
		requireCode(t, err, connect.CodeFailedPrecondition, "operational")
		_, err = e.admin.eventTypes.DeleteEventType(ctx, creq(&hookdv1.DeleteEventTypeRequest{Id: ops[0].GetId()}))
		requireCode(t, err, connect.CodeFailedPrecondition, "operational")
		_, err = le.admin.events.PublishEvent(ctx, creq(&hookdv1.PublishEventRequest{EventType: health.EventWebhookDisabled}))
		requireCode(t, err, connect.CodeInvalidArgument, "event_type")
		_, err = le.admin.events.PublishEvents(ctx, creq(&hookdv1.PublishEventsRequest{Events: []*hookdv1.PublishEventRequest{
			{EventType: health.EventDeliveryFailed}}}))
		requireCode(t, err, connect.CodeInvalidArgument, "events[0].event_type")

		// Subscribable like any type; "*" does not match them.
		w := createWebhook(t, e.member, "ops")
		subscribe(t, e.member, w.GetId(), "", true, health.EventWebhookDisabled)
	})
}

func TestGetWebhookStatsAPI(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx := context.Background()
		e := le.e
		w := createWebhook(t, e.member, "stats")
		createEventType(t, e.member, "order.paid", nil)
		subscribe(t, e.member, w.GetId(), "", true, "order.paid")
		for range 4 {
			le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.paid"})
		}
		n := 0
		le.send(t, func(store.ClaimedDelivery) verdict { // 3 DONE, 1 FAILED (each attempt takes 40 ms)
			n++
			if n == 4 {
				return verdict{status: store.StatusFailed, code: 400, reason: "HTTP 400"}
			}
			return verdict{status: store.StatusDone, code: 200}
		})
		le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.paid"}) // queued

		res, err := e.viewer.webhooks.GetWebhookStats(ctx, creq(&hookdv1.GetWebhookStatsRequest{Id: w.GetId()}))
		require.NoError(t, err)
		st := res.Msg.GetStats()
		assert.Equal(t, 24*time.Hour, st.GetWindow().AsDuration())
		assert.EqualValues(t, 3, st.GetDone())
		assert.EqualValues(t, 1, st.GetFailed())
		assert.EqualValues(t, 1, st.GetQueued())
		assert.EqualValues(t, 4, st.GetAttempts())
		assert.InDelta(t, 0.75, st.GetSuccessRate(), 1e-9)
		assert.Equal(t, 50*time.Millisecond, st.GetLatencyP50().AsDuration(), "the bucket of 40 ms")
		assert.Equal(t, 50*time.Millisecond, st.GetLatencyP99().AsDuration())
		assert.EqualValues(t, 1, st.GetConsecutiveFailures())
		assert.EqualValues(t, 1, st.GetFailedAttempts())
		assert.InDelta(t, 0.25, st.GetAttemptFailureRate(), 1e-9)
		assert.Equal(t, e.clock.Now(), st.GetLastSuccessTime().AsTime())
		assert.Equal(t, e.clock.Now(), st.GetLastFailureTime().AsTime())

		_, err = e.viewer.webhooks.GetWebhookStats(ctx, creq(&hookdv1.GetWebhookStatsRequest{Id: w.GetId(), Window: durationpb.New(30 * time.Second)}))
		requireCode(t, err, connect.CodeInvalidArgument, "window")
		_, err = e.viewer.webhooks.GetWebhookStats(ctx, creq(&hookdv1.GetWebhookStatsRequest{Id: w.GetId(), Window: durationpb.New(31 * 24 * time.Hour)}))
		requireCode(t, err, connect.CodeInvalidArgument, "window")
		_, err = e.other.webhooks.GetWebhookStats(ctx, creq(&hookdv1.GetWebhookStatsRequest{Id: w.GetId()}))
		requireCode(t, err, connect.CodeNotFound, "")
		empty := createWebhook(t, e.member, "quiet")
		res, err = e.viewer.webhooks.GetWebhookStats(ctx, creq(&hookdv1.GetWebhookStatsRequest{Id: empty.GetId(), Window: durationpb.New(time.Hour)}))
		require.NoError(t, err)
		assert.Zero(t, res.Msg.GetStats().GetSuccessRate())
		assert.Nil(t, res.Msg.GetStats().GetLatencyP50())
	})
}

func TestWatchDeliveriesAPI(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		e := le.e
		w1 := createWebhook(t, e.member, "one")
		w2 := createWebhook(t, e.member, "two")
		createEventType(t, e.member, "order.paid", nil)
		subscribe(t, e.member, w1.GetId(), "", true, "order.paid")
		subscribe(t, e.member, w2.GetId(), "", true, "order.paid")

		bad, err := le.viewer.deliveries.WatchDeliveries(ctx, creq(&hookdv1.WatchDeliveriesRequest{
			Filter: &hookdv1.DeliveryFilter{Statuses: []hookdv1.DeliveryStatus{99}}}))
		require.NoError(t, err)
		assert.False(t, bad.Receive())
		requireCode(t, bad.Err(), connect.CodeInvalidArgument, "filter.statuses[0]")

		// A VIEWER watches one webhook's deliveries; the other project's key watches its own (none).
		stream, err := le.viewer.deliveries.WatchDeliveries(ctx, creq(&hookdv1.WatchDeliveriesRequest{
			Filter: &hookdv1.DeliveryFilter{WebhookId: w1.GetId()}}))
		require.NoError(t, err)
		defer stream.Close()
		require.True(t, stream.Receive(), "first heartbeat: %v", stream.Err())
		assert.Nil(t, stream.Msg().GetDelivery())
		assert.Equal(t, hookdv1.DeliveryChange_DELIVERY_CHANGE_UNSPECIFIED, stream.Msg().GetChange())
		assert.NotNil(t, stream.Msg().GetTime())
		otherCtx, otherCancel := context.WithCancel(ctx)
		other, err := le.other.deliveries.WatchDeliveries(otherCtx, creq(&hookdv1.WatchDeliveriesRequest{}))
		require.NoError(t, err)
		require.True(t, other.Receive())

		ids := le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.paid", Subject: "cus_1"}).GetDeliveryIds()
		require.Len(t, ids, 2)
		require.True(t, stream.Receive(), stream.Err())
		c := stream.Msg()
		assert.Equal(t, hookdv1.DeliveryChange_DELIVERY_CHANGE_CREATED, c.GetChange())
		assert.Equal(t, w1.GetId(), c.GetDelivery().GetWebhookId())
		assert.Equal(t, "one", c.GetDelivery().GetWebhookName())
		assert.Equal(t, "cus_1", c.GetDelivery().GetSubject())
		assert.Equal(t, hookdv1.DeliveryStatus_DELIVERY_STATUS_QUEUED, c.GetDelivery().GetStatus())

		le.send(t, func(d store.ClaimedDelivery) verdict { return verdict{status: store.StatusDone, code: 200} })
		require.True(t, stream.Receive(), stream.Err())
		c = stream.Msg()
		assert.Equal(t, hookdv1.DeliveryChange_DELIVERY_CHANGE_ATTEMPTED, c.GetChange())
		assert.Equal(t, w1.GetId(), c.GetDelivery().GetWebhookId(), "the other webhook's change is filtered out")
		assert.Equal(t, hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE, c.GetDelivery().GetStatus())
		assert.EqualValues(t, 1, c.GetDelivery().GetAttempts())

		otherCancel()
		assert.False(t, other.Receive(), "the other project saw nothing: %v", other.Msg())
	})
}

func TestWatchHeartbeats(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		d := Deps{Store: e.st, Feed: e.st, Clock: e.clock, WatchHeartbeat: 10 * time.Millisecond}
		mux := http.NewServeMux()
		mux.Handle(hookdv1connect.NewDeliveryServiceHandler(NewDeliveryService(d),
			connect.WithInterceptors(auth.NewInterceptor(e.st, auth.DefaultPolicy()))))
		srv := httptest.NewServer(mux)
		defer srv.Close()
		secret, err := auth.IssueKey(context.Background(), e.st, &store.APIKey{ProjectID: auth.DefaultProjectID, Name: "hb",
			Role: store.RoleViewer, CreateTime: e.clock.Now()})
		require.NoError(t, err)
		client := hookdv1connect.NewDeliveryServiceClient(&http.Client{Transport: bearerTransport{secret: secret, next: http.DefaultTransport}},
			srv.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stream, err := client.WatchDeliveries(ctx, creq(&hookdv1.WatchDeliveriesRequest{}))
		require.NoError(t, err)
		defer stream.Close()
		for range 3 { // the first at once, then one per interval
			require.True(t, stream.Receive(), stream.Err())
			assert.Nil(t, stream.Msg().GetDelivery())
			assert.Equal(t, e.clock.Now(), stream.Msg().GetTime().AsTime())
		}
	})
}

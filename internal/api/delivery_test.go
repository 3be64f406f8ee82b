package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
)

// listAll pages through ListDeliveries (1,000 a page) as c and returns every delivery in order.
func listAll(t *testing.T, c logClients, f *hookdv1.DeliveryFilter, queue bool) []*hookdv1.Delivery {
	t.Helper()
	var out []*hookdv1.Delivery
	token := ""
	for {
		res, err := c.deliveries.ListDeliveries(context.Background(), creq(&hookdv1.ListDeliveriesRequest{
			PageSize: 1000, PageToken: token, Filter: f, Queue: queue,
		}))
		require.NoError(t, err)
		out = append(out, res.Msg.GetDeliveries()...)
		if token = res.Msg.GetNextPageToken(); token == "" {
			return out
		}
	}
}

func deliveryIDs(ds []*hookdv1.Delivery) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.GetId())
	}
	return out
}

// newestFirst reports whether ids are in strictly descending order.
func newestFirst(ids []string) bool {
	return slices.IsSortedFunc(ids, func(a, b string) int { return strings.Compare(b, a) }) && len(slices.Compact(slices.Clone(ids))) == len(ids)
}

// deliveryTo returns the id of the delivery of res that goes to webhookID.
func deliveryTo(t *testing.T, le *logEnv, res *hookdv1.PublishEventResponse, webhookID string) string {
	t.Helper()
	for _, id := range res.GetDeliveryIds() {
		d, err := le.e.st.GetDelivery(context.Background(), auth.DefaultProjectID, id)
		require.NoError(t, err)
		if d.WebhookID == webhookID {
			return id
		}
	}
	t.Fatalf("event %s has no delivery to %s", res.GetEvent().GetId(), webhookID)
	return ""
}

func TestListDeliveries(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx := context.Background()
		e := le.e
		in := createIntegration(t, e.admin, "crm")
		wA := createIntegrationWebhook(t, e.member, "a", in.GetId())
		wB := createWebhook(t, e.member, "b")
		createEventType(t, e.member, "order.paid", nil)
		createEventType(t, e.member, "user.created", nil)
		subscribe(t, e.member, wA.GetId(), "", true, "*")
		subscribe(t, e.member, wB.GetId(), "", true, "order.paid")

		t0 := e.clock.Now()
		ev1 := le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.paid", Subject: "cus_1"})
		e.clock.Set(t0.Add(time.Minute))
		ev2 := le.publish(t, &hookdv1.PublishEventRequest{EventType: "user.created", Subject: "cus_2"})
		e.clock.Set(t0.Add(2 * time.Minute))
		ev3 := le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.paid", Subject: "cus_2"})
		a1, b1 := deliveryTo(t, le, ev1, wA.GetId()), deliveryTo(t, le, ev1, wB.GetId())
		a2 := ev2.GetDeliveryIds()[0]
		a3, b3 := deliveryTo(t, le, ev3, wA.GetId()), deliveryTo(t, le, ev3, wB.GetId())
		le.send(t, byID(map[string]verdict{
			a1: {status: store.StatusDone, code: 200},
			b1: {status: store.StatusFailed, code: 400, reason: "unknown account"},
			a2: {status: store.StatusRetrying, code: 500, next: time.Minute},
			a3: {status: store.StatusDone, code: 204},
			b3: {status: store.StatusFailed, code: 404},
		}))

		all := listAll(t, le.viewer, nil, false)
		ids := deliveryIDs(all)
		require.ElementsMatch(t, []string{a1, b1, a2, a3, b3}, ids)
		require.True(t, newestFirst(ids), "newest first: %v", ids)
		for i := 1; i < len(all); i++ {
			require.False(t, all[i].GetCreateTime().AsTime().After(all[i-1].GetCreateTime().AsTime()))
		}
		byDelivery := map[string]*hookdv1.Delivery{}
		for _, d := range all {
			byDelivery[d.GetId()] = d
			require.Empty(t, d.GetAttemptList(), "lists carry no attempts")
		}
		d := byDelivery[b1]
		require.Equal(t, ev1.GetEvent().GetId(), d.GetEventId())
		require.Equal(t, wB.GetId(), d.GetWebhookId())
		require.Empty(t, d.GetIntegrationId())
		require.Equal(t, "order.paid", d.GetEventType())
		require.Equal(t, "cus_1", d.GetSubject())
		require.Equal(t, hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED, d.GetStatus())
		require.Equal(t, int32(1), d.GetAttempts())
		require.Equal(t, int32(400), d.GetLastStatusCode())
		require.Equal(t, "unknown account", d.GetReason())
		require.Nil(t, d.GetNextAttemptTime(), "finished deliveries have no next attempt")
		d = byDelivery[a2]
		require.Equal(t, in.GetId(), d.GetIntegrationId())
		require.Equal(t, hookdv1.DeliveryStatus_DELIVERY_STATUS_RETRYING, d.GetStatus())
		require.Equal(t, e.clock.Now().Add(time.Minute), d.GetNextAttemptTime().AsTime())

		at := func(m int) *timestamppb.Timestamp { return timestamppb.New(t0.Add(time.Duration(m) * time.Minute)) }
		st := func(s ...hookdv1.DeliveryStatus) []hookdv1.DeliveryStatus { return s }
		const (
			done     = hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE
			failed   = hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED
			retrying = hookdv1.DeliveryStatus_DELIVERY_STATUS_RETRYING
			queued   = hookdv1.DeliveryStatus_DELIVERY_STATUS_QUEUED
		)
		for _, c := range []struct {
			name string
			f    *hookdv1.DeliveryFilter
			want []string
		}{
			{"status", &hookdv1.DeliveryFilter{Statuses: st(failed)}, []string{b1, b3}},
			{"statuses", &hookdv1.DeliveryFilter{Statuses: st(done, retrying)}, []string{a1, a2, a3}},
			{"no match", &hookdv1.DeliveryFilter{Statuses: st(queued)}, nil},
			{"webhook", &hookdv1.DeliveryFilter{WebhookId: wB.GetId()}, []string{b1, b3}},
			{"integration", &hookdv1.DeliveryFilter{IntegrationId: in.GetId()}, []string{a1, a2, a3}},
			{"event type", &hookdv1.DeliveryFilter{EventType: "user.created"}, []string{a2}},
			{"subject", &hookdv1.DeliveryFilter{Subject: "cus_2"}, []string{a2, a3, b3}},
			{"event", &hookdv1.DeliveryFilter{EventId: ev3.GetEvent().GetId()}, []string{a3, b3}},
			{"created after (inclusive)", &hookdv1.DeliveryFilter{CreateTimeAfter: at(1)}, []string{a2, a3, b3}},
			{"created before (exclusive)", &hookdv1.DeliveryFilter{CreateTimeBefore: at(1)}, []string{a1, b1}},
			{"created range", &hookdv1.DeliveryFilter{CreateTimeAfter: at(1), CreateTimeBefore: at(2)}, []string{a2}},
			{"combined", &hookdv1.DeliveryFilter{Statuses: st(failed, done), Subject: "cus_2", WebhookId: wA.GetId(), EventType: "order.paid"}, []string{a3}},
		} {
			got := deliveryIDs(listAll(t, le.viewer, c.f, false))
			require.ElementsMatch(t, c.want, got, c.name)
			require.True(t, newestFirst(got), c.name)
		}

		for _, c := range []struct {
			f     *hookdv1.DeliveryFilter
			field string
		}{
			{&hookdv1.DeliveryFilter{Statuses: st(done, hookdv1.DeliveryStatus_DELIVERY_STATUS_UNSPECIFIED)}, "filter.statuses[1]"},
			{&hookdv1.DeliveryFilter{Statuses: st(hookdv1.DeliveryStatus(42))}, "filter.statuses[0]"},
			{&hookdv1.DeliveryFilter{CreateTimeAfter: at(2), CreateTimeBefore: at(1)}, "filter.create_time_after"},
		} {
			_, err := le.viewer.deliveries.ListDeliveries(ctx, creq(&hookdv1.ListDeliveriesRequest{Filter: c.f}))
			requireCode(t, err, connect.CodeInvalidArgument, c.field)
		}
		_, err := le.viewer.deliveries.ListDeliveries(ctx, creq(&hookdv1.ListDeliveriesRequest{PageToken: "garbage!"}))
		requireCode(t, err, connect.CodeInvalidArgument, "page_token")
		_, err = le.viewer.deliveries.ListDeliveries(ctx, creq(&hookdv1.ListDeliveriesRequest{PageSize: -1}))
		requireCode(t, err, connect.CodeInvalidArgument, "page_size")
		require.Empty(t, listAll(t, le.other, nil, false), "other projects see none")
	})
}

func TestListDeliveriesStablePaging(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx := context.Background()
		e := le.e
		w1 := createWebhook(t, e.member, "one")
		w2 := createWebhook(t, e.member, "two")
		createEventType(t, e.member, "tick", nil)
		subscribe(t, e.member, w1.GetId(), "", true, "*")
		subscribe(t, e.member, w2.GetId(), "", true, "*")
		for range 11 {
			e.clock.Advance(time.Millisecond)
			le.publish(t, &hookdv1.PublishEventRequest{EventType: "tick"})
		}
		initial := deliveryIDs(listAll(t, le.viewer, nil, false))
		require.Len(t, initial, 22)
		require.True(t, newestFirst(initial))

		// While paging, new deliveries arrive between pages and from a concurrent publisher.
		e.clock.Advance(time.Millisecond)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var bgErr error
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := le.member.events.PublishEvent(ctx, creq(&hookdv1.PublishEventRequest{EventType: "tick", Subject: "bg"})); err != nil {
					bgErr = err
					return
				}
			}
		})
		var walked []string
		token := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 20)
			res, err := le.viewer.deliveries.ListDeliveries(ctx, creq(&hookdv1.ListDeliveriesRequest{PageSize: 4, PageToken: token}))
			require.NoError(t, err)
			require.LessOrEqual(t, len(res.Msg.GetDeliveries()), 4)
			walked = append(walked, deliveryIDs(res.Msg.GetDeliveries())...)
			le.publish(t, &hookdv1.PublishEventRequest{EventType: "tick", Subject: "between"})
			if token = res.Msg.GetNextPageToken(); token == "" {
				break
			}
		}
		close(stop)
		wg.Wait()
		require.NoError(t, bgErr)
		require.True(t, newestFirst(walked), "no row repeated, order kept: %v", walked)
		var fromStart []string
		for _, id := range walked {
			if slices.Contains(initial, id) {
				fromStart = append(fromStart, id)
			}
		}
		require.Equal(t, initial, fromStart, "every delivery that existed at the start is listed once, in order")
		_, n := le.storedCounts(t)
		require.Greater(t, n, 22+2*6, "deliveries were inserted during the walk")
	})
}

func TestQueueView(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx := context.Background()
		e := le.e
		w := createWebhook(t, e.member, "w")
		createEventType(t, e.member, "job", nil)
		subscribe(t, e.member, w.GetId(), "", true, "*")
		t0 := e.clock.Now()
		var d []string
		for range 5 {
			e.clock.Advance(time.Millisecond)
			d = append(d, le.publish(t, &hookdv1.PublishEventRequest{EventType: "job"}).GetDeliveryIds()[0])
		}
		le.send(t, byID(map[string]verdict{
			d[0]: {status: store.StatusRetrying, code: 500, next: 30 * time.Second},
			d[1]: {status: store.StatusRetrying, code: 0, next: 10 * time.Second},
			d[2]: {status: store.StatusWaiting, code: 202, next: time.Hour},
			d[3]: {status: store.StatusDone, code: 200},
			// d[4] is released without an attempt: QUEUED, due now.
		}))
		sent := e.clock.Now()
		e.clock.Set(t0.Add(time.Second))
		d = append(d, le.publish(t, &hookdv1.PublishEventRequest{EventType: "job"}).GetDeliveryIds()[0])

		wantOrder := []string{d[4], d[5], d[1], d[0], d[2]}
		queue := listAll(t, le.viewer, nil, true)
		require.Equal(t, wantOrder, deliveryIDs(queue), "by next attempt time, soonest first")
		wantNext := []time.Time{sent, t0.Add(time.Second), sent.Add(10 * time.Second), sent.Add(30 * time.Second), sent.Add(time.Hour)}
		wantAttempts := []int32{0, 0, 1, 1, 1}
		for i, q := range queue {
			require.Equal(t, wantNext[i], q.GetNextAttemptTime().AsTime(), q.GetId())
			require.Equal(t, wantAttempts[i], q.GetAttempts(), q.GetId())
		}
		require.Equal(t, hookdv1.DeliveryStatus_DELIVERY_STATUS_WAITING, queue[4].GetStatus())

		// Pages of two keep that order; filters apply.
		var walked []string
		token := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 5)
			res, err := le.viewer.deliveries.ListDeliveries(ctx, creq(&hookdv1.ListDeliveriesRequest{Queue: true, PageSize: 2, PageToken: token}))
			require.NoError(t, err)
			walked = append(walked, deliveryIDs(res.Msg.GetDeliveries())...)
			if token = res.Msg.GetNextPageToken(); token == "" {
				break
			}
		}
		require.Equal(t, wantOrder, walked)
		retrying := []hookdv1.DeliveryStatus{hookdv1.DeliveryStatus_DELIVERY_STATUS_RETRYING}
		require.Equal(t, []string{d[1], d[0]}, deliveryIDs(listAll(t, le.viewer, &hookdv1.DeliveryFilter{Statuses: retrying}, true)))
		require.Equal(t, []string{d[2]}, deliveryIDs(listAll(t, le.viewer, &hookdv1.DeliveryFilter{
			Statuses: []hookdv1.DeliveryStatus{hookdv1.DeliveryStatus_DELIVERY_STATUS_WAITING}}, true)))
		require.Empty(t, listAll(t, le.other, nil, true))

		// Finished statuses are not in the queue view; a token of the plain list is not a queue token.
		for _, s := range []hookdv1.DeliveryStatus{hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE, hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED, hookdv1.DeliveryStatus_DELIVERY_STATUS_CANCELLED} {
			_, err := le.viewer.deliveries.ListDeliveries(ctx, creq(&hookdv1.ListDeliveriesRequest{Queue: true, Filter: &hookdv1.DeliveryFilter{Statuses: append(retrying, s)}}))
			requireCode(t, err, connect.CodeInvalidArgument, "filter.statuses[1]")
		}
		plain, err := le.viewer.deliveries.ListDeliveries(ctx, creq(&hookdv1.ListDeliveriesRequest{PageSize: 1}))
		require.NoError(t, err)
		require.NotEmpty(t, plain.Msg.GetNextPageToken())
		_, err = le.viewer.deliveries.ListDeliveries(ctx, creq(&hookdv1.ListDeliveriesRequest{Queue: true, PageToken: plain.Msg.GetNextPageToken()}))
		requireCode(t, err, connect.CodeInvalidArgument, "page_token")
		forged := base64.RawURLEncoding.EncodeToString([]byte("v1:soon/" + d[0]))
		_, err = le.viewer.deliveries.ListDeliveries(ctx, creq(&hookdv1.ListDeliveriesRequest{Queue: true, PageToken: forged}))
		requireCode(t, err, connect.CodeInvalidArgument, "page_token")
	})
}

func TestGetDelivery(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx := context.Background()
		e := le.e
		in := createIntegration(t, e.admin, "crm")
		w := createIntegrationWebhook(t, e.member, "w", in.GetId())
		createEventType(t, e.member, "order.paid", nil)
		res := le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.paid", Subject: "cus_1", WebhookIds: []string{w.GetId()},
			Payload: mustStruct(t, map[string]any{"amount": 42})})
		id := res.GetDeliveryIds()[0]
		first := e.clock.Now()
		le.send(t, func(store.ClaimedDelivery) verdict {
			return verdict{status: store.StatusRetrying, code: 503, next: 6 * time.Second, reason: "busy"}
		})
		e.clock.Advance(6 * time.Second)
		le.send(t, func(store.ClaimedDelivery) verdict { return verdict{status: store.StatusDone, code: 200} })

		get := func(c logClients) *hookdv1.Delivery {
			t.Helper()
			got, err := c.deliveries.GetDelivery(ctx, creq(&hookdv1.GetDeliveryRequest{Id: id}))
			require.NoError(t, err)
			return got.Msg.GetDelivery()
		}
		d := get(le.member)
		require.Equal(t, id, d.GetId())
		require.Equal(t, hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE, d.GetStatus())
		require.Equal(t, int32(2), d.GetAttempts())
		require.Equal(t, int32(200), d.GetLastStatusCode())
		require.Len(t, d.GetAttemptList(), 2)
		for i, a := range d.GetAttemptList() {
			require.Equal(t, int32(i+1), a.GetNumber())
			require.Equal(t, first.Add(time.Duration(i)*6*time.Second), a.GetStartTime().AsTime())
			require.Equal(t, 40*time.Millisecond, a.GetDuration().AsDuration())
			require.Equal(t, "POST", a.GetRequestMethod())
			require.Equal(t, "https://hooks.example.com/"+w.GetId(), a.GetRequestUrl())
			require.JSONEq(t, `{"amount":42}`, a.GetRequestBody())
			require.Equal(t, "application/json", a.GetResponseHeaders()[0].GetValue())
		}
		a1, a2 := d.GetAttemptList()[0], d.GetAttemptList()[1]
		require.Equal(t, int32(503), a1.GetResponseStatusCode())
		require.JSONEq(t, `{"reason":"busy","attempt":1}`, a1.GetResponseBody())
		require.Equal(t, int32(200), a2.GetResponseStatusCode())
		require.JSONEq(t, `{"reason":"","attempt":2}`, a2.GetResponseBody())

		// Private integration header values are masked except for ADMIN.
		headers := func(d *hookdv1.Delivery) map[string]string {
			out := map[string]string{}
			for _, a := range d.GetAttemptList() {
				for _, h := range a.GetRequestHeaders() {
					if h.GetName() == "Authorization" {
						require.True(t, h.GetPrivate())
					}
					out[h.GetName()] = h.GetValue()
				}
			}
			return out
		}
		for _, c := range []logClients{le.member, le.viewer} {
			h := headers(get(c))
			require.Equal(t, secret.Masked, h["Authorization"])
			require.Equal(t, "core", h["X-Team"])
			require.Equal(t, id, h["webhook-id"])
		}
		require.Equal(t, "Bearer s3cret", headers(get(le.admin))["Authorization"])

		// A network error is an attempt without a response.
		res = le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.paid", WebhookIds: []string{w.GetId()}})
		le.send(t, func(store.ClaimedDelivery) verdict { return verdict{status: store.StatusRetrying, next: time.Minute} })
		got, err := le.viewer.deliveries.GetDelivery(ctx, creq(&hookdv1.GetDeliveryRequest{Id: res.GetDeliveryIds()[0]}))
		require.NoError(t, err)
		require.Len(t, got.Msg.GetDelivery().GetAttemptList(), 1)
		require.Equal(t, "dial tcp: i/o timeout", got.Msg.GetDelivery().GetAttemptList()[0].GetError())
		require.Zero(t, got.Msg.GetDelivery().GetAttemptList()[0].GetResponseStatusCode())

		_, err = le.viewer.deliveries.GetDelivery(ctx, creq(&hookdv1.GetDeliveryRequest{}))
		requireCode(t, err, connect.CodeInvalidArgument, "id")
		_, err = le.viewer.deliveries.GetDelivery(ctx, creq(&hookdv1.GetDeliveryRequest{Id: "dlv_unknown"}))
		requireCode(t, err, connect.CodeNotFound, "dlv_unknown")
		_, err = le.other.deliveries.GetDelivery(ctx, creq(&hookdv1.GetDeliveryRequest{Id: id}))
		requireCode(t, err, connect.CodeNotFound, id)
	})
}

func TestRetryDelivery(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx := context.Background()
		e := le.e
		w := createWebhook(t, e.member, "w")
		createEventType(t, e.member, "order.paid", nil)
		publish := func() string {
			return le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.paid", WebhookIds: []string{w.GetId()}}).GetDeliveryIds()[0]
		}
		failed, done := publish(), publish()
		le.send(t, byID(map[string]verdict{
			failed: {status: store.StatusFailed, code: 400, reason: "invalid account"},
			done:   {status: store.StatusDone, code: 200},
		}))

		e.clock.Advance(time.Hour)
		for _, id := range []string{failed, done} {
			res, err := le.member.deliveries.RetryDelivery(ctx, creq(&hookdv1.RetryDeliveryRequest{Id: id}))
			require.NoError(t, err)
			d := res.Msg.GetDelivery()
			require.Equal(t, id, d.GetId(), "the same delivery is resent")
			require.Equal(t, hookdv1.DeliveryStatus_DELIVERY_STATUS_RETRYING, d.GetStatus())
			require.True(t, d.GetResent())
			require.Equal(t, e.clock.Now(), d.GetNextAttemptTime().AsTime(), "due now")
			require.Equal(t, int32(1), d.GetAttempts())
		}
		// The (simulated) sender picks both up and stores a second attempt on the same deliveries.
		claimed := le.send(t, func(store.ClaimedDelivery) verdict { return verdict{status: store.StatusDone, code: 200} })
		require.ElementsMatch(t, []string{failed, done}, claimed)
		for _, id := range []string{failed, done} {
			got, err := le.viewer.deliveries.GetDelivery(ctx, creq(&hookdv1.GetDeliveryRequest{Id: id}))
			require.NoError(t, err)
			d := got.Msg.GetDelivery()
			require.Equal(t, hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE, d.GetStatus())
			require.True(t, d.GetResent())
			require.Equal(t, int32(2), d.GetAttempts())
			require.Len(t, d.GetAttemptList(), 2)
			require.Equal(t, int32(2), d.GetAttemptList()[1].GetNumber())
			require.Equal(t, e.clock.Now(), d.GetAttemptList()[1].GetStartTime().AsTime())
		}
		ds := listAll(t, le.viewer, nil, false)
		require.Len(t, ds, 2, "a resend creates no new delivery")

		// Wrong states, unknown ids, other projects, roles.
		// A RETRYING delivery waiting for its back-off is sent now ("send now" in the console's queue).
		queued := publish()
		le.send(t, byID(map[string]verdict{queued: {status: store.StatusRetrying, code: 500, next: time.Hour}}))
		res, err := le.member.deliveries.RetryDelivery(ctx, creq(&hookdv1.RetryDeliveryRequest{Id: queued}))
		require.NoError(t, err)
		require.Equal(t, hookdv1.DeliveryStatus_DELIVERY_STATUS_RETRYING, res.Msg.GetDelivery().GetStatus())
		require.False(t, res.Msg.GetDelivery().GetResent())
		require.Equal(t, e.clock.Now(), res.Msg.GetDelivery().GetNextAttemptTime().AsTime(), "due now")
		require.Equal(t, []string{queued}, le.send(t, byID(map[string]verdict{queued: {status: store.StatusDone, code: 200}})))
		cancelled := publish()
		_, err = le.member.deliveries.CancelDelivery(ctx, creq(&hookdv1.CancelDeliveryRequest{Id: cancelled}))
		require.NoError(t, err)
		_, err = le.member.deliveries.RetryDelivery(ctx, creq(&hookdv1.RetryDeliveryRequest{Id: cancelled}))
		requireCode(t, err, connect.CodeFailedPrecondition, "DONE or FAILED")
		_, err = le.member.deliveries.RetryDelivery(ctx, creq(&hookdv1.RetryDeliveryRequest{Id: "dlv_unknown"}))
		requireCode(t, err, connect.CodeNotFound, "dlv_unknown")
		_, err = le.member.deliveries.RetryDelivery(ctx, creq(&hookdv1.RetryDeliveryRequest{}))
		requireCode(t, err, connect.CodeInvalidArgument, "id")
		_, err = le.other.deliveries.RetryDelivery(ctx, creq(&hookdv1.RetryDeliveryRequest{Id: done}))
		requireCode(t, err, connect.CodeNotFound, done)
		_, err = le.viewer.deliveries.RetryDelivery(ctx, creq(&hookdv1.RetryDeliveryRequest{Id: done}))
		requireCode(t, err, connect.CodePermissionDenied, "RetryDelivery")
	})
}

func TestRetryDeliveries(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx := context.Background()
		e := le.e
		wX := createWebhook(t, e.member, "x")
		wY := createWebhook(t, e.member, "y")
		createEventType(t, e.member, "order.paid", nil)
		publish := func(webhookID string) string {
			e.clock.Advance(time.Millisecond)
			return le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.paid", WebhookIds: []string{webhookID}}).GetDeliveryIds()[0]
		}
		oldX := publish(wX.GetId())
		e.clock.Advance(time.Hour)
		since := e.clock.Now()
		x1, x2, xDone, xRetrying, y1 := publish(wX.GetId()), publish(wX.GetId()), publish(wX.GetId()), publish(wX.GetId()), publish(wY.GetId())
		le.send(t, byID(map[string]verdict{
			oldX: {status: store.StatusFailed, code: 400}, x1: {status: store.StatusFailed, code: 400},
			x2: {status: store.StatusFailed, code: 410}, xDone: {status: store.StatusDone, code: 200},
			xRetrying: {status: store.StatusRetrying, code: 500, next: time.Hour}, y1: {status: store.StatusFailed, code: 400},
		}))
		statuses := func() map[string]hookdv1.DeliveryStatus {
			out := map[string]hookdv1.DeliveryStatus{}
			for _, d := range listAll(t, le.viewer, nil, false) {
				out[d.GetId()] = d.GetStatus()
			}
			return out
		}
		before := statuses()

		e.clock.Advance(time.Minute)
		res, err := le.member.deliveries.RetryDeliveries(ctx, creq(&hookdv1.RetryDeliveriesRequest{Filter: &hookdv1.DeliveryFilter{
			Statuses: []hookdv1.DeliveryStatus{hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED}, WebhookId: wX.GetId(), CreateTimeAfter: timestamppb.New(since),
		}}))
		require.NoError(t, err)
		require.Equal(t, int32(2), res.Msg.GetCount())
		after := statuses()
		for id, s := range before {
			if id == x1 || id == x2 {
				require.Equal(t, hookdv1.DeliveryStatus_DELIVERY_STATUS_RETRYING, after[id], id)
				continue
			}
			require.Equal(t, s, after[id], "%s is unchanged", id)
		}
		claimed := le.send(t, func(store.ClaimedDelivery) verdict { return verdict{status: store.StatusDone, code: 200} })
		require.ElementsMatch(t, []string{x1, x2}, claimed, "only the resent deliveries are due")
		got, err := le.viewer.deliveries.GetDelivery(ctx, creq(&hookdv1.GetDeliveryRequest{Id: x1}))
		require.NoError(t, err)
		require.True(t, got.Msg.GetDelivery().GetResent())
		require.Len(t, got.Msg.GetDelivery().GetAttemptList(), 2)

		// Without statuses only FAILED ones are resent; DONE ones when asked.
		res, err = le.member.deliveries.RetryDeliveries(ctx, creq(&hookdv1.RetryDeliveriesRequest{Filter: &hookdv1.DeliveryFilter{WebhookId: wY.GetId()}}))
		require.NoError(t, err)
		require.Equal(t, int32(1), res.Msg.GetCount())
		res, err = le.member.deliveries.RetryDeliveries(ctx, creq(&hookdv1.RetryDeliveriesRequest{Filter: &hookdv1.DeliveryFilter{
			Statuses: []hookdv1.DeliveryStatus{hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE}, CreateTimeBefore: timestamppb.New(since),
		}}))
		require.NoError(t, err)
		require.Zero(t, res.Msg.GetCount())
		after = statuses()
		require.Equal(t, hookdv1.DeliveryStatus_DELIVERY_STATUS_RETRYING, after[y1])
		require.Equal(t, hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED, after[oldX])
		require.Equal(t, hookdv1.DeliveryStatus_DELIVERY_STATUS_RETRYING, after[xRetrying])

		_, err = le.member.deliveries.RetryDeliveries(ctx, creq(&hookdv1.RetryDeliveriesRequest{}))
		requireCode(t, err, connect.CodeInvalidArgument, "filter")
		_, err = le.member.deliveries.RetryDeliveries(ctx, creq(&hookdv1.RetryDeliveriesRequest{Filter: &hookdv1.DeliveryFilter{
			Statuses: []hookdv1.DeliveryStatus{hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED, hookdv1.DeliveryStatus_DELIVERY_STATUS_QUEUED}}}))
		requireCode(t, err, connect.CodeInvalidArgument, "filter.statuses")
		_, err = le.viewer.deliveries.RetryDeliveries(ctx, creq(&hookdv1.RetryDeliveriesRequest{Filter: &hookdv1.DeliveryFilter{}}))
		requireCode(t, err, connect.CodePermissionDenied, "RetryDeliveries")
		_, err = le.member.deliveries.RetryDeliveries(ctx, creq(&hookdv1.RetryDeliveriesRequest{Filter: &hookdv1.DeliveryFilter{}}))
		requireCode(t, err, connect.CodeInvalidArgument, "filter")
		res, err = le.other.deliveries.RetryDeliveries(ctx, creq(&hookdv1.RetryDeliveriesRequest{Filter: &hookdv1.DeliveryFilter{
			Statuses: []hookdv1.DeliveryStatus{hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED}}}))
		require.NoError(t, err)
		require.Zero(t, res.Msg.GetCount(), "other projects resend nothing of ours")
		require.Equal(t, hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED, statuses()[oldX])
	})
}

func TestCancelDelivery(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx := context.Background()
		e := le.e
		w := createWebhook(t, e.member, "w")
		createEventType(t, e.member, "order.paid", nil)
		publish := func() string {
			return le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.paid", WebhookIds: []string{w.GetId()}}).GetDeliveryIds()[0]
		}
		queued, retrying, waiting, done, inFlight := publish(), publish(), publish(), publish(), publish()
		le.send(t, byID(map[string]verdict{
			retrying: {status: store.StatusRetrying, code: 500, next: 10 * time.Second},
			waiting:  {status: store.StatusWaiting, code: 202, next: time.Hour},
			done:     {status: store.StatusDone, code: 200},
		}))
		// inFlight is claimed by the (simulated) sender and cancelled before its attempt completes.
		res, err := e.st.ClaimDeliveries(ctx, e.clock.Now(), store.ClaimRequest{Limit: 10, Lease: time.Minute, PerWebhook: 10})
		require.NoError(t, err)
		var lease store.ClaimedDelivery
		for _, c := range res.Deliveries {
			if c.ID == inFlight {
				lease = c
				continue
			}
			require.Equal(t, queued, c.ID)
			require.NoError(t, e.st.CompleteDeliveries(ctx, []store.Outcome{{DeliveryID: c.ID, ClaimToken: c.ClaimToken, Status: c.Status, NextAttemptTime: e.clock.Now()}}, e.clock.Now()))
		}
		require.Equal(t, inFlight, lease.ID)

		for _, id := range []string{queued, retrying, waiting, inFlight} {
			res, err := le.member.deliveries.CancelDelivery(ctx, creq(&hookdv1.CancelDeliveryRequest{Id: id}))
			require.NoError(t, err, id)
			require.Equal(t, hookdv1.DeliveryStatus_DELIVERY_STATUS_CANCELLED, res.Msg.GetDelivery().GetStatus())
			require.Nil(t, res.Msg.GetDelivery().GetNextAttemptTime())
		}
		// The in-flight attempt is recorded, but the delivery stays cancelled and is not retried.
		require.NoError(t, e.st.CompleteDeliveries(ctx, []store.Outcome{{
			DeliveryID: inFlight, ClaimToken: lease.ClaimToken, Status: store.StatusRetrying, NextAttemptTime: e.clock.Now().Add(time.Second),
			Attempts: 1, LastStatusCode: 500, Attempt: &store.Attempt{DeliveryID: inFlight, StartTime: e.clock.Now(), ResponseStatusCode: 500},
		}}, e.clock.Now()))
		got, err := le.viewer.deliveries.GetDelivery(ctx, creq(&hookdv1.GetDeliveryRequest{Id: inFlight}))
		require.NoError(t, err)
		require.Equal(t, hookdv1.DeliveryStatus_DELIVERY_STATUS_CANCELLED, got.Msg.GetDelivery().GetStatus())
		require.Len(t, got.Msg.GetDelivery().GetAttemptList(), 1)

		// Cancelled deliveries are never claimed again, however long we wait (leases included).
		for range 3 {
			e.clock.Advance(2 * time.Hour)
			left, err := e.st.ClaimDeliveries(ctx, e.clock.Now(), store.ClaimRequest{Limit: 100, Lease: time.Minute, PerWebhook: 100})
			require.NoError(t, err)
			require.Empty(t, left.Deliveries)
		}
		require.Empty(t, listAll(t, le.viewer, nil, true), "the queue view is empty")

		for _, id := range []string{done, queued} {
			_, err = le.member.deliveries.CancelDelivery(ctx, creq(&hookdv1.CancelDeliveryRequest{Id: id}))
			requireCode(t, err, connect.CodeFailedPrecondition, id)
		}
		got, err = le.viewer.deliveries.GetDelivery(ctx, creq(&hookdv1.GetDeliveryRequest{Id: done}))
		require.NoError(t, err)
		require.Equal(t, hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE, got.Msg.GetDelivery().GetStatus())
		// Only DONE and FAILED deliveries can be resent by hand, not cancelled ones.
		_, err = le.member.deliveries.RetryDelivery(ctx, creq(&hookdv1.RetryDeliveryRequest{Id: queued}))
		requireCode(t, err, connect.CodeFailedPrecondition, queued)
		_, err = le.member.deliveries.CancelDelivery(ctx, creq(&hookdv1.CancelDeliveryRequest{Id: "dlv_unknown"}))
		requireCode(t, err, connect.CodeNotFound, "dlv_unknown")
		_, err = le.member.deliveries.CancelDelivery(ctx, creq(&hookdv1.CancelDeliveryRequest{}))
		requireCode(t, err, connect.CodeInvalidArgument, "id")
		_, err = le.other.deliveries.CancelDelivery(ctx, creq(&hookdv1.CancelDeliveryRequest{Id: done}))
		requireCode(t, err, connect.CodeNotFound, done)
		_, err = le.viewer.deliveries.CancelDelivery(ctx, creq(&hookdv1.CancelDeliveryRequest{Id: done}))
		requireCode(t, err, connect.CodePermissionDenied, "CancelDelivery")
	})
}

// exportSeed publishes 600 events to two webhooks (1,200 deliveries, more than one export page) in two
// batches a minute apart and finishes them: every third FAILED, the rest DONE. It returns the webhooks and
// the time of the second batch.
func exportSeed(t *testing.T, le *logEnv) (wX, wY string, second time.Time) {
	t.Helper()
	ctx := context.Background()
	e := le.e
	wX, wY = createWebhook(t, e.member, "x").GetId(), createWebhook(t, e.member, "y").GetId()
	createEventType(t, e.member, "order.paid", nil)
	for batch, n := range []int{400, 200} {
		if batch == 1 {
			e.clock.Advance(time.Minute)
			second = e.clock.Now()
		}
		evs := make([]*hookdv1.PublishEventRequest, n)
		for i := range evs {
			evs[i] = &hookdv1.PublishEventRequest{EventType: "order.paid", Subject: "cus,\"quoted\"", WebhookIds: []string{wX, wY}}
		}
		_, err := le.member.events.PublishEvents(ctx, creq(&hookdv1.PublishEventsRequest{Events: evs}))
		require.NoError(t, err)
	}
	i := 0
	le.send(t, func(store.ClaimedDelivery) verdict {
		i++
		if i%3 == 0 {
			return verdict{status: store.StatusFailed, code: 400, reason: "bad, \"really\"\nbad"}
		}
		return verdict{status: store.StatusDone, code: 200}
	})
	return wX, wY, second
}

// exportStream runs ExportDeliveries as c and returns the concatenated file.
func exportStream(t *testing.T, c logClients, format hookdv1.ExportFormat, f *hookdv1.DeliveryFilter) []byte {
	t.Helper()
	stream, err := c.deliveries.ExportDeliveries(context.Background(), creq(&hookdv1.ExportDeliveriesRequest{Format: format, Filter: f}))
	require.NoError(t, err)
	defer stream.Close()
	var out []byte
	for stream.Receive() {
		chunk := stream.Msg().GetData()
		require.NotEmpty(t, chunk)
		require.LessOrEqual(t, len(chunk), exportChunk)
		out = append(out, chunk...)
	}
	require.NoError(t, stream.Err())
	return out
}

// csvIDs parses a CSV export: exactly one header row, then ids in order.
func csvIDs(t *testing.T, data []byte) []string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	require.Equal(t, csvHeader, recs[0])
	ids := []string{}
	for _, r := range recs[1:] {
		require.NotEqual(t, "id", r[0], "one header row only")
		require.Len(t, r, len(csvHeader))
		ids = append(ids, r[0])
	}
	return ids
}

// ndjsonRows parses an NDJSON export.
func ndjsonRows(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	out := []map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var row map[string]any
		if err := dec.Decode(&row); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		out = append(out, row)
	}
	require.Equal(t, len(out), bytes.Count(data, []byte("\n")), "one object per line")
	return out
}

func TestExportDeliveries(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx := context.Background()
		wX, _, second := exportSeed(t, le)
		failed := []hookdv1.DeliveryStatus{hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED}

		for _, f := range []*hookdv1.DeliveryFilter{
			nil,
			{Statuses: failed},
			{Statuses: failed, WebhookId: wX, CreateTimeAfter: timestamppb.New(second)},
			{CreateTimeBefore: timestamppb.New(second)},
			{Subject: "nobody"},
		} {
			want := deliveryIDs(listAll(t, le.viewer, f, false))
			got := csvIDs(t, exportStream(t, le.viewer, hookdv1.ExportFormat_EXPORT_FORMAT_CSV, f))
			require.Equal(t, want, got, "CSV rows are the listed deliveries, in order (filter %v)", f)
			require.Equal(t, want, csvIDs(t, exportStream(t, le.viewer, hookdv1.ExportFormat_EXPORT_FORMAT_UNSPECIFIED, f)))
			rows := ndjsonRows(t, exportStream(t, le.viewer, hookdv1.ExportFormat_EXPORT_FORMAT_NDJSON, f))
			ids := []string{}
			for _, r := range rows {
				ids = append(ids, r["id"].(string))
			}
			require.Equal(t, want, ids, "NDJSON rows (filter %v)", f)
		}
		all := listAll(t, le.viewer, nil, false)
		require.Len(t, all, 1200)

		// Field values survive quoting: commas, quotes and newlines.
		data := exportStream(t, le.viewer, hookdv1.ExportFormat_EXPORT_FORMAT_CSV, &hookdv1.DeliveryFilter{Statuses: failed})
		recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		require.NoError(t, err)
		rec := map[string]string{}
		for i, k := range recs[0] {
			rec[k] = recs[1][i]
		}
		require.Equal(t, "FAILED", rec["status"])
		require.Equal(t, `cus,"quoted"`, rec["subject"])
		require.Equal(t, "bad, \"really\"\nbad", rec["reason"])
		require.Equal(t, "400", rec["last_status_code"])
		require.Equal(t, "1", rec["attempts"])
		require.Empty(t, rec["next_attempt_time"])
		rows := ndjsonRows(t, exportStream(t, le.viewer, hookdv1.ExportFormat_EXPORT_FORMAT_NDJSON, &hookdv1.DeliveryFilter{Statuses: failed}))
		require.Equal(t, "FAILED", rows[0]["status"])
		require.Equal(t, float64(1), rows[0]["attempts"])
		require.Equal(t, float64(400), rows[0]["last_status_code"])
		require.Equal(t, false, rows[0]["resent"])
		require.Equal(t, "bad, \"really\"\nbad", rows[0]["reason"])
		require.Equal(t, recs[1][0], rows[0]["id"])

		// Bad input; other projects export a header only.
		stream, err := le.viewer.deliveries.ExportDeliveries(ctx, creq(&hookdv1.ExportDeliveriesRequest{Format: hookdv1.ExportFormat(9)}))
		require.NoError(t, err)
		require.False(t, stream.Receive())
		requireCode(t, stream.Err(), connect.CodeInvalidArgument, "format")
		stream, err = le.viewer.deliveries.ExportDeliveries(ctx, creq(&hookdv1.ExportDeliveriesRequest{Filter: &hookdv1.DeliveryFilter{
			Statuses: []hookdv1.DeliveryStatus{hookdv1.DeliveryStatus_DELIVERY_STATUS_UNSPECIFIED}}}))
		require.NoError(t, err)
		require.False(t, stream.Receive())
		requireCode(t, stream.Err(), connect.CodeInvalidArgument, "filter.statuses[0]")
		require.Empty(t, csvIDs(t, exportStream(t, le.other, hookdv1.ExportFormat_EXPORT_FORMAT_CSV, nil)))
	})
}

func TestExportDownload(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		wX, wY, second := exportSeed(t, le)
		get := func(query url.Values, bearer string) (*http.Response, []byte) {
			t.Helper()
			req, err := http.NewRequest(http.MethodGet, le.srv.URL+"/v1/deliveries/export?"+query.Encode(), nil)
			require.NoError(t, err)
			if bearer != "" {
				req.Header.Set("Authorization", "Bearer "+bearer)
			}
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			return res, body
		}
		count := func(f *hookdv1.DeliveryFilter) []string { return deliveryIDs(listAll(t, le.viewer, f, false)) }

		// Bearer, CSV by default.
		res, body := get(url.Values{}, le.secrets["member"])
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		require.Equal(t, "text/csv; charset=utf-8", res.Header.Get("Content-Type"))
		require.Regexp(t, `^attachment; filename="deliveries-\d{8}T\d{6}Z\.csv"$`, res.Header.Get("Content-Disposition"))
		require.Equal(t, count(nil), csvIDs(t, body))
		require.Len(t, csvIDs(t, body), 1200)

		// NDJSON, filters; VIEWER may export.
		q := url.Values{"format": {"ndjson"}, "status": {"failed"}, "webhook_id": {wX},
			"create_time_after": {second.Format(time.RFC3339)}}
		res, body = get(q, le.secrets["viewer"])
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		require.Equal(t, "application/x-ndjson", res.Header.Get("Content-Type"))
		want := count(&hookdv1.DeliveryFilter{Statuses: []hookdv1.DeliveryStatus{hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED}, WebhookId: wX, CreateTimeAfter: timestamppb.New(second)})
		require.NotEmpty(t, want)
		var ids []string
		for _, r := range ndjsonRows(t, body) {
			ids = append(ids, r["id"].(string))
		}
		require.Equal(t, want, ids)

		// Statuses repeated or comma-separated; the other filters.
		res, body = get(url.Values{"format": {"csv"}, "status": {"failed,DONE", "retrying"}, "webhook_id": {wY},
			"create_time_before": {second.Format(time.RFC3339Nano)}}, le.secrets["viewer"])
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		require.Equal(t, count(&hookdv1.DeliveryFilter{WebhookId: wY, CreateTimeBefore: timestamppb.New(second)}), csvIDs(t, body))
		require.Len(t, csvIDs(t, body), 400)
		res, body = get(url.Values{"subject": {`cus,"quoted"`}, "event_type": {"order.paid"}, "integration_id": {"int_none"}}, le.secrets["viewer"])
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		require.Empty(t, csvIDs(t, body))

		// Another project's key exports a header only.
		res, body = get(url.Values{}, le.secrets["other"])
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Empty(t, csvIDs(t, body))

		// Errors are Connect-style JSON naming the parameter.
		for _, c := range []struct {
			q      url.Values
			bearer string
			status int
			code   string
			want   string
		}{
			{url.Values{}, "", http.StatusUnauthorized, "unauthenticated", "API key"},
			{url.Values{"api_key": {"hk_unknown"}}, "", http.StatusUnauthorized, "unauthenticated", "no longer accepted"},
			{url.Values{"api_key": {le.secrets["viewer"]}}, "", http.StatusUnauthorized, "unauthenticated", "CreateExportLink"},
			{url.Values{}, "hk_unknown", http.StatusUnauthorized, "unauthenticated", ""},
			{url.Values{"status": {"nope"}}, le.secrets["viewer"], http.StatusBadRequest, "invalid_argument", "status"},
			{url.Values{"status": {"failed,"}}, le.secrets["viewer"], http.StatusBadRequest, "invalid_argument", "status"},
			{url.Values{"status": {"unspecified"}}, le.secrets["viewer"], http.StatusBadRequest, "invalid_argument", "status"},
			{url.Values{"format": {"xlsx"}}, le.secrets["viewer"], http.StatusBadRequest, "invalid_argument", "format"},
			{url.Values{"create_time_after": {"yesterday"}}, le.secrets["viewer"], http.StatusBadRequest, "invalid_argument", "create_time_after"},
			{url.Values{"create_time_before": {"2026-13-01T00:00:00Z"}}, le.secrets["viewer"], http.StatusBadRequest, "invalid_argument", "create_time_before"},
			{url.Values{"create_time_after": {second.Format(time.RFC3339)}, "create_time_before": {second.Format(time.RFC3339)}}, le.secrets["viewer"], http.StatusBadRequest, "invalid_argument", "create_time_after"},
		} {
			res, body := get(c.q, c.bearer)
			require.Equal(t, c.status, res.StatusCode, "%v: %s", c.q, body)
			var msg struct{ Code, Message string }
			require.NoError(t, json.Unmarshal(body, &msg), string(body))
			require.Equal(t, c.code, msg.Code)
			require.Contains(t, msg.Message, c.want)
		}
		req, err := http.NewRequest(http.MethodGet, le.srv.URL+"/v1/deliveries/export", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("a:b")))
		res, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusUnauthorized, res.StatusCode)
		res, err = http.Post(le.srv.URL+"/v1/deliveries/export", "text/plain", nil)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
	})
}

package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
)

// testMaxPayload is the payload limit of the event service under test (small, to test the limit cheaply).
const testMaxPayload = 1024

// logClients are the clients of the event and delivery services, sending one API key.
type logClients struct {
	events     hookdv1connect.EventServiceClient
	deliveries hookdv1connect.DeliveryServiceClient
}

// logEnv adds the event and delivery services and the export download to a foundation env, on a server of
// its own with keys of its own (whose secrets it keeps, for the download).
type logEnv struct {
	e   *env
	srv *httptest.Server
	reg *prometheus.Registry
	// secrets of the keys below, by name ("admin", "member", "viewer", "other").
	secrets                      map[string]string
	admin, member, viewer, other logClients
}

// logBackends runs fn on a fresh log environment over SQLite and over PostgreSQL, in parallel.
func logBackends(t *testing.T, fn func(t *testing.T, le *logEnv)) {
	t.Helper()
	backends(t, func(t *testing.T, e *env) { fn(t, withLog(t, e)) })
}

func withLog(t *testing.T, e *env) *logEnv {
	t.Helper()
	le := &logEnv{e: e, reg: prometheus.NewRegistry(), secrets: map[string]string{}}
	mux := http.NewServeMux()
	le.srv = httptest.NewServer(mux)
	t.Cleanup(le.srv.Close)
	d := Deps{Store: e.st, Feed: e.st, Clock: e.clock, Log: slog.New(slog.DiscardHandler), PublicURL: le.srv.URL, LinkKeys: secret.NewRandom(),
		MaxPayloadBytes: testMaxPayload}
	opts := handlerOptions(e.st, d.Log)
	mux.Handle(hookdv1connect.NewEventServiceHandler(NewEventService(d, EventConfig{Registerer: le.reg}), opts...))
	mux.Handle(hookdv1connect.NewDeliveryServiceHandler(NewDeliveryService(d), opts...))
	mux.Handle("/v1/deliveries/export", NewExportHandler(d, nil))

	issue := func(name, project string, role store.Role) logClients {
		secret, err := auth.IssueKey(context.Background(), e.st, &store.APIKey{ProjectID: project, Name: "log-" + name, Role: role, CreateTime: e.clock.Now()})
		require.NoError(t, err)
		le.secrets[name] = secret
		hc := &http.Client{Transport: bearerTransport{secret: secret, next: http.DefaultTransport}, Timeout: 30 * time.Second}
		return logClients{
			events:     hookdv1connect.NewEventServiceClient(hc, le.srv.URL),
			deliveries: hookdv1connect.NewDeliveryServiceClient(hc, le.srv.URL),
		}
	}
	le.admin = issue("admin", auth.DefaultProjectID, store.RoleAdmin)
	le.member = issue("member", auth.DefaultProjectID, store.RoleMember)
	le.viewer = issue("viewer", auth.DefaultProjectID, store.RoleViewer)
	le.other = issue("other", otherProjectID, store.RoleAdmin)
	return le
}

// publish publishes one event as MEMBER and fails the test on error.
func (le *logEnv) publish(t *testing.T, r *hookdv1.PublishEventRequest) *hookdv1.PublishEventResponse {
	t.Helper()
	res, err := le.member.events.PublishEvent(context.Background(), creq(r))
	require.NoError(t, err)
	return res.Msg
}

// verdict is what the simulated sender makes of one claimed delivery. The zero verdict releases the
// delivery without an attempt (QUEUED, due now), as a rate-limit delay does.
type verdict struct {
	status store.Status
	code   int
	// next is how long after now the delivery is due again (RETRYING) or waits (WAITING).
	next   time.Duration
	reason string
}

// send plays the sender (not ready yet): it claims every due delivery at the fake clock's time and completes
// each with decide's verdict and one stored attempt whose request carries a private integration header.
// It returns the claimed delivery ids.
func (le *logEnv) send(t *testing.T, decide func(d store.ClaimedDelivery) verdict) []string {
	t.Helper()
	ctx := context.Background()
	now := le.e.clock.Now()
	res, err := le.e.st.ClaimDeliveries(ctx, now, store.ClaimRequest{Limit: 5000, Lease: time.Minute, PerWebhook: 5000})
	require.NoError(t, err)
	claimed := res.Deliveries
	var ids []string
	outcomes := make([]store.Outcome, 0, len(claimed))
	for _, c := range claimed {
		ids = append(ids, c.ID)
		v := decide(c)
		o := store.Outcome{DeliveryID: c.ID, ClaimToken: c.ClaimToken, Status: v.status, LastStatusCode: v.code, Reason: v.reason,
			Attempts: c.Attempts + 1}
		if v.next > 0 {
			o.NextAttemptTime = now.Add(v.next)
		}
		if v.status == "" {
			o.Status, o.NextAttemptTime, o.Attempts = c.Status, now, c.Attempts
			outcomes = append(outcomes, o)
			continue
		}
		o.Attempt = &store.Attempt{
			DeliveryID: c.ID, StartTime: now, Duration: 40 * time.Millisecond,
			RequestMethod: "POST", RequestURL: "https://hooks.example.com/" + c.WebhookID,
			RequestHeaders: []store.Header{
				{Name: "Authorization", Value: "Bearer s3cret", Private: true},
				{Name: "X-Team", Value: "core"},
				{Name: "webhook-id", Value: c.ID},
			},
			RequestBody:        string(c.EventPayload),
			ResponseStatusCode: v.code,
			ResponseHeaders:    []store.Header{{Name: "Content-Type", Value: "application/json"}},
			ResponseBody:       fmt.Sprintf(`{"reason":%q,"attempt":%d}`, v.reason, c.Attempts+1),
		}
		if v.code == 0 {
			o.Attempt.Error = "dial tcp: i/o timeout"
		}
		outcomes = append(outcomes, o)
	}
	require.NoError(t, le.e.st.CompleteDeliveries(ctx, outcomes, now))
	return ids
}

// byID is a verdict per delivery id (deliveries not listed are released without an attempt).
func byID(m map[string]verdict) func(store.ClaimedDelivery) verdict {
	return func(d store.ClaimedDelivery) verdict { return m[d.ID] }
}

// counterValue reads a counter from the registry (0 when it has no sample yet).
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			require.Len(t, mf.GetMetric(), 1)
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// storedCounts counts the default project's events and deliveries straight from the store.
func (le *logEnv) storedCounts(t *testing.T) (events, deliveries int) {
	t.Helper()
	ctx := context.Background()
	evs, err := le.e.st.ListEvents(ctx, auth.DefaultProjectID, store.EventFilter{}, store.Page{Size: 100000})
	require.NoError(t, err)
	ds, err := le.e.st.ListDeliveries(ctx, store.ListDeliveriesParams{ProjectID: auth.DefaultProjectID, Filter: store.DeliveryFilter{}, Page: store.Page{Size: 100000}})
	require.NoError(t, err)
	return len(evs), len(ds)
}

func subscribe(t *testing.T, c clients, webhookID, subjectFilter string, enabled bool, types ...string) {
	t.Helper()
	_, err := c.subscriptions.CreateSubscription(context.Background(), creq(&hookdv1.CreateSubscriptionRequest{
		WebhookId: webhookID, EventTypes: types, SubjectFilter: subjectFilter, Enabled: &enabled,
	}))
	require.NoError(t, err)
}

func createIntegrationWebhook(t *testing.T, c clients, name, integrationID string) *hookdv1.Webhook {
	t.Helper()
	res, err := c.webhooks.CreateWebhook(context.Background(), creq(&hookdv1.CreateWebhookRequest{Name: name, IntegrationId: integrationID, Path: name}))
	require.NoError(t, err)
	return res.Msg.GetWebhook()
}

func TestPublishEvent(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx := context.Background()
		e := le.e
		in := createIntegration(t, e.admin, "crm")
		wAll := createWebhook(t, e.member, "all")
		wPaid := createWebhook(t, e.member, "paid")
		wVip := createIntegrationWebhook(t, e.member, "vip", in.GetId())
		wRefund := createWebhook(t, e.member, "refund")
		wOff := createWebhook(t, e.member, "off")
		wDirect := createWebhook(t, e.member, "direct")
		theirs := createWebhook(t, e.other, "theirs")
		_, err := e.member.eventTypes.CreateEventType(ctx, creq(&hookdv1.CreateEventTypeRequest{Name: "order.paid", Schema: mustStruct(t, map[string]any{
			"type": "object", "required": []any{"amount"}, "properties": map[string]any{"amount": map[string]any{"type": "number"}},
		})}))
		require.NoError(t, err)
		createEventType(t, e.member, "order.refunded", nil)
		createEventType(t, e.member, "user.created", nil)
		createEventType(t, e.other, "order.paid", nil)
		subscribe(t, e.member, wAll.GetId(), "", true, "*")
		subscribe(t, e.member, wPaid.GetId(), "", true, "order.paid")
		subscribe(t, e.member, wVip.GetId(), "cus_vip", true, "order.paid")
		subscribe(t, e.member, wRefund.GetId(), "", true, "order.refunded")
		subscribe(t, e.member, wOff.GetId(), "", false, "*")

		paid := func(amount float64) map[string]any { return map[string]any{"amount": amount} }
		cases := []struct {
			name string
			r    *hookdv1.PublishEventRequest
			want []string
		}{
			{"named and * subscriptions", &hookdv1.PublishEventRequest{EventType: "order.paid", Subject: "cus_1", Payload: mustStruct(t, paid(5))},
				[]string{wAll.GetId(), wPaid.GetId()}},
			{"subject filter", &hookdv1.PublishEventRequest{EventType: "order.paid", Subject: "cus_vip", Payload: mustStruct(t, paid(7))},
				[]string{wAll.GetId(), wPaid.GetId(), wVip.GetId()}},
			{"other type", &hookdv1.PublishEventRequest{EventType: "order.refunded", Subject: "cus_vip"},
				[]string{wAll.GetId(), wRefund.GetId()}},
			{"only *", &hookdv1.PublishEventRequest{EventType: "user.created"}, []string{wAll.GetId()}},
			{"explicit webhooks bypass subscriptions", &hookdv1.PublishEventRequest{EventType: "order.paid", Payload: mustStruct(t, paid(1)),
				WebhookIds: []string{wDirect.GetId(), wOff.GetId(), wDirect.GetId()}}, []string{wDirect.GetId(), wOff.GetId()}},
		}
		for i, c := range cases {
			e.clock.Advance(time.Second)
			res := le.publish(t, c.r)
			ev := res.GetEvent()
			require.True(t, strings.HasPrefix(ev.GetId(), "evt_"), c.name)
			require.Equal(t, c.r.GetEventType(), ev.GetEventType(), c.name)
			require.Equal(t, c.r.GetSubject(), ev.GetSubject(), c.name)
			require.Equal(t, e.clock.Now(), ev.GetCreateTime().AsTime(), c.name)
			if c.r.GetPayload() != nil {
				require.Equal(t, c.r.GetPayload().AsMap(), ev.GetPayload().AsMap(), c.name)
			}
			require.Len(t, res.GetDeliveryIds(), len(c.want), c.name)

			// Stored before the call returned: the event, and one QUEUED delivery per matching webhook.
			stored, err := e.st.GetEvent(ctx, auth.DefaultProjectID, ev.GetId())
			require.NoError(t, err, c.name)
			require.Equal(t, len(c.want), stored.Counts[store.StatusQueued], c.name)
			ds, err := e.st.ListDeliveries(ctx, store.ListDeliveriesParams{ProjectID: auth.DefaultProjectID, Filter: store.DeliveryFilter{EventID: ev.GetId()}, Page: store.Page{Size: 100}})
			require.NoError(t, err)
			var webhooks, ids []string
			for _, d := range ds {
				webhooks, ids = append(webhooks, d.WebhookID), append(ids, d.ID)
				require.Equal(t, store.StatusQueued, d.Status, c.name)
				require.Equal(t, c.r.GetEventType(), d.EventType, c.name)
				require.Equal(t, c.r.GetSubject(), d.Subject, c.name)
				require.Zero(t, d.Attempts, c.name)
				wantIntegration := ""
				if d.WebhookID == wVip.GetId() {
					wantIntegration = in.GetId()
				}
				require.Equal(t, wantIntegration, d.IntegrationID, c.name)
			}
			require.ElementsMatch(t, c.want, webhooks, c.name)
			require.ElementsMatch(t, res.GetDeliveryIds(), ids, c.name)
			require.Equal(t, float64(i+1), counterValue(t, le.reg, "hookd_published_events_total"))

			got, err := le.viewer.events.GetEvent(ctx, creq(&hookdv1.GetEventRequest{Id: ev.GetId()}))
			require.NoError(t, err)
			require.Equal(t, int32(len(c.want)), got.Msg.GetEvent().GetDeliveryCounts().GetQueued())
			_, err = le.other.events.GetEvent(ctx, creq(&hookdv1.GetEventRequest{Id: ev.GetId()}))
			requireCode(t, err, connect.CodeNotFound, ev.GetId())
		}
		published := float64(len(cases))

		// An idempotency key returns the first result and creates nothing.
		first := le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.paid", Subject: "cus_1", IdempotencyKey: "order-1", Payload: mustStruct(t, paid(1))})
		published++
		require.Len(t, first.GetDeliveryIds(), 2)
		events, deliveries := le.storedCounts(t)
		e.clock.Advance(time.Hour)
		again := le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.paid", Subject: "cus_vip", IdempotencyKey: "order-1", Payload: mustStruct(t, paid(2))})
		require.Equal(t, first.GetEvent().GetId(), again.GetEvent().GetId())
		require.Equal(t, first.GetDeliveryIds(), again.GetDeliveryIds())
		require.Equal(t, "cus_1", again.GetEvent().GetSubject(), "the first event is returned")
		require.Equal(t, paid(1), again.GetEvent().GetPayload().AsMap())
		evs, dls := le.storedCounts(t)
		require.Equal(t, events, evs)
		require.Equal(t, deliveries, dls)
		require.Equal(t, published, counterValue(t, le.reg, "hookd_published_events_total"), "duplicates are not counted")

		// Event types and keys are per project.
		_, err = le.other.events.PublishEvent(ctx, creq(&hookdv1.PublishEventRequest{EventType: "user.created"}))
		requireCode(t, err, connect.CodeInvalidArgument, "event_type")
		res, err := le.other.events.PublishEvent(ctx, creq(&hookdv1.PublishEventRequest{EventType: "order.paid", IdempotencyKey: "order-1"}))
		require.NoError(t, err)
		require.NotEqual(t, first.GetEvent().GetId(), res.Msg.GetEvent().GetId())
		published++

		// In one batch: a repeated key and a key used before both return the first result.
		batch, err := le.member.events.PublishEvents(ctx, creq(&hookdv1.PublishEventsRequest{Events: []*hookdv1.PublishEventRequest{
			{EventType: "order.refunded", IdempotencyKey: "refund-9"},
			{EventType: "order.refunded", IdempotencyKey: "refund-9", Subject: "someone else"},
			{EventType: "order.paid", IdempotencyKey: "order-1", Payload: mustStruct(t, paid(3))},
			{EventType: "user.created", Subject: "cus_2"},
		}}))
		require.NoError(t, err)
		rs := batch.Msg.GetResults()
		require.Len(t, rs, 4)
		require.Equal(t, rs[0].GetEvent().GetId(), rs[1].GetEvent().GetId())
		require.Equal(t, rs[0].GetDeliveryIds(), rs[1].GetDeliveryIds())
		require.Len(t, rs[0].GetDeliveryIds(), 2)
		require.Empty(t, rs[1].GetEvent().GetSubject())
		require.Equal(t, first.GetEvent().GetId(), rs[2].GetEvent().GetId())
		require.Equal(t, first.GetDeliveryIds(), rs[2].GetDeliveryIds())
		require.NotEqual(t, rs[0].GetEvent().GetId(), rs[3].GetEvent().GetId())
		require.Len(t, rs[3].GetDeliveryIds(), 1)
		evs, dls = le.storedCounts(t)
		require.Equal(t, events+2, evs)
		require.Equal(t, deliveries+3, dls)
		published += 2
		require.Equal(t, published, counterValue(t, le.reg, "hookd_published_events_total"))

		// After the 24 h window the key is free again.
		e.clock.Advance(24 * time.Hour)
		later := le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.paid", IdempotencyKey: "order-1", Payload: mustStruct(t, paid(4))})
		require.NotEqual(t, first.GetEvent().GetId(), later.GetEvent().GetId())
		published++
		events, deliveries = le.storedCounts(t)

		// Bad input names the field and stores nothing.
		big := mustStruct(t, map[string]any{"amount": 1, "blob": strings.Repeat("x", testMaxPayload)})
		single := []struct {
			name  string
			r     *hookdv1.PublishEventRequest
			field string
		}{
			{"no event type", &hookdv1.PublishEventRequest{}, "event_type"},
			{"unknown event type", &hookdv1.PublishEventRequest{EventType: "order.nope"}, "event_type"},
			{"other project's webhook", &hookdv1.PublishEventRequest{EventType: "user.created", WebhookIds: []string{theirs.GetId()}}, "webhook_ids"},
			{"payload too large", &hookdv1.PublishEventRequest{EventType: "user.created", Payload: big}, "payload"},
			{"payload against schema", &hookdv1.PublishEventRequest{EventType: "order.paid", Payload: mustStruct(t, map[string]any{"amount": "lots"})}, "payload"},
			{"payload missing a required field", &hookdv1.PublishEventRequest{EventType: "order.paid"}, "payload"},
			{"not a webhook id", &hookdv1.PublishEventRequest{EventType: "user.created", WebhookIds: []string{wAll.GetId(), "all"}}, "webhook_ids[1]"},
			{"unknown webhook", &hookdv1.PublishEventRequest{EventType: "user.created", WebhookIds: []string{"wh_unknown"}}, "webhook_ids"},
			{"long subject", &hookdv1.PublishEventRequest{EventType: "user.created", Subject: strings.Repeat("s", 257)}, "subject"},
			{"long idempotency key", &hookdv1.PublishEventRequest{EventType: "user.created", IdempotencyKey: strings.Repeat("k", 257)}, "idempotency_key"},
		}
		for _, c := range single {
			_, err := le.member.events.PublishEvent(ctx, creq(c.r))
			requireCode(t, err, connect.CodeInvalidArgument, c.field)
			// The same input inside a batch names its place, and the valid event before it is not stored either.
			_, err = le.member.events.PublishEvents(ctx, creq(&hookdv1.PublishEventsRequest{Events: []*hookdv1.PublishEventRequest{
				{EventType: "user.created"}, c.r,
			}}))
			if c.field == "webhook_ids" {
				requireCode(t, err, connect.CodeInvalidArgument, c.field) // found by the store, inside the transaction
			} else {
				requireCode(t, err, connect.CodeInvalidArgument, "events[1]."+c.field)
			}
		}
		tooMany := make([]*hookdv1.PublishEventRequest, MaxBatch+1)
		for i := range tooMany {
			tooMany[i] = &hookdv1.PublishEventRequest{EventType: "user.created"}
		}
		_, err = le.member.events.PublishEvents(ctx, creq(&hookdv1.PublishEventsRequest{Events: tooMany}))
		requireCode(t, err, connect.CodeInvalidArgument, "events")
		_, err = le.member.events.PublishEvents(ctx, creq(&hookdv1.PublishEventsRequest{}))
		requireCode(t, err, connect.CodeInvalidArgument, "events")
		evs, dls = le.storedCounts(t)
		require.Equal(t, events, evs, "no rejected publish stored an event")
		require.Equal(t, deliveries, dls)
		require.Equal(t, published, counterValue(t, le.reg, "hookd_published_events_total"))

		// A full batch of 1,000 is accepted; a payload at the limit is accepted.
		res2, err := le.member.events.PublishEvents(ctx, creq(&hookdv1.PublishEventsRequest{Events: tooMany[:MaxBatch]}))
		require.NoError(t, err)
		require.Len(t, res2.Msg.GetResults(), MaxBatch)
		fits := mustStruct(t, map[string]any{"blob": strings.Repeat("x", testMaxPayload-len(`{"blob":""}`))})
		_, err = le.member.events.PublishEvent(ctx, creq(&hookdv1.PublishEventRequest{EventType: "user.created", Payload: fits}))
		require.NoError(t, err)

		// VIEWER cannot publish.
		_, err = le.viewer.events.PublishEvent(ctx, creq(&hookdv1.PublishEventRequest{EventType: "user.created"}))
		requireCode(t, err, connect.CodePermissionDenied, "PublishEvent")
		_, err = le.viewer.events.PublishEvents(ctx, creq(&hookdv1.PublishEventsRequest{Events: tooMany[:1]}))
		requireCode(t, err, connect.CodePermissionDenied, "PublishEvents")
		evs, _ = le.storedCounts(t)
		require.Equal(t, events+MaxBatch+1, evs)
	})
}

func TestListEvents(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx := context.Background()
		e := le.e
		w1 := createWebhook(t, e.member, "one")
		w2 := createWebhook(t, e.member, "two")
		createEventType(t, e.member, "order.paid", nil)
		createEventType(t, e.member, "user.created", nil)
		subscribe(t, e.member, w1.GetId(), "", true, "*")
		subscribe(t, e.member, w2.GetId(), "", true, "order.paid")

		t0 := e.clock.Now()
		var evs []*hookdv1.PublishEventResponse
		for i, r := range []*hookdv1.PublishEventRequest{
			{EventType: "order.paid", Subject: "cus_1"},
			{EventType: "user.created", Subject: "cus_1"},
			{EventType: "order.paid", Subject: "cus_2"},
			{EventType: "user.created", Subject: "cus_2"},
		} {
			e.clock.Set(t0.Add(time.Duration(i) * time.Minute))
			evs = append(evs, le.publish(t, r))
		}
		// Event 0: DONE + FAILED; 1: QUEUED; 2: RETRYING + WAITING; 3: CANCELLED.
		webhookOf := map[string]string{}
		for _, ev := range evs {
			for _, id := range ev.GetDeliveryIds() {
				d, err := e.st.GetDelivery(ctx, auth.DefaultProjectID, id)
				require.NoError(t, err)
				webhookOf[id] = d.WebhookID
			}
		}
		pick := func(ev int, webhookID string) string {
			for _, id := range evs[ev].GetDeliveryIds() {
				if webhookOf[id] == webhookID {
					return id
				}
			}
			t.Fatalf("event %d has no delivery to %s", ev, webhookID)
			return ""
		}
		le.send(t, byID(map[string]verdict{
			pick(0, w1.GetId()): {status: store.StatusDone, code: 200},
			pick(0, w2.GetId()): {status: store.StatusFailed, code: 400, reason: "bad account"},
			pick(2, w1.GetId()): {status: store.StatusRetrying, code: 503, next: time.Minute},
			pick(2, w2.GetId()): {status: store.StatusWaiting, code: 202, next: time.Hour},
		}))
		_, err := le.member.deliveries.CancelDelivery(ctx, creq(&hookdv1.CancelDeliveryRequest{Id: pick(3, w1.GetId())}))
		require.NoError(t, err)

		var operational []string
		list := func(r *hookdv1.ListEventsRequest) []*hookdv1.Event { // without the operational events
			t.Helper()
			res, err := le.viewer.events.ListEvents(ctx, creq(r))
			require.NoError(t, err)
			var out []*hookdv1.Event
			operational = nil
			for _, ev := range res.Msg.GetEvents() {
				if health.IsOperational(ev.GetEventType()) {
					operational = append(operational, ev.GetEventType())
					continue
				}
				out = append(out, ev)
			}
			return out
		}
		idsOf := func(in []*hookdv1.Event) []string {
			var out []string
			for _, ev := range in {
				out = append(out, ev.GetId())
			}
			return out
		}
		id := func(i int) string { return evs[i].GetEvent().GetId() }
		all := list(&hookdv1.ListEventsRequest{})
		require.Equal(t, []string{health.EventDeliveryFailed}, operational, "the failed delivery's operational event")
		require.Equal(t, []string{id(3), id(2), id(1), id(0)}, idsOf(all), "newest first")
		counts := func(c *hookdv1.DeliveryCounts) [6]int32 {
			return [6]int32{c.GetQueued(), c.GetRetrying(), c.GetWaiting(), c.GetDone(), c.GetFailed(), c.GetCancelled()}
		}
		require.Equal(t, [6]int32{0, 0, 0, 0, 0, 1}, counts(all[0].GetDeliveryCounts()))
		require.Equal(t, [6]int32{0, 1, 1, 0, 0, 0}, counts(all[1].GetDeliveryCounts()))
		require.Equal(t, [6]int32{1, 0, 0, 0, 0, 0}, counts(all[2].GetDeliveryCounts()))
		require.Equal(t, [6]int32{0, 0, 0, 1, 1, 0}, counts(all[3].GetDeliveryCounts()))
		got, err := le.viewer.events.GetEvent(ctx, creq(&hookdv1.GetEventRequest{Id: id(2)}))
		require.NoError(t, err)
		require.Equal(t, [6]int32{0, 1, 1, 0, 0, 0}, counts(got.Msg.GetEvent().GetDeliveryCounts()))

		at := func(m int) *timestamppb.Timestamp { return timestamppb.New(t0.Add(time.Duration(m) * time.Minute)) }
		for _, c := range []struct {
			name string
			r    *hookdv1.ListEventsRequest
			want []string
		}{
			{"event type", &hookdv1.ListEventsRequest{EventType: "order.paid"}, []string{id(2), id(0)}},
			{"subject", &hookdv1.ListEventsRequest{Subject: "cus_1"}, []string{id(1), id(0)}},
			{"type and subject", &hookdv1.ListEventsRequest{EventType: "user.created", Subject: "cus_2"}, []string{id(3)}},
			{"after is inclusive", &hookdv1.ListEventsRequest{CreateTimeAfter: at(1)}, []string{id(3), id(2), id(1)}},
			{"before is exclusive", &hookdv1.ListEventsRequest{CreateTimeBefore: at(2)}, []string{id(1), id(0)}},
			{"range", &hookdv1.ListEventsRequest{CreateTimeAfter: at(1), CreateTimeBefore: at(3)}, []string{id(2), id(1)}},
			{"range and type", &hookdv1.ListEventsRequest{CreateTimeAfter: at(1), CreateTimeBefore: at(3), EventType: "order.paid"}, []string{id(2)}},
			{"nothing", &hookdv1.ListEventsRequest{Subject: "cus_9"}, nil},
		} {
			require.Equal(t, c.want, idsOf(list(c.r)), c.name)
		}

		// Pages are stable and keep the filter.
		require.Equal(t, []string{id(3), id(2), id(1), id(0)}, pageThrough(t, func(size int32, token string) ([]string, string, error) {
			res, err := le.viewer.events.ListEvents(ctx, creq(&hookdv1.ListEventsRequest{PageSize: size, PageToken: token}))
			if err != nil {
				return nil, "", err
			}
			var ids []string
			for _, ev := range res.Msg.GetEvents() {
				if !health.IsOperational(ev.GetEventType()) {
					ids = append(ids, ev.GetId())
				}
			}
			return ids, res.Msg.GetNextPageToken(), nil
		}))
		res, err := le.viewer.events.ListEvents(ctx, creq(&hookdv1.ListEventsRequest{PageSize: 1, CreateTimeBefore: at(2)}))
		require.NoError(t, err)
		require.Equal(t, []string{id(1)}, idsOf(res.Msg.GetEvents()))
		res, err = le.viewer.events.ListEvents(ctx, creq(&hookdv1.ListEventsRequest{PageSize: 1, CreateTimeBefore: at(2), PageToken: res.Msg.GetNextPageToken()}))
		require.NoError(t, err)
		require.Equal(t, []string{id(0)}, idsOf(res.Msg.GetEvents()))
		require.Empty(t, res.Msg.GetNextPageToken())

		// Bad input, other projects, unknown ids.
		_, err = le.viewer.events.ListEvents(ctx, creq(&hookdv1.ListEventsRequest{CreateTimeAfter: at(2), CreateTimeBefore: at(2)}))
		requireCode(t, err, connect.CodeInvalidArgument, "create_time_after")
		_, err = le.viewer.events.ListEvents(ctx, creq(&hookdv1.ListEventsRequest{PageToken: "garbage!"}))
		requireCode(t, err, connect.CodeInvalidArgument, "page_token")
		_, err = le.viewer.events.GetEvent(ctx, creq(&hookdv1.GetEventRequest{}))
		requireCode(t, err, connect.CodeInvalidArgument, "id")
		_, err = le.viewer.events.GetEvent(ctx, creq(&hookdv1.GetEventRequest{Id: "evt_unknown"}))
		requireCode(t, err, connect.CodeNotFound, "evt_unknown")
		ol, err := le.other.events.ListEvents(ctx, creq(&hookdv1.ListEventsRequest{}))
		require.NoError(t, err)
		require.Empty(t, ol.Msg.GetEvents())
		require.True(t, slices.IsSortedFunc(idsOf(all), func(a, b string) int { return strings.Compare(b, a) }))
	})
}

// TestSchemaCacheOnTheInjectedClock: publishing reuses an event type's compiled schema for eventTypeCacheTTL of the
// injected clock: a changed schema applies once that much (fake) time has passed, whatever the wall clock says.
func TestSchemaCacheOnTheInjectedClock(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx := context.Background()
		_, err := le.e.member.eventTypes.CreateEventType(ctx, creq(&hookdv1.CreateEventTypeRequest{Name: "user.created",
			Schema: mustStruct(t, map[string]any{"type": "object", "required": []any{"email"}})}))
		require.NoError(t, err)
		publish := func(payload map[string]any) error {
			_, err := le.member.events.PublishEvent(ctx, creq(&hookdv1.PublishEventRequest{EventType: "user.created", Payload: mustStruct(t, payload)}))
			return err
		}
		require.NoError(t, publish(map[string]any{"email": "ada@example.com"}))
		_, err = le.e.member.eventTypes.UpdateEventType(ctx, creq(&hookdv1.UpdateEventTypeRequest{Name: "user.created",
			Schema: mustStruct(t, map[string]any{"type": "object", "required": []any{"name"}})}))
		require.NoError(t, err)
		require.NoError(t, publish(map[string]any{"email": "ada@example.com"}), "the cached schema still applies")
		le.e.clock.Advance(eventTypeCacheTTL)
		requireCode(t, publish(map[string]any{"email": "ada@example.com"}), connect.CodeInvalidArgument, "payload")
		require.NoError(t, publish(map[string]any{"name": "Ada"}))
	})
}

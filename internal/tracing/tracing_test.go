package tracing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/actionstatus"
	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/sender"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
	"github.com/hookd/hookd/internal/tracing"
	"github.com/hookd/hookd/internal/trigger"
)

// A caller's trace context, as an instrumented publisher sends it.
const (
	callerTrace       = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan        = "00f067aa0ba902b7"
	callerTraceparent = "00-" + callerTrace + "-" + callerSpan + "-01"
	callerTracestate  = "vendor=abc,other=1"
)

// receiver records the requests it gets and answers with the scripted codes (200 once they run out).
type receiver struct {
	mu    sync.Mutex
	got   []received
	codes []int
	srv   *httptest.Server
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, codes ...int) *receiver {
	r := &receiver{codes: codes}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{header: req.Header.Clone(), body: body})
		code := http.StatusOK
		if n := len(r.got); n <= len(r.codes) {
			code = r.codes[n-1]
		}
		r.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// env is the API (EventService, WebhookService, the trigger endpoint) and a sender on one store. The API and
// the sender have tracer providers of their own, as two processes of a cluster would: spans of one trace
// reach two exporters.
type env struct {
	st       *storetest.DB
	clock    *clock.Fake
	srv      *httptest.Server
	snd      *sender.Sender
	api      *tracetest.InMemoryExporter // the API process's spans (nil when tracing is off)
	sent     *tracetest.InMemoryExporter // the sender process's spans (nil when tracing is off)
	project  string
	events   hookdv1connect.EventServiceClient
	webhooks hookdv1connect.WebhookServiceClient
}

func setup(t *testing.T, st *storetest.DB, on bool) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{st: st, clock: clock.NewFake(time.Now().UTC().Truncate(time.Second))}
	var apiTracing *tracing.Provider
	sndTP := trace.TracerProvider(nil)
	if on {
		e.api, e.sent = tracetest.NewInMemoryExporter(), tracetest.NewInMemoryExporter()
		var err error
		apiTracing, err = tracing.NewProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(e.api)))
		require.NoError(t, err)
		sndTP = sdktrace.NewTracerProvider(sdktrace.WithSyncer(e.sent))
	} else {
		s, err := tracing.Setup(ctx, tracing.Config{LookupEnvFunc: func(string) (string, bool) { return "", false }})
		require.NoError(t, err)
		require.False(t, s.Enabled())
		apiTracing, sndTP = s, s.TracerProvider()
	}
	log := slog.New(slog.DiscardHandler)
	keys := secret.NewRandom()
	var mux http.Handler
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { mux.ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	e.snd = sender.New(sender.Config{Queue: st, Targets: st, Rates: st, Clock: e.clock, Log: log, Dev: true, TracerProvider: sndTP,
		ActionKeys: keys, PublicURL: e.srv.URL})

	p := &store.Project{Name: "acme", CreateTime: e.clock.Now()}
	require.NoError(t, st.CreateProject(ctx, p))
	e.project = p.ID
	require.NoError(t, st.CreateEventType(ctx, &store.EventType{ProjectID: p.ID, Name: "user.created",
		SamplePayload: json.RawMessage(`{"id":1}`), CreateTime: e.clock.Now()}))
	key, err := auth.IssueKey(ctx, st, &store.APIKey{ProjectID: p.ID, Name: "admin", Role: store.RoleAdmin, CreateTime: e.clock.Now()})
	require.NoError(t, err)

	deps := api.Deps{Store: st, Feed: st, Clock: e.clock, Log: log, Dev: true, PublicURL: e.srv.URL}
	opts := append(apiTracing.HandlerOptions(), connect.WithInterceptors(auth.NewInterceptor(st, auth.DefaultPolicy())))
	m := http.NewServeMux()
	m.Handle(hookdv1connect.NewEventServiceHandler(api.NewEventService(deps, api.EventConfig{}), opts...))
	m.Handle(hookdv1connect.NewWebhookServiceHandler(api.NewWebhookService(deps, e.snd), opts...))
	m.Handle("/t/", apiTracing.PublicHandler(trigger.NewHandler(trigger.Config{Store: st, Rates: st, Outcomes: st.Notifier(), Clock: e.clock, Log: log,
		PublicURL: e.srv.URL}), "/t/{trigger_id}"))
	m.Handle("/v1/action-status/", apiTracing.PublicHandler(actionstatus.NewHandler(actionstatus.Config{Store: st, Keys: keys,
		Clock: e.clock, Log: log}), "/v1/action-status/{token}"))
	mux = m

	hc := &http.Client{Timeout: 30 * time.Second}
	bearer := connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, r connect.AnyRequest) (connect.AnyResponse, error) {
			r.Header().Set("Authorization", "Bearer "+key)
			return next(ctx, r)
		}
	}))
	e.events = hookdv1connect.NewEventServiceClient(hc, e.srv.URL, bearer)
	e.webhooks = hookdv1connect.NewWebhookServiceClient(hc, e.srv.URL, bearer)
	return e
}

// webhook creates a webhook to rec subscribed to every event; sendTraceparent nil leaves the default.
func (e *env) webhook(t *testing.T, rec *receiver, sendTraceparent *bool) *hookdv1.Webhook {
	t.Helper()
	ctx := context.Background()
	res, err := e.webhooks.CreateWebhook(ctx, connect.NewRequest(&hookdv1.CreateWebhookRequest{
		Name: "receiver " + rec.srv.Listener.Addr().String(), Url: rec.srv.URL + "/hook",
		SendTraceparent: sendTraceparent,
	}))
	require.NoError(t, err)
	wh := res.Msg.GetWebhook()
	require.NoError(t, e.st.CreateSubscription(ctx, &store.Subscription{ProjectID: e.project, WebhookID: wh.GetId(),
		EventTypes: []string{"*"}, Enabled: true, CreateTime: e.clock.Now()}))
	return wh
}

// deliver runs the sender once and requires it to claim n deliveries.
func (e *env) deliver(t *testing.T, n int) {
	t.Helper()
	claimed, err := e.snd.RunOnce(context.Background())
	require.NoError(t, err)
	require.Equal(t, n, claimed)
}

// spansNamed returns the exported spans of a name, oldest first.
func spansNamed(exp *tracetest.InMemoryExporter, name string) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range exp.GetSpans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func attr(s tracetest.SpanStub, key attribute.Key) attribute.Value {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// traceparentOf is the traceparent a span's context gives (what a receiver should get from that span).
func traceparentOf(sc trace.SpanContext) string {
	return fmt.Sprintf("00-%s-%s-%s", sc.TraceID(), sc.SpanID(), sc.TraceFlags())
}

// TestPublishToAttempts: a publish that carries a caller's trace context is a span of that trace (the API trusts
// its callers), and every attempt of its deliveries — made by a sender with its own tracer provider, after a
// retry — is a child of the publish span in the same trace, carrying the delivery, webhook, attempt number,
// status code and outcome, and sends its own span as traceparent (with the caller's tracestate) to the
// receiver, without changing the signature. A webhook with send_traceparent off gets no trace headers; turned on
// again, it does.
func TestPublishToAttempts(t *testing.T) {
	t.Parallel()
	storetest.ForEachStore(t, func(t *testing.T, st *storetest.DB) {
		ctx := context.Background()
		e := setup(t, st, true)
		flaky, quiet := newReceiver(t, http.StatusInternalServerError), newReceiver(t)
		whFlaky := e.webhook(t, flaky, nil)
		assert.True(t, whFlaky.GetSendTraceparent(), "send_traceparent defaults to true")
		whQuiet := e.webhook(t, quiet, proto.Bool(false))
		assert.False(t, whQuiet.GetSendTraceparent())

		req := connect.NewRequest(&hookdv1.PublishEventRequest{EventType: "user.created"})
		req.Header().Set("traceparent", callerTraceparent)
		req.Header().Set("tracestate", callerTracestate)
		pub, err := e.events.PublishEvent(ctx, req)
		require.NoError(t, err)
		require.Len(t, pub.Msg.GetDeliveryIds(), 2)

		e.deliver(t, 2)                   // flaky: 500 (retrying); quiet: 200
		e.clock.Advance(10 * time.Minute) // past the first retry's due time
		e.deliver(t, 1)                   // flaky: 200

		publishes := spansNamed(e.api, "hookd.v1.EventService/PublishEvent")
		require.Len(t, publishes, 1)
		publish := publishes[0]
		assert.Equal(t, trace.SpanKindServer, publish.SpanKind)
		assert.Equal(t, callerTrace, publish.SpanContext.TraceID().String(), "the caller's trace continues")
		assert.Equal(t, callerSpan, publish.Parent.SpanID().String())
		assert.Equal(t, pub.Msg.GetEvent().GetId(), attr(publish, tracing.KeyEventID).AsString())

		attempts := spansNamed(e.sent, "webhook attempt")
		require.Len(t, attempts, 3)
		byWebhook := map[string]tracetest.SpanStubs{}
		for _, a := range attempts {
			assert.Equal(t, trace.SpanKindClient, a.SpanKind)
			assert.Equal(t, publish.SpanContext.TraceID(), a.SpanContext.TraceID(), "an attempt joins the publish's trace")
			assert.Equal(t, publish.SpanContext.SpanID(), a.Parent.SpanID(), "an attempt is a child of the publish span")
			assert.True(t, a.Parent.IsRemote(), "the parent comes from the stored trace context")
			assert.Equal(t, pub.Msg.GetEvent().GetId(), attr(a, tracing.KeyEventID).AsString())
			assert.Equal(t, "POST", attr(a, "http.request.method").AsString())
			byWebhook[attr(a, tracing.KeyWebhookID).AsString()] = append(byWebhook[attr(a, tracing.KeyWebhookID).AsString()], a)
		}
		flakySpans, quietSpans := byWebhook[whFlaky.GetId()], byWebhook[whQuiet.GetId()]
		require.Len(t, flakySpans, 2)
		require.Len(t, quietSpans, 1)

		first, second := flakySpans[0], flakySpans[1]
		assert.Equal(t, int64(1), attr(first, tracing.KeyAttemptNumber).AsInt64())
		assert.Equal(t, int64(500), attr(first, "http.response.status_code").AsInt64())
		assert.Equal(t, "retrying", attr(first, tracing.KeyOutcome).AsString())
		assert.Equal(t, "500", attr(first, "error.type").AsString())
		assert.Equal(t, codes.Error, first.Status.Code, "a failed attempt is an error")
		assert.Equal(t, int64(2), attr(second, tracing.KeyAttemptNumber).AsInt64())
		assert.Equal(t, int64(200), attr(second, "http.response.status_code").AsInt64())
		assert.Equal(t, "done", attr(second, tracing.KeyOutcome).AsString())
		assert.Equal(t, codes.Unset, second.Status.Code)
		assert.Equal(t, attr(first, tracing.KeyDeliveryID), attr(second, tracing.KeyDeliveryID))
		assert.Contains(t, pub.Msg.GetDeliveryIds(), attr(first, tracing.KeyDeliveryID).AsString())
		assert.Equal(t, "done", attr(quietSpans[0], tracing.KeyOutcome).AsString(), "attempts are traced with the header off too")

		// The receiver sees each attempt's own span as parent, and the caller's tracestate; the signature covers
		// id.timestamp.body only.
		wv, err := standardwebhooks.NewWebhook(whFlaky.GetSecret())
		require.NoError(t, err)
		got := flaky.requests()
		require.Len(t, got, 2)
		for i, r := range got {
			assert.Equal(t, traceparentOf(flakySpans[i].SpanContext), r.header.Get("traceparent"), "attempt %d", i+1)
			assert.Equal(t, callerTracestate, r.header.Get("tracestate"))
			assert.NoError(t, wv.VerifyIgnoringTimestamp(r.body, r.header))
		}
		atts, err := st.ListAttempts(ctx, e.project, attr(first, tracing.KeyDeliveryID).AsString())
		require.NoError(t, err)
		require.Len(t, atts, 2)
		assert.True(t, slices.ContainsFunc(atts[0].RequestHeaders, func(h store.Header) bool {
			return h.Name == "traceparent" && h.Value == got[0].header.Get("traceparent")
		}), "the attempt log shows the traceparent sent: %v", atts[0].RequestHeaders)
		require.Len(t, quiet.requests(), 1)
		assert.Empty(t, quiet.requests()[0].header.Values("traceparent"), "send_traceparent off")
		assert.Empty(t, quiet.requests()[0].header.Values("tracestate"))

		// Turned on again (served by GetWebhook), the next attempt carries it.
		up, err := e.webhooks.UpdateWebhook(ctx, connect.NewRequest(&hookdv1.UpdateWebhookRequest{Id: whQuiet.GetId(), SendTraceparent: proto.Bool(true)}))
		require.NoError(t, err)
		assert.True(t, up.Msg.GetWebhook().GetSendTraceparent())
		gw, err := e.webhooks.GetWebhook(ctx, connect.NewRequest(&hookdv1.GetWebhookRequest{Id: whQuiet.GetId()}))
		require.NoError(t, err)
		assert.True(t, gw.Msg.GetWebhook().GetSendTraceparent())
		e.clock.Advance(time.Minute) // past the sender's webhook cache
		_, err = e.events.PublishEvent(ctx, connect.NewRequest(&hookdv1.PublishEventRequest{EventType: "user.created", WebhookIds: []string{whQuiet.GetId()}}))
		require.NoError(t, err)
		e.deliver(t, 1)
		require.Len(t, quiet.requests(), 2)
		last := spansNamed(e.sent, "webhook attempt")
		assert.Equal(t, traceparentOf(last[len(last)-1].SpanContext), quiet.requests()[1].header.Get("traceparent"))
		assert.Empty(t, quiet.requests()[1].header.Get("tracestate"), "this publish had no tracestate")
	})
}

// TestTriggerLeadsToAttempts: a request to a trigger URL — which anyone may call — starts a trace of its own
// (linked to the caller's span, not its child); the event it publishes carries that trace to the attempts.
func TestTriggerLeadsToAttempts(t *testing.T) {
	t.Parallel()
	storetest.ForEachStore(t, func(t *testing.T, st *storetest.DB) {
		ctx := context.Background()
		e := setup(t, st, true)
		rec := newReceiver(t)
		e.webhook(t, rec, nil)
		trg := &store.Trigger{ProjectID: e.project, Name: "shop", EventType: "user.created", RateLimitPerSecond: 50, Enabled: true,
			CreateTime: e.clock.Now()}
		require.NoError(t, st.CreateTrigger(ctx, trg))

		req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/t/"+trg.ID, strings.NewReader(`{"order":1}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("traceparent", callerTraceparent)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		e.deliver(t, 1)

		inbound := spansNamed(e.api, "POST /t/{trigger_id}")
		require.Len(t, inbound, 1)
		in := inbound[0]
		assert.Equal(t, trace.SpanKindServer, in.SpanKind)
		assert.NotEqual(t, callerTrace, in.SpanContext.TraceID().String(), "an untrusted caller's trace is not continued")
		require.Len(t, in.Links, 1)
		assert.Equal(t, callerTrace, in.Links[0].SpanContext.TraceID().String(), "but linked")
		assert.Equal(t, trg.ID, attr(in, tracing.KeyTriggerID).AsString())
		assert.Equal(t, "/t/{trigger_id}", attr(in, "url.path").AsString())
		assert.True(t, strings.HasPrefix(attr(in, tracing.KeyExecutionID).AsString(), "exe_"))
		eventID := attr(in, tracing.KeyEventID).AsString()
		require.True(t, strings.HasPrefix(eventID, "evt_"), eventID)

		attempts := spansNamed(e.sent, "webhook attempt")
		require.Len(t, attempts, 1)
		assert.Equal(t, in.SpanContext.TraceID(), attempts[0].SpanContext.TraceID())
		assert.Equal(t, in.SpanContext.SpanID(), attempts[0].Parent.SpanID())
		assert.Equal(t, eventID, attr(attempts[0], tracing.KeyEventID).AsString())
		require.Len(t, rec.requests(), 1)
		assert.Equal(t, traceparentOf(attempts[0].SpanContext), rec.requests()[0].header.Get("traceparent"))
	})
}

// TestTestSendIsTraced: TestWebhook's request is a span of the call's trace and carries traceparent.
func TestTestSendIsTraced(t *testing.T) {
	t.Parallel()
	st := storetest.NewSQLite(t)
	e := setup(t, st, true)
	rec := newReceiver(t)
	wh := e.webhook(t, rec, nil)
	req := connect.NewRequest(&hookdv1.TestWebhookRequest{Id: wh.GetId(), EventType: "user.created"})
	req.Header().Set("traceparent", callerTraceparent)
	_, err := e.webhooks.TestWebhook(context.Background(), req)
	require.NoError(t, err)
	sends := spansNamed(e.sent, "webhook test send")
	require.Len(t, sends, 1)
	assert.Equal(t, callerTrace, sends[0].SpanContext.TraceID().String())
	calls := spansNamed(e.api, "hookd.v1.WebhookService/TestWebhook")
	require.Len(t, calls, 1)
	assert.Equal(t, calls[0].SpanContext.SpanID(), sends[0].Parent.SpanID())
	require.Len(t, rec.requests(), 1)
	assert.Equal(t, traceparentOf(sends[0].SpanContext), rec.requests()[0].header.Get("traceparent"))
}

// TestOffSendsNothing: with tracing off (no exporter in the environment) nothing is extracted, stored or sent,
// even with send_traceparent on and a caller's traceparent on the publish.
func TestOffSendsNothing(t *testing.T) {
	t.Parallel()
	storetest.ForEachStore(t, func(t *testing.T, st *storetest.DB) {
		ctx := context.Background()
		e := setup(t, st, false)
		rec := newReceiver(t)
		e.webhook(t, rec, nil)
		req := connect.NewRequest(&hookdv1.PublishEventRequest{EventType: "user.created"})
		req.Header().Set("traceparent", callerTraceparent)
		pub, err := e.events.PublishEvent(ctx, req)
		require.NoError(t, err)
		ev, err := st.GetEvent(ctx, e.project, pub.Msg.GetEvent().GetId())
		require.NoError(t, err)
		assert.Equal(t, store.TraceContext{}, ev.Trace)
		e.deliver(t, 1)
		require.Len(t, rec.requests(), 1)
		assert.Empty(t, rec.requests()[0].header.Values("traceparent"))
	})
}

// TestActionStatusLinksToTheAttempt: an async receiver answers 202 and later posts to meta.link with the
// traceparent it got; the callback's span links to the attempt's span (the link is public: not its child) and
// shows the route, never the token.
func TestActionStatusLinksToTheAttempt(t *testing.T) {
	t.Parallel()
	st := storetest.NewSQLite(t)
	ctx := context.Background()
	e := setup(t, st, true)
	rec := newReceiver(t, http.StatusAccepted)
	res, err := e.webhooks.CreateWebhook(ctx, connect.NewRequest(&hookdv1.CreateWebhookRequest{Name: "job", Url: rec.srv.URL,
		AsyncStatus: true}))
	require.NoError(t, err)
	pub, err := e.events.PublishEvent(ctx, connect.NewRequest(&hookdv1.PublishEventRequest{EventType: "user.created",
		WebhookIds: []string{res.Msg.GetWebhook().GetId()}}))
	require.NoError(t, err)
	e.deliver(t, 1)
	d, err := st.GetDelivery(ctx, e.project, pub.Msg.GetDeliveryIds()[0])
	require.NoError(t, err)
	require.Equal(t, store.StatusWaiting, d.Status)

	got := rec.requests()
	require.Len(t, got, 1)
	var body struct {
		Meta struct {
			Link string `json:"link"`
		} `json:"meta"`
	}
	require.NoError(t, json.Unmarshal(got[0].body, &body))
	token := body.Meta.Link[strings.LastIndex(body.Meta.Link, "/")+1:]
	require.NotEmpty(t, token)
	cb, err := http.NewRequest(http.MethodPost, body.Meta.Link, strings.NewReader(`{"status":"done"}`))
	require.NoError(t, err)
	cb.Header.Set("traceparent", got[0].header.Get("traceparent"))
	resp, err := http.DefaultClient.Do(cb)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	d, err = st.GetDelivery(ctx, e.project, pub.Msg.GetDeliveryIds()[0])
	require.NoError(t, err)
	assert.Equal(t, store.StatusDone, d.Status)

	attempts := spansNamed(e.sent, "webhook attempt")
	require.Len(t, attempts, 1)
	assert.Equal(t, "waiting", attr(attempts[0], tracing.KeyOutcome).AsString())
	assert.Equal(t, codes.Unset, attempts[0].Status.Code, "WAITING is not a failure")
	callbacks := spansNamed(e.api, "POST /v1/action-status/{token}")
	require.Len(t, callbacks, 1)
	require.Len(t, callbacks[0].Links, 1)
	assert.Equal(t, attempts[0].SpanContext.SpanID(), callbacks[0].Links[0].SpanContext.SpanID())
	assert.Equal(t, attempts[0].SpanContext.TraceID(), callbacks[0].Links[0].SpanContext.TraceID())
	assert.NotEqual(t, attempts[0].SpanContext.TraceID(), callbacks[0].SpanContext.TraceID())
	for _, kv := range callbacks[0].Attributes {
		assert.NotContains(t, kv.Value.String(), token, "attribute %s shows the token", kv.Key)
	}
	assert.Equal(t, int64(200), attr(callbacks[0], "http.response.status_code").AsInt64())
}

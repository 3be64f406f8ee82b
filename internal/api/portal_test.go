package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
	"github.com/hookd/hookd/internal/strictjson"
)

// tenantEnv serves every service as hookd serve does (error boundary, one Authenticator on the fake clock) over
// plain HTTP, for raw Connect JSON calls with an ADMIN key or portal tokens.
type tenantEnv struct {
	st    *storetest.DB
	clock *clock.Fake
	srv   *httptest.Server
	admin string
}

func newTenantEnv(t *testing.T, st *storetest.DB) *tenantEnv {
	t.Helper()
	ctx := context.Background()
	e := &tenantEnv{st: st, clock: clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))}
	require.NoError(t, st.CreateProject(ctx, &store.Project{ID: auth.DefaultProjectID, Name: "default", CreateTime: e.clock.Now()}))
	authn := auth.NewAuthenticator(st, e.clock)
	d := Deps{Store: st, Feed: st, Clock: e.clock, Log: slog.New(slog.DiscardHandler), Auth: authn, WatchHeartbeat: 20 * time.Millisecond,
		Dev: true, PublicURL: "https://hookd.example"}
	opts := append([]connect.HandlerOption{connect.WithInterceptors(apierr.NewInterceptor(d.Log), authn.Interceptor(auth.DefaultPolicy()))},
		strictjson.HandlerOptions()...)
	mux := http.NewServeMux()
	mux.Handle(hookdv1connect.NewProjectServiceHandler(NewProjectService(d), opts...))
	mux.Handle(hookdv1connect.NewApiKeyServiceHandler(NewApiKeyService(d), opts...))
	mux.Handle(hookdv1connect.NewIntegrationServiceHandler(NewIntegrationService(d), opts...))
	mux.Handle(hookdv1connect.NewWebhookServiceHandler(NewWebhookService(d, &fakeTester{}), opts...))
	mux.Handle(hookdv1connect.NewEventTypeServiceHandler(NewEventTypeService(d), opts...))
	mux.Handle(hookdv1connect.NewSubscriptionServiceHandler(NewSubscriptionService(d), opts...))
	mux.Handle(hookdv1connect.NewEventServiceHandler(NewEventService(d, EventConfig{}), opts...))
	mux.Handle(hookdv1connect.NewDeliveryServiceHandler(NewDeliveryService(d), opts...))
	mux.Handle(hookdv1connect.NewTriggerServiceHandler(NewTriggerService(d, TriggerConfig{}), opts...))
	mux.Handle(hookdv1connect.NewPortalServiceHandler(NewPortalService(d), opts...))
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	k := &store.APIKey{ProjectID: auth.DefaultProjectID, Name: "admin", Role: store.RoleAdmin, CreateTime: e.clock.Now()}
	secret, err := auth.IssueKey(ctx, st, k)
	require.NoError(t, err)
	e.admin = secret
	return e
}

// call posts body (JSON) to procedure with token and returns the Connect code ("ok" on success) and the decoded
// response.
func (e *tenantEnv) call(t *testing.T, token, procedure string, body any) (string, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+procedure, bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := map[string]any{}
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	}
	if resp.StatusCode == http.StatusOK {
		return "ok", out
	}
	code, _ := out["code"].(string)
	return code, out
}

// must is call expecting success; it returns the response.
func (e *tenantEnv) must(t *testing.T, token, procedure string, body any) map[string]any {
	t.Helper()
	code, out := e.call(t, token, procedure, body)
	require.Equal(t, "ok", code, "%s: %v", procedure, out)
	return out
}

func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, _ := v.(map[string]any)
		v = mm[p]
	}
	return v
}

const (
	procCreateWebhook = "/hookd.v1.WebhookService/CreateWebhook"
	procSubscribe     = "/hookd.v1.SubscriptionService/CreateSubscription"
	procPublish       = "/hookd.v1.EventService/PublishEvent"
	procSession       = "/hookd.v1.PortalService/CreatePortalSession"
)

// webhook creates a webhook of tenant (via the ADMIN key) subscribed to every event type and returns its id.
func (e *tenantEnv) webhook(t *testing.T, name, tenant string) string {
	t.Helper()
	out := e.must(t, e.admin, procCreateWebhook, map[string]any{"name": name, "url": "https://example.com/" + name, "tenantId": tenant})
	id := field(out, "webhook", "id").(string)
	assert.Equal(t, tenant, stringOr(field(out, "webhook", "tenantId")))
	e.must(t, e.admin, procSubscribe, map[string]any{"webhookId": id, "eventTypes": []string{"*"}})
	return id
}

func stringOr(v any) string { s, _ := v.(string); return s }

// publish publishes an order.paid event for tenant (and webhooks, when given) and returns the event id and
// the delivery ids' webhooks, sorted.
func (e *tenantEnv) publish(t *testing.T, tenant string, byWebhook map[string]string, webhooks ...string) (string, []string) {
	t.Helper()
	body := map[string]any{"eventType": "order.paid", "payload": map[string]any{"total": 1}, "tenantId": tenant}
	if len(webhooks) > 0 {
		body["webhookIds"] = webhooks
	}
	out := e.must(t, e.admin, procPublish, body)
	var got []string
	ids, _ := out["deliveryIds"].([]any)
	for _, id := range ids {
		d := e.must(t, e.admin, "/hookd.v1.DeliveryService/GetDelivery", map[string]any{"id": id})
		wh := field(d, "delivery", "webhookId").(string)
		got = append(got, byWebhook[wh])
		if byWebhook != nil {
			assert.Equal(t, tenantOfName(byWebhook[wh]), stringOr(field(d, "delivery", "tenantId")), "a delivery's tenant is its webhook's")
		}
	}
	sort.Strings(got)
	return field(out, "event", "id").(string), got
}

func tenantOfName(n string) string {
	switch n {
	case "T1":
		return "t1"
	case "T2":
		return "t2"
	}
	return ""
}

// TestTenantRouting: events of tenant t1, t2 and of no tenant against webhooks of t1, t2 and the project's own
// (every one subscribed to "*") give exactly the expected deliveries; a directed publish across tenants is refused;
// the tenant_id filters of ListWebhooks, ListEvents and ListDeliveries list one tenant's objects.
func TestTenantRouting(t *testing.T) {
	t.Parallel()
	storetest.ForEachStoreParallel(t, func(t *testing.T, st *storetest.DB) {
		e := newTenantEnv(t, st)
		e.must(t, e.admin, "/hookd.v1.EventTypeService/CreateEventType", map[string]any{"name": "order.paid"})
		w1, w2, wp := e.webhook(t, "T1", "t1"), e.webhook(t, "T2", "t2"), e.webhook(t, "P", "")
		names := map[string]string{w1: "T1", w2: "T2", wp: "P"}

		for _, c := range []struct {
			tenant string
			want   []string
		}{
			{"t1", []string{"P", "T1"}},
			{"t2", []string{"P", "T2"}},
			{"", []string{"P"}},
			{"t3", []string{"P"}},
		} {
			_, got := e.publish(t, c.tenant, names)
			assert.Equal(t, c.want, got, "event of tenant %q", c.tenant)
		}

		// Directed publishes: the event's tenant's webhooks and the project's own, never another tenant's.
		_, got := e.publish(t, "t1", names, w1, wp)
		assert.Equal(t, []string{"P", "T1"}, got)
		for _, c := range []struct {
			tenant, webhook string
		}{{"t1", w2}, {"", w1}, {"t3", w2}} {
			code, out := e.call(t, e.admin, procPublish, map[string]any{"eventType": "order.paid", "tenantId": c.tenant,
				"webhookIds": []string{c.webhook}})
			assert.Equal(t, "invalid_argument", code, "directed publish of tenant %q to %s: %v", c.tenant, names[c.webhook], out)
			assert.Contains(t, out["message"], "webhook_ids")
		}
		code, _ := e.call(t, e.admin, procPublish, map[string]any{"eventType": "order.paid", "tenantId": "bad tenant!"})
		assert.Equal(t, "invalid_argument", code)

		// Filters.
		ws := e.must(t, e.admin, "/hookd.v1.WebhookService/ListWebhooks", map[string]any{"tenantId": "t1"})["webhooks"].([]any)
		require.Len(t, ws, 1)
		assert.Equal(t, w1, field(ws[0].(map[string]any), "id"))
		evs := e.must(t, e.admin, "/hookd.v1.EventService/ListEvents", map[string]any{"tenantId": "t2"})["events"].([]any)
		assert.Len(t, evs, 1)
		ds := e.must(t, e.admin, "/hookd.v1.DeliveryService/ListDeliveries", map[string]any{"filter": map[string]any{"tenantId": "t1"}})["deliveries"].([]any)
		assert.Len(t, ds, 2, "the t1 event's delivery to T1 and the directed one")
		for _, d := range ds {
			assert.Equal(t, w1, field(d.(map[string]any), "webhookId"))
		}

		// Moving a webhook to another tenant needs ADMIN, and routing follows it.
		e.must(t, e.admin, "/hookd.v1.WebhookService/UpdateWebhook", map[string]any{"id": w2, "tenantId": "t1"})
		names[w2] = "T1"
		_, got = e.publish(t, "t1", map[string]string{w1: "T1", w2: "T1", wp: "P"})
		assert.Equal(t, []string{"P", "T1", "T1"}, got)
		_, got = e.publish(t, "t2", names)
		assert.Equal(t, []string{"P"}, got)
	})
}

// session mints a portal session of tenant with role and returns its token.
func (e *tenantEnv) session(t *testing.T, tenant, role, ttl string, types ...string) string {
	t.Helper()
	body := map[string]any{"tenantId": tenant, "role": role, "allowedOrigins": []string{"https://app.example"}}
	if ttl != "" {
		body["ttl"] = ttl
	}
	if len(types) > 0 {
		body["eventTypes"] = types
	}
	out := e.must(t, e.admin, procSession, body)
	token := out["token"].(string)
	require.True(t, auth.IsPortalToken(token))
	assert.Equal(t, "https://hookd.example/portal/"+out["sessionId"].(string)+"#token="+token, out["portalUrl"])
	return token
}

// TestPortalTokenConfinement calls every RPC with a t1 MEMBER token, a t1 VIEWER token, an expired and a revoked
// token, and checks the code PortalTable gives; then calls the tenant RPCs with t2's ids (not_found) and checks
// that lists and WatchDeliveries never show t2's objects.
func TestPortalTokenConfinement(t *testing.T) {
	t.Parallel()
	storetest.ForEachStoreParallel(t, func(t *testing.T, st *storetest.DB) {
		ctx := context.Background()
		e := newTenantEnv(t, st)
		e.must(t, e.admin, "/hookd.v1.EventTypeService/CreateEventType", map[string]any{"name": "order.paid",
			"samplePayload": map[string]any{"total": 1}})
		e.must(t, e.admin, "/hookd.v1.EventTypeService/CreateEventType", map[string]any{"name": "secret.stuff"})

		revoked := e.session(t, "t1", "ROLE_MEMBER", "")
		out := e.must(t, e.admin, "/hookd.v1.PortalService/RevokePortalSessions", map[string]any{"tenantId": "t1"})
		assert.EqualValues(t, 1, out["count"])
		expired := e.session(t, "t1", "ROLE_MEMBER", "60s")
		e.clock.Advance(61 * time.Second)
		member := e.session(t, "t1", "ROLE_MEMBER", "", "order.paid")
		viewer := e.session(t, "t1", "ROLE_VIEWER", "", "order.paid")
		other := e.session(t, "t2", "ROLE_MEMBER", "")

		// Every RPC, by the table.
		for proc, access := range auth.PortalTable {
			if proc == hookdv1connect.ActionStatusServiceUpdateActionStatusProcedure ||
				proc == hookdv1connect.DeliveryServiceExportDeliveriesProcedure || proc == hookdv1connect.DeliveryServiceWatchDeliveriesProcedure ||
				proc == hookdv1connect.DeliveryServiceListenDeliveriesProcedure {
				continue // public (its token is the capability); server streams are called below
			}
			for _, c := range []struct {
				name, token string
				allowed     bool
			}{
				{"member", member, access != auth.PortalDenied},
				{"viewer", viewer, access == auth.PortalRead},
			} {
				code, out := e.call(t, c.token, proc, map[string]any{})
				if c.allowed {
					assert.NotContains(t, []string{"permission_denied", "unauthenticated"}, code, "%s as %s: %v", proc, c.name, out)
				} else {
					assert.Equal(t, "permission_denied", code, "%s as %s: %v", proc, c.name, out)
				}
			}
			for name, token := range map[string]string{"expired": expired, "revoked": revoked} {
				code, out := e.call(t, token, proc, map[string]any{})
				assert.Equal(t, "unauthenticated", code, "%s with the %s token: %v", proc, name, out)
			}
		}

		// t2's objects are not_found to t1; t1's own work.
		w2 := e.must(t, other, procCreateWebhook, map[string]any{"name": "t2 hook", "url": "https://t2.example/hook"})["webhook"].(map[string]any)
		assert.Equal(t, "t2", w2["tenantId"], "a portal token creates its own tenant's webhooks")
		wh2 := w2["id"].(string)
		sub2 := field(e.must(t, other, procSubscribe, map[string]any{"webhookId": wh2, "eventTypes": []string{"*"}}), "subscription", "id")
		w1 := e.must(t, member, procCreateWebhook, map[string]any{"name": "t1 hook", "url": "https://t1.example/hook"})["webhook"].(map[string]any)
		wh1 := w1["id"].(string)
		assert.NotEmpty(t, w1["secret"], "a MEMBER session sees its own webhook's secret")
		code, _ := e.call(t, member, procSubscribe, map[string]any{"webhookId": wh1, "eventTypes": []string{"secret.stuff"}})
		assert.Equal(t, "invalid_argument", code, "an event type outside the allow-list")
		code, _ = e.call(t, member, procSubscribe, map[string]any{"webhookId": wh1, "eventTypes": []string{"*"}})
		assert.Equal(t, "invalid_argument", code, "* with an allow-list")
		e.must(t, member, procSubscribe, map[string]any{"webhookId": wh1, "eventTypes": []string{"order.paid"}})
		code, _ = e.call(t, member, procCreateWebhook, map[string]any{"name": "x", "url": "https://t1.example/x", "integrationId": "int_x"})
		assert.Equal(t, "permission_denied", code, "no integrations for a portal token")
		code, _ = e.call(t, member, "/hookd.v1.EventTypeService/GetEventType", map[string]any{"name": "secret.stuff"})
		assert.Equal(t, "not_found", code)
		ets := e.must(t, member, "/hookd.v1.EventTypeService/ListEventTypes", map[string]any{})["eventTypes"].([]any)
		require.Len(t, ets, 1)
		assert.Equal(t, "order.paid", field(ets[0].(map[string]any), "name"))

		evt2, _ := e.publish(t, "t2", nil)
		evt1, _ := e.publish(t, "t1", nil)
		ds2 := e.must(t, e.admin, "/hookd.v1.DeliveryService/ListDeliveries", map[string]any{"filter": map[string]any{"tenantId": "t2"}})["deliveries"].([]any)
		require.Len(t, ds2, 1)
		dlv2 := field(ds2[0].(map[string]any), "id")
		for _, c := range []struct {
			proc string
			body map[string]any
		}{
			{"/hookd.v1.WebhookService/GetWebhook", map[string]any{"id": wh2}},
			{"/hookd.v1.WebhookService/UpdateWebhook", map[string]any{"id": wh2, "name": "mine"}},
			{"/hookd.v1.WebhookService/DeleteWebhook", map[string]any{"id": wh2}},
			{"/hookd.v1.WebhookService/RotateWebhookSecret", map[string]any{"id": wh2}},
			{"/hookd.v1.WebhookService/TestWebhook", map[string]any{"id": wh2, "eventType": "order.paid"}},
			{"/hookd.v1.WebhookService/GetWebhookStats", map[string]any{"id": wh2}},
			{procSubscribe, map[string]any{"webhookId": wh2, "eventTypes": []string{"order.paid"}}},
			{"/hookd.v1.SubscriptionService/GetSubscription", map[string]any{"id": sub2}},
			{"/hookd.v1.SubscriptionService/UpdateSubscription", map[string]any{"id": sub2, "enabled": false}},
			{"/hookd.v1.SubscriptionService/DeleteSubscription", map[string]any{"id": sub2}},
			{"/hookd.v1.EventService/GetEvent", map[string]any{"id": evt2}},
			{"/hookd.v1.DeliveryService/GetDelivery", map[string]any{"id": dlv2}},
			{"/hookd.v1.DeliveryService/RetryDelivery", map[string]any{"id": dlv2}},
		} {
			code, out := e.call(t, member, c.proc, c.body)
			assert.Equal(t, "not_found", code, "%s with t2's id: %v", c.proc, out)
		}
		e.must(t, e.admin, "/hookd.v1.WebhookService/GetWebhook", map[string]any{"id": wh2}) // still there
		e.must(t, member, "/hookd.v1.EventService/GetEvent", map[string]any{"id": evt1})

		lists := []struct {
			proc, key string
			body      map[string]any
		}{
			{"/hookd.v1.WebhookService/ListWebhooks", "webhooks", map[string]any{}},
			{"/hookd.v1.SubscriptionService/ListSubscriptions", "subscriptions", map[string]any{}},
			{"/hookd.v1.EventService/ListEvents", "events", map[string]any{}},
			{"/hookd.v1.DeliveryService/ListDeliveries", "deliveries", map[string]any{}},
		}
		for _, l := range lists {
			items, _ := e.must(t, member, l.proc, l.body)[l.key].([]any)
			assert.Len(t, items, 1, "%s lists t1's only", l.proc)
			code, _ := e.call(t, member, l.proc, map[string]any{"tenantId": "t2", "filter": map[string]any{"tenantId": "t2"}})
			if l.proc == "/hookd.v1.SubscriptionService/ListSubscriptions" {
				continue // no tenant_id field: strict JSON refuses it (invalid_argument) like any unknown field
			}
			assert.Equal(t, "invalid_argument", code, "%s for another tenant", l.proc)
		}

		// WatchDeliveries with t1's token never shows t2's changes: t2's event is published first.
		hc := &http.Client{Transport: bearerTransport{secret: member, next: e.srv.Client().Transport}}
		dc := hookdv1connect.NewDeliveryServiceClient(hc, e.srv.URL)
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		stream, err := dc.WatchDeliveries(wctx, connect.NewRequest(&hookdv1.WatchDeliveriesRequest{}))
		require.NoError(t, err)
		require.True(t, stream.Receive(), "first heartbeat: %v", stream.Err())
		e.publish(t, "t2", nil)
		e.publish(t, "t1", nil)
		for stream.Receive() {
			d := stream.Msg().GetDelivery()
			if d == nil {
				continue
			}
			assert.Equal(t, "t1", d.GetTenantId(), "the first change a t1 watcher sees is t1's")
			assert.Equal(t, wh1, d.GetWebhookId())
			break
		}
		require.NoError(t, stream.Err())

		cur := e.must(t, viewer, "/hookd.v1.PortalService/GetCurrentPortalSession", map[string]any{})
		assert.Equal(t, "t1", field(cur, "session", "tenantId"))
		assert.True(t, slices.Contains(field(cur, "session", "eventTypes").([]any), any("order.paid")))

		// Revocation ends the stream (within a recheck) and the token at once in this process.
		e.must(t, e.admin, "/hookd.v1.PortalService/RevokePortalSessions", map[string]any{"tenantId": "t1"})
		code, _ = e.call(t, member, "/hookd.v1.WebhookService/ListWebhooks", map[string]any{})
		assert.Equal(t, "unauthenticated", code, "revoked at once in the process that revoked")
		for stream.Receive() {
		}
		assert.Equal(t, connect.CodeUnauthenticated, connect.CodeOf(stream.Err()), "the stream ends: %v", stream.Err())

		// API keys of the project see every tenant; an API key cannot read a portal session.
		code, _ = e.call(t, e.admin, "/hookd.v1.PortalService/GetCurrentPortalSession", map[string]any{})
		assert.Equal(t, "permission_denied", code)
	})
}

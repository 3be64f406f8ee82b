package trigger_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/store"
)

// logClients serves the event and delivery log (the api package's EventService and DeliveryService) over the
// bundle's store and returns ADMIN clients of it: what a user lists after calling a trigger.
func (b *bundle) logClients(t *testing.T) (hookdv1connect.EventServiceClient, hookdv1connect.DeliveryServiceClient) {
	t.Helper()
	d := api.Deps{Store: b.st, Clock: b.clock, Log: slog.New(slog.DiscardHandler)}
	opts := connect.WithInterceptors(apierr.NewInterceptor(d.Log), auth.NewInterceptor(b.st, nil))
	mux := http.NewServeMux()
	mux.Handle(hookdv1connect.NewEventServiceHandler(api.NewEventService(d, api.EventConfig{}), opts))
	mux.Handle(hookdv1connect.NewDeliveryServiceHandler(api.NewDeliveryService(d), opts))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	secret, err := auth.IssueKey(b.ctx, b.st, &store.APIKey{ProjectID: b.project.ID, Name: "log", Role: store.RoleAdmin, CreateTime: t0})
	require.NoError(t, err)
	key := connect.WithInterceptors(bearer(secret))
	return hookdv1connect.NewEventServiceClient(http.DefaultClient, srv.URL, key),
		hookdv1connect.NewDeliveryServiceClient(http.DefaultClient, srv.URL, key)
}

// TestTriggerSubject follows the shared trigger of the product document 003 (003_7b0a3dc802d1b8f0.txt): "Shared:
// All customers' instances of the integration share an endpoint. Data in the header or payload determines which
// customer and flow should run." The trigger's subject (a JSON field) and a route's subject (a header, which wins)
// pick the customer; the published events carry it, and the customer's events and deliveries are listed by subject.
func TestTriggerSubject(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		wCreated, wPaid := b.subscribe(t, "order.created"), b.subscribe(t, "order.paid")
		tr := b.create(t, &hookdv1.CreateTriggerRequest{
			EventType: "order.created",
			Subject:   &hookdv1.TriggerSubject{JsonField: "customer.id"},
			Routes: []*hookdv1.TriggerRoute{{Header: "X-Kind", Value: "paid", EventType: "order.paid",
				Subject: &hookdv1.TriggerSubject{Header: "X-Customer"}}},
		})
		require.Equal(t, "customer.id", tr.GetSubject().GetJsonField())
		require.Equal(t, "X-Customer", tr.GetRoutes()[0].GetSubject().GetHeader())
		got, err := b.admin.GetTrigger(b.ctx, connect.NewRequest(&hookdv1.GetTriggerRequest{Id: tr.GetId()}))
		require.NoError(t, err)
		require.Equal(t, "customer.id", got.Msg.GetTrigger().GetSubject().GetJsonField(), "stored")

		const body = `{"customer":{"id":"cus_1"},"total":12}`
		created := b.post(t, tr.GetUrl(), "application/json", body)
		require.Equal(t, http.StatusOK, created.status, created.body)
		paid := b.post(t, tr.GetUrl(), "application/json", body, "X-Kind", "paid", "X-Customer", "cus_2")
		require.Equal(t, http.StatusOK, paid.status, paid.body)
		numeric := b.post(t, tr.GetUrl(), "application/json", `{"customer":{"id":42}}`)
		require.Equal(t, http.StatusOK, numeric.status)
		anonymous := b.post(t, tr.GetUrl(), "application/json", `{"total":1}`)
		require.Equal(t, http.StatusOK, anonymous.status)
		tooLong := b.post(t, tr.GetUrl(), "application/json", `{"customer":{"id":"`+strings.Repeat("x", 257)+`"}}`)
		require.Equal(t, http.StatusBadRequest, tooLong.status)
		require.Contains(t, tooLong.json(t)["error"], "longer than 256 bytes")

		for _, c := range []struct {
			r         response
			subject   string
			eventType string
		}{
			{created, "cus_1", "order.created"},
			{paid, "cus_2", "order.paid"}, // the route's subject wins
			{numeric, "42", "order.created"},
			{anonymous, "", "order.created"},
		} {
			e := b.execution(t, c.r)
			require.Equal(t, c.subject, e.Subject)
			ev, err := st.GetEvent(b.ctx, b.project.ID, e.EventID)
			require.NoError(t, err)
			require.Equal(t, c.subject, ev.Subject)
			require.Equal(t, c.eventType, ev.EventType)
			pe, err := b.admin.GetExecution(b.ctx, connect.NewRequest(&hookdv1.GetExecutionRequest{Id: e.ID}))
			require.NoError(t, err)
			require.Equal(t, c.subject, pe.Msg.GetExecution().GetSubject())
		}
		rejected := b.execution(t, tooLong)
		require.Equal(t, http.StatusBadRequest, rejected.Status)
		require.Empty(t, rejected.EventID, "nothing published")

		// The per-customer log.
		events, deliveries := b.logClients(t)
		evs, err := events.ListEvents(b.ctx, connect.NewRequest(&hookdv1.ListEventsRequest{Subject: "cus_1"}))
		require.NoError(t, err)
		require.Len(t, evs.Msg.GetEvents(), 1)
		require.Equal(t, b.execution(t, created).EventID, evs.Msg.GetEvents()[0].GetId())
		ds, err := deliveries.ListDeliveries(b.ctx, connect.NewRequest(&hookdv1.ListDeliveriesRequest{Filter: &hookdv1.DeliveryFilter{Subject: "cus_2"}}))
		require.NoError(t, err)
		require.Len(t, ds.Msg.GetDeliveries(), 1)
		require.Equal(t, wPaid.ID, ds.Msg.GetDeliveries()[0].GetWebhookId())
		require.Equal(t, "order.paid", ds.Msg.GetDeliveries()[0].GetEventType())
		ds, err = deliveries.ListDeliveries(b.ctx, connect.NewRequest(&hookdv1.ListDeliveriesRequest{Filter: &hookdv1.DeliveryFilter{Subject: "42"}}))
		require.NoError(t, err)
		require.Len(t, ds.Msg.GetDeliveries(), 1)
		require.Equal(t, wCreated.ID, ds.Msg.GetDeliveries()[0].GetWebhookId())

		// An empty selector removes the subject; executions list theirs.
		up, err := b.admin.UpdateTrigger(b.ctx, connect.NewRequest(&hookdv1.UpdateTriggerRequest{Id: tr.GetId(), Subject: &hookdv1.TriggerSubject{}}))
		require.NoError(t, err)
		require.Nil(t, up.Msg.GetTrigger().GetSubject())
		require.NotNil(t, up.Msg.GetTrigger().GetRoutes()[0].GetSubject(), "routes are unchanged")
		list, err := b.admin.ListExecutions(b.ctx, connect.NewRequest(&hookdv1.ListExecutionsRequest{TriggerId: tr.GetId()}))
		require.NoError(t, err)
		subjects := []string{}
		for _, e := range list.Msg.GetExecutions() {
			subjects = append(subjects, e.GetSubject())
		}
		require.ElementsMatch(t, []string{"cus_1", "cus_2", "42", "", ""}, subjects)
	})
}

func TestTriggerSubjectValidation(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		for _, c := range []struct {
			name  string
			req   *hookdv1.CreateTriggerRequest
			field string
		}{
			{"both", &hookdv1.CreateTriggerRequest{Subject: &hookdv1.TriggerSubject{Header: "X-C", JsonField: "c"}}, "subject.header"},
			{"bad header", &hookdv1.CreateTriggerRequest{Subject: &hookdv1.TriggerSubject{Header: "X C"}}, "subject.header"},
			{"bad path", &hookdv1.CreateTriggerRequest{Subject: &hookdv1.TriggerSubject{JsonField: "customer..id"}}, "subject.json_field"},
			{"bad route subject", &hookdv1.CreateTriggerRequest{Routes: []*hookdv1.TriggerRoute{{EventType: "order.paid",
				Subject: &hookdv1.TriggerSubject{Header: "a:b"}}}}, "routes[0].subject.header"},
		} {
			c.req.Name = c.name
			if c.req.Routes == nil {
				c.req.EventType = "order.created"
			}
			_, err := b.admin.CreateTrigger(b.ctx, connect.NewRequest(c.req))
			require.Equal(t, connect.CodeInvalidArgument, connectCode(t, err), c.name)
			require.Contains(t, err.Error(), c.field, c.name)
		}
	})
}

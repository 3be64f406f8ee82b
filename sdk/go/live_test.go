package hookd_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	hookd "github.com/hookd/hookd/sdk/go"
	"github.com/hookd/hookd/sdk/go/internal/hookdtest"
)

// TestLive runs the SDK against a real `hookd serve --dev` process (SQLite in a temp dir).
func TestLive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hookd process")
	}
	srv := hookdtest.Start(t, hookdtest.Options{})
	client := hookd.NewClient(srv.URL, srv.APIKey)

	t.Run("crud", func(t *testing.T) { testCRUD(t, client) })
	t.Run("publish_and_receive", func(t *testing.T) { testPublishAndReceive(t, client) })
	t.Run("async_action_status", func(t *testing.T) { testAsyncActionStatus(t, client) })
	t.Run("watch_deliveries", func(t *testing.T) { testWatchDeliveries(t, client) })
	t.Run("errors", func(t *testing.T) { testErrors(t, srv) })
	t.Run("examples", func(t *testing.T) { testExamples(t, srv, client) })
}

func testCRUD(t *testing.T, c *hookd.Client) {
	ctx := context.Background()

	// Integration.
	ci, err := c.Integrations.CreateIntegration(ctx, connect.NewRequest(&hookdv1.CreateIntegrationRequest{
		Name:    "CRM",
		BaseUrl: "http://127.0.0.1:9/crm",
		Headers: []*hookdv1.Header{{Name: "X-Team", Value: "core"}, {Name: "X-Token", Value: "s3cret", Private: true}},
	}))
	require.NoError(t, err)
	integ := ci.Msg.GetIntegration()
	require.True(t, strings.HasPrefix(integ.GetId(), "int_"), integ.GetId())
	gi, err := c.Integrations.GetIntegration(ctx, connect.NewRequest(&hookdv1.GetIntegrationRequest{Id: integ.GetId()}))
	require.NoError(t, err)
	assert.Equal(t, "CRM", gi.Msg.GetIntegration().GetName())
	assert.Len(t, gi.Msg.GetIntegration().GetHeaders(), 2)
	li, err := c.Integrations.ListIntegrations(ctx, connect.NewRequest(&hookdv1.ListIntegrationsRequest{}))
	require.NoError(t, err)
	assert.True(t, containsID(li.Msg.GetIntegrations(), integ.GetId()))
	ui, err := c.Integrations.UpdateIntegration(ctx, connect.NewRequest(&hookdv1.UpdateIntegrationRequest{Id: integ.GetId(), Name: proto.String("CRM v2")}))
	require.NoError(t, err)
	assert.Equal(t, "CRM v2", ui.Msg.GetIntegration().GetName())
	assert.Equal(t, "http://127.0.0.1:9/crm", ui.Msg.GetIntegration().GetBaseUrl(), "absent fields are unchanged")

	// Event type.
	ce, err := c.EventTypes.CreateEventType(ctx, connect.NewRequest(&hookdv1.CreateEventTypeRequest{Name: "invoice.paid", Description: "An invoice was paid."}))
	require.NoError(t, err)
	et := ce.Msg.GetEventType()
	ge, err := c.EventTypes.GetEventType(ctx, connect.NewRequest(&hookdv1.GetEventTypeRequest{Name: "invoice.paid"}))
	require.NoError(t, err)
	assert.Equal(t, et.GetId(), ge.Msg.GetEventType().GetId())
	ue, err := c.EventTypes.UpdateEventType(ctx, connect.NewRequest(&hookdv1.UpdateEventTypeRequest{Id: et.GetId(), Description: proto.String("Paid.")}))
	require.NoError(t, err)
	assert.Equal(t, "Paid.", ue.Msg.GetEventType().GetDescription())
	le, err := c.EventTypes.ListEventTypes(ctx, connect.NewRequest(&hookdv1.ListEventTypesRequest{}))
	require.NoError(t, err)
	assert.True(t, containsID(le.Msg.GetEventTypes(), et.GetId()))

	// Webhook under the integration.
	cw, err := c.Webhooks.CreateWebhook(ctx, connect.NewRequest(&hookdv1.CreateWebhookRequest{
		IntegrationId: integ.GetId(),
		Name:          "Paid invoices",
		SystemName:    "crm-invoice-paid",
		Path:          "/invoices",
		IntegrationHeaders: []*hookdv1.IntegrationHeader{
			{Name: "X-Team", Use: true},
		},
	}))
	require.NoError(t, err)
	wh := cw.Msg.GetWebhook()
	require.True(t, strings.HasPrefix(wh.GetId(), "wh_"), wh.GetId())
	assert.Equal(t, "http://127.0.0.1:9/crm/invoices", wh.GetFullUrl())
	assert.True(t, strings.HasPrefix(wh.GetSecret(), "whsec_"), "an ADMIN key sees the secret")
	assert.True(t, wh.GetEnabled(), "enabled defaults to true")
	assert.Equal(t, "POST", wh.GetMethod(), "method defaults to POST")
	lw, err := c.Webhooks.ListWebhooks(ctx, connect.NewRequest(&hookdv1.ListWebhooksRequest{IntegrationId: integ.GetId()}))
	require.NoError(t, err)
	require.Len(t, lw.Msg.GetWebhooks(), 1)
	uw, err := c.Webhooks.UpdateWebhook(ctx, connect.NewRequest(&hookdv1.UpdateWebhookRequest{Id: wh.GetId(), Method: proto.String("PUT")}))
	require.NoError(t, err)
	assert.Equal(t, "PUT", uw.Msg.GetWebhook().GetMethod())

	// Subscription.
	cs, err := c.Subscriptions.CreateSubscription(ctx, connect.NewRequest(&hookdv1.CreateSubscriptionRequest{WebhookId: wh.GetId(), EventTypes: []string{"invoice.paid"}}))
	require.NoError(t, err)
	sub := cs.Msg.GetSubscription()
	require.True(t, strings.HasPrefix(sub.GetId(), "sub_"), sub.GetId())
	gs, err := c.Subscriptions.GetSubscription(ctx, connect.NewRequest(&hookdv1.GetSubscriptionRequest{Id: sub.GetId()}))
	require.NoError(t, err)
	assert.Equal(t, []string{"invoice.paid"}, gs.Msg.GetSubscription().GetEventTypes())
	ls, err := c.Subscriptions.ListSubscriptions(ctx, connect.NewRequest(&hookdv1.ListSubscriptionsRequest{WebhookId: wh.GetId()}))
	require.NoError(t, err)
	require.Len(t, ls.Msg.GetSubscriptions(), 1)
	us, err := c.Subscriptions.UpdateSubscription(ctx, connect.NewRequest(&hookdv1.UpdateSubscriptionRequest{Id: sub.GetId(), Enabled: proto.Bool(false)}))
	require.NoError(t, err)
	assert.False(t, us.Msg.GetSubscription().GetEnabled())

	// Deletes, then not_found.
	_, err = c.Subscriptions.DeleteSubscription(ctx, connect.NewRequest(&hookdv1.DeleteSubscriptionRequest{Id: sub.GetId()}))
	require.NoError(t, err)
	_, err = c.Subscriptions.GetSubscription(ctx, connect.NewRequest(&hookdv1.GetSubscriptionRequest{Id: sub.GetId()}))
	assert.True(t, hookd.IsNotFound(err), "got %v", err)
	_, err = c.Webhooks.DeleteWebhook(ctx, connect.NewRequest(&hookdv1.DeleteWebhookRequest{Id: wh.GetId()}))
	require.NoError(t, err)
	_, err = c.Webhooks.GetWebhook(ctx, connect.NewRequest(&hookdv1.GetWebhookRequest{Id: wh.GetId()}))
	assert.True(t, hookd.IsNotFound(err), "got %v", err)
	_, err = c.EventTypes.DeleteEventType(ctx, connect.NewRequest(&hookdv1.DeleteEventTypeRequest{Id: et.GetId()}))
	require.NoError(t, err)
	_, err = c.Integrations.DeleteIntegration(ctx, connect.NewRequest(&hookdv1.DeleteIntegrationRequest{Id: integ.GetId()}))
	require.NoError(t, err)
	_, err = c.Integrations.GetIntegration(ctx, connect.NewRequest(&hookdv1.GetIntegrationRequest{Id: integ.GetId()}))
	assert.True(t, hookd.IsNotFound(err), "got %v", err)
}

// received is one request a test receiver accepted.
type received struct {
	env    *hookd.Envelope
	header http.Header
}

// startReceiver serves hookd.Handler(secret, ...) and forwards each envelope; answer decides the reply.
func startReceiver(t *testing.T, secret func() string, answer error) (string, <-chan received) {
	t.Helper()
	ch := make(chan received, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hookd.Handler(secret(), func(ctx context.Context, e *hookd.Envelope) error {
			ch <- received{env: e, header: r.Header.Clone()}
			return answer
		}).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, ch
}

// setupWebhook creates an event type, a webhook to url and a subscription to the event type.
func setupWebhook(t *testing.T, c *hookd.Client, eventType, url string, async bool) *hookdv1.Webhook {
	t.Helper()
	ctx := context.Background()
	_, err := c.EventTypes.CreateEventType(ctx, connect.NewRequest(&hookdv1.CreateEventTypeRequest{Name: eventType}))
	require.NoError(t, err)
	cw, err := c.Webhooks.CreateWebhook(ctx, connect.NewRequest(&hookdv1.CreateWebhookRequest{
		Name: eventType + " receiver", SystemName: strings.ReplaceAll(eventType, ".", "-"), Url: url, AsyncStatus: async,
	}))
	require.NoError(t, err)
	_, err = c.Subscriptions.CreateSubscription(ctx, connect.NewRequest(&hookdv1.CreateSubscriptionRequest{
		WebhookId: cw.Msg.GetWebhook().GetId(), EventTypes: []string{eventType},
	}))
	require.NoError(t, err)
	return cw.Msg.GetWebhook()
}

func receive(t *testing.T, ch <-chan received) received {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery within 30s")
		return received{}
	}
}

func waitDelivery(t *testing.T, c *hookd.Client, id string, want hookdv1.DeliveryStatus) *hookdv1.Delivery {
	t.Helper()
	var d *hookdv1.Delivery
	require.Eventually(t, func() bool {
		res, err := c.Deliveries.GetDelivery(context.Background(), connect.NewRequest(&hookdv1.GetDeliveryRequest{Id: id}))
		require.NoError(t, err)
		d = res.Msg.GetDelivery()
		return d.GetStatus() == want
	}, 30*time.Second, 100*time.Millisecond, "delivery %s never became %s", id, want)
	return d
}

func testPublishAndReceive(t *testing.T, c *hookd.Client) {
	ctx := context.Background()
	var secret string
	url, ch := startReceiver(t, func() string { return secret }, nil)
	wh := setupWebhook(t, c, "user.created", url, false)
	secret = wh.GetSecret()

	payload, err := structpb.NewStruct(map[string]any{"email": "ada@example.com", "plan": "pro"})
	require.NoError(t, err)
	req := &hookdv1.PublishEventRequest{EventType: "user.created", Subject: "cus_42", IdempotencyKey: "signup-42", Payload: payload}
	first, err := c.Events.PublishEvent(ctx, connect.NewRequest(req))
	require.NoError(t, err)
	evt := first.Msg.GetEvent()
	require.True(t, strings.HasPrefix(evt.GetId(), "evt_"), evt.GetId())
	require.Len(t, first.Msg.GetDeliveryIds(), 1)

	// The same idempotency key returns the first result and creates nothing.
	again, err := c.Events.PublishEvent(ctx, connect.NewRequest(req))
	require.NoError(t, err)
	assert.Equal(t, evt.GetId(), again.Msg.GetEvent().GetId())
	assert.Equal(t, first.Msg.GetDeliveryIds(), again.Msg.GetDeliveryIds())

	got := receive(t, ch)
	assert.Equal(t, evt.GetId(), got.env.ID)
	assert.Equal(t, "user.created", got.env.Type)
	assert.Equal(t, "cus_42", got.env.Subject)
	assert.Equal(t, first.Msg.GetDeliveryIds()[0], got.env.Meta.DeliveryID)
	assert.Equal(t, got.env.Meta.DeliveryID, got.header.Get(hookd.HeaderWebhookID))
	assert.Equal(t, 1, got.env.Meta.Attempt)
	assert.False(t, got.env.Timestamp.IsZero())
	var data struct{ Email, Plan string }
	require.NoError(t, got.env.DecodeData(&data))
	assert.Equal(t, "ada@example.com", data.Email)
	assert.Equal(t, "pro", data.Plan)
	assert.True(t, strings.HasPrefix(got.header.Get(hookd.HeaderWebhookSignature), "v1,"))

	waitDelivery(t, c, got.env.Meta.DeliveryID, hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE)
	// The re-publish created no second event and no second delivery (a delivery row exists before
	// anything is sent, so none can still be on its way).
	le, err := c.Events.ListEvents(ctx, connect.NewRequest(&hookdv1.ListEventsRequest{EventType: "user.created"}))
	require.NoError(t, err)
	assert.Len(t, le.Msg.GetEvents(), 1)
	ld, err := c.Deliveries.ListDeliveries(ctx, connect.NewRequest(&hookdv1.ListDeliveriesRequest{Filter: &hookdv1.DeliveryFilter{WebhookId: wh.GetId()}}))
	require.NoError(t, err)
	assert.Len(t, ld.Msg.GetDeliveries(), 1)
	assert.Empty(t, ch, "nothing else was received")
}

// testWatchDeliveries is the README's live tail: a stream of one webhook's delivery changes.
func testWatchDeliveries(t *testing.T, c *hookd.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var secret string
	url, _ := startReceiver(t, func() string { return secret }, nil)
	wh := setupWebhook(t, c, "order.watched", url, false)
	secret = wh.GetSecret()
	stream, err := c.Deliveries.WatchDeliveries(ctx, connect.NewRequest(&hookdv1.WatchDeliveriesRequest{
		Filter: &hookdv1.DeliveryFilter{WebhookId: wh.GetId()}}))
	require.NoError(t, err)
	defer stream.Close()
	require.True(t, stream.Receive(), "first heartbeat: %v", stream.Err()) // the watch is registered
	assert.Nil(t, stream.Msg().GetDelivery())
	res, err := c.Events.PublishEvent(ctx, connect.NewRequest(&hookdv1.PublishEventRequest{EventType: "order.watched"}))
	require.NoError(t, err)
	var seen []hookdv1.DeliveryChange
	for len(seen) < 2 && stream.Receive() {
		d := stream.Msg().GetDelivery()
		if d == nil {
			continue // heartbeat
		}
		assert.Equal(t, res.Msg.GetDeliveryIds()[0], d.GetId())
		assert.Equal(t, wh.GetName(), d.GetWebhookName())
		seen = append(seen, stream.Msg().GetChange())
	}
	require.NoError(t, stream.Err())
	assert.Equal(t, []hookdv1.DeliveryChange{hookdv1.DeliveryChange_DELIVERY_CHANGE_CREATED, hookdv1.DeliveryChange_DELIVERY_CHANGE_ATTEMPTED}, seen)
}

func testAsyncActionStatus(t *testing.T, c *hookd.Client) {
	ctx := context.Background()
	var secret string
	url, ch := startReceiver(t, func() string { return secret }, hookd.ErrAccepted)
	wh := setupWebhook(t, c, "payment.requested", url, true)
	secret = wh.GetSecret()

	res, err := c.Events.PublishEvent(ctx, connect.NewRequest(&hookdv1.PublishEventRequest{EventType: "payment.requested"}))
	require.NoError(t, err)
	got := receive(t, ch)
	require.NotEmpty(t, got.env.Meta.Link)
	waitDelivery(t, c, res.Msg.GetDeliveryIds()[0], hookdv1.DeliveryStatus_DELIVERY_STATUS_WAITING)

	require.NoError(t, hookd.CompleteAction(ctx, got.env.Meta.Link, true, "card declined"))
	d := waitDelivery(t, c, res.Msg.GetDeliveryIds()[0], hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED)
	assert.Equal(t, "card declined", d.GetReason())

	// The token is used up.
	var ae *hookd.ActionError
	require.ErrorAs(t, hookd.CompleteAction(ctx, got.env.Meta.Link, false, ""), &ae)
	assert.Equal(t, http.StatusNotFound, ae.StatusCode)
}

func testErrors(t *testing.T, srv *hookdtest.Server) {
	protocols := []struct {
		name string
		opts []hookd.Option
	}{
		{"connect_proto", nil},
		{"connect_json", []hookd.Option{hookd.WithConnectJSON()}},
		{"grpc", []hookd.Option{hookd.WithGRPC()}},
		{"grpc_web", []hookd.Option{hookd.WithGRPCWeb()}},
	}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			c := hookd.NewClient(srv.URL, srv.APIKey, p.opts...)

			_, err := c.Integrations.ListIntegrations(ctx, connect.NewRequest(&hookdv1.ListIntegrationsRequest{}))
			require.NoError(t, err)

			_, err = c.Integrations.GetIntegration(ctx, connect.NewRequest(&hookdv1.GetIntegrationRequest{Id: "int_does_not_exist"}))
			assert.Equal(t, connect.CodeNotFound, hookd.CodeOf(err), "got %v", err)
			assert.True(t, hookd.IsNotFound(err))

			_, err = c.Integrations.CreateIntegration(ctx, connect.NewRequest(&hookdv1.CreateIntegrationRequest{BaseUrl: "http://127.0.0.1:9"}))
			assert.Equal(t, connect.CodeInvalidArgument, hookd.CodeOf(err), "got %v", err)
			var ce *connect.Error
			require.True(t, errors.As(err, &ce))
			assert.Contains(t, ce.Message(), "name", "the message names the field")
			if v := hookd.FieldViolations(err); assert.Len(t, v, 1, "the BadRequest detail") {
				assert.Equal(t, "name", v[0].GetField())
			}

			// A server stream (never retried, so it bypasses go-retryablehttp) carries the key too.
			stream, err := c.Deliveries.ExportDeliveries(ctx, connect.NewRequest(&hookdv1.ExportDeliveriesRequest{}))
			require.NoError(t, err)
			var csv []byte
			for stream.Receive() {
				csv = append(csv, stream.Msg().GetData()...)
			}
			require.NoError(t, stream.Err())
			require.NoError(t, stream.Close())
			assert.NotEmpty(t, csv, "the export streamed its header row at least")

			bad := hookd.NewClient(srv.URL, "hk_not_a_key", p.opts...)
			_, err = bad.Integrations.ListIntegrations(ctx, connect.NewRequest(&hookdv1.ListIntegrationsRequest{}))
			assert.Equal(t, connect.CodeUnauthenticated, hookd.CodeOf(err), "got %v", err)
			badStream, err := bad.Deliveries.ExportDeliveries(ctx, connect.NewRequest(&hookdv1.ExportDeliveriesRequest{}))
			if err == nil {
				for badStream.Receive() {
				}
				err = badStream.Err()
				_ = badStream.Close()
			}
			assert.Equal(t, connect.CodeUnauthenticated, hookd.CodeOf(err), "stream: got %v", err)
		})
	}
}

// testExamples builds examples/receiver and examples/publish and runs them against the server.
func testExamples(t *testing.T, srv *hookdtest.Server, c *hookd.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root, err := hookdtest.RepoRoot()
	require.NoError(t, err)
	bin := t.TempDir()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin+string(filepath.Separator), "./examples/...")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build examples: %s", out)

	port := hookdtest.FreePort(t)
	wh := setupWebhook(t, c, "order.shipped", fmt.Sprintf("http://127.0.0.1:%d/webhooks/hookd", port), false)

	receiver := exec.CommandContext(ctx, filepath.Join(bin, "receiver"))
	receiver.Env = append(os.Environ(), "HOOKD_WEBHOOK_SECRET="+wh.GetSecret(), fmt.Sprintf("ADDR=127.0.0.1:%d", port))
	stdout, err := receiver.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, receiver.Start())
	t.Cleanup(func() {
		_ = receiver.Process.Signal(os.Interrupt)
		_ = receiver.Wait()
	})
	lines := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	publish := exec.CommandContext(ctx, filepath.Join(bin, "publish"), "-type", "order.shipped", "-subject", "cus_7", "-key", "ship-7", "-data", `{"orderId":"o_7"}`)
	publish.Env = append(os.Environ(), "HOOKD_URL="+srv.URL, "HOOKD_API_KEY="+srv.APIKey)
	out, err = publish.CombinedOutput()
	require.NoError(t, err, "publish: %s", out)
	eventID := strings.TrimPrefix(strings.SplitN(string(out), "\n", 2)[0], "event ")
	require.True(t, strings.HasPrefix(eventID, "evt_"), "publish printed %q", out)

	select {
	case line := <-lines:
		assert.Contains(t, line, "type=order.shipped event="+eventID)
		assert.Contains(t, line, `data={"orderId":"o_7"}`)
	case <-ctx.Done():
		t.Fatal("the receiver example printed nothing")
	}
}

func containsID[T interface{ GetId() string }](items []T, id string) bool {
	for _, it := range items {
		if it.GetId() == id {
			return true
		}
	}
	return false
}

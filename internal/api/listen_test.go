package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/listen"
	"github.com/hookd/hookd/internal/store"
)

// TestListenWebhook: a TRANSPORT_LISTEN webhook needs no url and refuses one (and an integration); its transport
// is stored and shown.
func TestListenWebhook(t *testing.T) {
	overProtocols(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		res, err := e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "laptop",
			Transport: hookdv1.Transport_TRANSPORT_LISTEN}))
		require.NoError(t, err)
		got, err := e.member.webhooks.GetWebhook(ctx, creq(&hookdv1.GetWebhookRequest{Id: res.Msg.GetWebhook().GetId()}))
		require.NoError(t, err)
		assert.Equal(t, hookdv1.Transport_TRANSPORT_LISTEN, got.Msg.GetWebhook().GetTransport())

		_, err = e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "x",
			Transport: hookdv1.Transport_TRANSPORT_LISTEN, Url: "https://example.com/h"}))
		requireCode(t, err, connect.CodeInvalidArgument, "url")
		_, err = e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "y"}))
		requireCode(t, err, connect.CodeInvalidArgument, "url") // an HTTP webhook still needs one
		h, err := e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "z", Url: "https://example.com/h"}))
		require.NoError(t, err)
		assert.Equal(t, hookdv1.Transport_TRANSPORT_HTTP, h.Msg.GetWebhook().GetTransport())
	})
}

// TestListenDeliveries: a MEMBER's ListenDeliveries stream receives the requests the sender hands to the hub, and
// its ReportListenedAttempt completes the waiting attempt once; a VIEWER may not listen, an HTTP webhook cannot
// be listened to, and without a client the hub takes nothing.
func TestListenDeliveries(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		hub := listen.NewHub()
		se := withStreams(t, e, func(d *Deps) { d.Listen = hub })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		lw := &store.Webhook{ProjectID: auth.DefaultProjectID, Name: "laptop", SystemName: "laptop", Method: "POST",
			Enabled: true, Transport: store.TransportListen}
		require.NoError(t, e.st.CreateWebhook(ctx, lw))
		hw := &store.Webhook{ProjectID: auth.DefaultProjectID, Name: "http", SystemName: "http", Method: "POST",
			Enabled: true, URL: "https://example.com/h"}
		require.NoError(t, e.st.CreateWebhook(ctx, hw))
		_, member := se.key(t, store.RoleMember)
		_, viewer := se.key(t, store.RoleViewer)
		c := se.client(member, false)

		_, err := hub.Send(ctx, auth.DefaultProjectID, lw.ID, listen.Request{Timeout: time.Second})
		require.ErrorIs(t, err, listen.ErrNoListener)

		requireCode(t, drainListen(ctx, se.client(viewer, false), lw.ID), connect.CodePermissionDenied, "")
		requireCode(t, drainListen(ctx, c, hw.ID), connect.CodeInvalidArgument, "webhook_id")
		requireCode(t, drainListen(ctx, c, "wh_nope"), connect.CodeNotFound, "")

		stream, err := c.ListenDeliveries(ctx, creq(&hookdv1.ListenDeliveriesRequest{WebhookId: lw.ID}))
		require.NoError(t, err)
		defer stream.Close()
		require.True(t, stream.Receive(), "first heartbeat: %v", stream.Err())
		require.Eventually(t, func() bool { return hub.Connected(lw.ID) }, 10*time.Second, 5*time.Millisecond)

		type sent struct {
			rep listen.Report
			err error
		}
		done := make(chan sent, 1)
		go func() {
			rep, err := hub.Send(ctx, auth.DefaultProjectID, lw.ID, listen.Request{DeliveryID: "dlv_1", EventType: "user.created",
				Attempt: 1, Method: "POST", Path: "/", Header: http.Header{"Webhook-Id": {"dlv_1"}}, Body: []byte(`{"a":1}`),
				Timeout: 10 * time.Second})
			done <- sent{rep, err}
		}()
		var r *hookdv1.ListenedRequest
		for r == nil && stream.Receive() {
			r = stream.Msg().GetRequest()
		}
		require.NotNil(t, r, stream.Err())
		assert.Equal(t, "dlv_1", r.GetDeliveryId())
		assert.Equal(t, `{"a":1}`, string(r.GetBody()))
		assert.Equal(t, "user.created", r.GetEventType())

		report := &hookdv1.ReportListenedAttemptRequest{AttemptToken: r.GetAttemptToken(), StatusCode: 500,
			Body: []byte("boom"), Duration: durationpb.New(3 * time.Millisecond)}
		_, err = se.client(viewer, false).ReportListenedAttempt(ctx, creq(report))
		requireCode(t, err, connect.CodePermissionDenied, "")
		_, err = c.ReportListenedAttempt(ctx, creq(report))
		require.NoError(t, err)
		got := <-done
		require.NoError(t, got.err)
		assert.Equal(t, 500, got.rep.StatusCode)
		assert.Equal(t, "boom", string(got.rep.Body))
		_, err = c.ReportListenedAttempt(ctx, creq(report))
		requireCode(t, err, connect.CodeNotFound, "attempt_token")
	})
}

func drainListen(ctx context.Context, c interface {
	ListenDeliveries(context.Context, *connect.Request[hookdv1.ListenDeliveriesRequest]) (*connect.ServerStreamForClient[hookdv1.ListenDeliveriesResponse], error)
}, webhookID string) error {
	s, err := c.ListenDeliveries(ctx, creq(&hookdv1.ListenDeliveriesRequest{WebhookId: webhookID}))
	if err != nil {
		return err
	}
	defer s.Close()
	return drain(s)
}

package api

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
)

// TestOrderedQueueView: an ordered webhook chains the deliveries of one ordering_key; the queue view shows what a
// held delivery waits for, and its blocked filter lists the heads of blocked keys.
func TestOrderedQueueView(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx := context.Background()
		e := le.e
		res, err := e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "o", Url: "https://hooks.example.com/o", Ordered: true}))
		require.NoError(t, err)
		w := res.Msg.GetWebhook()
		require.True(t, w.GetOrdered())
		createEventType(t, e.member, "order.changed", nil)
		subscribe(t, e.member, w.GetId(), "", true, "*")

		first := le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.changed", OrderingKey: "order-1"}).GetDeliveryIds()[0]
		second := le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.changed", OrderingKey: "order-1"}).GetDeliveryIds()[0]
		other := le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.changed", OrderingKey: "order-2"}).GetDeliveryIds()[0]

		got, err := le.viewer.deliveries.GetDelivery(ctx, creq(&hookdv1.GetDeliveryRequest{Id: second}))
		require.NoError(t, err)
		require.Equal(t, "order-1", got.Msg.GetDelivery().GetOrderingKey())
		require.Equal(t, first, got.Msg.GetDelivery().GetBlockedBy())
		queue := listAll(t, le.viewer, nil, true)
		require.ElementsMatch(t, []string{first, second, other}, deliveryIDs(queue))

		blocked, err := le.viewer.deliveries.ListDeliveries(ctx, creq(&hookdv1.ListDeliveriesRequest{Queue: true, Blocked: true}))
		require.NoError(t, err)
		require.Equal(t, []string{first}, deliveryIDs(blocked.Msg.GetDeliveries()), "the head of the blocked key only")
		_, err = le.viewer.deliveries.ListDeliveries(ctx, creq(&hookdv1.ListDeliveriesRequest{Blocked: true}))
		requireCode(t, err, connect.CodeInvalidArgument, "blocked")

		_, err = le.member.events.PublishEvent(ctx, creq(&hookdv1.PublishEventRequest{EventType: "order.changed", OrderingKey: strings.Repeat("é", 257)}))
		requireCode(t, err, connect.CodeInvalidArgument, "ordering_key")
		_, err = le.member.events.PublishEvent(ctx, creq(&hookdv1.PublishEventRequest{EventType: "order.changed", OrderingKey: strings.Repeat("é", 256)}))
		require.NoError(t, err, "256 characters are accepted")

		off := false
		upd, err := e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(), Ordered: &off}))
		require.NoError(t, err)
		require.False(t, upd.Msg.GetWebhook().GetOrdered())
	})
}

package api

// Placeholder bodies of the RPCs added to the contract for the operations work (GetWebhookStats,
// WatchDeliveries); they are replaced by their implementations before this lands.

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
)

// GetWebhookStats implements hookdv1connect.WebhookServiceHandler.
func (s *webhookService) GetWebhookStats(context.Context, *connect.Request[hookdv1.GetWebhookStatsRequest]) (*connect.Response[hookdv1.GetWebhookStatsResponse], error) {
	return nil, connect.NewError(connect.CodeUnimplemented, errors.New("GetWebhookStats is not available yet"))
}

// WatchDeliveries implements hookdv1connect.DeliveryServiceHandler.
func (s *deliveryService) WatchDeliveries(context.Context, *connect.Request[hookdv1.WatchDeliveriesRequest], *connect.ServerStream[hookdv1.WatchDeliveriesResponse]) error {
	return connect.NewError(connect.CodeUnimplemented, errors.New("WatchDeliveries is not available yet"))
}

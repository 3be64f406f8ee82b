package api

import (
	"context"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
)

// TestSubscriptionFilters: Subscription.filter is compiled and cost-checked when saved (invalid_argument naming
// filter, with CEL's message), round-trips, and TestSubscriptionFilter evaluates a filter against a sample event
// for any role (VIEWER included: it saves nothing), answering CEL's message in error.
func TestSubscriptionFilters(t *testing.T) {
	overProtocols(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		w := createWebhook(t, e.member, "filtered")
		for _, c := range []struct{ filter, msg string }{
			{`data.amount >`, "Syntax error"},
			{`nosuch == 1`, "undeclared reference"},
			{`size(subject)`, "must evaluate to a bool"},
			{`data.a.all(x, data.b.exists(y, x == y))`, "too costly"},
		} {
			_, err := e.member.subscriptions.CreateSubscription(ctx, creq(&hookdv1.CreateSubscriptionRequest{
				WebhookId: w.GetId(), EventTypes: []string{"*"}, Filter: c.filter}))
			requireCode(t, err, connect.CodeInvalidArgument, "filter")
			requireCode(t, err, connect.CodeInvalidArgument, c.msg)
			requireField(t, err, "filter")
		}
		const expr = `data.amount > 100 && subject.startsWith("cus_")`
		res, err := e.member.subscriptions.CreateSubscription(ctx, creq(&hookdv1.CreateSubscriptionRequest{
			WebhookId: w.GetId(), EventTypes: []string{"*"}, Filter: expr}))
		require.NoError(t, err)
		sub := res.Msg.GetSubscription()
		require.Equal(t, expr, sub.GetFilter())
		got, err := e.viewer.subscriptions.GetSubscription(ctx, creq(&hookdv1.GetSubscriptionRequest{Id: sub.GetId()}))
		require.NoError(t, err)
		require.Equal(t, expr, got.Msg.GetSubscription().GetFilter())

		_, err = e.member.subscriptions.UpdateSubscription(ctx, creq(&hookdv1.UpdateSubscriptionRequest{Id: sub.GetId(), Filter: proto.String("(")}))
		requireCode(t, err, connect.CodeInvalidArgument, "filter")
		up, err := e.member.subscriptions.UpdateSubscription(ctx, creq(&hookdv1.UpdateSubscriptionRequest{Id: sub.GetId(), Filter: proto.String("")}))
		require.NoError(t, err)
		require.Empty(t, up.Msg.GetSubscription().GetFilter(), "empty removes the filter")

		for _, c := range []struct {
			req     *hookdv1.TestSubscriptionFilterRequest
			matched bool
			err     string
		}{
			{&hookdv1.TestSubscriptionFilterRequest{Filter: expr, Subject: "cus_1", Payload: mustStruct(t, map[string]any{"amount": 150})}, true, ""},
			{&hookdv1.TestSubscriptionFilterRequest{Filter: expr, Subject: "usr_1", Payload: mustStruct(t, map[string]any{"amount": 150})}, false, ""},
			{&hookdv1.TestSubscriptionFilterRequest{Filter: `type == "order.paid" && tenant_id == "t1"`, EventType: "order.paid", TenantId: "t1"}, true, ""},
			{&hookdv1.TestSubscriptionFilterRequest{Filter: expr, Subject: "cus_1"}, false, "no such key"},
			{&hookdv1.TestSubscriptionFilterRequest{Filter: `data.amount >`}, false, "Syntax error"},
			{&hookdv1.TestSubscriptionFilterRequest{}, true, ""},
		} {
			r, err := e.viewer.subscriptions.TestSubscriptionFilter(ctx, creq(c.req))
			require.NoError(t, err, c.req.GetFilter())
			require.Equal(t, c.matched, r.Msg.GetMatched(), c.req.GetFilter())
			if c.err == "" {
				require.Empty(t, r.Msg.GetError(), c.req.GetFilter())
			} else {
				require.Contains(t, r.Msg.GetError(), c.err, c.req.GetFilter())
			}
		}
	})
}

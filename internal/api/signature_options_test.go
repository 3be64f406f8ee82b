package api

import (
	"context"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
)

// TestSignatureOptions: signature_header, id_header, timestamp_header and signature_style are saved, shown with
// their defaults (the Standard Webhooks names and style), validated (a valid token, not hop-by-hop, client-set or
// a credential header, distinct, not one of the webhook's own headers; HEX_BODY needs HMAC) and reset by "".
func TestSignatureOptions(t *testing.T) {
	overProtocols(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		plain := createWebhook(t, e.member, "plain")
		require.Equal(t, "webhook-signature", plain.GetSignatureHeader())
		require.Equal(t, "webhook-id", plain.GetIdHeader())
		require.Equal(t, "webhook-timestamp", plain.GetTimestampHeader())
		require.Equal(t, hookdv1.SignatureStyle_SIGNATURE_STYLE_STANDARD_WEBHOOKS, plain.GetSignatureStyle())

		for _, c := range []struct {
			req   *hookdv1.CreateWebhookRequest
			field string
		}{
			{&hookdv1.CreateWebhookRequest{SignatureHeader: "X Sig"}, "signature_header"},
			{&hookdv1.CreateWebhookRequest{IdHeader: "Connection"}, "id_header"},
			{&hookdv1.CreateWebhookRequest{TimestampHeader: "Transfer-Encoding"}, "timestamp_header"},
			{&hookdv1.CreateWebhookRequest{SignatureHeader: "Host"}, "signature_header"},
			{&hookdv1.CreateWebhookRequest{SignatureHeader: "Authorization"}, "signature_header"},
			{&hookdv1.CreateWebhookRequest{IdHeader: "X-Same", TimestampHeader: "x-same"}, "timestamp_header"},
			{&hookdv1.CreateWebhookRequest{IdHeader: "webhook-signature"}, "id_header"},
			{&hookdv1.CreateWebhookRequest{SignatureHeader: "X-Sig", Headers: []*hookdv1.Header{{Name: "x-sig", Value: "v"}}}, "signature_header"},
			{&hookdv1.CreateWebhookRequest{SignatureStyle: hookdv1.SignatureStyle_SIGNATURE_STYLE_HEX_BODY,
				SigningAlgorithm: hookdv1.SigningAlgorithm_SIGNING_ALGORITHM_ED25519}, "signature_style"},
			{&hookdv1.CreateWebhookRequest{SignatureStyle: hookdv1.SignatureStyle(9)}, "signature_style"},
		} {
			c.req.Name, c.req.Url = "bad", "https://hooks.example.com/x"
			_, err := e.member.webhooks.CreateWebhook(ctx, creq(c.req))
			requireCode(t, err, connect.CodeInvalidArgument, c.field)
		}

		res, err := e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{
			Name: "github", Url: "https://hooks.example.com/gh", SignatureHeader: "X-Hub-Signature-256",
			IdHeader: "X-GitHub-Delivery", SignatureStyle: hookdv1.SignatureStyle_SIGNATURE_STYLE_HEX_BODY,
		}))
		require.NoError(t, err)
		w := res.Msg.GetWebhook()
		require.Equal(t, "X-Hub-Signature-256", w.GetSignatureHeader())
		require.Equal(t, "X-GitHub-Delivery", w.GetIdHeader())
		require.Equal(t, "webhook-timestamp", w.GetTimestampHeader())
		require.Equal(t, hookdv1.SignatureStyle_SIGNATURE_STYLE_HEX_BODY, w.GetSignatureStyle())

		_, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(),
			SigningAlgorithm: hookdv1.SigningAlgorithm_SIGNING_ALGORITHM_ED25519.Enum()}))
		requireCode(t, err, connect.CodeInvalidArgument, "signature_style")
		up, err := e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(),
			SignatureHeader: proto.String(""), SignatureStyle: hookdv1.SignatureStyle_SIGNATURE_STYLE_UNSPECIFIED.Enum()}))
		require.NoError(t, err)
		require.Equal(t, "webhook-signature", up.Msg.GetWebhook().GetSignatureHeader(), "empty is the default name again")
		require.Equal(t, "X-GitHub-Delivery", up.Msg.GetWebhook().GetIdHeader(), "absent is unchanged")
		require.Equal(t, hookdv1.SignatureStyle_SIGNATURE_STYLE_STANDARD_WEBHOOKS, up.Msg.GetWebhook().GetSignatureStyle())
	})
}

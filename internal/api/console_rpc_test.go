package api

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

func TestGetCurrentApiKey(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		cases := []struct {
			name     string
			c        clients
			role     hookdv1.Role
			instance bool
			project  string
		}{
			{"root", e.root, hookdv1.Role_ROLE_ADMIN, true, auth.DefaultProjectID},
			{"admin", e.admin, hookdv1.Role_ROLE_ADMIN, false, auth.DefaultProjectID},
			{"member", e.member, hookdv1.Role_ROLE_MEMBER, false, auth.DefaultProjectID},
			{"viewer", e.viewer, hookdv1.Role_ROLE_VIEWER, false, auth.DefaultProjectID},
			{"other", e.other, hookdv1.Role_ROLE_ADMIN, false, otherProjectID},
		}
		for _, c := range cases {
			res, err := c.c.keys.GetCurrentApiKey(ctx, creq(&hookdv1.GetCurrentApiKeyRequest{}))
			require.NoError(t, err, c.name)
			k := res.Msg.GetApiKey()
			require.Equal(t, e.keyIDs[c.name], k.GetId(), c.name)
			require.Equal(t, c.name, k.GetName())
			require.Equal(t, c.role, k.GetRole(), c.name)
			require.Equal(t, c.instance, k.GetInstanceAdmin(), c.name)
			require.Equal(t, c.project, k.GetProjectId(), c.name)
			require.Equal(t, c.project, res.Msg.GetProject().GetId(), c.name)
			require.Equal(t, c.project, res.Msg.GetProject().GetName(), c.name)
		}

		// A revoked key is refused like on every RPC; a missing key too.
		created, err := e.admin.keys.CreateApiKey(ctx, creq(&hookdv1.CreateApiKeyRequest{Name: "temp", Role: hookdv1.Role_ROLE_VIEWER}))
		require.NoError(t, err)
		temp := e.clientsFor(created.Msg.GetKey())
		_, err = temp.keys.GetCurrentApiKey(ctx, creq(&hookdv1.GetCurrentApiKeyRequest{}))
		require.NoError(t, err)
		_, err = e.admin.keys.RevokeApiKey(ctx, creq(&hookdv1.RevokeApiKeyRequest{Id: created.Msg.GetApiKey().GetId()}))
		require.NoError(t, err)
		_, err = temp.keys.GetCurrentApiKey(ctx, creq(&hookdv1.GetCurrentApiKeyRequest{}))
		requireCode(t, err, connect.CodeUnauthenticated, "revoked")
		_, err = e.clientsFor("").keys.GetCurrentApiKey(ctx, creq(&hookdv1.GetCurrentApiKeyRequest{}))
		requireCode(t, err, connect.CodeUnauthenticated, "API key")
	})
}

func TestRenderWebhookBody(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		createEventType(t, e.admin, "user.created", map[string]any{"name": "Ada", "tags": []any{"a", "b"}})
		createEventType(t, e.admin, "user.deleted", nil)
		render := func(c clients, r *hookdv1.RenderWebhookBodyRequest) (*hookdv1.RenderWebhookBodyResponse, error) {
			res, err := c.webhooks.RenderWebhookBody(ctx, creq(r))
			if err != nil {
				return nil, err
			}
			return res.Msg, nil
		}

		// The event type's sample payload is .Data; the delivery's own values are placeholders.
		tmpl := `{"user":{{json .Data.name}},"tags":[{{range $i, $t := .Data.tags}}{{if $i}},{{end}}"{{upper $t}}"{{end}}],` +
			`"type":"{{.EventType}}","subject":"{{.Subject}}","key":"{{.TransactionalId}}","event":"{{.EventID}}","attempt":{{.Attempt}}}`
		out, err := render(e.member, &hookdv1.RenderWebhookBodyRequest{BodyTemplate: tmpl, EventType: "user.created", Subject: "cus_1"})
		require.NoError(t, err)
		require.JSONEq(t, `{"user":"Ada","tags":["A","B"],"type":"user.created","subject":"cus_1","key":"dlv_preview","event":"evt_preview","attempt":1}`, out.GetBody())
		require.False(t, out.GetTruncated())

		// A given payload wins over the sample; an event type without a sample gives empty data.
		out, err = render(e.member, &hookdv1.RenderWebhookBodyRequest{BodyTemplate: `{{.Data.name}}/{{.EventType}}`, EventType: "user.created", Payload: mustStruct(t, map[string]any{"name": "Grace"})})
		require.NoError(t, err)
		require.Equal(t, "Grace/user.created", out.GetBody())
		out, err = render(e.member, &hookdv1.RenderWebhookBodyRequest{BodyTemplate: `[{{len .Data}}]{{.EventType}}`, EventType: "user.deleted"})
		require.NoError(t, err)
		require.Equal(t, "[0]user.deleted", out.GetBody())
		out, err = render(e.admin, &hookdv1.RenderWebhookBodyRequest{BodyTemplate: `{{.EventType}}`})
		require.NoError(t, err)
		require.Equal(t, TestEventType, out.GetBody())

		// Errors name the field: parse and execution errors of the template, unknown event types, bad sizes.
		_, err = render(e.member, &hookdv1.RenderWebhookBodyRequest{BodyTemplate: `{{.Data.name`, EventType: "user.created"})
		requireCode(t, err, connect.CodeInvalidArgument, "body_template: parse template")
		_, err = render(e.member, &hookdv1.RenderWebhookBodyRequest{BodyTemplate: `{{nosuch .Data}}`})
		requireCode(t, err, connect.CodeInvalidArgument, "body_template")
		_, err = render(e.member, &hookdv1.RenderWebhookBodyRequest{BodyTemplate: `{{index .Data.tags 5}}`, EventType: "user.created"})
		requireCode(t, err, connect.CodeInvalidArgument, "body_template: execute template")
		_, err = render(e.member, &hookdv1.RenderWebhookBodyRequest{BodyTemplate: `x`, EventType: "user.nope"})
		requireCode(t, err, connect.CodeInvalidArgument, "event_type")
		_, err = render(e.member, &hookdv1.RenderWebhookBodyRequest{EventType: "user.created"})
		requireCode(t, err, connect.CodeInvalidArgument, "body_template: is required")
		_, err = render(e.member, &hookdv1.RenderWebhookBodyRequest{BodyTemplate: strings.Repeat("x", maxTemplateLen+1)})
		requireCode(t, err, connect.CodeInvalidArgument, "body_template")
		_, err = render(e.member, &hookdv1.RenderWebhookBodyRequest{BodyTemplate: "x", Payload: mustStruct(t, map[string]any{"big": strings.Repeat("y", store.DefaultMaxPayloadBytes)})})
		requireCode(t, err, connect.CodeInvalidArgument, "payload")

		// Another project's event types are not found; a VIEWER may render (it has no side effects).
		_, err = render(e.other, &hookdv1.RenderWebhookBodyRequest{BodyTemplate: `x`, EventType: "user.created"})
		requireCode(t, err, connect.CodeInvalidArgument, "event_type")
		out, err = render(e.viewer, &hookdv1.RenderWebhookBodyRequest{BodyTemplate: `x`})
		require.NoError(t, err)
		require.Equal(t, "x", out.GetBody())

		// The output is cut at 64 KiB (on a rune boundary) and says so.
		out, err = render(e.member, &hookdv1.RenderWebhookBodyRequest{BodyTemplate: `{{.Data.s}}{{.Data.s}}`, Payload: mustStruct(t, map[string]any{"s": strings.Repeat("é", maxPreviewBytes/3)})})
		require.NoError(t, err)
		require.True(t, out.GetTruncated())
		require.LessOrEqual(t, len(out.GetBody()), maxPreviewBytes)
		require.Equal(t, strings.Repeat("é", len(out.GetBody())/2), out.GetBody())

		// Nothing is sent or stored.
		require.Zero(t, e.tester.count())
		list, err := e.admin.webhooks.ListWebhooks(ctx, creq(&hookdv1.ListWebhooksRequest{}))
		require.NoError(t, err)
		require.Empty(t, list.Msg.GetWebhooks())
	})
}

// TestPayloadLimitIsTheServers: TestWebhook and RenderWebhookBody take the server's --max-payload-bytes
// (Deps.MaxPayloadBytes), as publishing does, not the default.
func TestPayloadLimitIsTheServers(t *testing.T) {
	t.Parallel()
	storetest.ForEachStoreParallel(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, func(d *Deps) { d.MaxPayloadBytes = 2048 })
		ctx := context.Background()
		big := mustStruct(t, map[string]any{"big": strings.Repeat("y", 3000)})
		_, err := e.member.webhooks.RenderWebhookBody(ctx, creq(&hookdv1.RenderWebhookBodyRequest{BodyTemplate: "x", Payload: big}))
		requireCode(t, err, connect.CodeInvalidArgument, "payload: is 30")
		w := createWebhook(t, e.admin, "w")
		_, err = e.member.webhooks.TestWebhook(ctx, creq(&hookdv1.TestWebhookRequest{Id: w.GetId(), Payload: big}))
		requireCode(t, err, connect.CodeInvalidArgument, "payload: is 30")
	})
}

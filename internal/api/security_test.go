package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/quota"
	"github.com/hookd/hookd/internal/schema"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// Only instance admins list or revoke instance-admin keys.
func TestInstanceAdminKeysNeedAnInstanceAdmin(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		_, err := e.admin.keys.RevokeApiKey(ctx, creq(&hookdv1.RevokeApiKeyRequest{Id: e.keyIDs["root"]}))
		requireCode(t, err, connect.CodePermissionDenied, "instance admin")
		k, err := e.st.GetAPIKey(ctx, "default", e.keyIDs["root"])
		require.NoError(t, err)
		require.Nil(t, k.RevokeTime, "the instance admin key still works")
		_, err = e.root.projects.ListProjects(ctx, creq(&hookdv1.ListProjectsRequest{}))
		require.NoError(t, err)

		list, err := e.admin.keys.ListApiKeys(ctx, creq(&hookdv1.ListApiKeysRequest{PageSize: 100}))
		require.NoError(t, err)
		for _, k := range list.Msg.GetApiKeys() {
			require.False(t, k.GetInstanceAdmin(), "a project ADMIN listed an instance admin key")
		}
		// A project ADMIN still manages the project's own keys; an instance admin manages instance keys.
		_, err = e.admin.keys.RevokeApiKey(ctx, creq(&hookdv1.RevokeApiKeyRequest{Id: e.keyIDs["viewer"]}))
		require.NoError(t, err)
		_, err = e.root.keys.RevokeApiKey(ctx, creq(&hookdv1.RevokeApiKeyRequest{Id: e.keyIDs["root"]}))
		require.NoError(t, err)
	})
}

// Save time refuses templates that pass the render bounds on a dry run, and URL templates that pick the host.
func TestSaveTimeTemplateChecks(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		create := func(req *hookdv1.CreateWebhookRequest) error {
			if req.Name == "" {
				req.Name = "w"
			}
			_, err := e.member.webhooks.CreateWebhook(ctx, creq(req))
			return err
		}
		for _, tpl := range []string{
			`{{range 1000000}}{{range 1000000}}{{end}}{{end}}`,
			`{{$x := "ab"}}{{range 64}}{{$x = print $x $x}}{{end}}{{$x}}`,
			`{{printf "%999999999d" 1}}`,
		} {
			err := create(&hookdv1.CreateWebhookRequest{Url: "https://example.com/hook", BodyTemplate: tpl})
			requireCode(t, err, connect.CodeInvalidArgument, "body_template")
			require.Contains(t, err.Error(), "dry run")
		}
		// Data-dependent bombs are caught on an event type's sample payload.
		_, err := e.member.eventTypes.CreateEventType(ctx, creq(&hookdv1.CreateEventTypeRequest{Name: "big.list",
			SamplePayload: mustStruct(t, map[string]any{"items": make([]any, 400)})}))
		require.NoError(t, err)
		err = create(&hookdv1.CreateWebhookRequest{Url: "https://example.com/hook",
			BodyTemplate: `{{range .Data.items}}{{range $.Data.items}}{{end}}{{end}}`})
		requireCode(t, err, connect.CodeInvalidArgument, "big.list")

		for _, u := range []string{
			"https://{{.Data.u}}@example.com/x", "https://{{.Data.host}}/x", "https://example.com:{{.Data.p}}/",
			"https://example.com/x#{{.Data.f}}", "https://user:pw@example.com/x",
		} {
			requireCode(t, create(&hookdv1.CreateWebhookRequest{Url: u}), connect.CodeInvalidArgument, "url")
		}
		require.NoError(t, create(&hookdv1.CreateWebhookRequest{Url: "https://example.com/orders/{{.Data.id}}?k={{.TransactionalId}}",
			BodyTemplate: `{"a":"{{.Data.missing}}"}`}), "missing keys are not an error at save time")
		in := createIntegration(t, e.admin, "crm")
		_, err = e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "p", IntegrationId: in.GetId(),
			Path: "x/{{range 1000000}}{{range 1000000}}{{end}}{{end}}"}))
		requireCode(t, err, connect.CodeInvalidArgument, "path")

		w, err := e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "u", Url: "https://example.com/hook"}))
		require.NoError(t, err)
		_, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.Msg.GetWebhook().GetId(),
			BodyTemplate: proto.String(`{{range 1000000}}{{range 1000000}}{{end}}{{end}}`)}))
		requireCode(t, err, connect.CodeInvalidArgument, "body_template")
	})
}

// Per-project quotas: resource_exhausted past the limit, and other projects are not affected.
func TestQuotas(t *testing.T) {
	t.Parallel()
	storetest.ForEachStore(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, func(d *Deps) {
			d.Quotas = quota.Limits{Webhooks: 2, EventTypes: 1, Subscriptions: 1}
		})
		ctx := context.Background()
		var ids []string
		for i := range 2 {
			w, err := e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "w" + string(rune('a'+i)), Url: "https://example.com/x"}))
			require.NoError(t, err)
			ids = append(ids, w.Msg.GetWebhook().GetId())
		}
		_, err := e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "wc", Url: "https://example.com/x"}))
		requireCode(t, err, connect.CodeResourceExhausted, "webhooks")
		_, err = e.member.webhooks.CopyWebhook(ctx, creq(&hookdv1.CopyWebhookRequest{Id: ids[0], Name: "copy"}))
		requireCode(t, err, connect.CodeResourceExhausted, "webhooks")
		_, err = e.other.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "theirs", Url: "https://example.com/x"}))
		require.NoError(t, err, "another project has its own quota")

		_, err = e.member.eventTypes.CreateEventType(ctx, creq(&hookdv1.CreateEventTypeRequest{Name: "a.b"}))
		require.NoError(t, err)
		_, err = e.member.eventTypes.CreateEventType(ctx, creq(&hookdv1.CreateEventTypeRequest{Name: "a.c"}))
		requireCode(t, err, connect.CodeResourceExhausted, "event_types")
		_, err = e.member.subscriptions.CreateSubscription(ctx, creq(&hookdv1.CreateSubscriptionRequest{WebhookId: ids[0], EventTypes: []string{"a.b"}}))
		require.NoError(t, err)
		_, err = e.member.subscriptions.CreateSubscription(ctx, creq(&hookdv1.CreateSubscriptionRequest{WebhookId: ids[1], EventTypes: []string{"*"}}))
		requireCode(t, err, connect.CodeResourceExhausted, "subscriptions")
		require.True(t, strings.Contains(err.Error(), "at most 1"))

		_, err = e.member.webhooks.DeleteWebhook(ctx, creq(&hookdv1.DeleteWebhookRequest{Id: ids[1]}))
		require.NoError(t, err)
		_, err = e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "wd", Url: "https://example.com/x"}))
		require.NoError(t, err, "deleting frees quota")
	})
}

// nestedStruct is {"a":{"a":…1…}} depth levels deep.
func nestedStruct(t *testing.T, depth int) *structpb.Struct {
	t.Helper()
	s := &structpb.Struct{}
	require.NoError(t, protojson.Unmarshal([]byte(strings.Repeat(`{"a":`, depth)+"1"+strings.Repeat("}", depth)), s))
	return s
}

// TestSchemaEvaluationIsBounded (issue 21 item 5): a schema whose evaluation doubles with each level of the
// payload is refused when saved, and when one is stored anyway (saved before the check existed), publishing,
// test sends and sample payloads fail fast with invalid_argument instead of burning CPU for minutes.
func TestSchemaEvaluationIsBounded(t *testing.T) {
	const exponential = `{"$defs":{"n":{"allOf":[{"additionalProperties":{"$ref":"#/$defs/n"}},` +
		`{"additionalProperties":{"$ref":"#/$defs/n"}}]}},"$ref":"#/$defs/n"}`
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx := context.Background()
		e := le.e
		expSchema := &structpb.Struct{}
		require.NoError(t, protojson.Unmarshal([]byte(exponential), expSchema))
		fast := func(name string, f func() error, field string) {
			t.Helper()
			start := time.Now()
			err := f()
			requireCode(t, err, connect.CodeInvalidArgument, field)
			requireField(t, err, field)
			require.Less(t, time.Since(start), time.Second, name)
		}
		fast("save", func() error {
			_, err := e.member.eventTypes.CreateEventType(ctx, creq(&hookdv1.CreateEventTypeRequest{Name: "deep.one", Schema: expSchema}))
			return err
		}, "schema")

		// Stored before the save-time check existed.
		require.NoError(t, e.st.CreateEventType(ctx, &store.EventType{ProjectID: auth.DefaultProjectID, Name: "deep.old",
			Schema: []byte(exponential), CreateTime: e.clock.Now(), UpdateTime: e.clock.Now()}))
		_, err := le.member.events.PublishEvent(ctx, creq(&hookdv1.PublishEventRequest{EventType: "deep.old", Payload: nestedStruct(t, 3)}))
		require.NoError(t, err, "a shallow payload still validates")
		for _, depth := range []int{21, 23, schema.MaxDepth + 1} {
			fast("publish", func() error {
				_, err := le.member.events.PublishEvent(ctx, creq(&hookdv1.PublishEventRequest{EventType: "deep.old", Payload: nestedStruct(t, depth)}))
				return err
			}, "payload")
			fast("publish batch", func() error {
				_, err := le.member.events.PublishEvents(ctx, creq(&hookdv1.PublishEventsRequest{Events: []*hookdv1.PublishEventRequest{
					{EventType: "deep.old", Payload: nestedStruct(t, depth)}}}))
				return err
			}, "events[0].payload")
		}
		w := createWebhook(t, e.member, "w")
		fast("test send", func() error {
			_, err := e.member.webhooks.TestWebhook(ctx, creq(&hookdv1.TestWebhookRequest{Id: w.GetId(), EventType: "deep.old", Payload: nestedStruct(t, 23)}))
			return err
		}, "payload")
		fast("sample", func() error {
			_, err := e.member.eventTypes.UpdateEventType(ctx, creq(&hookdv1.UpdateEventTypeRequest{Name: "deep.old", SamplePayload: nestedStruct(t, 23)}))
			return err
		}, "sample_payload")
		require.Zero(t, e.tester.count(), "nothing was sent")
	})
}

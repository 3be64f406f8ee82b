package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/quota"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// backends runs fn on a fresh environment over SQLite and over PostgreSQL, in parallel.
func backends(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	t.Parallel()
	storetest.ForEachStoreParallel(t, func(t *testing.T, st *storetest.DB) {
		fn(t, setup(t, st))
	})
}

// overProtocols is backends once per protocol (Connect, gRPC, JSON): each protocol × store pair gets a fresh
// environment whose clients speak that protocol.
func overProtocols(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	t.Parallel()
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			storetest.ForEachStoreParallel(t, func(t *testing.T, st *storetest.DB) {
				fn(t, setupOver(t, st, protocol))
			})
		})
	}
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	require.NoError(t, err)
	return s
}

func createIntegration(t *testing.T, c clients, name string) *hookdv1.Integration {
	t.Helper()
	res, err := c.integrations.CreateIntegration(context.Background(), creq(&hookdv1.CreateIntegrationRequest{
		Name: name, BaseUrl: "https://api.example.com/v3/", RateLimitPerSecond: 10,
		Headers: []*hookdv1.Header{
			{Name: "Authorization", Value: "Bearer s3cret", Private: true},
			{Name: "X-Team", Value: "core"},
		},
	}))
	require.NoError(t, err)
	return res.Msg.GetIntegration()
}

func createWebhook(t *testing.T, c clients, name string) *hookdv1.Webhook {
	t.Helper()
	res, err := c.webhooks.CreateWebhook(context.Background(), creq(&hookdv1.CreateWebhookRequest{
		Name: name, Url: "https://hooks.example.com/" + name,
	}))
	require.NoError(t, err)
	return res.Msg.GetWebhook()
}

func createEventType(t *testing.T, c clients, name string, sample map[string]any) *hookdv1.EventType {
	t.Helper()
	r := &hookdv1.CreateEventTypeRequest{Name: name}
	if sample != nil {
		r.SamplePayload = mustStruct(t, sample)
	}
	res, err := c.eventTypes.CreateEventType(context.Background(), creq(r))
	require.NoError(t, err)
	return res.Msg.GetEventType()
}

func TestProjects(t *testing.T) {
	overProtocols(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		res, err := e.root.projects.CreateProject(ctx, creq(&hookdv1.CreateProjectRequest{Name: "acme"}))
		require.NoError(t, err)
		acme := res.Msg.GetProject()
		require.True(t, strings.HasPrefix(acme.GetId(), "prj_"), acme.GetId())
		require.Equal(t, "acme", acme.GetName())
		require.NotNil(t, acme.GetCreateTime())

		_, err = e.root.projects.CreateProject(ctx, creq(&hookdv1.CreateProjectRequest{Name: "acme"}))
		requireCode(t, err, connect.CodeAlreadyExists, "name")
		_, err = e.root.projects.CreateProject(ctx, creq(&hookdv1.CreateProjectRequest{Name: " "}))
		requireCode(t, err, connect.CodeInvalidArgument, "name")
		_, err = e.root.projects.CreateProject(ctx, creq(&hookdv1.CreateProjectRequest{Name: strings.Repeat("n", 201)}))
		requireCode(t, err, connect.CodeInvalidArgument, "name")
		for _, c := range []clients{e.admin, e.member, e.viewer} {
			_, err = c.projects.CreateProject(ctx, creq(&hookdv1.CreateProjectRequest{Name: "nope"}))
			requireCode(t, err, connect.CodePermissionDenied, "CreateProject")
		}

		// Plain keys see their own project only.
		got, err := e.member.projects.GetProject(ctx, creq(&hookdv1.GetProjectRequest{}))
		require.NoError(t, err)
		require.Equal(t, auth.DefaultProjectID, got.Msg.GetProject().GetId())
		_, err = e.member.projects.GetProject(ctx, creq(&hookdv1.GetProjectRequest{Id: acme.GetId()}))
		requireCode(t, err, connect.CodeNotFound, acme.GetId())
		_, err = e.other.projects.GetProject(ctx, creq(&hookdv1.GetProjectRequest{Id: auth.DefaultProjectID}))
		requireCode(t, err, connect.CodeNotFound, "project")
		got, err = e.root.projects.GetProject(ctx, creq(&hookdv1.GetProjectRequest{Id: acme.GetId()}))
		require.NoError(t, err)
		require.Equal(t, "acme", got.Msg.GetProject().GetName())
		_, err = e.root.projects.GetProject(ctx, creq(&hookdv1.GetProjectRequest{Id: "prj_unknown"}))
		requireCode(t, err, connect.CodeNotFound, "prj_unknown")

		list, err := e.viewer.projects.ListProjects(ctx, creq(&hookdv1.ListProjectsRequest{}))
		require.NoError(t, err)
		require.Len(t, list.Msg.GetProjects(), 1)
		require.Equal(t, auth.DefaultProjectID, list.Msg.GetProjects()[0].GetId())
		require.Empty(t, list.Msg.GetNextPageToken())
		list, err = e.root.projects.ListProjects(ctx, creq(&hookdv1.ListProjectsRequest{}))
		require.NoError(t, err)
		var ids []string
		for _, p := range list.Msg.GetProjects() {
			ids = append(ids, p.GetId())
		}
		require.ElementsMatch(t, []string{auth.DefaultProjectID, otherProjectID, acme.GetId()}, ids)
	})
}

func TestApiKeys(t *testing.T) {
	overProtocols(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		_, err := e.admin.keys.CreateApiKey(ctx, creq(&hookdv1.CreateApiKeyRequest{Name: "ci"}))
		requireCode(t, err, connect.CodeInvalidArgument, "role")
		_, err = e.admin.keys.CreateApiKey(ctx, creq(&hookdv1.CreateApiKeyRequest{Role: hookdv1.Role(9), Name: "ci"}))
		requireCode(t, err, connect.CodeInvalidArgument, "role")
		_, err = e.admin.keys.CreateApiKey(ctx, creq(&hookdv1.CreateApiKeyRequest{Role: hookdv1.Role_ROLE_MEMBER}))
		requireCode(t, err, connect.CodeInvalidArgument, "name")
		_, err = e.admin.keys.CreateApiKey(ctx, creq(&hookdv1.CreateApiKeyRequest{Name: "x", Role: hookdv1.Role_ROLE_MEMBER, ProjectId: otherProjectID}))
		requireCode(t, err, connect.CodePermissionDenied, "project_id")
		_, err = e.root.keys.CreateApiKey(ctx, creq(&hookdv1.CreateApiKeyRequest{Name: "x", Role: hookdv1.Role_ROLE_MEMBER, ProjectId: "prj_nope"}))
		requireCode(t, err, connect.CodeNotFound, "prj_nope")
		for _, c := range []clients{e.member, e.viewer} {
			_, err = c.keys.CreateApiKey(ctx, creq(&hookdv1.CreateApiKeyRequest{Name: "x", Role: hookdv1.Role_ROLE_VIEWER}))
			requireCode(t, err, connect.CodePermissionDenied, "CreateApiKey")
			_, err = c.keys.ListApiKeys(ctx, creq(&hookdv1.ListApiKeysRequest{}))
			requireCode(t, err, connect.CodePermissionDenied, "ListApiKeys")
		}

		// A key created through the API works once and shows its prefix, never its secret again.
		res, err := e.admin.keys.CreateApiKey(ctx, creq(&hookdv1.CreateApiKeyRequest{Name: "ci", Role: hookdv1.Role_ROLE_MEMBER}))
		require.NoError(t, err)
		k := res.Msg.GetApiKey()
		secret := res.Msg.GetKey()
		require.True(t, strings.HasPrefix(secret, "hk_"))
		require.True(t, strings.HasPrefix(k.GetId(), "key_"))
		require.Equal(t, secret[:auth.PrefixLen], k.GetPrefix())
		require.Equal(t, hookdv1.Role_ROLE_MEMBER, k.GetRole())
		require.Equal(t, auth.DefaultProjectID, k.GetProjectId())
		require.False(t, k.GetInstanceAdmin())
		ci := e.clientsFor(secret)
		_, err = ci.integrations.ListIntegrations(ctx, creq(&hookdv1.ListIntegrationsRequest{}))
		require.NoError(t, err)

		list, err := e.admin.keys.ListApiKeys(ctx, creq(&hookdv1.ListApiKeysRequest{}))
		require.NoError(t, err)
		require.Len(t, list.Msg.GetApiKeys(), 4, "admin, member, viewer, ci: a project ADMIN does not list the instance admin key")
		list, err = e.root.keys.ListApiKeys(ctx, creq(&hookdv1.ListApiKeysRequest{}))
		require.NoError(t, err)
		require.Len(t, list.Msg.GetApiKeys(), 5) // root, admin, member, viewer, ci
		for _, lk := range list.Msg.GetApiKeys() {
			require.Equal(t, auth.DefaultProjectID, lk.GetProjectId())
			require.NotContains(t, fmt.Sprint(lk), secret)
		}
		_, err = e.admin.keys.ListApiKeys(ctx, creq(&hookdv1.ListApiKeysRequest{ProjectId: otherProjectID}))
		requireCode(t, err, connect.CodePermissionDenied, "project_id")
		list, err = e.root.keys.ListApiKeys(ctx, creq(&hookdv1.ListApiKeysRequest{ProjectId: otherProjectID}))
		require.NoError(t, err)
		require.Len(t, list.Msg.GetApiKeys(), 1)
		require.Equal(t, e.keyIDs["other"], list.Msg.GetApiKeys()[0].GetId())

		// Revocation: the key is refused from then on; twice is fine; other projects' keys are not found.
		rev, err := e.admin.keys.RevokeApiKey(ctx, creq(&hookdv1.RevokeApiKeyRequest{Id: k.GetId()}))
		require.NoError(t, err)
		require.NotNil(t, rev.Msg.GetApiKey().GetRevokeTime())
		_, err = ci.integrations.ListIntegrations(ctx, creq(&hookdv1.ListIntegrationsRequest{}))
		requireCode(t, err, connect.CodeUnauthenticated, "revoked")
		_, err = e.admin.keys.RevokeApiKey(ctx, creq(&hookdv1.RevokeApiKeyRequest{Id: k.GetId()}))
		require.NoError(t, err)
		_, err = e.admin.keys.RevokeApiKey(ctx, creq(&hookdv1.RevokeApiKeyRequest{Id: e.keyIDs["other"]}))
		requireCode(t, err, connect.CodeNotFound, e.keyIDs["other"])
		_, err = e.admin.keys.RevokeApiKey(ctx, creq(&hookdv1.RevokeApiKeyRequest{}))
		requireCode(t, err, connect.CodeInvalidArgument, "id")

		// An instance admin creates a key in another project; it sees that project only.
		res, err = e.root.keys.CreateApiKey(ctx, creq(&hookdv1.CreateApiKeyRequest{Name: "ops", Role: hookdv1.Role_ROLE_VIEWER, ProjectId: otherProjectID}))
		require.NoError(t, err)
		require.Equal(t, otherProjectID, res.Msg.GetApiKey().GetProjectId())
		p, err := e.clientsFor(res.Msg.GetKey()).projects.GetProject(ctx, creq(&hookdv1.GetProjectRequest{}))
		require.NoError(t, err)
		require.Equal(t, otherProjectID, p.Msg.GetProject().GetId())
	})
}

func TestIntegrations(t *testing.T) {
	overProtocols(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		valid := func() *hookdv1.CreateIntegrationRequest {
			return &hookdv1.CreateIntegrationRequest{Name: "crm", BaseUrl: "https://crm.example.com/api/"}
		}
		hdr := func(name, value string) []*hookdv1.Header { return []*hookdv1.Header{{Name: name, Value: value}} }
		cases := []struct {
			name  string
			edit  func(r *hookdv1.CreateIntegrationRequest)
			field string
		}{
			{"no name", func(r *hookdv1.CreateIntegrationRequest) { r.Name = "" }, "name"},
			{"long name", func(r *hookdv1.CreateIntegrationRequest) { r.Name = strings.Repeat("x", 201) }, "name"},
			{"no base url", func(r *hookdv1.CreateIntegrationRequest) { r.BaseUrl = "" }, "base_url"},
			{"http", func(r *hookdv1.CreateIntegrationRequest) { r.BaseUrl = "http://crm.example.com/" }, "base_url"},
			{"relative", func(r *hookdv1.CreateIntegrationRequest) { r.BaseUrl = "/api" }, "base_url"},
			{"loopback", func(r *hookdv1.CreateIntegrationRequest) { r.BaseUrl = "https://127.0.0.1/" }, "base_url"},
			{"metadata", func(r *hookdv1.CreateIntegrationRequest) { r.BaseUrl = "https://169.254.169.254/" }, "base_url"},
			{"template", func(r *hookdv1.CreateIntegrationRequest) { r.BaseUrl = "https://crm.example.com/{{.EventID}}" }, "base_url"},
			{"negative rate", func(r *hookdv1.CreateIntegrationRequest) { r.RateLimitPerSecond = -1 }, "rate_limit_per_second"},
			{"huge rate", func(r *hookdv1.CreateIntegrationRequest) { r.RateLimitPerSecond = 100001 }, "rate_limit_per_second"},
			{"bad header name", func(r *hookdv1.CreateIntegrationRequest) { r.Headers = hdr("X Bad", "v") }, "headers[0].name"},
			{"empty header name", func(r *hookdv1.CreateIntegrationRequest) { r.Headers = hdr("", "v") }, "headers[0].name"},
			{"crlf value", func(r *hookdv1.CreateIntegrationRequest) { r.Headers = hdr("X-A", "a\r\nX-B: b") }, "headers[0].value"},
			{"signature header", func(r *hookdv1.CreateIntegrationRequest) { r.Headers = hdr("Webhook-Signature", "v1,x") }, "headers[0].name"},
			{"webhook-id header", func(r *hookdv1.CreateIntegrationRequest) { r.Headers = hdr("webhook-id", "x") }, "headers[0].name"},
			{"host header", func(r *hookdv1.CreateIntegrationRequest) { r.Headers = hdr("Host", "evil") }, "headers[0].name"},
			{"content-length", func(r *hookdv1.CreateIntegrationRequest) { r.Headers = hdr("Content-Length", "1") }, "headers[0].name"},
			{"duplicate header", func(r *hookdv1.CreateIntegrationRequest) {
				r.Headers = []*hookdv1.Header{{Name: "X-A", Value: "1"}, {Name: "x-a", Value: "2"}}
			}, "headers[1].name"},
			{"mask without stored value", func(r *hookdv1.CreateIntegrationRequest) {
				r.Headers = []*hookdv1.Header{{Name: "Authorization", Value: secret.Masked, Private: true}}
			}, "headers[0].value"},
		}
		for _, c := range cases {
			r := valid()
			c.edit(r)
			_, err := e.member.integrations.CreateIntegration(ctx, creq(r))
			requireCode(t, err, connect.CodeInvalidArgument, c.field)
		}
		_, err := e.viewer.integrations.CreateIntegration(ctx, creq(valid()))
		requireCode(t, err, connect.CodePermissionDenied, "CreateIntegration")

		in := createIntegration(t, e.member, "crm")
		require.True(t, strings.HasPrefix(in.GetId(), "int_"))
		require.Equal(t, int32(10), in.GetRateLimitPerSecond())
		// Private values: ADMIN sees them, MEMBER and VIEWER get the mask.
		for _, c := range []struct {
			name   string
			client clients
			want   string
		}{{"admin", e.admin, "Bearer s3cret"}, {"member", e.member, secret.Masked}, {"viewer", e.viewer, secret.Masked}} {
			got, err := c.client.integrations.GetIntegration(ctx, creq(&hookdv1.GetIntegrationRequest{Id: in.GetId()}))
			require.NoError(t, err, c.name)
			hs := got.Msg.GetIntegration().GetHeaders()
			require.Len(t, hs, 2)
			require.Equal(t, c.want, hs[0].GetValue(), c.name)
			require.True(t, hs[0].GetPrivate())
			require.Equal(t, "core", hs[1].GetValue(), c.name)
		}
		require.Equal(t, secret.Masked, in.GetHeaders()[0].GetValue(), "the MEMBER's create response is masked too")

		// A MEMBER sends the masked list back with one more header: the private value is kept.
		got, err := e.member.integrations.GetIntegration(ctx, creq(&hookdv1.GetIntegrationRequest{Id: in.GetId()}))
		require.NoError(t, err)
		hs := append(got.Msg.GetIntegration().GetHeaders(), &hookdv1.Header{Name: "X-New", Value: "1"})
		up, err := e.member.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{
			Id: in.GetId(), Name: proto.String("crm v2"), Headers: &hookdv1.HeaderList{Values: hs},
		}))
		require.NoError(t, err)
		require.Equal(t, "crm v2", up.Msg.GetIntegration().GetName())
		require.Equal(t, "https://api.example.com/v3/", up.Msg.GetIntegration().GetBaseUrl(), "absent fields are unchanged")
		require.Equal(t, int32(10), up.Msg.GetIntegration().GetRateLimitPerSecond())
		stored, err := e.st.GetIntegration(ctx, auth.DefaultProjectID, in.GetId())
		require.NoError(t, err)
		require.Equal(t, []store.Header{
			{Name: "Authorization", Value: "Bearer s3cret", Private: true}, {Name: "X-Team", Value: "core"}, {Name: "X-New", Value: "1"},
		}, stored.Headers)

		// Update validation and clearing the rate limit.
		_, err = e.admin.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{Id: in.GetId(), BaseUrl: proto.String("ftp://x")}))
		requireCode(t, err, connect.CodeInvalidArgument, "base_url")
		// Private headers go to the base URL's origin: a MEMBER may not move it.
		_, err = e.member.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{Id: in.GetId(), BaseUrl: proto.String("https://member.example.net/")}))
		requireCode(t, err, connect.CodePermissionDenied, "base_url")
		stored, err = e.st.GetIntegration(ctx, auth.DefaultProjectID, in.GetId())
		require.NoError(t, err)
		require.Equal(t, "https://api.example.com/v3/", stored.BaseURL)
		_, err = e.member.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{Id: in.GetId(), Name: proto.String("")}))
		requireCode(t, err, connect.CodeInvalidArgument, "name")
		up, err = e.admin.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{Id: in.GetId(), RateLimitPerSecond: proto.Int32(0)}))
		require.NoError(t, err)
		require.Equal(t, int32(0), up.Msg.GetIntegration().GetRateLimitPerSecond())
		require.Equal(t, "Bearer s3cret", up.Msg.GetIntegration().GetHeaders()[0].GetValue())

		// Other projects see nothing.
		_, err = e.other.integrations.GetIntegration(ctx, creq(&hookdv1.GetIntegrationRequest{Id: in.GetId()}))
		requireCode(t, err, connect.CodeNotFound, in.GetId())
		_, err = e.other.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{Id: in.GetId(), Name: proto.String("x")}))
		requireCode(t, err, connect.CodeNotFound, in.GetId())
		_, err = e.other.integrations.DeleteIntegration(ctx, creq(&hookdv1.DeleteIntegrationRequest{Id: in.GetId()}))
		requireCode(t, err, connect.CodeNotFound, in.GetId())
		ol, err := e.other.integrations.ListIntegrations(ctx, creq(&hookdv1.ListIntegrationsRequest{}))
		require.NoError(t, err)
		require.Empty(t, ol.Msg.GetIntegrations())

		// Delete refuses while a webhook uses the integration.
		wh, err := e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "w", IntegrationId: in.GetId(), Path: "x"}))
		require.NoError(t, err)
		_, err = e.member.integrations.DeleteIntegration(ctx, creq(&hookdv1.DeleteIntegrationRequest{Id: in.GetId()}))
		requireCode(t, err, connect.CodeFailedPrecondition, in.GetId())
		requireCode(t, err, connect.CodeFailedPrecondition, wh.Msg.GetWebhook().GetId()+` ("w")`) // names the webhooks that use it
		_, err = e.member.webhooks.DeleteWebhook(ctx, creq(&hookdv1.DeleteWebhookRequest{Id: wh.Msg.GetWebhook().GetId()}))
		require.NoError(t, err)
		_, err = e.viewer.integrations.DeleteIntegration(ctx, creq(&hookdv1.DeleteIntegrationRequest{Id: in.GetId()}))
		requireCode(t, err, connect.CodePermissionDenied, "DeleteIntegration")
		_, err = e.member.integrations.DeleteIntegration(ctx, creq(&hookdv1.DeleteIntegrationRequest{Id: in.GetId()}))
		require.NoError(t, err)
		_, err = e.member.integrations.GetIntegration(ctx, creq(&hookdv1.GetIntegrationRequest{Id: in.GetId()}))
		requireCode(t, err, connect.CodeNotFound, in.GetId())
	})
}

func TestWebhookValidation(t *testing.T) {
	overProtocols(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		in := createIntegration(t, e.admin, "crm")
		other := createIntegration(t, e.other, "crm")
		valid := func() *hookdv1.CreateWebhookRequest {
			return &hookdv1.CreateWebhookRequest{Name: "Order paid", Url: "https://hooks.example.com/orders"}
		}
		fixed := func(iv time.Duration, n int32) *hookdv1.RetryPolicy {
			return &hookdv1.RetryPolicy{Kind: hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_FIXED, Interval: durationpb.New(iv), MaxRetries: n}
		}
		cases := []struct {
			name  string
			edit  func(r *hookdv1.CreateWebhookRequest)
			field string
		}{
			{"no name", func(r *hookdv1.CreateWebhookRequest) { r.Name = "" }, "name"},
			{"bad system name", func(r *hookdv1.CreateWebhookRequest) { r.SystemName = "has space" }, "system_name"},
			{"long system name", func(r *hookdv1.CreateWebhookRequest) { r.SystemName = strings.Repeat("a", 101) }, "system_name"},
			{"long description", func(r *hookdv1.CreateWebhookRequest) { r.Description = strings.Repeat("d", 2001) }, "description"},
			{"method", func(r *hookdv1.CreateWebhookRequest) { r.Method = "TRACE" }, "method"},
			{"no target", func(r *hookdv1.CreateWebhookRequest) { r.Url = "" }, "url"},
			{"url and path", func(r *hookdv1.CreateWebhookRequest) { r.IntegrationId = in.GetId(); r.Path = "x" }, "path"},
			{"path without integration", func(r *hookdv1.CreateWebhookRequest) { r.Url = ""; r.Path = "x" }, "path"},
			{"unknown integration", func(r *hookdv1.CreateWebhookRequest) { r.IntegrationId = "int_nope" }, "integration_id"},
			{"other project's integration", func(r *hookdv1.CreateWebhookRequest) { r.IntegrationId = other.GetId() }, "integration_id"},
			{"http url", func(r *hookdv1.CreateWebhookRequest) { r.Url = "http://hooks.example.com/" }, "url"},
			{"loopback url", func(r *hookdv1.CreateWebhookRequest) { r.Url = "https://127.0.0.1/x" }, "url"},
			{"localhost url", func(r *hookdv1.CreateWebhookRequest) { r.Url = "https://localhost/x" }, "url"},
			{"private url", func(r *hookdv1.CreateWebhookRequest) { r.Url = "https://10.1.2.3/x" }, "url"},
			{"template host", func(r *hookdv1.CreateWebhookRequest) { r.Url = "https://{{.Data.host}}/x" }, "url"},
			{"template scheme", func(r *hookdv1.CreateWebhookRequest) { r.Url = "{{.Data.url}}" }, "url"},
			{"bad url template", func(r *hookdv1.CreateWebhookRequest) { r.Url = "https://hooks.example.com/{{.Data" }, "url"},
			{"bad path template", func(r *hookdv1.CreateWebhookRequest) {
				r.Url = ""
				r.IntegrationId = in.GetId()
				r.Path = "x/{{if}}"
			}, "path"},
			{"bad body template", func(r *hookdv1.CreateWebhookRequest) { r.BodyTemplate = `{"a": {{.Data.a}` }, "body_template"},
			{"unclosed if", func(r *hookdv1.CreateWebhookRequest) { r.BodyTemplate = `{{if .Data.a}}x` }, "body_template"},
			{"unknown function", func(r *hookdv1.CreateWebhookRequest) { r.BodyTemplate = `{{nope .Data}}` }, "body_template"},
			{"bad header template", func(r *hookdv1.CreateWebhookRequest) {
				r.Headers = []*hookdv1.Header{{Name: "Idempotency-Key", Value: "{{.TransactionalId"}}
			}, "headers[0].value"},
			{"reserved header", func(r *hookdv1.CreateWebhookRequest) {
				r.Headers = []*hookdv1.Header{{Name: "webhook-timestamp", Value: "1"}}
			}, "headers[0].name"},
			{"toggle without integration", func(r *hookdv1.CreateWebhookRequest) {
				r.IntegrationHeaders = []*hookdv1.IntegrationHeader{{Name: "X-Team"}}
			}, "integration_headers"},
			{"toggle of unknown header", func(r *hookdv1.CreateWebhookRequest) {
				r.IntegrationId = in.GetId()
				r.IntegrationHeaders = []*hookdv1.IntegrationHeader{{Name: "X-Nope", Use: true}}
			}, "integration_headers[0].name"},
			{"short timeout", func(r *hookdv1.CreateWebhookRequest) { r.Timeout = durationpb.New(500 * time.Millisecond) }, "timeout"},
			{"long timeout", func(r *hookdv1.CreateWebhookRequest) { r.Timeout = durationpb.New(16 * time.Second) }, "timeout"},
			{"negative timeout", func(r *hookdv1.CreateWebhookRequest) { r.Timeout = durationpb.New(-time.Second) }, "timeout"},
			{"long async timeout", func(r *hookdv1.CreateWebhookRequest) { r.AsyncTimeout = durationpb.New(31 * 24 * time.Hour) }, "async_timeout"},
			{"fixed without interval", func(r *hookdv1.CreateWebhookRequest) {
				r.RetryPolicy = &hookdv1.RetryPolicy{Kind: hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_FIXED, MaxRetries: 3}
			}, "retry_policy.interval"},
			{"fixed short interval", func(r *hookdv1.CreateWebhookRequest) { r.RetryPolicy = fixed(500*time.Millisecond, 3) }, "retry_policy.interval"},
			{"fixed long interval", func(r *hookdv1.CreateWebhookRequest) { r.RetryPolicy = fixed(25*time.Hour, 3) }, "retry_policy.interval"},
			{"fixed no retries", func(r *hookdv1.CreateWebhookRequest) { r.RetryPolicy = fixed(10*time.Second, 0) }, "retry_policy.max_retries"},
			{"fixed too many retries", func(r *hookdv1.CreateWebhookRequest) { r.RetryPolicy = fixed(10*time.Second, 11) }, "retry_policy.max_retries"},
			{"exponential too many", func(r *hookdv1.CreateWebhookRequest) {
				r.RetryPolicy = &hookdv1.RetryPolicy{Kind: hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_EXPONENTIAL, MaxRetries: 16}
			}, "retry_policy.max_retries"},
			{"exponential interval", func(r *hookdv1.CreateWebhookRequest) {
				r.RetryPolicy = &hookdv1.RetryPolicy{Interval: durationpb.New(time.Second)}
			}, "retry_policy.interval"},
			{"none with retries", func(r *hookdv1.CreateWebhookRequest) {
				r.RetryPolicy = &hookdv1.RetryPolicy{Kind: hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_NONE, MaxRetries: 2}
			}, "retry_policy"},
			{"unknown kind", func(r *hookdv1.CreateWebhookRequest) {
				r.RetryPolicy = &hookdv1.RetryPolicy{Kind: hookdv1.RetryPolicyKind(7)}
			}, "retry_policy.kind"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := valid()
				c.edit(r)
				_, err := e.member.webhooks.CreateWebhook(ctx, creq(r))
				requireCode(t, err, connect.CodeInvalidArgument, c.field)
				requireField(t, err, c.field)
			})
		}
		list, err := e.admin.webhooks.ListWebhooks(ctx, creq(&hookdv1.ListWebhooksRequest{}))
		require.NoError(t, err)
		require.Empty(t, list.Msg.GetWebhooks(), "no invalid webhook was stored")
	})
}

func TestWebhooks(t *testing.T) {
	overProtocols(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		in := createIntegration(t, e.admin, "crm")

		// Defaults.
		res, err := e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{
			Name: "Order Paid!", Url: "https://hooks.example.com/orders?key={{.TransactionalId}}",
			Headers: []*hookdv1.Header{{Name: "X-Token", Value: "t0k", Private: true}, {Name: "Idempotency-Key", Value: "{{.TransactionalId}}"}},
		}))
		require.NoError(t, err)
		w := res.Msg.GetWebhook()
		require.True(t, strings.HasPrefix(w.GetId(), "wh_"))
		require.Equal(t, "order_paid", w.GetSystemName())
		require.Equal(t, "POST", w.GetMethod())
		require.Equal(t, 15*time.Second, w.GetTimeout().AsDuration())
		require.Equal(t, 24*time.Hour, w.GetAsyncTimeout().AsDuration())
		require.Equal(t, hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_EXPONENTIAL, w.GetRetryPolicy().GetKind())
		require.Equal(t, int32(15), w.GetRetryPolicy().GetMaxRetries())
		require.True(t, w.GetEnabled())
		require.Equal(t, "https://hooks.example.com/orders?key={{.TransactionalId}}", w.GetFullUrl())
		require.Equal(t, secret.Masked, w.GetSecret(), "MEMBER gets the secret masked")
		require.Equal(t, secret.Masked, w.GetHeaders()[0].GetValue())
		require.Equal(t, "{{.TransactionalId}}", w.GetHeaders()[1].GetValue())

		got, err := e.admin.webhooks.GetWebhook(ctx, creq(&hookdv1.GetWebhookRequest{Id: w.GetId()}))
		require.NoError(t, err)
		whSecret := got.Msg.GetWebhook().GetSecret()
		require.Regexp(t, `^whsec_[A-Za-z0-9+/]{32}$`, whSecret, "ADMIN sees the secret")
		require.Equal(t, "t0k", got.Msg.GetWebhook().GetHeaders()[0].GetValue())
		got, err = e.viewer.webhooks.GetWebhook(ctx, creq(&hookdv1.GetWebhookRequest{Id: w.GetId()}))
		require.NoError(t, err)
		require.Equal(t, secret.Masked, got.Msg.GetWebhook().GetSecret())

		// Explicit values, an integration path and header toggles.
		res, err = e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{
			Name: "Sync", SystemName: "crm.sync", IntegrationId: in.GetId(), Path: "/orders/{{.Data.id}}", Method: "put",
			IntegrationHeaders: []*hookdv1.IntegrationHeader{{Name: "x-team", Use: false}},
			RetryPolicy:        &hookdv1.RetryPolicy{Kind: hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_FIXED, Interval: durationpb.New(10 * time.Second), MaxRetries: 5},
			Timeout:            durationpb.New(5 * time.Second), AsyncStatus: true, AsyncTimeout: durationpb.New(time.Hour),
			Enabled: proto.Bool(false), BodyTemplate: `{"id": {{json .Data.id}}{{if .Subject}}, "who": "{{.Subject}}"{{end}}}`,
		}))
		require.NoError(t, err)
		sync := res.Msg.GetWebhook()
		require.Equal(t, "https://api.example.com/v3/orders/{{.Data.id}}", sync.GetFullUrl())
		require.Equal(t, "PUT", sync.GetMethod())
		require.False(t, sync.GetEnabled())
		require.True(t, sync.GetAsyncStatus())
		require.Equal(t, time.Hour, sync.GetAsyncTimeout().AsDuration())
		require.Equal(t, 5*time.Second, sync.GetTimeout().AsDuration())
		require.Equal(t, hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_FIXED, sync.GetRetryPolicy().GetKind())
		require.Equal(t, 10*time.Second, sync.GetRetryPolicy().GetInterval().AsDuration())
		require.Len(t, sync.GetIntegrationHeaders(), 1)
		stored, err := e.st.GetWebhook(ctx, auth.DefaultProjectID, sync.GetId())
		require.NoError(t, err)
		require.Equal(t, store.RetryPolicy{Kind: store.RetryFixed, Interval: 10 * time.Second, MaxRetries: 5}, stored.RetryPolicy)

		// An integration with an empty path calls the base URL.
		res, err = e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "root", IntegrationId: in.GetId()}))
		require.NoError(t, err)
		require.Equal(t, "https://api.example.com/v3/", res.Msg.GetWebhook().GetFullUrl())

		// Duplicate system names.
		_, err = e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "x", SystemName: "crm.sync", Url: "https://a.example.com/"}))
		requireCode(t, err, connect.CodeAlreadyExists, "system_name")
		_, err = e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "order paid", Url: "https://a.example.com/"}))
		requireCode(t, err, connect.CodeAlreadyExists, "system_name")
		_, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(), SystemName: proto.String("crm.sync")}))
		requireCode(t, err, connect.CodeAlreadyExists, "system_name")
		_, err = e.other.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "x", SystemName: "crm.sync", Url: "https://a.example.com/"}))
		require.NoError(t, err, "system names are unique per project only")

		// Update: absent fields unchanged, url/path switch, masked headers kept, validation.
		up, err := e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{
			Id: w.GetId(), Description: proto.String("paid orders"), Headers: &hookdv1.HeaderList{Values: w.GetHeaders()},
		}))
		require.NoError(t, err)
		require.Equal(t, "paid orders", up.Msg.GetWebhook().GetDescription())
		require.Equal(t, "Order Paid!", up.Msg.GetWebhook().GetName())
		require.Equal(t, w.GetUrl(), up.Msg.GetWebhook().GetUrl())
		stored, err = e.st.GetWebhook(ctx, auth.DefaultProjectID, w.GetId())
		require.NoError(t, err)
		require.Equal(t, "t0k", stored.Headers[0].Value)
		require.Equal(t, whSecret, stored.Secret, "an update keeps the secret")

		// The webhook has a private header: moving it to another origin takes an ADMIN (TestWebhookPrivateHeadersStayWithTheirOrigin).
		up, err = e.admin.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(), IntegrationId: proto.String(in.GetId()), Path: proto.String("orders")}))
		require.NoError(t, err)
		require.Empty(t, up.Msg.GetWebhook().GetUrl(), "setting path clears url")
		require.Equal(t, "https://api.example.com/v3/orders", up.Msg.GetWebhook().GetFullUrl())
		_, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(), IntegrationId: proto.String("")}))
		requireCode(t, err, connect.CodeInvalidArgument, "path")
		up, err = e.admin.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(), IntegrationId: proto.String(""), Url: proto.String("https://b.example.com/x")}))
		require.NoError(t, err)
		require.Empty(t, up.Msg.GetWebhook().GetPath())
		require.Empty(t, up.Msg.GetWebhook().GetIntegrationId())
		require.Equal(t, "https://b.example.com/x", up.Msg.GetWebhook().GetFullUrl())
		for _, c := range []struct {
			field string
			r     *hookdv1.UpdateWebhookRequest
		}{
			{"name", &hookdv1.UpdateWebhookRequest{Name: proto.String("")}},
			{"method", &hookdv1.UpdateWebhookRequest{Method: proto.String("HEAD")}},
			{"url", &hookdv1.UpdateWebhookRequest{Url: proto.String("https://192.168.1.1/")}},
			{"path", &hookdv1.UpdateWebhookRequest{Url: proto.String("https://a.example.com/"), Path: proto.String("x")}},
			{"body_template", &hookdv1.UpdateWebhookRequest{BodyTemplate: proto.String("{{end}}")}},
			{"timeout", &hookdv1.UpdateWebhookRequest{Timeout: durationpb.New(time.Minute)}},
			{"retry_policy.max_retries", &hookdv1.UpdateWebhookRequest{RetryPolicy: &hookdv1.RetryPolicy{Kind: hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_FIXED, Interval: durationpb.New(time.Second)}}},
			{"headers[0].value", &hookdv1.UpdateWebhookRequest{Headers: &hookdv1.HeaderList{Values: []*hookdv1.Header{{Name: "X-Other", Value: secret.Masked, Private: true}}}}},
			{"integration_headers", &hookdv1.UpdateWebhookRequest{IntegrationHeaders: &hookdv1.IntegrationHeaderList{Values: []*hookdv1.IntegrationHeader{{Name: "X-Team"}}}}},
		} {
			c.r.Id = w.GetId()
			_, err := e.member.webhooks.UpdateWebhook(ctx, creq(c.r))
			requireCode(t, err, connect.CodeInvalidArgument, c.field)
		}
		up, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: sync.GetId(), Enabled: proto.Bool(true),
			RetryPolicy: &hookdv1.RetryPolicy{Kind: hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_NONE}}))
		require.NoError(t, err)
		require.True(t, up.Msg.GetWebhook().GetEnabled())
		require.Equal(t, hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_NONE, up.Msg.GetWebhook().GetRetryPolicy().GetKind())
		require.Equal(t, "crm.sync", up.Msg.GetWebhook().GetSystemName())
		require.Len(t, up.Msg.GetWebhook().GetIntegrationHeaders(), 1, "toggles survive an update that does not move the webhook")

		// List filtered by integration.
		list, err := e.viewer.webhooks.ListWebhooks(ctx, creq(&hookdv1.ListWebhooksRequest{IntegrationId: in.GetId()}))
		require.NoError(t, err)
		require.Len(t, list.Msg.GetWebhooks(), 2)
		for _, lw := range list.Msg.GetWebhooks() {
			require.Equal(t, in.GetId(), lw.GetIntegrationId())
			require.True(t, strings.HasPrefix(lw.GetFullUrl(), "https://api.example.com/v3/"))
			require.Equal(t, secret.Masked, lw.GetSecret())
		}

		// Copy: a new webhook with its own secret.
		cp, err := e.admin.webhooks.CopyWebhook(ctx, creq(&hookdv1.CopyWebhookRequest{Id: sync.GetId(), Name: "Sync 2", SystemName: "crm.sync2"}))
		require.NoError(t, err)
		c := cp.Msg.GetWebhook()
		require.NotEqual(t, sync.GetId(), c.GetId())
		require.Equal(t, "Sync 2", c.GetName())
		require.Equal(t, "crm.sync2", c.GetSystemName())
		require.Equal(t, sync.GetFullUrl(), c.GetFullUrl())
		require.Equal(t, sync.GetBodyTemplate(), c.GetBodyTemplate())
		require.Regexp(t, `^whsec_`, c.GetSecret())
		src, err := e.admin.webhooks.GetWebhook(ctx, creq(&hookdv1.GetWebhookRequest{Id: sync.GetId()}))
		require.NoError(t, err)
		require.NotEqual(t, src.Msg.GetWebhook().GetSecret(), c.GetSecret())
		_, err = e.admin.webhooks.CopyWebhook(ctx, creq(&hookdv1.CopyWebhookRequest{Id: sync.GetId(), Name: "again", SystemName: "crm.sync2"}))
		requireCode(t, err, connect.CodeAlreadyExists, "system_name")
		_, err = e.admin.webhooks.CopyWebhook(ctx, creq(&hookdv1.CopyWebhookRequest{Id: sync.GetId(), SystemName: "no spaces allowed"}))
		requireCode(t, err, connect.CodeInvalidArgument, "system_name")
		cp, err = e.member.webhooks.CopyWebhook(ctx, creq(&hookdv1.CopyWebhookRequest{Id: sync.GetId()}))
		require.NoError(t, err)
		require.Equal(t, "Sync (copy)", cp.Msg.GetWebhook().GetName())
		require.Equal(t, "sync_copy", cp.Msg.GetWebhook().GetSystemName())

		// Rotate: a new secret; the previous one signs until now + 24 h.
		before, err := e.st.GetWebhook(ctx, auth.DefaultProjectID, c.GetId())
		require.NoError(t, err)
		rot, err := e.admin.webhooks.RotateWebhookSecret(ctx, creq(&hookdv1.RotateWebhookSecretRequest{Id: c.GetId()}))
		require.NoError(t, err)
		require.NotEqual(t, before.Secret, rot.Msg.GetWebhook().GetSecret())
		require.Regexp(t, `^whsec_`, rot.Msg.GetWebhook().GetSecret())
		require.True(t, e.clock.Now().Add(24*time.Hour).Equal(rot.Msg.GetWebhook().GetPreviousSecretExpireTime().AsTime()))
		after, err := e.st.GetWebhook(ctx, auth.DefaultProjectID, c.GetId())
		require.NoError(t, err)
		require.Equal(t, before.Secret, after.PreviousSecret)
		require.Equal(t, rot.Msg.GetWebhook().GetSecret(), after.Secret)
		rot, err = e.member.webhooks.RotateWebhookSecret(ctx, creq(&hookdv1.RotateWebhookSecretRequest{Id: c.GetId()}))
		require.NoError(t, err)
		require.Equal(t, secret.Masked, rot.Msg.GetWebhook().GetSecret())

		// Other projects and viewers.
		for name, call := range map[string]func(c clients) error{
			"get": func(c clients) error {
				_, err := c.webhooks.GetWebhook(ctx, creq(&hookdv1.GetWebhookRequest{Id: w.GetId()}))
				return err
			},
			"update": func(c clients) error {
				_, err := c.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(), Name: proto.String("x")}))
				return err
			},
			"copy": func(c clients) error {
				_, err := c.webhooks.CopyWebhook(ctx, creq(&hookdv1.CopyWebhookRequest{Id: w.GetId(), Name: "x", SystemName: "x"}))
				return err
			},
			"rotate": func(c clients) error {
				_, err := c.webhooks.RotateWebhookSecret(ctx, creq(&hookdv1.RotateWebhookSecretRequest{Id: w.GetId()}))
				return err
			},
			"test": func(c clients) error {
				_, err := c.webhooks.TestWebhook(ctx, creq(&hookdv1.TestWebhookRequest{Id: w.GetId(), Payload: &structpb.Struct{}}))
				return err
			},
			"delete": func(c clients) error {
				_, err := c.webhooks.DeleteWebhook(ctx, creq(&hookdv1.DeleteWebhookRequest{Id: w.GetId()}))
				return err
			},
		} {
			requireCode(t, call(e.other), connect.CodeNotFound, w.GetId())
			if name != "get" {
				requireCode(t, call(e.viewer), connect.CodePermissionDenied, "")
			}
		}
		_, err = e.member.webhooks.DeleteWebhook(ctx, creq(&hookdv1.DeleteWebhookRequest{Id: w.GetId()}))
		require.NoError(t, err)
		_, err = e.member.webhooks.GetWebhook(ctx, creq(&hookdv1.GetWebhookRequest{Id: w.GetId()}))
		requireCode(t, err, connect.CodeNotFound, w.GetId())
	})
}

func TestTestWebhook(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		w := createWebhook(t, e.admin, "receiver")
		_, err := e.admin.eventTypes.CreateEventType(ctx, creq(&hookdv1.CreateEventTypeRequest{
			Name:          "user.created",
			Schema:        mustStruct(t, map[string]any{"type": "object", "required": []any{"id"}}),
			SamplePayload: mustStruct(t, map[string]any{"id": "u_1"}),
		}))
		require.NoError(t, err)
		createEventType(t, e.admin, "user.deleted", nil)
		e.tester.script(&store.Attempt{
			RequestURL: "https://hooks.example.com/receiver", RequestMethod: "POST", RequestBody: `{"id":"u_1"}`,
			RequestHeaders:     []store.Header{{Name: "X-Token", Value: "t0k", Private: true}, {Name: "webhook-id", Value: "msg_test"}},
			ResponseStatusCode: 201, ResponseHeaders: []store.Header{{Name: "Content-Type", Value: "text/plain"}},
			ResponseBody: "created", Duration: 42 * time.Millisecond,
		}, nil)

		// The sample payload of the event type.
		res, err := e.member.webhooks.TestWebhook(ctx, creq(&hookdv1.TestWebhookRequest{Id: w.GetId(), EventType: "user.created"}))
		require.NoError(t, err)
		sent := e.tester.last(t)
		require.Equal(t, w.GetId(), sent.webhookID)
		require.Equal(t, "user.created", sent.eventType)
		require.JSONEq(t, `{"id":"u_1"}`, sent.payload)
		m := res.Msg
		require.Equal(t, int32(201), m.GetStatusCode())
		require.Equal(t, "created", m.GetBody())
		require.Equal(t, 42*time.Millisecond, m.GetDuration().AsDuration())
		require.Equal(t, "https://hooks.example.com/receiver", m.GetRequestUrl())
		require.Equal(t, "text/plain", m.GetHeaders()[0].GetValue())
		require.Equal(t, secret.Masked, m.GetRequestHeaders()[0].GetValue(), "MEMBER sees private request headers masked")
		require.Equal(t, `{"id":"u_1"}`, m.GetRequestBody())
		require.Empty(t, m.GetError())
		res, err = e.admin.webhooks.TestWebhook(ctx, creq(&hookdv1.TestWebhookRequest{Id: w.GetId(), EventType: "user.created"}))
		require.NoError(t, err)
		require.Equal(t, "t0k", res.Msg.GetRequestHeaders()[0].GetValue())

		// An explicit payload, with and without an event type.
		_, err = e.member.webhooks.TestWebhook(ctx, creq(&hookdv1.TestWebhookRequest{Id: w.GetId(), Payload: mustStruct(t, map[string]any{"hello": "world"})}))
		require.NoError(t, err)
		require.Equal(t, testSend{webhookID: w.GetId(), eventType: TestEventType, payload: `{"hello":"world"}`}, e.tester.last(t))
		_, err = e.member.webhooks.TestWebhook(ctx, creq(&hookdv1.TestWebhookRequest{Id: w.GetId(), EventType: "user.created", Payload: mustStruct(t, map[string]any{"id": "u_2"})}))
		require.NoError(t, err)
		require.Equal(t, `{"id":"u_2"}`, e.tester.last(t).payload)

		// Errors: nothing is sent.
		n := e.tester.count()
		_, err = e.member.webhooks.TestWebhook(ctx, creq(&hookdv1.TestWebhookRequest{Id: w.GetId()}))
		requireCode(t, err, connect.CodeInvalidArgument, "event_type")
		_, err = e.member.webhooks.TestWebhook(ctx, creq(&hookdv1.TestWebhookRequest{Id: w.GetId(), EventType: "user.nope"}))
		requireCode(t, err, connect.CodeNotFound, "user.nope")
		_, err = e.member.webhooks.TestWebhook(ctx, creq(&hookdv1.TestWebhookRequest{Id: w.GetId(), EventType: "user.deleted"}))
		requireCode(t, err, connect.CodeInvalidArgument, "payload")
		_, err = e.member.webhooks.TestWebhook(ctx, creq(&hookdv1.TestWebhookRequest{Id: w.GetId(), EventType: "user.created", Payload: mustStruct(t, map[string]any{"name": "x"})}))
		requireCode(t, err, connect.CodeInvalidArgument, "payload")
		_, err = e.member.webhooks.TestWebhook(ctx, creq(&hookdv1.TestWebhookRequest{Id: "wh_nope", Payload: &structpb.Struct{}}))
		requireCode(t, err, connect.CodeNotFound, "wh_nope")
		_, err = e.viewer.webhooks.TestWebhook(ctx, creq(&hookdv1.TestWebhookRequest{Id: w.GetId(), Payload: &structpb.Struct{}}))
		requireCode(t, err, connect.CodePermissionDenied, "TestWebhook")
		require.Equal(t, n, e.tester.count())

		// A network error is a result; a sender failure is failed_precondition.
		e.tester.script(&store.Attempt{RequestURL: "https://hooks.example.com/receiver", Error: "dial tcp: connection refused", Duration: time.Millisecond}, nil)
		res, err = e.member.webhooks.TestWebhook(ctx, creq(&hookdv1.TestWebhookRequest{Id: w.GetId(), Payload: &structpb.Struct{}}))
		require.NoError(t, err)
		require.Equal(t, int32(0), res.Msg.GetStatusCode())
		require.Equal(t, "dial tcp: connection refused", res.Msg.GetError())
		e.tester.script(nil, errors.New("render body: template: missing key"))
		_, err = e.member.webhooks.TestWebhook(ctx, creq(&hookdv1.TestWebhookRequest{Id: w.GetId(), Payload: &structpb.Struct{}}))
		requireCode(t, err, connect.CodeFailedPrecondition, "render body")

		// Without a tester the RPC is refused.
		svc := NewWebhookService(Deps{Store: e.st, Clock: e.clock}, nil)
		pctx := auth.WithPrincipal(ctx, auth.Principal{ProjectID: auth.DefaultProjectID, Role: store.RoleAdmin})
		_, err = svc.TestWebhook(pctx, creq(&hookdv1.TestWebhookRequest{Id: w.GetId(), Payload: &structpb.Struct{}}))
		requireCode(t, err, connect.CodeFailedPrecondition, "test sends")
	})
}

func TestEventTypes(t *testing.T) {
	overProtocols(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		objSchema := map[string]any{
			"type": "object", "required": []any{"id"},
			"properties": map[string]any{"id": map[string]any{"type": "string"}},
		}
		cases := []struct {
			name  string
			r     *hookdv1.CreateEventTypeRequest
			field string
		}{
			{"no name", &hookdv1.CreateEventTypeRequest{}, "name"},
			{"space", &hookdv1.CreateEventTypeRequest{Name: "user created"}, "name"},
			{"star", &hookdv1.CreateEventTypeRequest{Name: "*"}, "name"},
			{"leading dot", &hookdv1.CreateEventTypeRequest{Name: ".user"}, "name"},
			{"empty segment", &hookdv1.CreateEventTypeRequest{Name: "user..created"}, "name"},
			{"long", &hookdv1.CreateEventTypeRequest{Name: strings.Repeat("a", 101)}, "name"},
			{"long description", &hookdv1.CreateEventTypeRequest{Name: "a", Description: strings.Repeat("d", 2001)}, "description"},
			{"bad schema", &hookdv1.CreateEventTypeRequest{Name: "a", Schema: mustStruct(t, map[string]any{"type": 12})}, "schema"},
			{"external ref", &hookdv1.CreateEventTypeRequest{Name: "a", Schema: mustStruct(t, map[string]any{"$ref": "https://example.com/s.json"})}, "schema"},
			{"sample mismatch", &hookdv1.CreateEventTypeRequest{Name: "a", Schema: mustStruct(t, objSchema),
				SamplePayload: mustStruct(t, map[string]any{"id": 1.0})}, "sample_payload"},
		}
		for _, c := range cases {
			_, err := e.member.eventTypes.CreateEventType(ctx, creq(c.r))
			requireCode(t, err, connect.CodeInvalidArgument, c.field)
		}
		_, err := e.viewer.eventTypes.CreateEventType(ctx, creq(&hookdv1.CreateEventTypeRequest{Name: "a"}))
		requireCode(t, err, connect.CodePermissionDenied, "CreateEventType")

		res, err := e.member.eventTypes.CreateEventType(ctx, creq(&hookdv1.CreateEventTypeRequest{
			Name: "user.created", Description: "a user signed up", Schema: mustStruct(t, objSchema),
			SamplePayload: mustStruct(t, map[string]any{"id": "u_1"}),
		}))
		require.NoError(t, err)
		et := res.Msg.GetEventType()
		require.True(t, strings.HasPrefix(et.GetId(), "et_"))
		require.Equal(t, "u_1", et.GetSamplePayload().GetFields()["id"].GetStringValue())
		require.Equal(t, "object", et.GetSchema().GetFields()["type"].GetStringValue())
		_, err = e.member.eventTypes.CreateEventType(ctx, creq(&hookdv1.CreateEventTypeRequest{Name: "user.created"}))
		requireCode(t, err, connect.CodeAlreadyExists, "user.created")
		_, err = e.other.eventTypes.CreateEventType(ctx, creq(&hookdv1.CreateEventTypeRequest{Name: "user.created"}))
		require.NoError(t, err, "names are unique per project only")

		// Get by id or by name.
		got, err := e.viewer.eventTypes.GetEventType(ctx, creq(&hookdv1.GetEventTypeRequest{Id: et.GetId()}))
		require.NoError(t, err)
		require.Equal(t, "user.created", got.Msg.GetEventType().GetName())
		got, err = e.viewer.eventTypes.GetEventType(ctx, creq(&hookdv1.GetEventTypeRequest{Name: "user.created"}))
		require.NoError(t, err)
		require.Equal(t, et.GetId(), got.Msg.GetEventType().GetId())
		_, err = e.viewer.eventTypes.GetEventType(ctx, creq(&hookdv1.GetEventTypeRequest{}))
		requireCode(t, err, connect.CodeInvalidArgument, "id")
		_, err = e.viewer.eventTypes.GetEventType(ctx, creq(&hookdv1.GetEventTypeRequest{Name: "user.nope"}))
		requireCode(t, err, connect.CodeNotFound, "user.nope")
		_, err = e.other.eventTypes.GetEventType(ctx, creq(&hookdv1.GetEventTypeRequest{Id: et.GetId()}))
		requireCode(t, err, connect.CodeNotFound, et.GetId())

		// Update: the kept sample must match a new schema; an empty schema removes it.
		intSchema := mustStruct(t, map[string]any{"type": "object", "properties": map[string]any{"id": map[string]any{"type": "integer"}}})
		_, err = e.member.eventTypes.UpdateEventType(ctx, creq(&hookdv1.UpdateEventTypeRequest{Id: et.GetId(), Schema: intSchema}))
		requireCode(t, err, connect.CodeInvalidArgument, "sample_payload")
		_, err = e.member.eventTypes.UpdateEventType(ctx, creq(&hookdv1.UpdateEventTypeRequest{Id: et.GetId(), Schema: mustStruct(t, map[string]any{"minLength": "x"})}))
		requireCode(t, err, connect.CodeInvalidArgument, "schema")
		up, err := e.member.eventTypes.UpdateEventType(ctx, creq(&hookdv1.UpdateEventTypeRequest{
			Id: et.GetId(), Schema: intSchema, SamplePayload: mustStruct(t, map[string]any{"id": 7.0}),
		}))
		require.NoError(t, err)
		require.Equal(t, "a user signed up", up.Msg.GetEventType().GetDescription(), "absent fields are unchanged")
		require.Equal(t, 7.0, up.Msg.GetEventType().GetSamplePayload().GetFields()["id"].GetNumberValue())
		up, err = e.member.eventTypes.UpdateEventType(ctx, creq(&hookdv1.UpdateEventTypeRequest{
			Id: et.GetId(), Schema: &structpb.Struct{}, Description: proto.String("signed up"),
		}))
		require.NoError(t, err)
		require.Nil(t, up.Msg.GetEventType().GetSchema())
		require.Equal(t, "signed up", up.Msg.GetEventType().GetDescription())
		stored, err := e.st.GetEventType(ctx, auth.DefaultProjectID, et.GetId())
		require.NoError(t, err)
		require.Empty(t, stored.Schema)
		_, err = e.other.eventTypes.UpdateEventType(ctx, creq(&hookdv1.UpdateEventTypeRequest{Id: et.GetId(), Description: proto.String("x")}))
		requireCode(t, err, connect.CodeNotFound, et.GetId())
		// By name, as GetEventType finds it (curl: {"name": "user.created", "description": …}).
		up, err = e.member.eventTypes.UpdateEventType(ctx, creq(&hookdv1.UpdateEventTypeRequest{Name: "user.created", Description: proto.String("by name")}))
		require.NoError(t, err)
		require.Equal(t, et.GetId(), up.Msg.GetEventType().GetId())
		require.Equal(t, "by name", up.Msg.GetEventType().GetDescription())
		_, err = e.member.eventTypes.UpdateEventType(ctx, creq(&hookdv1.UpdateEventTypeRequest{Name: "user.nope", Description: proto.String("x")}))
		requireCode(t, err, connect.CodeNotFound, `event type "user.nope" not found`)
		theirs, err := e.other.eventTypes.UpdateEventType(ctx, creq(&hookdv1.UpdateEventTypeRequest{Name: "user.created", Description: proto.String("theirs")}))
		require.NoError(t, err)
		require.NotEqual(t, et.GetId(), theirs.Msg.GetEventType().GetId(), "a name is looked up in the caller's project")
		_, err = e.member.eventTypes.UpdateEventType(ctx, creq(&hookdv1.UpdateEventTypeRequest{Description: proto.String("x")}))
		requireCode(t, err, connect.CodeInvalidArgument, "id or name")

		// Delete refuses while subscribed.
		w := createWebhook(t, e.member, "w")
		sub, err := e.member.subscriptions.CreateSubscription(ctx, creq(&hookdv1.CreateSubscriptionRequest{WebhookId: w.GetId(), EventTypes: []string{"user.created"}}))
		require.NoError(t, err)
		_, err = e.member.eventTypes.DeleteEventType(ctx, creq(&hookdv1.DeleteEventTypeRequest{Id: et.GetId()}))
		requireCode(t, err, connect.CodeFailedPrecondition, "subscriptions")
		_, err = e.member.subscriptions.DeleteSubscription(ctx, creq(&hookdv1.DeleteSubscriptionRequest{Id: sub.Msg.GetSubscription().GetId()}))
		require.NoError(t, err)
		_, err = e.other.eventTypes.DeleteEventType(ctx, creq(&hookdv1.DeleteEventTypeRequest{Id: et.GetId()}))
		requireCode(t, err, connect.CodeNotFound, et.GetId())
		_, err = e.member.eventTypes.DeleteEventType(ctx, creq(&hookdv1.DeleteEventTypeRequest{Id: et.GetId()}))
		require.NoError(t, err)
		_, err = e.member.eventTypes.GetEventType(ctx, creq(&hookdv1.GetEventTypeRequest{Id: et.GetId()}))
		requireCode(t, err, connect.CodeNotFound, et.GetId())
	})
}

func TestSubscriptions(t *testing.T) {
	overProtocols(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		w1 := createWebhook(t, e.member, "one")
		w2 := createWebhook(t, e.member, "two")
		ow := createWebhook(t, e.other, "theirs")
		createEventType(t, e.member, "order.paid", nil)
		createEventType(t, e.member, "order.refunded", nil)
		createEventType(t, e.other, "order.shipped", nil)

		cases := []struct {
			name  string
			r     *hookdv1.CreateSubscriptionRequest
			field string
		}{
			{"no webhook", &hookdv1.CreateSubscriptionRequest{EventTypes: []string{"*"}}, "webhook_id"},
			{"unknown webhook", &hookdv1.CreateSubscriptionRequest{WebhookId: "wh_nope", EventTypes: []string{"*"}}, "webhook_id"},
			{"other project's webhook", &hookdv1.CreateSubscriptionRequest{WebhookId: ow.GetId(), EventTypes: []string{"*"}}, "webhook_id"},
			{"no event types", &hookdv1.CreateSubscriptionRequest{WebhookId: w1.GetId()}, "event_types"},
			{"unknown event type", &hookdv1.CreateSubscriptionRequest{WebhookId: w1.GetId(), EventTypes: []string{"order.paid", "order.nope"}}, "event_types[1]"},
			{"other project's event type", &hookdv1.CreateSubscriptionRequest{WebhookId: w1.GetId(), EventTypes: []string{"order.shipped"}}, "event_types"},
			{"empty event type", &hookdv1.CreateSubscriptionRequest{WebhookId: w1.GetId(), EventTypes: []string{""}}, "event_types"},
			{"long subject filter", &hookdv1.CreateSubscriptionRequest{WebhookId: w1.GetId(), EventTypes: []string{"*"}, SubjectFilter: strings.Repeat("s", 257)}, "subject_filter"},
		}
		for _, c := range cases {
			_, err := e.member.subscriptions.CreateSubscription(ctx, creq(c.r))
			requireCode(t, err, connect.CodeInvalidArgument, c.field)
		}
		_, err := e.viewer.subscriptions.CreateSubscription(ctx, creq(&hookdv1.CreateSubscriptionRequest{WebhookId: w1.GetId(), EventTypes: []string{"*"}}))
		requireCode(t, err, connect.CodePermissionDenied, "CreateSubscription")

		res, err := e.member.subscriptions.CreateSubscription(ctx, creq(&hookdv1.CreateSubscriptionRequest{
			WebhookId: w1.GetId(), EventTypes: []string{"order.paid", "order.paid", "order.refunded"}, SubjectFilter: "cust_1",
		}))
		require.NoError(t, err)
		s1 := res.Msg.GetSubscription()
		require.True(t, strings.HasPrefix(s1.GetId(), "sub_"))
		require.Equal(t, []string{"order.paid", "order.refunded"}, s1.GetEventTypes())
		require.True(t, s1.GetEnabled())
		require.Equal(t, "cust_1", s1.GetSubjectFilter())
		res, err = e.member.subscriptions.CreateSubscription(ctx, creq(&hookdv1.CreateSubscriptionRequest{
			WebhookId: w2.GetId(), EventTypes: []string{"*"}, Enabled: proto.Bool(false),
		}))
		require.NoError(t, err)
		s2 := res.Msg.GetSubscription()
		require.False(t, s2.GetEnabled())

		ids := func(r *hookdv1.ListSubscriptionsRequest) []string {
			t.Helper()
			list, err := e.viewer.subscriptions.ListSubscriptions(ctx, creq(r))
			require.NoError(t, err)
			var out []string
			for _, s := range list.Msg.GetSubscriptions() {
				out = append(out, s.GetId())
			}
			return out
		}
		require.ElementsMatch(t, []string{s1.GetId(), s2.GetId()}, ids(&hookdv1.ListSubscriptionsRequest{}))
		require.Equal(t, []string{s1.GetId()}, ids(&hookdv1.ListSubscriptionsRequest{WebhookId: w1.GetId()}))
		require.ElementsMatch(t, []string{s1.GetId(), s2.GetId()}, ids(&hookdv1.ListSubscriptionsRequest{EventType: "order.refunded"}))
		require.Equal(t, []string{s2.GetId()}, ids(&hookdv1.ListSubscriptionsRequest{EventType: "user.created"}), "* matches every type")

		got, err := e.viewer.subscriptions.GetSubscription(ctx, creq(&hookdv1.GetSubscriptionRequest{Id: s1.GetId()}))
		require.NoError(t, err)
		require.Equal(t, w1.GetId(), got.Msg.GetSubscription().GetWebhookId())

		// Update replaces event types through the wrapper; absent fields are unchanged.
		_, err = e.member.subscriptions.UpdateSubscription(ctx, creq(&hookdv1.UpdateSubscriptionRequest{Id: s1.GetId(), EventTypes: &hookdv1.StringList{}}))
		requireCode(t, err, connect.CodeInvalidArgument, "event_types")
		_, err = e.member.subscriptions.UpdateSubscription(ctx, creq(&hookdv1.UpdateSubscriptionRequest{Id: s1.GetId(), EventTypes: &hookdv1.StringList{Values: []string{"nope"}}}))
		requireCode(t, err, connect.CodeInvalidArgument, "event_types")
		up, err := e.member.subscriptions.UpdateSubscription(ctx, creq(&hookdv1.UpdateSubscriptionRequest{
			Id: s1.GetId(), EventTypes: &hookdv1.StringList{Values: []string{"order.refunded"}}, Enabled: proto.Bool(false),
		}))
		require.NoError(t, err)
		require.Equal(t, []string{"order.refunded"}, up.Msg.GetSubscription().GetEventTypes())
		require.False(t, up.Msg.GetSubscription().GetEnabled())
		require.Equal(t, "cust_1", up.Msg.GetSubscription().GetSubjectFilter())
		require.Equal(t, []string{s2.GetId()}, ids(&hookdv1.ListSubscriptionsRequest{EventType: "order.paid"}))
		up, err = e.member.subscriptions.UpdateSubscription(ctx, creq(&hookdv1.UpdateSubscriptionRequest{Id: s1.GetId(), SubjectFilter: proto.String("")}))
		require.NoError(t, err)
		require.Empty(t, up.Msg.GetSubscription().GetSubjectFilter())
		require.Equal(t, []string{"order.refunded"}, up.Msg.GetSubscription().GetEventTypes())

		// Isolation and deletion.
		_, err = e.other.subscriptions.GetSubscription(ctx, creq(&hookdv1.GetSubscriptionRequest{Id: s1.GetId()}))
		requireCode(t, err, connect.CodeNotFound, s1.GetId())
		_, err = e.other.subscriptions.UpdateSubscription(ctx, creq(&hookdv1.UpdateSubscriptionRequest{Id: s1.GetId(), Enabled: proto.Bool(true)}))
		requireCode(t, err, connect.CodeNotFound, s1.GetId())
		_, err = e.other.subscriptions.DeleteSubscription(ctx, creq(&hookdv1.DeleteSubscriptionRequest{Id: s1.GetId()}))
		requireCode(t, err, connect.CodeNotFound, s1.GetId())
		_, err = e.viewer.subscriptions.DeleteSubscription(ctx, creq(&hookdv1.DeleteSubscriptionRequest{Id: s1.GetId()}))
		requireCode(t, err, connect.CodePermissionDenied, "DeleteSubscription")
		_, err = e.member.subscriptions.DeleteSubscription(ctx, creq(&hookdv1.DeleteSubscriptionRequest{Id: s1.GetId()}))
		require.NoError(t, err)
		_, err = e.member.subscriptions.GetSubscription(ctx, creq(&hookdv1.GetSubscriptionRequest{Id: s1.GetId()}))
		requireCode(t, err, connect.CodeNotFound, s1.GetId())
		// Deleting a webhook deletes its subscriptions.
		_, err = e.member.webhooks.DeleteWebhook(ctx, creq(&hookdv1.DeleteWebhookRequest{Id: w2.GetId()}))
		require.NoError(t, err)
		require.Empty(t, ids(&hookdv1.ListSubscriptionsRequest{}))
	})
}

// pageThrough lists all pages of size 3 with list and returns the ids in order, failing on repeats.
func pageThrough(t *testing.T, list func(size int32, token string) ([]string, string, error)) []string {
	t.Helper()
	var all []string
	seen := map[string]bool{}
	token := ""
	for pages := 1; ; pages++ {
		require.LessOrEqual(t, pages, 10, "too many pages")
		ids, next, err := list(3, token)
		require.NoError(t, err)
		require.LessOrEqual(t, len(ids), 3)
		for _, id := range ids {
			require.False(t, seen[id], "%s listed twice", id)
			seen[id] = true
		}
		all = append(all, ids...)
		if next == "" {
			return all
		}
		token = next
	}
}

func TestPagination(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var ins, whs, ets, subs []string
		for i := range 7 {
			e.clock.Advance(time.Millisecond)
			ins = append(ins, createIntegration(t, e.member, fmt.Sprintf("in%d", i)).GetId())
			whs = append(whs, createWebhook(t, e.member, fmt.Sprintf("wh%d", i)).GetId())
			ets = append(ets, createEventType(t, e.member, fmt.Sprintf("type.n%d", i), nil).GetId())
			res, err := e.member.subscriptions.CreateSubscription(ctx, creq(&hookdv1.CreateSubscriptionRequest{WebhookId: whs[i], EventTypes: []string{"*"}}))
			require.NoError(t, err)
			subs = append(subs, res.Msg.GetSubscription().GetId())
		}
		reversed := func(in []string) []string {
			out := make([]string, len(in))
			for i, v := range in {
				out[len(in)-1-i] = v
			}
			return out
		}
		require.Equal(t, reversed(ins), pageThrough(t, func(size int32, token string) ([]string, string, error) {
			res, err := e.viewer.integrations.ListIntegrations(ctx, creq(&hookdv1.ListIntegrationsRequest{PageSize: size, PageToken: token}))
			if err != nil {
				return nil, "", err
			}
			var ids []string
			for _, x := range res.Msg.GetIntegrations() {
				ids = append(ids, x.GetId())
			}
			return ids, res.Msg.GetNextPageToken(), nil
		}), "newest first")
		require.Equal(t, reversed(whs), pageThrough(t, func(size int32, token string) ([]string, string, error) {
			res, err := e.viewer.webhooks.ListWebhooks(ctx, creq(&hookdv1.ListWebhooksRequest{PageSize: size, PageToken: token}))
			if err != nil {
				return nil, "", err
			}
			var ids []string
			for _, x := range res.Msg.GetWebhooks() {
				ids = append(ids, x.GetId())
			}
			return ids, res.Msg.GetNextPageToken(), nil
		}))
		require.Equal(t, reversed(ets), pageThrough(t, func(size int32, token string) ([]string, string, error) {
			res, err := e.viewer.eventTypes.ListEventTypes(ctx, creq(&hookdv1.ListEventTypesRequest{PageSize: size, PageToken: token}))
			if err != nil {
				return nil, "", err
			}
			var ids []string
			for _, x := range res.Msg.GetEventTypes() {
				if !x.GetOperational() { // hookd's own types (listed last: their ids are of time zero)
					ids = append(ids, x.GetId())
				}
			}
			return ids, res.Msg.GetNextPageToken(), nil
		}))
		require.Equal(t, reversed(subs), pageThrough(t, func(size int32, token string) ([]string, string, error) {
			res, err := e.viewer.subscriptions.ListSubscriptions(ctx, creq(&hookdv1.ListSubscriptionsRequest{PageSize: size, PageToken: token, EventType: "type.n1"}))
			if err != nil {
				return nil, "", err
			}
			var ids []string
			for _, x := range res.Msg.GetSubscriptions() {
				ids = append(ids, x.GetId())
			}
			return ids, res.Msg.GetNextPageToken(), nil
		}))
		// Keys: root, admin, member, viewer, other's key is elsewhere; add three to reach 7.
		for i := range 3 {
			_, err := e.admin.keys.CreateApiKey(ctx, creq(&hookdv1.CreateApiKeyRequest{Name: fmt.Sprintf("k%d", i), Role: hookdv1.Role_ROLE_VIEWER}))
			require.NoError(t, err)
		}
		require.Len(t, pageThrough(t, func(size int32, token string) ([]string, string, error) {
			res, err := e.root.keys.ListApiKeys(ctx, creq(&hookdv1.ListApiKeysRequest{PageSize: size, PageToken: token}))
			if err != nil {
				return nil, "", err
			}
			var ids []string
			for _, x := range res.Msg.GetApiKeys() {
				ids = append(ids, x.GetId())
			}
			return ids, res.Msg.GetNextPageToken(), nil
		}), 7)
		for i := range 5 {
			_, err := e.root.projects.CreateProject(ctx, creq(&hookdv1.CreateProjectRequest{Name: fmt.Sprintf("p%d", i)}))
			require.NoError(t, err)
		}
		require.Len(t, pageThrough(t, func(size int32, token string) ([]string, string, error) {
			res, err := e.root.projects.ListProjects(ctx, creq(&hookdv1.ListProjectsRequest{PageSize: size, PageToken: token}))
			if err != nil {
				return nil, "", err
			}
			var ids []string
			for _, x := range res.Msg.GetProjects() {
				ids = append(ids, x.GetId())
			}
			return ids, res.Msg.GetNextPageToken(), nil
		}), 7)

		_, err := e.viewer.webhooks.ListWebhooks(ctx, creq(&hookdv1.ListWebhooksRequest{PageToken: "garbage!"}))
		requireCode(t, err, connect.CodeInvalidArgument, "page_token")
		_, err = e.viewer.integrations.ListIntegrations(ctx, creq(&hookdv1.ListIntegrationsRequest{PageSize: -1}))
		requireCode(t, err, connect.CodeInvalidArgument, "page_size")
		// Other projects list none of it.
		ol, err := e.other.webhooks.ListWebhooks(ctx, creq(&hookdv1.ListWebhooksRequest{}))
		require.NoError(t, err)
		require.Empty(t, ol.Msg.GetWebhooks())
		oe, err := e.other.eventTypes.ListEventTypes(ctx, creq(&hookdv1.ListEventTypesRequest{}))
		require.NoError(t, err)
		for _, et := range oe.Msg.GetEventTypes() {
			require.True(t, et.GetOperational(), "only hookd's own types: %s", et.GetName())
		}
	})
}

func TestViewerCannotWrite(t *testing.T) {
	overProtocols(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		v := e.viewer
		calls := map[string]func() error{
			"UpdateIntegration": func() error {
				_, err := v.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{Id: "int_x"}))
				return err
			},
			"CreateWebhook": func() error {
				_, err := v.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "x", Url: "https://a.example.com/"}))
				return err
			},
			"UpdateEventType": func() error {
				_, err := v.eventTypes.UpdateEventType(ctx, creq(&hookdv1.UpdateEventTypeRequest{Id: "et_x"}))
				return err
			},
			"DeleteEventType": func() error {
				_, err := v.eventTypes.DeleteEventType(ctx, creq(&hookdv1.DeleteEventTypeRequest{Id: "et_x"}))
				return err
			},
			"UpdateSubscription": func() error {
				_, err := v.subscriptions.UpdateSubscription(ctx, creq(&hookdv1.UpdateSubscriptionRequest{Id: "sub_x"}))
				return err
			},
			"RevokeApiKey": func() error {
				_, err := v.keys.RevokeApiKey(ctx, creq(&hookdv1.RevokeApiKeyRequest{Id: "key_x"}))
				return err
			},
		}
		for name, call := range calls {
			requireCode(t, call(), connect.CodePermissionDenied, name)
		}
		// Unauthenticated callers are refused before any handler runs.
		anon := e.clientsFor("hk_unknown")
		_, err := anon.webhooks.ListWebhooks(ctx, creq(&hookdv1.ListWebhooksRequest{}))
		requireCode(t, err, connect.CodeUnauthenticated, "")
	})
}

// headerPairs lists headers as "Name: value".
func headerPairs(hs []*hookdv1.Header) []string {
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		out = append(out, h.GetName()+": "+h.GetValue())
	}
	return out
}

// TestEffectiveHeaders: a webhook shows the headers it sends besides hookd's own (as the sender builds them): the
// used integration headers, then its own, which replace those of the same name; private integration headers only
// toward the integration's origin; private values masked for non-ADMIN keys.
func TestEffectiveHeaders(t *testing.T) {
	overProtocols(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		in := createIntegration(t, e.admin, "crm") // Authorization (private) and X-Team: core
		create := func(r *hookdv1.CreateWebhookRequest) *hookdv1.Webhook {
			t.Helper()
			r.IntegrationId = in.GetId()
			res, err := e.member.webhooks.CreateWebhook(ctx, creq(r))
			require.NoError(t, err)
			return res.Msg.GetWebhook()
		}
		replaced := create(&hookdv1.CreateWebhookRequest{Name: "replaced", Path: "/a", Headers: []*hookdv1.Header{{Name: "x-team", Value: "edge"}}})
		elsewhere := create(&hookdv1.CreateWebhookRequest{Name: "elsewhere", Url: "https://hooks.example.net/b"})
		toggled := create(&hookdv1.CreateWebhookRequest{Name: "toggled", Path: "/c",
			IntegrationHeaders: []*hookdv1.IntegrationHeader{{Name: "X-Team", Use: false}}})
		plain := createWebhook(t, e.member, "plain")

		require.Equal(t, []string{"Authorization: " + secret.Masked, "x-team: edge"}, headerPairs(replaced.GetEffectiveHeaders()))
		require.Equal(t, []string{"X-Team: core"}, headerPairs(elsewhere.GetEffectiveHeaders()), "private headers go to the integration's origin only")
		require.Equal(t, []string{"Authorization: " + secret.Masked}, headerPairs(toggled.GetEffectiveHeaders()))
		require.Empty(t, plain.GetEffectiveHeaders())
		require.True(t, replaced.GetEffectiveHeaders()[0].GetPrivate())

		got, err := e.admin.webhooks.GetWebhook(ctx, creq(&hookdv1.GetWebhookRequest{Id: replaced.GetId()}))
		require.NoError(t, err)
		require.Equal(t, []string{"Authorization: Bearer s3cret", "x-team: edge"}, headerPairs(got.Msg.GetWebhook().GetEffectiveHeaders()), "ADMIN sees private values")
		got, err = e.viewer.webhooks.GetWebhook(ctx, creq(&hookdv1.GetWebhookRequest{Id: elsewhere.GetId()}))
		require.NoError(t, err)
		require.Equal(t, []string{"X-Team: core"}, headerPairs(got.Msg.GetWebhook().GetEffectiveHeaders()), "an own url with an integration still gets its headers")
		list, err := e.viewer.webhooks.ListWebhooks(ctx, creq(&hookdv1.ListWebhooksRequest{IntegrationId: in.GetId()}))
		require.NoError(t, err)
		for _, w := range list.Msg.GetWebhooks() {
			if w.GetId() == toggled.GetId() {
				require.Equal(t, []string{"Authorization: " + secret.Masked}, headerPairs(w.GetEffectiveHeaders()))
			}
		}
	})
}

// TestJSONShowsZeroValues: over JSON (as with curl), false, 0 and empty strings are written, not left out.
func TestJSONShowsZeroValues(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		in := createIntegration(t, e.admin, "crm")
		res, err := e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "off", IntegrationId: in.GetId(),
			Enabled: proto.Bool(false), IntegrationHeaders: []*hookdv1.IntegrationHeader{{Name: "X-Team", Use: false}}}))
		require.NoError(t, err)
		key, err := auth.IssueKey(ctx, e.st, &store.APIKey{ProjectID: auth.DefaultProjectID, Name: "curl", Role: store.RoleViewer, CreateTime: e.clock.Now()})
		require.NoError(t, err)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+hookdv1connect.WebhookServiceGetWebhookProcedure,
			strings.NewReader(`{"id":"`+res.Msg.GetWebhook().GetId()+`"}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := e.srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		var out struct {
			Webhook map[string]any `json:"webhook"`
		}
		require.NoError(t, json.Unmarshal(body, &out))
		w := out.Webhook
		require.Contains(t, w, "enabled")
		require.Equal(t, false, w["enabled"])
		require.Equal(t, []any{map[string]any{"name": "X-Team", "use": false}}, w["integrationHeaders"])
		require.Equal(t, "", w["description"])
		require.Equal(t, []any{}, w["headers"])
		require.NotContains(t, string(body), "null", "unset messages stay absent")
	})
}

// TestCopyWebhookCopiesSubscriptions: a copy receives the same events as its source; a copy whose subscriptions
// would pass the project's quota is refused and leaves nothing behind.
func TestCopyWebhookCopiesSubscriptions(t *testing.T) {
	t.Parallel()
	storetest.ForEachStoreParallel(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, func(d *Deps) { d.Quotas = quota.Limits{Subscriptions: 5} })
		ctx := context.Background()
		createEventType(t, e.member, "order.paid", nil)
		createEventType(t, e.member, "order.refunded", nil)
		src := createWebhook(t, e.member, "orders")
		subscribe := func(r *hookdv1.CreateSubscriptionRequest) {
			t.Helper()
			r.WebhookId = src.GetId()
			_, err := e.member.subscriptions.CreateSubscription(ctx, creq(r))
			require.NoError(t, err)
		}
		subscribe(&hookdv1.CreateSubscriptionRequest{EventTypes: []string{"order.paid", "order.refunded"}})
		subscribe(&hookdv1.CreateSubscriptionRequest{EventTypes: []string{"*"}, SubjectFilter: "cus_1", Enabled: proto.Bool(false)})
		subsOf := func(webhookID string) []*hookdv1.Subscription {
			t.Helper()
			res, err := e.viewer.subscriptions.ListSubscriptions(ctx, creq(&hookdv1.ListSubscriptionsRequest{WebhookId: webhookID}))
			require.NoError(t, err)
			return res.Msg.GetSubscriptions()
		}
		shape := func(subs []*hookdv1.Subscription) []string {
			var out []string
			for _, s := range subs {
				out = append(out, fmt.Sprintf("%v %q %v", s.GetEventTypes(), s.GetSubjectFilter(), s.GetEnabled()))
			}
			slices.Sort(out)
			return out
		}

		cp, err := e.member.webhooks.CopyWebhook(ctx, creq(&hookdv1.CopyWebhookRequest{Id: src.GetId(), Name: "orders 2", SystemName: "orders2"}))
		require.NoError(t, err)
		copied := subsOf(cp.Msg.GetWebhook().GetId())
		require.Equal(t, shape(subsOf(src.GetId())), shape(copied))
		require.Len(t, copied, 2)
		for _, s := range copied {
			require.Equal(t, cp.Msg.GetWebhook().GetId(), s.GetWebhookId())
		}
		require.Len(t, subsOf(src.GetId()), 2, "the source keeps its subscriptions")

		// 4 subscriptions now; a third copy would need 2 more than the quota of 5 allows.
		_, err = e.member.webhooks.CopyWebhook(ctx, creq(&hookdv1.CopyWebhookRequest{Id: src.GetId(), Name: "orders 3", SystemName: "orders3"}))
		requireCode(t, err, connect.CodeResourceExhausted, "subscriptions")
		list, err := e.viewer.webhooks.ListWebhooks(ctx, creq(&hookdv1.ListWebhooksRequest{}))
		require.NoError(t, err)
		require.Len(t, list.Msg.GetWebhooks(), 2, "a refused copy creates no webhook")
	})
}

// failingSubscriptions fails every CreateSubscription after the first ok ones.
type failingSubscriptions struct {
	store.Store
	ok *atomic.Int32
}

func (f failingSubscriptions) CreateSubscription(ctx context.Context, s *store.Subscription) error {
	if f.ok.Add(-1) < 0 {
		return errors.New("disk full")
	}
	return f.Store.CreateSubscription(ctx, s)
}

// TestCopyWebhookIsWholeOrNothing: when a subscription of the copy cannot be stored, the copy is deleted again.
func TestCopyWebhookIsWholeOrNothing(t *testing.T) {
	t.Parallel()
	storetest.ForEachStoreParallel(t, func(t *testing.T, st *storetest.DB) {
		ok := &atomic.Int32{}
		ok.Store(1 << 20)
		e := setup(t, st, func(d *Deps) { d.Store = failingSubscriptions{Store: d.Store, ok: ok} })
		ctx := context.Background()
		createEventType(t, e.member, "order.paid", nil)
		src := createWebhook(t, e.member, "orders")
		for range 2 {
			_, err := e.member.subscriptions.CreateSubscription(ctx, creq(&hookdv1.CreateSubscriptionRequest{WebhookId: src.GetId(), EventTypes: []string{"order.paid"}}))
			require.NoError(t, err)
		}
		ok.Store(1) // the copy's second subscription fails
		_, err := e.member.webhooks.CopyWebhook(ctx, creq(&hookdv1.CopyWebhookRequest{Id: src.GetId(), Name: "copy", SystemName: "copy"}))
		requireCode(t, err, connect.CodeInternal, "internal error")
		ws, err := st.ListWebhooks(ctx, auth.DefaultProjectID, "", store.Page{Size: 10})
		require.NoError(t, err)
		require.Len(t, ws, 1, "the partial copy was deleted")
		subs, err := st.ListSubscriptions(ctx, auth.DefaultProjectID, store.SubscriptionFilter{}, store.Page{Size: 10})
		require.NoError(t, err)
		require.Len(t, subs, 2, "and its subscription with it")
	})
}

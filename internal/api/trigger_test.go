package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
)

// triggerBundle is what the TriggerService tests use of an env: its TriggerService clients, its trigger URLs and
// the event types triggers name.
type triggerBundle struct {
	ctx     context.Context
	st      store.Store
	clock   *clock.Fake
	srvURL  string
	project *store.Project
	admin   hookdv1connect.TriggerServiceClient
	member  hookdv1connect.TriggerServiceClient
	// http calls trigger URLs (on the env's TLS server) without following redirects.
	http *http.Client
}

func newTriggerBundle(t *testing.T, e *env) *triggerBundle {
	t.Helper()
	b := &triggerBundle{ctx: context.Background(), st: e.st, clock: e.clock, srvURL: e.srv.URL,
		project: &store.Project{ID: auth.DefaultProjectID}, admin: e.admin.triggers, member: e.member.triggers}
	for _, name := range []string{"order.created", "order.paid", "user.created"} {
		require.NoError(t, e.st.CreateEventType(b.ctx, &store.EventType{ProjectID: auth.DefaultProjectID, Name: name, CreateTime: e.clock.Now()}))
	}
	hc := *e.srv.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	b.http = &hc
	return b
}

// create creates a trigger as ADMIN and returns it.
func (b *triggerBundle) create(t *testing.T, req *hookdv1.CreateTriggerRequest) *hookdv1.Trigger {
	t.Helper()
	if req.Name == "" {
		req.Name = "inbound"
	}
	res, err := b.admin.CreateTrigger(b.ctx, connect.NewRequest(req))
	require.NoError(t, err)
	return res.Msg.Trigger
}

// triggerResponse is a read HTTP answer of a trigger URL.
type triggerResponse struct {
	status int
	body   string
}

func (r triggerResponse) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.body), &m), "body %q", r.body)
	return m
}

// post sends a body with a content type (and header name/value pairs) to a trigger URL.
func (b *triggerBundle) post(t *testing.T, url, contentType, body string, headers ...string) triggerResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := b.http.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return triggerResponse{status: res.StatusCode, body: string(raw)}
}

func connectCode(t *testing.T, err error) connect.Code {
	t.Helper()
	require.Error(t, err)
	return connect.CodeOf(err)
}

func TestTriggerServiceCRUD(t *testing.T) {
	overProtocols(t, func(t *testing.T, env *env) {
		b := newTriggerBundle(t, env)
		st := b.st
		sig := &hookdv1.TriggerSignature{Scheme: hookdv1.SignatureScheme_SIGNATURE_SCHEME_HMAC_SHA256, Secret: "s3cret", Header: "X-Sig", Prefix: "sha256="}
		res, err := b.member.CreateTrigger(b.ctx, connect.NewRequest(&hookdv1.CreateTriggerRequest{
			Name: " Orders ", EventType: "order.created", ApiKeyHeader: "X-Key", ApiKey: "k-123", Signature: sig,
		}))
		require.NoError(t, err)
		created := res.Msg.Trigger
		assert.Regexp(t, `^trg_[0-9a-z]{26}$`, created.Id)
		assert.Equal(t, "Orders", created.Name)
		assert.Equal(t, "k-123", created.ApiKey, "the API key is shown once, in the response that set it")
		assert.Equal(t, secret.Masked, created.Signature.Secret)
		assert.EqualValues(t, 50, created.RateLimitPerSecond)
		assert.Equal(t, 30*time.Second, created.SyncTimeout.AsDuration())
		assert.EqualValues(t, 1<<20, created.MaxBodyBytes)
		assert.True(t, created.Enabled)
		assert.Nil(t, created.Response)

		got, err := b.admin.GetTrigger(b.ctx, connect.NewRequest(&hookdv1.GetTriggerRequest{Id: created.Id}))
		require.NoError(t, err)
		assert.Equal(t, secret.Masked, got.Msg.Trigger.ApiKey, "the API key is stored as a hash: nobody reads it back")
		assert.Equal(t, "s3cret", got.Msg.Trigger.Signature.Secret)
		assert.Equal(t, b.srvURL+"/t/"+created.Id, got.Msg.Trigger.Url)

		// A member echoing the masked secrets back keeps them.
		upd, err := b.member.UpdateTrigger(b.ctx, connect.NewRequest(&hookdv1.UpdateTriggerRequest{
			Id: created.Id, Name: new("Orders v2"), ApiKey: new(secret.Masked), Signature: created.Signature,
			RateLimitPerSecond: new(int32(7)), Sync: new(true), SyncTimeout: durationpb.New(5 * time.Second),
			Response: &hookdv1.TriggerResponse{Body: "ok"},
		}))
		require.NoError(t, err)
		assert.Equal(t, "Orders v2", upd.Msg.Trigger.Name)
		assert.EqualValues(t, 7, upd.Msg.Trigger.RateLimitPerSecond)
		stored, err := st.GetTrigger(b.ctx, b.project.ID, created.Id)
		require.NoError(t, err)
		assert.Equal(t, secret.HashKey("k-123"), stored.APIKey, "the store keeps only the key's hash")
		assert.Equal(t, "s3cret", stored.Signature.Secret)
		assert.True(t, stored.Sync)
		assert.Equal(t, 5*time.Second, stored.SyncTimeout)
		assert.Equal(t, "ok", stored.ResponseBody)

		// Removing the key header drops the key check (the key's hash stays, only to redact the key from
		// requests that still carry it, and is shown to nobody); removing the signature scheme drops the check.
		cleared, err := b.admin.UpdateTrigger(b.ctx, connect.NewRequest(&hookdv1.UpdateTriggerRequest{
			Id: created.Id, ApiKeyHeader: new(""), Signature: &hookdv1.TriggerSignature{},
		}))
		require.NoError(t, err)
		assert.Empty(t, cleared.Msg.Trigger.ApiKey)
		stored, err = st.GetTrigger(b.ctx, b.project.ID, created.Id)
		require.NoError(t, err)
		assert.Equal(t, secret.HashKey("k-123"), stored.APIKey)
		assert.Empty(t, stored.Signature)

		b.clock.Advance(time.Millisecond) // ids order by creation time to the millisecond
		second := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "user.created"})
		list, err := b.member.ListTriggers(b.ctx, connect.NewRequest(&hookdv1.ListTriggersRequest{PageSize: 1}))
		require.NoError(t, err)
		require.Len(t, list.Msg.Triggers, 1)
		assert.Equal(t, second.Id, list.Msg.Triggers[0].Id, "newest first")
		list, err = b.member.ListTriggers(b.ctx, connect.NewRequest(&hookdv1.ListTriggersRequest{PageSize: 1, PageToken: list.Msg.NextPageToken}))
		require.NoError(t, err)
		require.Len(t, list.Msg.Triggers, 1)
		assert.Equal(t, created.Id, list.Msg.Triggers[0].Id)
		assert.Empty(t, list.Msg.NextPageToken)

		_, err = b.member.DeleteTrigger(b.ctx, connect.NewRequest(&hookdv1.DeleteTriggerRequest{Id: second.Id}))
		require.NoError(t, err)
		_, err = b.member.GetTrigger(b.ctx, connect.NewRequest(&hookdv1.GetTriggerRequest{Id: second.Id}))
		assert.Equal(t, connect.CodeNotFound, connectCode(t, err))
		assert.Equal(t, http.StatusNotFound, b.post(t, second.Url, "application/json", "{}").status)
		_, err = b.member.DeleteTrigger(b.ctx, connect.NewRequest(&hookdv1.DeleteTriggerRequest{Id: second.Id}))
		assert.Equal(t, connect.CodeNotFound, connectCode(t, err))
	})
}

func TestTriggerServiceValidation(t *testing.T) {
	overProtocols(t, func(t *testing.T, env *env) {
		b := newTriggerBundle(t, env)
		ok := func() *hookdv1.CreateTriggerRequest {
			return &hookdv1.CreateTriggerRequest{Name: "n", EventType: "order.created"}
		}
		cases := []struct {
			field string
			edit  func(r *hookdv1.CreateTriggerRequest)
		}{
			{"name", func(r *hookdv1.CreateTriggerRequest) { r.Name = "  " }},
			{"event_type", func(r *hookdv1.CreateTriggerRequest) { r.EventType = "" }},
			{"event_type", func(r *hookdv1.CreateTriggerRequest) { r.EventType = "no.such" }},
			{"routes[0].event_type", func(r *hookdv1.CreateTriggerRequest) {
				r.Routes = []*hookdv1.TriggerRoute{{Header: "X-E", Value: "v", EventType: "no.such"}}
			}},
			{"routes[0].header", func(r *hookdv1.CreateTriggerRequest) {
				r.Routes = []*hookdv1.TriggerRoute{{Header: "X-E", JsonField: "type", Value: "v", EventType: "order.paid"}}
			}},
			{"routes[0].value", func(r *hookdv1.CreateTriggerRequest) {
				r.Routes = []*hookdv1.TriggerRoute{{JsonField: "type", EventType: "order.paid"}}
			}},
			{"routes[1].json_field", func(r *hookdv1.CreateTriggerRequest) {
				r.Routes = []*hookdv1.TriggerRoute{{EventType: "order.paid"}, {JsonField: "a..b", Value: "x", EventType: "order.paid"}}
			}},
			{"response.status", func(r *hookdv1.CreateTriggerRequest) { r.Response = &hookdv1.TriggerResponse{Status: 99} }},
			{"response.status", func(r *hookdv1.CreateTriggerRequest) { r.Response = &hookdv1.TriggerResponse{Status: 404} }},
			{"response.content_type", func(r *hookdv1.CreateTriggerRequest) {
				r.Response = &hookdv1.TriggerResponse{ContentType: "not a type/"}
			}},
			{"rate_limit_per_second", func(r *hookdv1.CreateTriggerRequest) { r.RateLimitPerSecond = -1 }},
			{"rate_limit_per_second", func(r *hookdv1.CreateTriggerRequest) { r.RateLimitPerSecond = 100001 }},
			{"sync_timeout", func(r *hookdv1.CreateTriggerRequest) { r.SyncTimeout = durationpb.New(61 * time.Second) }},
			{"sync_timeout", func(r *hookdv1.CreateTriggerRequest) { r.SyncTimeout = durationpb.New(-time.Second) }},
			{"max_body_bytes", func(r *hookdv1.CreateTriggerRequest) { r.MaxBodyBytes = 10<<20 + 1 }},
			{"api_key_header", func(r *hookdv1.CreateTriggerRequest) { r.ApiKeyHeader = "bad header" }},
			{"api_key_header", func(r *hookdv1.CreateTriggerRequest) { r.ApiKey = "k" }},
			{"signature.secret", func(r *hookdv1.CreateTriggerRequest) {
				r.Signature = &hookdv1.TriggerSignature{Scheme: hookdv1.SignatureScheme_SIGNATURE_SCHEME_HMAC_SHA256, Header: "X-Sig"}
			}},
			{"signature.header", func(r *hookdv1.CreateTriggerRequest) {
				r.Signature = &hookdv1.TriggerSignature{Scheme: hookdv1.SignatureScheme_SIGNATURE_SCHEME_HMAC_SHA256, Secret: "s"}
			}},
			{"signature.secret", func(r *hookdv1.CreateTriggerRequest) {
				r.Signature = &hookdv1.TriggerSignature{Scheme: hookdv1.SignatureScheme_SIGNATURE_SCHEME_STANDARD_WEBHOOKS}
			}},
			{"signature.secret", func(r *hookdv1.CreateTriggerRequest) {
				r.Signature = &hookdv1.TriggerSignature{Scheme: hookdv1.SignatureScheme_SIGNATURE_SCHEME_STANDARD_WEBHOOKS, Secret: "whsec_!!"}
			}},
			{"signature.scheme", func(r *hookdv1.CreateTriggerRequest) { r.Signature = &hookdv1.TriggerSignature{Scheme: 9} }},
		}
		for _, c := range cases {
			req := ok()
			c.edit(req)
			_, err := b.admin.CreateTrigger(b.ctx, connect.NewRequest(req))
			require.Equal(t, connect.CodeInvalidArgument, connectCode(t, err), c.field)
			assert.Contains(t, err.Error(), c.field+":", "error names the field")
			requireField(t, err, c.field)
		}
		_, err := b.admin.CreateTrigger(b.ctx, connect.NewRequest(ok()))
		require.NoError(t, err, "the base request is valid")

		trg := b.create(t, ok())
		_, err = b.admin.UpdateTrigger(b.ctx, connect.NewRequest(&hookdv1.UpdateTriggerRequest{Id: trg.Id, EventType: new("")}))
		assert.Equal(t, connect.CodeInvalidArgument, connectCode(t, err))
		_, err = b.admin.UpdateTrigger(b.ctx, connect.NewRequest(&hookdv1.UpdateTriggerRequest{Id: "trg_missing", Name: new("x")}))
		assert.Equal(t, connect.CodeNotFound, connectCode(t, err))
		_, err = b.admin.GetTrigger(b.ctx, connect.NewRequest(&hookdv1.GetTriggerRequest{}))
		assert.Equal(t, connect.CodeInvalidArgument, connectCode(t, err))
		_, err = b.admin.ListExecutions(b.ctx, connect.NewRequest(&hookdv1.ListExecutionsRequest{PageToken: "garbage"}))
		assert.Equal(t, connect.CodeInvalidArgument, connectCode(t, err))
	})
}

func TestTriggerServiceExecutions(t *testing.T) {
	overProtocols(t, func(t *testing.T, env *env) {
		b := newTriggerBundle(t, env)
		trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created"})
		other := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created"})
		var ids []string
		for i := range 3 {
			b.clock.Advance(time.Millisecond) // distinct, ordered ids
			r := b.post(t, trg.Url+"/p?i="+string(rune('0'+i)), "application/json", `{"n":1}`, "Authorization", "Bearer theirs")
			require.Equal(t, http.StatusOK, r.status)
			ids = append(ids, r.json(t)["executionId"].(string))
		}
		require.Equal(t, http.StatusOK, b.post(t, other.Url, "application/json", `{}`).status)

		page1, err := b.member.ListExecutions(b.ctx, connect.NewRequest(&hookdv1.ListExecutionsRequest{TriggerId: trg.Id, PageSize: 2}))
		require.NoError(t, err)
		require.Len(t, page1.Msg.Executions, 2)
		assert.Equal(t, []string{ids[2], ids[1]}, []string{page1.Msg.Executions[0].Id, page1.Msg.Executions[1].Id})
		require.NotEmpty(t, page1.Msg.NextPageToken)
		page2, err := b.member.ListExecutions(b.ctx, connect.NewRequest(&hookdv1.ListExecutionsRequest{TriggerId: trg.Id, PageSize: 2, PageToken: page1.Msg.NextPageToken}))
		require.NoError(t, err)
		require.Len(t, page2.Msg.Executions, 1)
		assert.Equal(t, ids[0], page2.Msg.Executions[0].Id)
		assert.Empty(t, page2.Msg.NextPageToken)

		all, err := b.member.ListExecutions(b.ctx, connect.NewRequest(&hookdv1.ListExecutionsRequest{}))
		require.NoError(t, err)
		assert.Len(t, all.Msg.Executions, 4, "no trigger_id lists the project's executions")
		_, err = b.member.ListExecutions(b.ctx, connect.NewRequest(&hookdv1.ListExecutionsRequest{TriggerId: "trg_missing"}))
		assert.Equal(t, connect.CodeNotFound, connectCode(t, err))

		got, err := b.member.GetExecution(b.ctx, connect.NewRequest(&hookdv1.GetExecutionRequest{Id: ids[1]}))
		require.NoError(t, err)
		e := got.Msg.Execution
		assert.Equal(t, trg.Id, e.TriggerId)
		assert.Equal(t, "POST", e.Method)
		assert.Equal(t, "p", e.PathFragment)
		assert.Equal(t, `{"n":1}`, e.RawBody)
		assert.Equal(t, 1.0, e.Body.GetStructValue().GetFields()["n"].GetNumberValue())
		assert.EqualValues(t, 200, e.Status)
		assert.Equal(t, "order.created", e.EventType)
		assert.NotEmpty(t, e.EventId)
		assert.Equal(t, "i", e.QueryParameters[0].Name)
		for _, h := range e.Headers {
			if h.Name == "Authorization" {
				assert.Equal(t, secret.Masked, h.Value, "credentials are masked for MEMBER")
			}
		}
		got, err = b.admin.GetExecution(b.ctx, connect.NewRequest(&hookdv1.GetExecutionRequest{Id: ids[1]}))
		require.NoError(t, err)
		var auth *hookdv1.Header
		for _, h := range got.Msg.Execution.Headers {
			if h.Name == "Authorization" {
				auth = h
			}
		}
		require.NotNil(t, auth)
		assert.Equal(t, "Bearer theirs", auth.Value, "ADMIN sees credentials")
		assert.True(t, auth.Private)
		_, err = b.member.GetExecution(b.ctx, connect.NewRequest(&hookdv1.GetExecutionRequest{Id: "exe_missing"}))
		assert.Equal(t, connect.CodeNotFound, connectCode(t, err))
	})
}

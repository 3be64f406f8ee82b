package trigger_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/ratelimit"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
	"github.com/hookd/hookd/internal/trigger"
)

// t0 is the fake clock's start.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// bundle is one test's server: the trigger handler and TriggerService on an httptest server over a real store.
type bundle struct {
	ctx     context.Context
	st      store.Store
	clock   *clock.Fake
	srv     *httptest.Server
	reg     *prometheus.Registry
	project *store.Project
	admin   hookdv1connect.TriggerServiceClient
	member  hookdv1connect.TriggerServiceClient
	// http does not follow redirects (sync triggers answer 303).
	http *http.Client
}

// backends runs fn against SQLite and PostgreSQL.
func backends(t *testing.T, fn func(t *testing.T, st store.Store)) {
	t.Helper()
	storetest.ForEachBackend(t, fn)
}

// option changes the endpoint's configuration or the TriggerService's dependencies of a bundle.
type option func(*trigger.Config, *api.Deps)

func setup(t *testing.T, st store.Store, opts ...option) *bundle {
	t.Helper()
	b := &bundle{ctx: context.Background(), st: st, clock: clock.NewFake(t0), reg: prometheus.NewRegistry()}
	var mux http.Handler
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { mux.ServeHTTP(w, r) }))
	t.Cleanup(b.srv.Close)
	cfg := trigger.Config{Store: st, Rates: st.(ratelimit.Windows), Clock: b.clock, PublicURL: b.srv.URL + "/", SyncPollInterval: 5 * time.Millisecond, Registerer: b.reg}
	if db, ok := st.(*storetest.DB); ok {
		cfg.Outcomes = db.Notifier() // sync requests wake at this process's outcomes, as in hookd serve
	}
	deps := api.Deps{Store: st, Clock: b.clock, Log: slog.New(slog.DiscardHandler), PublicURL: cfg.PublicURL}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	m := http.NewServeMux()
	h := trigger.NewHandler(cfg)
	m.Handle("/t/", h)
	m.Handle("/v1/executions/", h)
	svc := api.NewTriggerService(deps, api.TriggerConfig{MaxBodyBytes: cfg.MaxBodyBytes, DefaultRateLimit: cfg.DefaultRateLimit})
	path, handler := hookdv1connect.NewTriggerServiceHandler(svc,
		connect.WithInterceptors(apierr.NewInterceptor(deps.Log), auth.NewInterceptor(st, nil)))
	m.Handle(path, handler)
	mux = m

	b.project = &store.Project{Name: "acme", CreateTime: t0}
	require.NoError(t, st.CreateProject(b.ctx, b.project))
	for _, name := range []string{"order.created", "order.paid", "user.created"} {
		require.NoError(t, st.CreateEventType(b.ctx, &store.EventType{ProjectID: b.project.ID, Name: name, CreateTime: t0}))
	}
	b.admin = b.client(t, store.RoleAdmin)
	b.member = b.client(t, store.RoleMember)
	b.http = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return b
}

// client returns a TriggerService client with a new key of the role.
func (b *bundle) client(t *testing.T, role store.Role) hookdv1connect.TriggerServiceClient {
	t.Helper()
	secret, err := auth.IssueKey(b.ctx, b.st, &store.APIKey{ProjectID: b.project.ID, Name: string(role), Role: role, CreateTime: t0})
	require.NoError(t, err)
	return hookdv1connect.NewTriggerServiceClient(http.DefaultClient, b.srv.URL, connect.WithInterceptors(bearer(secret)))
}

type bearer string

func (k bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(k))
		return next(ctx, req)
	}
}
func (k bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}
func (k bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// create creates a trigger as ADMIN and returns it.
func (b *bundle) create(t *testing.T, req *hookdv1.CreateTriggerRequest) *hookdv1.Trigger {
	t.Helper()
	if req.Name == "" {
		req.Name = "inbound"
	}
	res, err := b.admin.CreateTrigger(b.ctx, connect.NewRequest(req))
	require.NoError(t, err)
	return res.Msg.Trigger
}

// subscribe makes a webhook that receives eventType (so that publishing creates a delivery).
func (b *bundle) subscribe(t *testing.T, eventType string) *store.Webhook {
	t.Helper()
	w := &store.Webhook{
		ProjectID: b.project.ID, Name: "receiver", SystemName: "receiver-" + eventType, Method: "POST",
		URL: "https://example.com/hook", Enabled: true, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		RetryPolicy: store.RetryPolicy{Kind: store.RetryExponential}, Timeout: 15 * time.Second, CreateTime: t0,
	}
	require.NoError(t, b.st.CreateWebhook(b.ctx, w))
	require.NoError(t, b.st.CreateSubscription(b.ctx, &store.Subscription{
		ProjectID: b.project.ID, WebhookID: w.ID, EventTypes: []string{eventType}, Enabled: true, CreateTime: t0,
	}))
	return w
}

// response is a read HTTP answer.
type response struct {
	status int
	header http.Header
	body   string
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.body), &m), "body %q", r.body)
	return m
}

// do sends a request to url (absolute, or a path on the test server) and reads the answer.
func (b *bundle) do(t *testing.T, method, url, contentType string, body io.Reader, headers ...string) response {
	t.Helper()
	if strings.HasPrefix(url, "/") {
		url = b.srv.URL + url
	}
	req, err := http.NewRequestWithContext(b.ctx, method, url, body)
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := b.http.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, header: res.Header, body: string(raw)}
}

// post sends a body with a content type to a trigger URL.
func (b *bundle) post(t *testing.T, url, contentType, body string, headers ...string) response {
	t.Helper()
	return b.do(t, http.MethodPost, url, contentType, strings.NewReader(body), headers...)
}

// execution returns the stored execution of an answer's Hookd-Execution-Id.
func (b *bundle) execution(t *testing.T, r response) *store.Execution {
	t.Helper()
	exeID := r.header.Get("Hookd-Execution-Id")
	require.NotEmpty(t, exeID, "answer %d %s has no execution id", r.status, r.body)
	e, err := b.st.GetExecution(b.ctx, b.project.ID, exeID)
	require.NoError(t, err)
	return e
}

// payload returns the event payload published for an execution.
func (b *bundle) payload(t *testing.T, e *store.Execution) map[string]any {
	t.Helper()
	require.NotEmpty(t, e.EventID, "execution %s published no event", e.ID)
	ev, err := b.st.GetEvent(b.ctx, b.project.ID, e.EventID)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(ev.Payload, &m))
	return m
}

func connectCode(t *testing.T, err error) connect.Code {
	t.Helper()
	require.Error(t, err)
	return connect.CodeOf(err)
}

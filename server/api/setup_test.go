package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/server/auth"
	"github.com/hookd/hookd/server/clock"
	"github.com/hookd/hookd/server/store"
	"github.com/hookd/hookd/server/store/storesql"
)

// otherProjectID is the second project of every test environment (isolation checks).
const otherProjectID = "other"

// clients are the generated Connect clients of the foundation services, all sending one API key.
type clients struct {
	projects      hookdv1connect.ProjectServiceClient
	keys          hookdv1connect.ApiKeyServiceClient
	integrations  hookdv1connect.IntegrationServiceClient
	webhooks      hookdv1connect.WebhookServiceClient
	eventTypes    hookdv1connect.EventTypeServiceClient
	subscriptions hookdv1connect.SubscriptionServiceClient
}

// env is a running API server on a fresh store, with keys of every role.
type env struct {
	st     *storesql.Store
	clock  *clock.Fake
	tester *fakeTester
	srv    *httptest.Server
	// root is an instance admin ADMIN key of the default project; admin, member and viewer are plain keys of it.
	root, admin, member, viewer clients
	// other is an ADMIN key of otherProjectID.
	other clients
	// keyIDs of the keys above, by name.
	keyIDs map[string]string
}

// setup starts the foundation handlers (behind the auth interceptor) on an httptest server over st.
func setup(t *testing.T, st *storesql.Store, mods ...func(*Deps)) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{st: st, clock: clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), tester: &fakeTester{}, keyIDs: map[string]string{}}
	for _, pid := range []string{auth.DefaultProjectID, otherProjectID} {
		require.NoError(t, st.CreateProject(ctx, &store.Project{ID: pid, Name: pid, CreateTime: e.clock.Now()}))
	}
	d := Deps{Store: st, Clock: e.clock, Log: slog.New(slog.DiscardHandler)}
	for _, m := range mods {
		m(&d)
	}
	opts := connect.WithInterceptors(auth.NewInterceptor(st, auth.DefaultPolicy()))
	mux := http.NewServeMux()
	mux.Handle(hookdv1connect.NewProjectServiceHandler(NewProjectService(d), opts))
	mux.Handle(hookdv1connect.NewApiKeyServiceHandler(NewApiKeyService(d), opts))
	mux.Handle(hookdv1connect.NewIntegrationServiceHandler(NewIntegrationService(d), opts))
	mux.Handle(hookdv1connect.NewWebhookServiceHandler(NewWebhookService(d, e.tester), opts))
	mux.Handle(hookdv1connect.NewEventTypeServiceHandler(NewEventTypeService(d), opts))
	mux.Handle(hookdv1connect.NewSubscriptionServiceHandler(NewSubscriptionService(d), opts))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e.srv = srv

	issue := func(name, project string, role store.Role, instance bool) clients {
		k := &store.APIKey{ProjectID: project, Name: name, Role: role, InstanceAdmin: instance, CreateTime: e.clock.Now()}
		secret, err := auth.IssueKey(ctx, st, k)
		require.NoError(t, err)
		e.keyIDs[name] = k.ID
		return e.clientsFor(secret)
	}
	e.root = issue("root", auth.DefaultProjectID, store.RoleAdmin, true)
	e.admin = issue("admin", auth.DefaultProjectID, store.RoleAdmin, false)
	e.member = issue("member", auth.DefaultProjectID, store.RoleMember, false)
	e.viewer = issue("viewer", auth.DefaultProjectID, store.RoleViewer, false)
	e.other = issue("other", otherProjectID, store.RoleAdmin, false)
	return e
}

// clientsFor returns clients sending secret as the bearer key (used for keys created through the API too).
func (e *env) clientsFor(secret string) clients {
	srv := e.srv
	hc := &http.Client{Transport: bearerTransport{secret: secret, next: srv.Client().Transport}, Timeout: 30 * time.Second}
	return clients{
		projects:      hookdv1connect.NewProjectServiceClient(hc, srv.URL),
		keys:          hookdv1connect.NewApiKeyServiceClient(hc, srv.URL),
		integrations:  hookdv1connect.NewIntegrationServiceClient(hc, srv.URL),
		webhooks:      hookdv1connect.NewWebhookServiceClient(hc, srv.URL),
		eventTypes:    hookdv1connect.NewEventTypeServiceClient(hc, srv.URL),
		subscriptions: hookdv1connect.NewSubscriptionServiceClient(hc, srv.URL),
	}
}

// bearerTransport adds `Authorization: Bearer <secret>` to every request.
type bearerTransport struct {
	secret string
	next   http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.secret)
	return b.next.RoundTrip(r)
}

// fakeTester records test sends and answers with a scripted attempt or error.
type fakeTester struct {
	mu    sync.Mutex
	calls []testSend
	att   *store.Attempt
	err   error
}

type testSend struct {
	webhookID, eventType string
	payload              string
}

func (f *fakeTester) SendTest(_ context.Context, w *store.Webhook, eventType string, payload []byte) (*store.Attempt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, testSend{webhookID: w.ID, eventType: eventType, payload: string(payload)})
	if f.err != nil {
		return nil, f.err
	}
	if f.att == nil {
		return nil, errors.New("fake tester: no attempt scripted")
	}
	a := *f.att
	return &a, nil
}

func (f *fakeTester) script(att *store.Attempt, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.att, f.err = att, err
}

func (f *fakeTester) last(t *testing.T) testSend {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotEmpty(t, f.calls, "no test send was made")
	return f.calls[len(f.calls)-1]
}

func (f *fakeTester) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// requireCode asserts a Connect error code and that the message contains want (e.g. the field name).
func requireCode(t *testing.T, err error, code connect.Code, want string) {
	t.Helper()
	require.Error(t, err)
	var cerr *connect.Error
	require.True(t, errors.As(err, &cerr), "not a connect error: %v", err)
	require.Equal(t, code, cerr.Code(), "error: %v", err)
	require.True(t, strings.Contains(cerr.Message(), want), "message %q does not contain %q", cerr.Message(), want)
}

// creq wraps a message in a Connect request.
func creq[T any](m *T) *connect.Request[T] { return connect.NewRequest(m) }

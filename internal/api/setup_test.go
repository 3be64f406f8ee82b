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
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
	"github.com/hookd/hookd/internal/strictjson"
	"github.com/hookd/hookd/internal/trigger"
)

// otherProjectID is the second project of every test environment (isolation checks).
const otherProjectID = "other"

// Protocols the API tests speak, as connect's own tests do: the Connect protocol with the binary codec, gRPC
// (over HTTP/2) and JSON (the Connect protocol with protojson: what curl sends, through the strict codec).
const (
	protoConnect = "connect"
	protoGRPC    = "grpc"
	protoJSON    = "json"
)

// protocols are all of them.
var protocols = []string{protoConnect, protoGRPC, protoJSON}

// clients are the generated Connect clients of the foundation services (and TriggerService), all sending one
// API key over one protocol.
type clients struct {
	projects      hookdv1connect.ProjectServiceClient
	keys          hookdv1connect.ApiKeyServiceClient
	integrations  hookdv1connect.IntegrationServiceClient
	webhooks      hookdv1connect.WebhookServiceClient
	eventTypes    hookdv1connect.EventTypeServiceClient
	subscriptions hookdv1connect.SubscriptionServiceClient
	triggers      hookdv1connect.TriggerServiceClient
}

// env is a running API server on a fresh store, with keys of every role.
type env struct {
	st     *storetest.DB
	clock  *clock.Fake
	tester *fakeTester
	srv    *httptest.Server
	// protocol is what the clients below speak (protoConnect unless setup was given withProtocol).
	protocol string
	// root is an instance admin ADMIN key of the default project; admin, member and viewer are plain keys of it.
	root, admin, member, viewer clients
	// other is an ADMIN key of otherProjectID.
	other clients
	// keyIDs of the keys above, by name.
	keyIDs map[string]string
}

// handlerOptions are the handler options of hookd serve: the error boundary outermost, then the authenticator
// (reading keys from st), and the strict JSON codec.
func handlerOptions(st store.Store, log *slog.Logger) []connect.HandlerOption {
	return append([]connect.HandlerOption{connect.WithInterceptors(apierr.NewInterceptor(log), auth.NewInterceptor(st, auth.DefaultPolicy()))},
		strictjson.HandlerOptions()...)
}

// setup is setupOver with the Connect protocol.
func setup(t *testing.T, st *storetest.DB, mods ...func(*Deps)) *env {
	t.Helper()
	return setupOver(t, st, protoConnect, mods...)
}

// setupOver starts the foundation handlers and TriggerService (behind the error boundary and the auth
// interceptor, as hookd serve does) and the public trigger endpoint on an httptest server over st; the clients
// speak protocol.
func setupOver(t *testing.T, st *storetest.DB, protocol string, mods ...func(*Deps)) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{st: st, clock: clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), tester: &fakeTester{}, keyIDs: map[string]string{},
		protocol: protocol}
	for _, pid := range []string{auth.DefaultProjectID, otherProjectID} {
		require.NoError(t, st.CreateProject(ctx, &store.Project{ID: pid, Name: pid, CreateTime: e.clock.Now()}))
	}
	var mux http.Handler
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { mux.ServeHTTP(w, r) }))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e.srv = srv

	d := Deps{Store: st, Feed: st, Clock: e.clock, Log: slog.New(slog.DiscardHandler)}
	for _, m := range mods {
		m(&d)
	}
	if d.PublicURL == "" {
		d.PublicURL = srv.URL
	}
	opts := handlerOptions(st, d.Log)
	m := http.NewServeMux()
	m.Handle(hookdv1connect.NewProjectServiceHandler(NewProjectService(d), opts...))
	m.Handle(hookdv1connect.NewApiKeyServiceHandler(NewApiKeyService(d), opts...))
	m.Handle(hookdv1connect.NewIntegrationServiceHandler(NewIntegrationService(d), opts...))
	m.Handle(hookdv1connect.NewWebhookServiceHandler(NewWebhookService(d, e.tester), opts...))
	m.Handle(hookdv1connect.NewEventTypeServiceHandler(NewEventTypeService(d), opts...))
	m.Handle(hookdv1connect.NewSubscriptionServiceHandler(NewSubscriptionService(d), opts...))
	m.Handle(hookdv1connect.NewTriggerServiceHandler(NewTriggerService(d, TriggerConfig{}), opts...))
	inbound := trigger.NewHandler(trigger.Config{Store: st, Rates: st, Outcomes: st.Notifier(), Clock: e.clock, Log: d.Log, PublicURL: d.PublicURL})
	m.Handle("/t/", inbound)
	mux = m

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

// clientsFor returns clients of e's protocol sending secret as the bearer key (used for keys created through the
// API too).
func (e *env) clientsFor(secret string) clients {
	srv := e.srv
	hc := &http.Client{Transport: bearerTransport{secret: secret, next: srv.Client().Transport}, Timeout: 30 * time.Second}
	var opts []connect.ClientOption
	switch e.protocol {
	case protoConnect:
	case protoGRPC:
		opts = append(opts, connect.WithGRPC())
	case protoJSON:
		opts = append(opts, connect.WithProtoJSON())
	default:
		panic("unknown protocol " + e.protocol)
	}
	return clients{
		projects:      hookdv1connect.NewProjectServiceClient(hc, srv.URL, opts...),
		keys:          hookdv1connect.NewApiKeyServiceClient(hc, srv.URL, opts...),
		integrations:  hookdv1connect.NewIntegrationServiceClient(hc, srv.URL, opts...),
		webhooks:      hookdv1connect.NewWebhookServiceClient(hc, srv.URL, opts...),
		eventTypes:    hookdv1connect.NewEventTypeServiceClient(hc, srv.URL, opts...),
		subscriptions: hookdv1connect.NewSubscriptionServiceClient(hc, srv.URL, opts...),
		triggers:      hookdv1connect.NewTriggerServiceClient(hc, srv.URL, opts...),
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

// requireField asserts that err carries an errdetails.BadRequest detail naming field (over every protocol the
// detail travels beside the message).
func requireField(t *testing.T, err error, field string) {
	t.Helper()
	vs := apierr.FieldViolations(err)
	require.Len(t, vs, 1, "error %v has no BadRequest detail", err)
	require.Equal(t, field, vs[0].GetField())
	var cerr *connect.Error
	require.True(t, errors.As(err, &cerr))
	require.Equal(t, field+": "+vs[0].GetDescription(), cerr.Message(), "the message is the field and its reason")
}

// creq wraps a message in a Connect request.
func creq[T any](m *T) *connect.Request[T] { return connect.NewRequest(m) }

package sender_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/actiontoken"
	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/sender"
	"github.com/hookd/hookd/internal/signature"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// The sender is the API's Tester (TestWebhook).
var _ api.Tester = (*sender.Sender)(nil)

// backends runs fn in parallel on a fresh SQLite and a fresh PostgreSQL store.
func backends(t *testing.T, fn func(t *testing.T, st *storetest.DB)) {
	t.Parallel()
	storetest.ForEachStoreParallel(t, func(t *testing.T, st *storetest.DB) {
		fn(t, st)
	})
}

// keys sign the tests' action-status tokens.
var keys = actiontoken.Static("sender test key")

// env is a project with the event type user.created in a store, a fake clock and a sender.
type env struct {
	ctx     context.Context
	st      *storetest.DB
	clk     *clock.Fake
	snd     *sender.Sender
	project *store.Project
}

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// setup returns an env whose sender uses cfg (the store's parts, Clock, ActionKeys, Log and PublicURL are filled
// in).
func setup(t *testing.T, st *storetest.DB, cfg sender.Config) *env {
	t.Helper()
	e := &env{ctx: context.Background(), st: st, clk: clock.NewFake(time.Now().Truncate(time.Second))}
	e.project = &store.Project{Name: "acme", CreateTime: e.clk.Now()}
	require.NoError(t, st.CreateProject(e.ctx, e.project))
	require.NoError(t, st.CreateEventType(e.ctx, &store.EventType{ProjectID: e.project.ID, Name: "user.created", CreateTime: e.clk.Now()}))
	cfg.Queue, cfg.Targets, cfg.Rates, cfg.ActionKeys, cfg.Listener = st, st, st, keys, st.Notifier()
	cfg.Clock, cfg.Log, cfg.PublicURL = e.clk, quietLog(), "https://hookd.example.com"
	e.snd = sender.New(cfg)
	return e
}

// webhook creates an enabled webhook calling url (exponential retries, a fresh secret), changed by mods.
func (e *env) webhook(t *testing.T, url string, mods ...func(*store.Webhook)) *store.Webhook {
	t.Helper()
	secret, err := signature.NewSecret()
	require.NoError(t, err)
	w := &store.Webhook{
		ProjectID: e.project.ID, Name: "orders", SystemName: "orders-" + t.Name(), Method: "POST", URL: url, Enabled: true,
		Secret: secret, RetryPolicy: store.RetryPolicy{Kind: store.RetryExponential}, Timeout: 15 * time.Second,
		CreateTime: e.clk.Now(),
	}
	for _, m := range mods {
		m(w)
	}
	if w.PrivateOrigin == "" { // bound as the API binds it (a mod may bind it elsewhere)
		var in *store.Integration
		if w.IntegrationID != "" {
			var err error
			in, err = e.st.GetIntegration(e.ctx, w.ProjectID, w.IntegrationID)
			require.NoError(t, err)
		}
		w.PrivateOrigin = sender.BindPrivate(w, in, w.Headers)
	}
	require.NoError(t, e.st.CreateWebhook(e.ctx, w))
	return w
}

// publish publishes one user.created event straight to the webhooks and returns its delivery ids.
func (e *env) publish(t *testing.T, payload string, webhookIDs ...string) []string {
	t.Helper()
	res, err := e.st.PublishEvents(e.ctx, store.PublishEventsParams{ProjectID: e.project.ID, Events: []store.PublishInput{{
		Event:      store.Event{EventType: "user.created", Subject: "user-7", Payload: json.RawMessage(payload)},
		WebhookIDs: webhookIDs,
	}}, Now: e.clk.Now(), IdempotencyWindow: 24 * time.Hour})
	require.NoError(t, err)
	require.Len(t, res, 1)
	return res[0].DeliveryIDs
}

// runOnce runs one sender round and checks how many deliveries it claimed.
func (e *env) runOnce(t *testing.T, wantClaimed int) {
	t.Helper()
	n, err := e.snd.RunOnce(e.ctx)
	require.NoError(t, err)
	require.Equal(t, wantClaimed, n, "deliveries claimed")
}

func (e *env) delivery(t *testing.T, id string) *store.Delivery {
	t.Helper()
	d, err := e.st.GetDelivery(e.ctx, e.project.ID, id)
	require.NoError(t, err)
	return d
}

func (e *env) attempts(t *testing.T, id string) []store.Attempt {
	t.Helper()
	a, err := e.st.ListAttempts(e.ctx, e.project.ID, id)
	require.NoError(t, err)
	return a
}

// reply is one scripted receiver answer.
type reply struct {
	status int
	header map[string]string
	body   string
	hang   bool // wait until the client gives up
}

// request is what a receiver got.
type request struct {
	method string
	path   string
	query  string
	header http.Header
	body   []byte
}

// receiver is a loopback webhook receiver answering from a script (the last reply repeats).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	script []reply
	got    []request
}

func newReceiver(t *testing.T, script ...reply) *receiver {
	t.Helper()
	r := &receiver{script: script}
	release := make(chan struct{})
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.got)
		r.got = append(r.got, request{method: req.Method, path: req.URL.Path, query: req.URL.RawQuery, header: req.Header.Clone(), body: body})
		rep := reply{status: http.StatusOK}
		if len(r.script) > 0 {
			rep = r.script[min(n, len(r.script)-1)]
		}
		r.mu.Unlock()
		if rep.hang {
			select {
			case <-req.Context().Done():
			case <-release:
			}
			return
		}
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.body)
	}))
	t.Cleanup(func() {
		close(release)
		r.Close()
	})
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

// verify checks a received request's Standard Webhooks signature with the reference library.
func verify(t *testing.T, secret string, req request) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	require.NoError(t, wh.Verify(req.body, req.header), "signature verifies with the reference library")
}

// newSlowServer answers 200 after delay and signals started when a request arrives; it returns its URL.
func newSlowServer(t *testing.T, started chan<- struct{}, delay time.Duration) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		started <- struct{}{}
		time.Sleep(delay)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

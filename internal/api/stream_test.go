package api

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/strictjson"
)

// testStreamLimits are the stream limits of streamEnv: the fake clock decides when they are reached.
var testStreamLimits = auth.StreamLimits{RecheckInterval: time.Minute, MaxLifetime: time.Hour}

// streamEnv serves the delivery service as hookd serve does (error boundary, an Authenticator with stream limits
// on the fake clock), with heartbeats every few milliseconds so that a stream sends (and is guarded) often.
type streamEnv struct {
	e   *env
	srv *httptest.Server
}

func withStreams(t *testing.T, e *env, mods ...func(*Deps)) *streamEnv {
	t.Helper()
	authn := auth.NewAuthenticator(e.st, e.clock)
	authn.Streams = testStreamLimits
	d := Deps{Store: e.st, Feed: e.st, Clock: e.clock, Log: slog.New(slog.DiscardHandler), WatchHeartbeat: 5 * time.Millisecond, Auth: authn}
	for _, m := range mods {
		m(&d)
	}
	opts := append([]connect.HandlerOption{connect.WithInterceptors(apierr.NewInterceptor(d.Log), authn.Interceptor(nil))},
		strictjson.HandlerOptions()...)
	mux := http.NewServeMux()
	mux.Handle(hookdv1connect.NewDeliveryServiceHandler(NewDeliveryService(d), opts...))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &streamEnv{e: e, srv: srv}
}

// key issues a key of the default project and returns its id and secret.
func (se *streamEnv) key(t *testing.T, role store.Role) (string, string) {
	t.Helper()
	k := &store.APIKey{ProjectID: auth.DefaultProjectID, Name: "stream-" + string(role), Role: role, CreateTime: se.e.clock.Now()}
	secret, err := auth.IssueKey(context.Background(), se.e.st, k)
	require.NoError(t, err)
	return k.ID, secret
}

// client returns a delivery client sending secret over HTTP/1.1 (Connect protocol) or HTTP/2 (gRPC).
func (se *streamEnv) client(secret string, h2 bool) hookdv1connect.DeliveryServiceClient {
	tr := se.srv.Client().Transport.(*http.Transport).Clone()
	var opts []connect.ClientOption
	if h2 {
		opts = append(opts, connect.WithGRPC())
	} else {
		tr.ForceAttemptHTTP2 = false
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	hc := &http.Client{Transport: bearerTransport{secret: secret, next: tr}}
	return hookdv1connect.NewDeliveryServiceClient(hc, se.srv.URL, opts...)
}

// watch opens a WatchDeliveries stream and reads its first heartbeat.
func watch(t *testing.T, ctx context.Context, c hookdv1connect.DeliveryServiceClient) *connect.ServerStreamForClient[hookdv1.WatchDeliveriesResponse] {
	t.Helper()
	stream, err := c.WatchDeliveries(ctx, creq(&hookdv1.WatchDeliveriesRequest{}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = stream.Close() })
	require.True(t, stream.Receive(), "first heartbeat: %v", stream.Err())
	return stream
}

// drain reads a stream to its end and returns its error.
func drain[T any](s *connect.ServerStreamForClient[T]) error {
	for s.Receive() {
	}
	return s.Err()
}

// TestStreamEndsWhenKeyRevoked: a VIEWER's WatchDeliveries stream (HTTP/1.1 and HTTP/2) ends with unauthenticated
// at the first send after a recheck interval once its key is revoked; before the interval it goes on.
func TestStreamEndsWhenKeyRevoked(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		se := withStreams(t, e)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for _, h2 := range []bool{false, true} {
			keyID, secret := se.key(t, store.RoleViewer)
			stream := watch(t, ctx, se.client(secret, h2))
			_, kept := se.key(t, store.RoleViewer)
			keptStream := watch(t, ctx, se.client(kept, h2))

			_, err := e.st.RevokeAPIKey(ctx, auth.DefaultProjectID, keyID, e.clock.Now())
			require.NoError(t, err)
			require.True(t, stream.Receive(), "within the recheck interval the stream goes on: %v", stream.Err())

			e.clock.Advance(testStreamLimits.RecheckInterval)
			requireCode(t, drain(stream), connect.CodeUnauthenticated, "revoked")
			require.True(t, keptStream.Receive(), "a valid key's stream goes on after its recheck: %v", keptStream.Err())
			require.True(t, keptStream.Receive(), keptStream.Err())
		}
	})
}

// TestStreamLifetime: a stream ends with unavailable once it has run for MaxLifetime (the client reconnects).
func TestStreamLifetime(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		se := withStreams(t, e)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for _, h2 := range []bool{false, true} {
			_, secret := se.key(t, store.RoleViewer)
			c := se.client(secret, h2)
			stream := watch(t, ctx, c)
			e.clock.Advance(testStreamLimits.MaxLifetime - time.Second)
			require.True(t, stream.Receive(), stream.Err())
			e.clock.Advance(time.Second)
			requireCode(t, drain(stream), connect.CodeUnavailable, "maximum lifetime")
			watch(t, ctx, c) // a new stream has a new lifetime
		}
	})
}

// TestWatchesPerKey: one key holds at most MaxWatchesPerKey streams; other keys of the project still watch.
func TestWatchesPerKey(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		se := withStreams(t, e, func(d *Deps) { d.MaxWatchesPerKey = 2 })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, secret := se.key(t, store.RoleViewer)
		c := se.client(secret, true)
		watch(t, ctx, c)
		watch(t, ctx, c)
		over, err := c.WatchDeliveries(ctx, creq(&hookdv1.WatchDeliveriesRequest{}))
		require.NoError(t, err)
		defer over.Close()
		assert.False(t, over.Receive())
		requireCode(t, over.Err(), connect.CodeResourceExhausted, "already holds 2 open WatchDeliveries streams")

		_, other := se.key(t, store.RoleViewer)
		watch(t, ctx, se.client(other, false))
	})
}

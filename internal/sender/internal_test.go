package sender

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/testsignal"
)

// TestDialGuard checks the dial-time guard on resolved addresses, below the URL check: a name that resolves
// to loopback (localhost) or a literal forbidden IP never gets a TCP connection.
func TestDialGuard(t *testing.T) {
	t.Parallel()
	var accepted testsignal.Signal[net.Addr] // each connection the server accepts
	accepted.Init()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Signal(c.RemoteAddr())
		}
	}
	srv.StartTLS()
	defer srv.Close()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)

	guarded := newHTTPClient(Config{Workers: 1, Timeout: 2 * time.Second})
	for _, host := range []string{"127.0.0.1", "localhost", "[::ffff:127.0.0.1]"} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+":"+port+"/", nil)
		require.NoError(t, err)
		_, err = guarded.Do(req)
		cancel()
		require.Error(t, err, host)
		assert.True(t, errors.Is(err, errForbiddenAddress), "%s: %v", host, err)
	}
	assert.Empty(t, accepted.C(), "no connection was opened")

	// Dev mode dials loopback (the TLS handshake then fails on the test certificate, after connecting).
	open := newHTTPClient(Config{Workers: 1, Timeout: 2 * time.Second, Dev: true})
	req, err := http.NewRequest(http.MethodGet, "https://127.0.0.1:"+port+"/", nil)
	require.NoError(t, err)
	_, err = open.Do(req)
	assert.False(t, errors.Is(err, errForbiddenAddress))
	accepted.Wait(t)
	assert.Empty(t, accepted.C(), "one connection")
}

func TestGuardAddress(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		addr      string
		forbidden bool
	}{
		{"127.0.0.1:443", true}, {"10.0.0.1:443", true}, {"169.254.169.254:80", true}, {"[::1]:443", true},
		{"[::ffff:127.0.0.1]:443", true}, {"100.64.0.1:443", true}, {"0.0.0.0:443", true}, {"[fe80::1%eth0]:443", true},
		{"192.168.1.10:443", true}, {"not-an-address", true},
		{"93.184.216.34:443", false}, {"[2606:4700:4700::1111]:443", false},
	} {
		err := guardAddress(context.Background(), "tcp", tt.addr, nil)
		assert.Equal(t, tt.forbidden, errors.Is(err, errForbiddenAddress), tt.addr)
		if ap, perr := netip.ParseAddrPort(tt.addr); perr == nil && tt.forbidden {
			assert.Contains(t, err.Error(), ap.Addr().WithZone("").String())
		}
	}
}

func TestFullURLAndHeaders(t *testing.T) {
	t.Parallel()
	in := &store.Integration{BaseURL: "https://api.example.com/v2", Headers: []store.Header{
		{Name: "A", Value: "1"}, {Name: "B", Value: "2"}, {Name: "C", Value: "3"}}}
	for _, tt := range []struct{ base, path, want string }{
		{"https://api.example.com/v2", "/orders", "https://api.example.com/v2/orders"},
		{"https://api.example.com/v2/", "/orders", "https://api.example.com/v2/orders"},
		{"https://api.example.com/v2", "orders", "https://api.example.com/v2/orders"},
		{"https://api.example.com/v2/", "orders", "https://api.example.com/v2/orders"},
		{"https://api.example.com/v2", "", "https://api.example.com/v2"},
		{"https://api.example.com/v2", "?a=1", "https://api.example.com/v2?a=1"},
	} {
		in.BaseURL = tt.base
		assert.Equal(t, tt.want, FullURL(&store.Webhook{IntegrationID: "int_1", Path: tt.path}, in))
	}
	assert.Equal(t, "https://x.example/", FullURL(&store.Webhook{URL: "https://x.example/", Path: "/ignored"}, in))

	w := &store.Webhook{
		IntegrationHeaders: []store.IntegrationHeader{{Name: "a", Use: false}, {Name: "B", Use: true}},
		Headers:            []store.Header{{Name: "c", Value: "mine"}, {Name: "D", Value: "4"}},
	}
	assert.Equal(t, []store.Header{{Name: "B", Value: "2"}, {Name: "c", Value: "mine"}, {Name: "D", Value: "4"}}, Headers(w, in))
	assert.Equal(t, w.Headers, Headers(w, nil))
}

func TestClean(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "héllo", clean("héllo", 100))
	assert.Equal(t, "h", clean("héllo", 2), "never cuts a character in half")
	assert.Equal(t, "a\uFFFDb", clean("a\xffb", 100))
	assert.Equal(t, "ab", clean("a\x00b", 100))
}

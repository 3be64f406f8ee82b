package sender

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/store"
)

// The token request goes through the sender's guarded client, below the URL check: with the URL check lifted
// but the dialer guarded, a loopback token endpoint is never connected to.
func TestTokenRequestDialGuard(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"t","token_type":"Bearer","expires_in":60}`))
	}))
	defer srv.Close()
	in := &store.Integration{ID: "int_1", BaseURL: "https://api.example.com", Auth: &store.IntegrationAuth{
		Kind: store.AuthOAuth2ClientCredentials, TokenURL: srv.URL + "/token", ClientID: "c", ClientSecret: "s"}}
	r := &request{url: "https://api.example.com/hook", header: http.Header{}, attempt: &store.Attempt{}, timeout: 2 * time.Second}

	guarded := newAuthenticator(newHTTPClient(Config{Workers: 1, Timeout: 2 * time.Second}), clock.Real{}, true)
	err := guarded.apply(context.Background(), &target{integration: in}, r, "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), errForbiddenAddress.Error())
	assert.Zero(t, hits.Load())

	open := newAuthenticator(newHTTPClient(Config{Workers: 1, Timeout: 2 * time.Second, Dev: true}), clock.Real{}, true)
	require.NoError(t, open.apply(context.Background(), &target{integration: in}, r, ""))
	assert.Equal(t, "Bearer t", r.header.Get("Authorization"))
	assert.EqualValues(t, 1, hits.Load())
}

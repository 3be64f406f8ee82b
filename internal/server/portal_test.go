package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store/storesql"
	"github.com/hookd/hookd/internal/store/storetest"
)

// TestPortalCORSAndFraming runs hookd serve on both databases, mints a portal session for https://app.example
// and checks: a preflight and a call with the portal token from that origin get CORS headers (the origin itself,
// Authorization allowed, no credentials, never `*`); another origin gets none, and so does the session's origin
// calling with an API key; /portal/<session_id> may be framed by the session's origins only.
func TestPortalCORSAndFraming(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return t.TempDir() },
		"postgres": func(t *testing.T) string { return storetest.PostgresURL(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			cfg := DefaultConfig()
			cfg.Store = storesql.Config{URL: url(t), Keyring: secret.NewRandom()}
			cfg.Addr, cfg.Dev, cfg.BootstrapKey, cfg.Role = "127.0.0.1:0", true, "hk_test_portal_cors_0123456789abcd", RoleAll
			cfg.CORSOrigins = []string{"https://console.example"}
			srv, err := New(ctx, cfg)
			require.NoError(t, err)
			require.NoError(t, srv.Start(ctx))
			t.Cleanup(srv.Stop)
			base := "http://" + srv.Addr()

			call := func(method, path, origin, token, body string, h map[string]string) *http.Response {
				t.Helper()
				req, err := http.NewRequest(method, base+path, strings.NewReader(body))
				require.NoError(t, err)
				if body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				if origin != "" {
					req.Header.Set("Origin", origin)
				}
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				for k, v := range h {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				t.Cleanup(func() { resp.Body.Close() })
				return resp
			}
			resp := call(http.MethodPost, "/hookd.v1.PortalService/CreatePortalSession", "", cfg.BootstrapKey,
				`{"tenantId":"t1","allowedOrigins":["https://app.example"]}`, nil)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			var sess struct{ Token, SessionID string }
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&sess))
			require.NotEmpty(t, sess.Token)

			preflight := map[string]string{"Access-Control-Request-Method": "POST",
				"Access-Control-Request-Headers": "authorization,connect-protocol-version,content-type"}
			list := "/hookd.v1.WebhookService/ListWebhooks"

			resp = call(http.MethodOptions, list, "https://app.example", "", "", preflight)
			assert.Equal(t, "https://app.example", resp.Header.Get("Access-Control-Allow-Origin"), "preflight from the session's origin")
			assert.Contains(t, strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization")
			assert.Empty(t, resp.Header.Get("Access-Control-Allow-Credentials"))
			resp = call(http.MethodPost, list, "https://app.example", sess.Token, "{}", nil)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "https://app.example", resp.Header.Get("Access-Control-Allow-Origin"), "a call with the portal token")
			assert.Empty(t, resp.Header.Get("Access-Control-Allow-Credentials"))

			for _, c := range []struct{ what, method, origin, token string }{
				{"preflight from another origin", http.MethodOptions, "https://evil.example", ""},
				{"call from another origin", http.MethodPost, "https://evil.example", sess.Token},
				{"the session's origin with an API key", http.MethodPost, "https://app.example", cfg.BootstrapKey},
			} {
				h := map[string]string{}
				if c.method == http.MethodOptions {
					h = preflight
				}
				body := ""
				if c.method == http.MethodPost {
					body = "{}"
				}
				resp = call(c.method, list, c.origin, c.token, body, h)
				assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), c.what)
			}
			resp = call(http.MethodOptions, list, "https://console.example", "", "", preflight)
			assert.Equal(t, "https://console.example", resp.Header.Get("Access-Control-Allow-Origin"), "--cors-origin still works")

			resp = call(http.MethodGet, "/portal/"+sess.SessionID, "", "", "", nil)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors https://app.example;")
			assert.Empty(t, resp.Header.Get("X-Frame-Options"))
			resp = call(http.MethodGet, "/portal/ps_unknown", "", "", "", nil)
			assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
		})
	}
}

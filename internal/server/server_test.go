package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store/storesql"
	"github.com/hookd/hookd/internal/store/storetest"
)

// TestServeLifecycle: a server built from DefaultConfig listens, answers the probes and the API with its bootstrap
// key, and stops (twice) on both databases; a sender-only server serves no API.
func TestServeLifecycle(t *testing.T) {
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
			cfg.Addr, cfg.Dev, cfg.BootstrapKey = "127.0.0.1:0", true, "hk_test_server_lifecycle_0123456789"
			for _, role := range []string{RoleAll, RoleSender} {
				cfg.Role = role
				srv, err := New(ctx, cfg)
				require.NoError(t, err)
				require.NoError(t, srv.Start(ctx))
				base := "http://" + srv.Addr()
				resp, err := http.Get(base + "/readyz")
				require.NoError(t, err)
				resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode, role)
				req, err := http.NewRequest(http.MethodPost, base+"/hookd.v1.ApiKeyService/GetCurrentApiKey", strings.NewReader("{}"))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+cfg.BootstrapKey)
				resp, err = http.DefaultClient.Do(req)
				require.NoError(t, err)
				resp.Body.Close()
				want := http.StatusOK
				if role == RoleSender {
					want = http.StatusNotFound
				}
				require.Equal(t, want, resp.StatusCode, role)
				srv.Stop()
				srv.Stop()
				_, err = (&http.Client{Timeout: 5 * time.Second}).Get(base + "/readyz")
				require.Error(t, err, "%s: still serving after Stop", role)
			}
		})
	}
}

// TestValidate: DefaultConfig is valid; each bad value is refused naming its `hookd serve` flag.
func TestValidate(t *testing.T) {
	t.Parallel()
	def := DefaultConfig()
	require.NoError(t, def.Validate())
	for flag, change := range map[string]func(c *Config){
		"--max-webhooks":        func(c *Config) { c.Quotas.Webhooks = -1 },
		"--lease":               func(c *Config) { c.Lease = time.Second },
		"--webhook-concurrency": func(c *Config) { c.WebhookConcurrency = c.Workers + 1 },
		"--role":                func(c *Config) { c.Role = "both" },
		"--retention":           func(c *Config) { c.Retention = 0 },
		"--workers":             func(c *Config) { c.Workers = 0 },
		"--max-payload-bytes":   func(c *Config) { c.MaxPayloadBytes = 10 },
	} {
		c := DefaultConfig()
		change(&c)
		err := c.Validate()
		require.ErrorContains(t, err, flag)
	}
}

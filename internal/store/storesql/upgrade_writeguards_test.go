package storesql_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
)

// TestUpgradeTo0007WriteGuards fills a database of the 0006 schema with webhooks holding private header values
// (one with its own url, one calling its integration's base_url, one with public headers only), migrates it with
// Open, and checks that 0007_write_guards bound each private value to the origin it was sent to (so they keep
// going there, and only there), and that the versioned updates work on the old rows and refuse a stale one.
func TestUpgradeTo0007WriteGuards(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{storesql.DialectSQLite, storesql.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			old := openOldSchema(t, dialect, 6)
			now := time.Now().UTC().Truncate(time.Second)
			exec := old.exec
			exec(`INSERT INTO projects (id, name, create_time, update_time) VALUES ('prj_1', 'acme', ?, ?)`, now, now)
			exec(`INSERT INTO integrations (id, project_id, name, base_url, headers, create_time, update_time)
				VALUES ('int_1', 'prj_1', 'crm', 'https://API.example.com/v3/', '[]', ?, ?)`, now, now)
			private := `[{"name":"X-Partner-Token","value":"PARTNER-SECRET","private":true},{"name":"X-Plain","value":"p"}]`
			for _, w := range []struct{ id, integration, url, path, headers string }{
				{"wh_url", "", "https://partner.example.com:8443/hook", "", private},
				{"wh_path", "int_1", "", "orders", private},
				{"wh_plain", "", "https://plain.example.com/hook", "", `[{"name":"X-Plain","value":"p"}]`},
			} {
				var integration any
				if w.integration != "" {
					integration = w.integration
				}
				exec(`INSERT INTO webhooks (id, project_id, integration_id, name, system_name, method, url, path, headers,
					retry_policy, timeout_ms, secret, create_time, update_time)
					VALUES (?, 'prj_1', ?, ?, ?, 'POST', ?, ?, ?, '{"kind":"exponential"}', 15000, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', ?, ?)`,
					w.id, integration, w.id, w.id, w.url, w.path, w.headers, now, now)
			}

			s := old.upgrade(ctx)
			for id, want := range map[string]string{
				"wh_url": "https://partner.example.com:8443", "wh_path": "https://api.example.com:443", "wh_plain": "",
			} {
				w, err := s.GetWebhook(ctx, "prj_1", id)
				require.NoError(t, err)
				assert.Equal(t, want, w.PrivateOrigin, id)
				assert.Equal(t, "p", w.Headers[len(w.Headers)-1].Value)
			}

			// Versioned updates on the old rows: the first writer wins, the stale one is refused.
			w, err := s.GetWebhook(ctx, "prj_1", "wh_url")
			require.NoError(t, err)
			stale := *w
			w.Description = "first"
			require.NoError(t, s.UpdateWebhook(ctx, w))
			stale.Name = "second"
			require.ErrorIs(t, s.UpdateWebhook(ctx, &stale), store.ErrStale)
			got, err := s.GetWebhook(ctx, "prj_1", "wh_url")
			require.NoError(t, err)
			assert.Equal(t, "first", got.Description)
			assert.Equal(t, "wh_url", got.Name)
			assert.Equal(t, "PARTNER-SECRET", got.Headers[0].Value)

			in, err := s.GetIntegration(ctx, "prj_1", "int_1")
			require.NoError(t, err)
			staleIn := *in
			in.Name = "crm v2"
			require.NoError(t, s.UpdateIntegration(ctx, in))
			require.ErrorIs(t, s.UpdateIntegration(ctx, &staleIn), store.ErrStale)
			staleIn.ProjectID = "prj_other"
			require.ErrorIs(t, s.UpdateIntegration(ctx, &staleIn), store.ErrNotFound, "another project's record is not found, not stale")
		})
	}
}

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

// TestUpgradeTo0015ListenTransport fills a database of the 0013 schema with a webhook, migrates it forward with
// Open, and checks that the webhook reads back as an HTTP webhook and that a listen webhook round-trips.
func TestUpgradeTo0015ListenTransport(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{storesql.DialectSQLite, storesql.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			old := openOldSchema(t, dialect, 13)
			now := time.Now().UTC().Truncate(time.Second)
			old.exec(`INSERT INTO projects (id, name, create_time, update_time) VALUES ('prj_1', 'acme', ?, ?)`, now, now)
			old.exec(`INSERT INTO webhooks (id, project_id, name, system_name, method, url, retry_policy, timeout_ms, secret,
				create_time, update_time) VALUES ('wh_1', 'prj_1', 'Orders', 'orders', 'POST', 'https://example.com/hook',
				'{"kind":"exponential"}', 15000, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', ?, ?)`, now, now)

			s := old.upgrade(ctx)
			w, err := s.GetWebhook(ctx, "prj_1", "wh_1")
			require.NoError(t, err)
			assert.Equal(t, store.TransportHTTP, w.Transport)
			assert.Equal(t, "https://example.com/hook", w.URL)

			lw := &store.Webhook{ProjectID: "prj_1", Name: "laptop", SystemName: "laptop", Method: "POST", Enabled: true,
				Transport: store.TransportListen}
			require.NoError(t, s.CreateWebhook(ctx, lw))
			got, err := s.GetWebhook(ctx, "prj_1", lw.ID)
			require.NoError(t, err)
			assert.Equal(t, store.TransportListen, got.Transport)
		})
	}
}

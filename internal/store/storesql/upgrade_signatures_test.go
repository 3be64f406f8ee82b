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

// TestUpgradeTo0008TriggerSignatures fills a database of the 0006 schema with signed triggers, migrates it
// forward with Open, and checks that their signature settings read back as before (no tolerance set: the
// default; no request target) and that the new trigger_signatures table remembers signatures.
func TestUpgradeTo0008TriggerSignatures(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{storesql.DialectSQLite, storesql.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			old := openOldSchema(t, dialect, 6)
			now := time.Now().UTC().Truncate(time.Second)
			old.exec(`INSERT INTO projects (id, name, create_time, update_time) VALUES ('prj_1', 'acme', ?, ?)`, now, now)
			old.exec(`INSERT INTO triggers (id, project_id, name, event_type, signature, create_time, update_time)
				VALUES ('trg_1', 'prj_1', 'github', 'push', '{"scheme":"hmac_sha256","secret":"s3cret","header":"X-Hub-Signature-256","prefix":"sha256="}', ?, ?)`, now, now)
			old.exec(`INSERT INTO triggers (id, project_id, name, event_type, signature, create_time, update_time)
				VALUES ('trg_2', 'prj_1', 'svix', 'push', '{"scheme":"standard_webhooks","secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}', ?, ?)`, now, now)

			s := old.upgrade(ctx)
			var versions []int64
			require.NoError(t, s.Pool().SelectContext(ctx, &versions, `SELECT version FROM schema_migrations ORDER BY version`))
			assert.Contains(t, versions, int64(8))

			trg, err := s.GetTrigger(ctx, "prj_1", "trg_1")
			require.NoError(t, err)
			assert.Equal(t, store.TriggerSignature{Scheme: store.TriggerSchemeHMACSHA256, Secret: "s3cret",
				Header: "X-Hub-Signature-256", Prefix: "sha256="}, trg.Signature)
			trg, err = s.GetTrigger(ctx, "prj_1", "trg_2")
			require.NoError(t, err)
			assert.Equal(t, store.TriggerSignature{Scheme: store.TriggerSchemeStandardWebhooks,
				Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, trg.Signature)

			fresh, err := s.RememberTriggerSignature(ctx, store.RememberTriggerSignatureParams{TriggerID: "trg_1", Digest: "d", Expire: now.Add(time.Minute), Now: now})
			require.NoError(t, err)
			assert.True(t, fresh)
			fresh, err = s.RememberTriggerSignature(ctx, store.RememberTriggerSignatureParams{TriggerID: "trg_1", Digest: "d", Expire: now.Add(time.Minute), Now: now})
			require.NoError(t, err)
			assert.False(t, fresh)
		})
	}
}

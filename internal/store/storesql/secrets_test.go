package storesql_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
	"github.com/hookd/hookd/internal/store/storetest"
)

// oldDatabase is a database migrated to 0001 only: its URL (for storesql.Open) and a raw connection.
type oldDatabase struct {
	url string
	db  *sqlx.DB
}

// newOldDatabase builds a 0001 database on a backend ("sqlite" or "postgres").
func newOldDatabase(t *testing.T, backend string) oldDatabase {
	t.Helper()
	ctx := context.Background()
	var od oldDatabase
	var driver, dsn string
	if backend == "sqlite" {
		od.url = t.TempDir()
		driver, dsn = "sqlite", filepath.Join(od.url, "hookd.db")
	} else {
		od.url = storetest.EmptyPostgresURL(t)
		driver, dsn = "postgres", od.url
	}
	require.NoError(t, storesql.MigrateTo(ctx, storesql.Config{URL: od.url}, 1))
	db, err := sqlx.Open(driver, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	od.db = db
	return od
}

// exec runs a statement with ? placeholders.
func (od oldDatabase) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	_, err := od.db.Exec(od.db.Rebind(q), args...)
	require.NoError(t, err, q)
}

func (od oldDatabase) text(t *testing.T, q string, args ...any) string {
	t.Helper()
	var s string
	require.NoError(t, od.db.Get(&s, od.db.Rebind(q), args...), q)
	return s
}

func forEachOldBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	t.Helper()
	for _, b := range []string{"sqlite", "postgres"} {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// A populated 0001 database is upgraded: 0003 adds its columns, and the first start with a keyring encrypts
// the secrets 0001 stored in clear (once: a second start changes nothing) and hashes trigger API keys.
func TestUpgradeFrom0001SealsSecrets(t *testing.T) {
	t.Parallel()
	forEachOldBackend(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		od := newOldDatabase(t, backend)
		now := time.Now().UTC().Add(-time.Hour).Truncate(time.Second) // within the partitions 0002 creates
		od.exec(t, `INSERT INTO projects (id, name, create_time, update_time) VALUES ('p1', 'p1', ?, ?)`, now, now)
		od.exec(t, `INSERT INTO api_keys (id, project_id, name, role, instance_admin, prefix, hash, create_time, update_time)
			VALUES ('key_1', 'p1', 'bootstrap', 'admin', TRUE, 'operator-c', ?, ?, ?)`, []byte("0123456789abcdef0123456789abcdef"), now, now)
		od.exec(t, `INSERT INTO integrations (id, project_id, name, base_url, headers, create_time, update_time)
			VALUES ('int_1', 'p1', 'crm', 'https://crm.example.com/', ?, ?, ?)`,
			`[{"name":"Authorization","value":"Bearer OLD-PLAINTEXT","private":true},{"name":"X-Team","value":"core"}]`, now, now)
		od.exec(t, `INSERT INTO webhooks (id, project_id, integration_id, name, system_name, method, headers, secret, previous_secret,
			create_time, update_time) VALUES ('wh_1', 'p1', 'int_1', 'w', 'w', 'POST', ?, 'whsec_OLDSECRET', 'whsec_OLDPREVIOUS', ?, ?)`,
			`[{"name":"X-Token","value":"hdr-OLD","private":true}]`, now, now)
		od.exec(t, `INSERT INTO triggers (id, project_id, name, event_type, api_key_header, api_key, signature, create_time, update_time)
			VALUES ('trg_1', 'p1', 't', 'e', 'X-Key', 'trgkey-OLD', ?, ?, ?)`,
			`{"scheme":"hmac_sha256","secret":"sig-OLD","header":"X-Sig"}`, now, now)
		exeID := id.New(id.Execution, now) // the log tables are partitioned by their (time-ordered) ids after 0002
		od.exec(t, `INSERT INTO executions (id, project_id, trigger_id, receive_time, method, raw_body, status)
			VALUES (?, 'p1', 'trg_1', ?, 'POST', '{"a":1}', 200)`, exeID, now)

		keys := secret.NewRandom()
		db, err := storesql.Open(ctx, storesql.Config{URL: od.url, Keyring: keys})
		require.NoError(t, err)
		s := storetest.Wrap(db)
		w, err := s.GetWebhook(ctx, "p1", "wh_1")
		require.NoError(t, err)
		assert.Equal(t, "whsec_OLDSECRET", w.Secret)
		assert.Equal(t, "whsec_OLDPREVIOUS", w.PreviousSecret)
		assert.Equal(t, []store.Header{{Name: "X-Token", Value: "hdr-OLD", Private: true}}, w.Headers)
		in, err := s.GetIntegration(ctx, "p1", "int_1")
		require.NoError(t, err)
		assert.Equal(t, "Bearer OLD-PLAINTEXT", in.Headers[0].Value)
		trg, err := s.GetTrigger(ctx, "p1", "trg_1")
		require.NoError(t, err)
		assert.Equal(t, "sig-OLD", trg.Signature.Secret)
		assert.True(t, secret.KeyMatches(trg.APIKey, "trgkey-OLD"), "the old key still authenticates")
		assert.Empty(t, trg.DropHeaders)
		e, err := s.GetExecution(ctx, "p1", exeID)
		require.NoError(t, err)
		assert.False(t, e.BodyTruncated)
		assert.Equal(t, `{"a":1}`, e.RawBody)
		require.NoError(t, s.Close())

		// In the files: nothing in clear.
		raw := od.text(t, `SELECT secret FROM webhooks WHERE id = 'wh_1'`) + od.text(t, `SELECT previous_secret FROM webhooks WHERE id = 'wh_1'`) +
			od.text(t, `SELECT CAST(headers AS TEXT) FROM webhooks WHERE id = 'wh_1'`) +
			od.text(t, `SELECT CAST(headers AS TEXT) FROM integrations WHERE id = 'int_1'`) +
			od.text(t, `SELECT CAST(signature AS TEXT) FROM triggers WHERE id = 'trg_1'`) + od.text(t, `SELECT api_key FROM triggers WHERE id = 'trg_1'`)
		for _, plain := range []string{"OLDSECRET", "OLDPREVIOUS", "hdr-OLD", "OLD-PLAINTEXT", "sig-OLD", "trgkey-OLD"} {
			assert.NotContains(t, raw, plain)
		}
		assert.Contains(t, raw, "core", "public header values stay readable")
		assert.Empty(t, od.text(t, `SELECT prefix FROM api_keys WHERE id = 'key_1'`), "the bootstrap key's prefix is gone")
		sealed := od.text(t, `SELECT secret FROM webhooks WHERE id = 'wh_1'`)

		// A second start changes nothing; another key is refused.
		db, err = storesql.Open(ctx, storesql.Config{URL: od.url, Keyring: keys})
		require.NoError(t, err)
		require.NoError(t, db.Close())
		assert.Equal(t, sealed, od.text(t, `SELECT secret FROM webhooks WHERE id = 'wh_1'`))
		_, err = storesql.Open(ctx, storesql.Config{URL: od.url, Keyring: secret.NewRandom()})
		assert.True(t, errors.Is(err, storesql.ErrForeignKey), "Open with another key: %v", err)
	})
}

// RotateSecrets re-encrypts every secret under the new current key; afterwards the old key is not needed.
func TestRotateSecrets(t *testing.T) {
	t.Parallel()
	forEachOldBackend(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		url := t.TempDir()
		if backend == "postgres" {
			url = storetest.PostgresURL(t)
		}
		oldKey, newKey := secret.GenerateKey(), secret.GenerateKey()
		open := func(spec string) *storetest.DB {
			t.Helper()
			k, err := secret.Parse(spec)
			require.NoError(t, err)
			s, err := storesql.Open(ctx, storesql.Config{URL: url, Keyring: k})
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return storetest.Wrap(s)
		}
		s := open(oldKey)
		p := &store.Project{Name: "p"}
		require.NoError(t, s.CreateProject(ctx, p))
		in := &store.Integration{ProjectID: p.ID, Name: "i", BaseURL: "https://x.example/", Headers: []store.Header{{Name: "A", Value: "v", Private: true}}}
		require.NoError(t, s.CreateIntegration(ctx, in))
		w := &store.Webhook{ProjectID: p.ID, Name: "w", SystemName: "w", Method: "POST", URL: "https://x.example/h", Secret: "whsec_a2V5",
			PreviousSecret: "whsec_b2xk", Headers: []store.Header{{Name: "B", Value: "hv", Private: true}}}
		require.NoError(t, s.CreateWebhook(ctx, w))
		tr := &store.Trigger{ProjectID: p.ID, Name: "t", EventType: "e", Signature: store.TriggerSignature{Scheme: "hmac_sha256", Secret: "sig", Header: "X"}}
		require.NoError(t, s.CreateTrigger(ctx, tr))
		require.NoError(t, s.Close())

		s = open(newKey + "," + oldKey)
		res, err := s.RotateSecrets(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, res.Webhooks)
		assert.Equal(t, 1, res.Integrations)
		assert.Equal(t, 1, res.Triggers)
		again, err := s.RotateSecrets(ctx)
		require.NoError(t, err)
		assert.Zero(t, again.Webhooks+again.Integrations+again.Triggers, "a second rotation has nothing left to do")
		require.NoError(t, s.Close())

		s = open(newKey) // the old key is retired: not needed any more
		got, err := s.GetWebhook(ctx, p.ID, w.ID)
		require.NoError(t, err)
		assert.Equal(t, "whsec_a2V5", got.Secret)
		assert.Equal(t, "whsec_b2xk", got.PreviousSecret)
		assert.Equal(t, "hv", got.Headers[0].Value)
		gi, err := s.GetIntegration(ctx, p.ID, in.ID)
		require.NoError(t, err)
		assert.Equal(t, "v", gi.Headers[0].Value)
		gt, err := s.GetTrigger(ctx, p.ID, tr.ID)
		require.NoError(t, err)
		assert.Equal(t, "sig", gt.Signature.Secret)
		var ids []string
		require.NoError(t, s.Pool().Select(&ids, `SELECT key_id FROM secret_keys WHERE retire_time IS NULL`))
		k, _ := secret.Parse(newKey)
		assert.Equal(t, []string{k.CurrentID()}, ids)
	})
}

// Private values in attempt logs are encrypted at rest and read back in clear.
func TestAttemptHeadersSealed(t *testing.T) {
	t.Parallel()
	storetest.ForEachStore(t, func(t *testing.T, st *storetest.DB) {
		f := setup(t, st)
		ids := f.publishN(t, 1, t0)
		claimed := f.claimOne(t, t0.Add(time.Hour))
		require.NoError(t, st.CompleteDeliveries(f.ctx, []store.Outcome{{DeliveryID: ids[0], ClaimToken: claimed.ClaimToken, Attempts: 1,
			Status: store.StatusDone, Attempt: &store.Attempt{StartTime: t0, RequestHeaders: []store.Header{
				{Name: "authorization", Value: "Bearer ATTEMPT-SECRET", Private: true}, {Name: "x-open", Value: "o"}}}}}, t0))
		a, err := st.ListAttempts(f.ctx, f.project.ID, ids[0])
		require.NoError(t, err)
		require.Len(t, a, 1)
		assert.Equal(t, "Bearer ATTEMPT-SECRET", a[0].RequestHeaders[0].Value)
		var raw string
		require.NoError(t, st.Pool().Get(&raw, st.Pool().Rebind(
			`SELECT CAST(request_headers AS TEXT) FROM attempts WHERE delivery_id = ?`), ids[0]))
		assert.NotContains(t, raw, "ATTEMPT-SECRET")
		var hs []store.Header
		require.NoError(t, json.Unmarshal([]byte(raw), &hs))
		assert.True(t, strings.HasPrefix(hs[0].Value, "enc:v1:"))
	})
}

// RetryDeliveries works in chunks: more deliveries than one chunk are all resent, each once.
func TestRetryDeliveriesInChunks(t *testing.T) {
	t.Parallel()
	storetest.ForEachStore(t, func(t *testing.T, st *storetest.DB) {
		f := setup(t, st)
		ids := f.publishN(t, 1100, t0)
		db := st.Pool()
		_, err := db.Exec(db.Rebind(`UPDATE deliveries SET status = 'failed'`))
		require.NoError(t, err)
		n, err := st.RetryDeliveries(f.ctx, f.project.ID, store.DeliveryFilter{Statuses: []store.Status{store.StatusFailed}}, t0)
		require.NoError(t, err)
		assert.Equal(t, len(ids), n)
		var left int
		require.NoError(t, db.Get(&left, `SELECT COUNT(*) FROM deliveries WHERE status <> 'retrying'`))
		assert.Zero(t, left)
		var resent sql.NullInt64
		require.NoError(t, db.Get(&resent, `SELECT COUNT(*) FROM deliveries WHERE resent`))
		assert.EqualValues(t, len(ids), resent.Int64)
	})
}

// TestRotateWhileRunning (issue 21 item 7): `hookd secrets rotate` while a server runs. The running server still
// encrypts under the old key; its values are not lost: dropping the old key before anything re-encrypted them is
// refused with the key id and the count, a restart with both keys re-encrypts them, and then the old key can go.
// A row that still cannot be decrypted does not fail a List: it is listed without its secrets, and Get of it says
// why.
func TestRotateWhileRunning(t *testing.T) {
	t.Parallel()
	forEachOldBackend(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		url := t.TempDir()
		if backend == "postgres" {
			url = storetest.PostgresURL(t)
		}
		oldKey, newKey := secret.GenerateKey(), secret.GenerateKey()
		open := func(spec string) (*storetest.DB, error) {
			t.Helper()
			k, err := secret.Parse(spec)
			require.NoError(t, err)
			s, err := storesql.Open(ctx, storesql.Config{URL: url, Keyring: k})
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { _ = s.Close() })
			return storetest.Wrap(s), nil
		}
		mustOpen := func(spec string) *storetest.DB {
			t.Helper()
			s, err := open(spec)
			require.NoError(t, err)
			return s
		}
		oldID := func() string { k, _ := secret.Parse(oldKey); return k.CurrentID() }()

		running := mustOpen(oldKey) // the server, started before the rotation
		p := &store.Project{Name: "p"}
		require.NoError(t, running.CreateProject(ctx, p))
		w1 := &store.Webhook{ProjectID: p.ID, Name: "w1", SystemName: "w1", Method: "POST", URL: "https://x.example/1", Secret: "whsec_b25l"}
		require.NoError(t, running.CreateWebhook(ctx, w1))

		rotator := mustOpen(newKey + "," + oldKey) // hookd secrets rotate
		_, err := rotator.RotateSecrets(ctx)
		require.NoError(t, err)
		require.NoError(t, rotator.Close())

		// The server keeps running with the old key and writes a secret under it.
		w2 := &store.Webhook{ProjectID: p.ID, Name: "w2", SystemName: "w2", Method: "POST", URL: "https://x.example/2", Secret: "whsec_dHdv",
			Headers: []store.Header{{Name: "X-Token", Value: "private-2", Private: true}}}
		require.NoError(t, running.CreateWebhook(ctx, w2))
		require.NoError(t, running.Close())

		// Dropping the old key now is refused, naming it and how many values need it.
		_, err = open(newKey)
		require.ErrorIs(t, err, storesql.ErrForeignKey)
		assert.Contains(t, err.Error(), oldID)
		assert.Contains(t, err.Error(), "2 stored secret values")

		// Restart with both keys (the README's procedure): the start re-encrypts them; then the old key can go.
		restarted := mustOpen(newKey + "," + oldKey)
		res, err := restarted.RotateSecrets(ctx) // hookd secrets rotate --keep-key: the check
		require.NoError(t, err)
		assert.Empty(t, res.Remaining)
		assert.Equal(t, 1, res.Webhooks, "the restart re-encrypted w2")
		require.NoError(t, restarted.Close())
		s := mustOpen(newKey)
		got, err := s.GetWebhook(ctx, p.ID, w2.ID)
		require.NoError(t, err)
		assert.Equal(t, "whsec_dHdv", got.Secret)
		assert.Equal(t, "private-2", got.Headers[0].Value)
		list, err := s.ListWebhooks(ctx, p.ID, "", store.Page{Size: 10})
		require.NoError(t, err)
		require.Len(t, list, 2)

		// A value that cannot be decrypted (a key nobody holds) fails neither the List nor the other rows.
		foreign := secret.NewRandom().Seal("whsec_bG9zdA")
		_, err = s.Pool().Exec(s.Pool().Rebind(`UPDATE webhooks SET secret = ? WHERE id = ?`), foreign, w1.ID)
		require.NoError(t, err)
		list, err = s.ListWebhooks(ctx, p.ID, "", store.Page{Size: 10})
		require.NoError(t, err)
		require.Len(t, list, 2)
		for _, w := range list {
			if w.ID == w1.ID {
				assert.True(t, w.SecretsUnreadable)
				assert.Empty(t, w.Secret)
			} else {
				assert.False(t, w.SecretsUnreadable)
				assert.Equal(t, "whsec_dHdv", w.Secret)
			}
		}
		_, err = s.GetWebhook(ctx, p.ID, w1.ID)
		require.ErrorIs(t, err, store.ErrSecretUnreadable)
		res, err = s.RotateSecrets(ctx)
		require.NoError(t, err)
		assert.Equal(t, map[string]int{secret.SealedKeyID(foreign): 1}, res.Remaining, "rotate reports the value it cannot move")
	})
}

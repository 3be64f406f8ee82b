package storesql_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
	"github.com/hookd/hookd/internal/store/storetest"
)

// authKinds are one integration auth of each kind, with recognisable secrets.
func authKinds() []*store.IntegrationAuth {
	return []*store.IntegrationAuth{
		{Kind: store.AuthBasic, Username: "ada", Password: "BASIC-SECRET"},
		{Kind: store.AuthOAuth2ClientCredentials, TokenURL: "https://auth.example.com/token", ClientID: "cid",
			ClientSecret: "CLIENT-SECRET", Scopes: []string{"a", "b"}, Audience: "https://api.example.com"},
		{Kind: store.AuthTLSClient, CertificatePEM: "-----BEGIN CERTIFICATE-----\nCERT\n-----END CERTIFICATE-----\n",
			PrivateKeyPEM: "-----BEGIN PRIVATE KEY-----\nKEY-SECRET\n-----END PRIVATE KEY-----\n"},
	}
}

// rawAuth is the stored auth column of an integration as text ("" for NULL).
func rawAuth(t *testing.T, st *storetest.DB, id string) string {
	t.Helper()
	var raw *string
	require.NoError(t, st.Pool().Get(&raw, st.Pool().Rebind(`SELECT CAST(auth AS TEXT) FROM integrations WHERE id = ?`), id))
	if raw == nil {
		return ""
	}
	return *raw
}

// Integration auth round-trips; its secrets are encrypted at rest (the rest stays readable), and an integration
// without auth stores NULL.
func TestIntegrationAuthSealed(t *testing.T) {
	t.Parallel()
	storetest.ForEachStore(t, func(t *testing.T, st *storetest.DB) {
		ctx := context.Background()
		p := &store.Project{Name: "p"}
		require.NoError(t, st.CreateProject(ctx, p))
		for _, a := range authKinds() {
			want := *a
			in := &store.Integration{ProjectID: p.ID, Name: string(a.Kind), BaseURL: "https://api.example.com/", Auth: a}
			require.NoError(t, st.CreateIntegration(ctx, in))
			assert.Equal(t, want, *a, "the caller's record is not sealed in place")
			got, err := st.GetIntegration(ctx, p.ID, in.ID)
			require.NoError(t, err)
			require.NotNil(t, got.Auth)
			assert.Equal(t, want, *got.Auth)
			raw := rawAuth(t, st, in.ID)
			for _, plain := range []string{"BASIC-SECRET", "CLIENT-SECRET", "KEY-SECRET"} {
				assert.NotContains(t, raw, plain)
			}
			assert.Contains(t, raw, string(a.Kind))
			if a.Kind == store.AuthTLSClient {
				assert.Contains(t, raw, "CERT", "the certificate is public")
			}

			got.Auth = nil
			require.NoError(t, st.UpdateIntegration(ctx, got))
			got, err = st.GetIntegration(ctx, p.ID, in.ID)
			require.NoError(t, err)
			assert.Nil(t, got.Auth)
			assert.Empty(t, rawAuth(t, st, in.ID), "no auth is NULL")
		}
		list, err := st.ListIntegrations(ctx, p.ID, store.Page{Size: 10})
		require.NoError(t, err)
		assert.Len(t, list, 3)
	})
}

// RotateSecrets re-encrypts auth secrets too: after it, the old key is not needed to read them.
func TestRotateSecretsIntegrationAuth(t *testing.T) {
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
			db, err := storesql.Open(ctx, storesql.Config{URL: url, Keyring: k})
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			return storetest.Wrap(db)
		}
		s := open(oldKey)
		p := &store.Project{Name: "p"}
		require.NoError(t, s.CreateProject(ctx, p))
		var ids []string
		for _, a := range append(authKinds(), nil) {
			in := &store.Integration{ProjectID: p.ID, Name: "i", BaseURL: "https://x.example/", Auth: a}
			require.NoError(t, s.CreateIntegration(ctx, in))
			ids = append(ids, in.ID)
		}
		require.NoError(t, s.Close())

		s = open(newKey + "," + oldKey)
		res, err := s.RotateSecrets(ctx)
		require.NoError(t, err)
		assert.Equal(t, 3, res.Integrations, "the three with auth secrets")
		require.NoError(t, s.Close())

		s = open(newKey)
		for i, a := range append(authKinds(), nil) {
			got, err := s.GetIntegration(ctx, p.ID, ids[i])
			require.NoError(t, err)
			assert.Equal(t, a, got.Auth)
		}
		assert.Empty(t, rawAuth(t, s, ids[3]), "NULL stays NULL")
	})
}

// TestUpgradeTo0010IntegrationAuth migrates a populated 0008 database: its integrations have no auth (their
// headers and versioned updates unchanged), and take one afterwards.
func TestUpgradeTo0010IntegrationAuth(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{storesql.DialectSQLite, storesql.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			old := openOldSchema(t, dialect, 8)
			now := time.Now().UTC().Truncate(time.Second)
			old.exec(`INSERT INTO projects (id, name, create_time, update_time) VALUES ('prj_1', 'acme', ?, ?)`, now, now)
			old.exec(`INSERT INTO integrations (id, project_id, name, base_url, headers, create_time, update_time, version)
				VALUES ('int_1', 'prj_1', 'crm', 'https://api.example.com/v3/', '[{"name":"X-Plain","value":"p"}]', ?, ?, 4)`, now, now)

			s := old.upgrade(ctx)
			in, err := s.GetIntegration(ctx, "prj_1", "int_1")
			require.NoError(t, err)
			assert.Nil(t, in.Auth)
			assert.Equal(t, []store.Header{{Name: "X-Plain", Value: "p"}}, in.Headers)
			assert.EqualValues(t, 4, in.Version)

			in.Auth = authKinds()[1]
			require.NoError(t, s.UpdateIntegration(ctx, in))
			got, err := s.GetIntegration(ctx, "prj_1", "int_1")
			require.NoError(t, err)
			assert.Equal(t, authKinds()[1], got.Auth)
			assert.EqualValues(t, 5, got.Version)
		})
	}
}

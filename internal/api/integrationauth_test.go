package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
)

// selfSignedPEM returns a self-signed client certificate and its PKCS #8 private key, PEM encoded; of key, or of a
// new key when key is nil.
func selfSignedPEM(t *testing.T, cn string, key *ecdsa.PrivateKey) (certPEM, keyPEM string) {
	t.Helper()
	if key == nil {
		var err error
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	k, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k}))
}

func basicAuth(user, password string) *hookdv1.IntegrationAuth {
	return &hookdv1.IntegrationAuth{Kind: &hookdv1.IntegrationAuth_Basic_{Basic: &hookdv1.IntegrationAuth_Basic{Username: user, Password: password}}}
}

func oauth2Auth(tokenURL, clientID, clientSecret string, scopes ...string) *hookdv1.IntegrationAuth {
	return &hookdv1.IntegrationAuth{Kind: &hookdv1.IntegrationAuth_Oauth2ClientCredentials{
		Oauth2ClientCredentials: &hookdv1.IntegrationAuth_OAuth2ClientCredentials{
			TokenUrl: tokenURL, ClientId: clientID, ClientSecret: clientSecret, Scopes: scopes, Audience: "https://api.example.com"}}}
}

func tlsAuth(certPEM, keyPEM string) *hookdv1.IntegrationAuth {
	return &hookdv1.IntegrationAuth{Kind: &hookdv1.IntegrationAuth_TlsClient_{TlsClient: &hookdv1.IntegrationAuth_TlsClient{
		CertificatePem: certPEM, PrivateKeyPem: keyPEM}}}
}

// authSecret is the secret field of an auth of any kind, as read.
func authSecret(a *hookdv1.IntegrationAuth) string {
	return a.GetBasic().GetPassword() + a.GetOauth2ClientCredentials().GetClientSecret() + a.GetTlsClient().GetPrivateKeyPem()
}

// TestIntegrationAuthValidation: each kind of auth is checked when saved, and a bad field is named.
func TestIntegrationAuthValidation(t *testing.T) {
	overProtocols(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		cert, key := selfSignedPEM(t, "hookd", nil)
		_, otherKey := selfSignedPEM(t, "other", nil)
		for _, c := range []struct {
			name  string
			auth  *hookdv1.IntegrationAuth
			field string
		}{
			{"basic without username", basicAuth("", "pw"), "auth.basic.username"},
			{"basic username with colon", basicAuth("a:b", "pw"), "auth.basic.username"},
			{"basic password with a line break", basicAuth("a", "p\r\nX-Injected: 1"), "auth.basic.password"},
			{"basic mask with nothing stored", basicAuth("a", secret.Masked), "auth.basic.password"},
			{"oauth2 http token url", oauth2Auth("http://auth.example.com/token", "c", "s"), "auth.oauth2_client_credentials.token_url"},
			{"oauth2 loopback token url", oauth2Auth("https://127.0.0.1/token", "c", "s"), "auth.oauth2_client_credentials.token_url"},
			{"oauth2 no token url", oauth2Auth("", "c", "s"), "auth.oauth2_client_credentials.token_url"},
			{"oauth2 no client id", oauth2Auth("https://auth.example.com/token", "", "s"), "auth.oauth2_client_credentials.client_id"},
			{"oauth2 no client secret", oauth2Auth("https://auth.example.com/token", "c", ""), "auth.oauth2_client_credentials.client_secret"},
			{"oauth2 bad scope", oauth2Auth("https://auth.example.com/token", "c", "s", "read", "a b"), "auth.oauth2_client_credentials.scopes[1]"},
			{"tls not a certificate", tlsAuth("not pem", key), "auth.tls_client.certificate_pem"},
			{"tls key in the certificate field", tlsAuth(key, key), "auth.tls_client.certificate_pem"},
			{"tls no key", tlsAuth(cert, ""), "auth.tls_client.private_key_pem"},
			{"tls another certificate's key", tlsAuth(cert, otherKey), "auth.tls_client.private_key_pem"},
			{"tls mask with nothing stored", tlsAuth(cert, secret.Masked), "auth.tls_client.private_key_pem"},
		} {
			_, err := e.admin.integrations.CreateIntegration(ctx, creq(&hookdv1.CreateIntegrationRequest{
				Name: "crm", BaseUrl: "https://api.example.com/", Auth: c.auth}))
			requireCode(t, err, connect.CodeInvalidArgument, c.field)
			requireField(t, err, c.field)
		}
	})
}

// TestIntegrationAuthSecrets: auth secrets follow the private header rules. ADMIN reads them; MEMBER and VIEWER
// read the mask; the mask sent back keeps the stored secret; a MEMBER may neither change the auth (secret or
// not, or remove it) nor move the base_url to another origin; an ADMIN may.
func TestIntegrationAuthSecrets(t *testing.T) {
	overProtocols(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		cert, key := selfSignedPEM(t, "hookd", pk)
		renewed, _ := selfSignedPEM(t, "hookd renewed", pk) // the same key
		cert2, key2 := selfSignedPEM(t, "hookd 2", nil)
		for _, k := range []struct {
			name    string
			auth    *hookdv1.IntegrationAuth
			changed *hookdv1.IntegrationAuth // a change of a public field, secret masked
			rotated *hookdv1.IntegrationAuth // a new secret
			secret  string
		}{
			{"basic", basicAuth("ada", "BASIC-SECRET"), basicAuth("eve", secret.Masked), basicAuth("ada", "NEW-SECRET"), "BASIC-SECRET"},
			{"oauth2", oauth2Auth("https://auth.example.com/token", "cid", "CLIENT-SECRET", "read"),
				oauth2Auth("https://member.example.net/token", "cid", secret.Masked, "read"),
				oauth2Auth("https://auth.example.com/token", "cid", "NEW-SECRET", "read"), "CLIENT-SECRET"},
			{"tls", tlsAuth(cert, key), tlsAuth(renewed, secret.Masked), tlsAuth(cert2, key2), key},
		} {
			res, err := e.admin.integrations.CreateIntegration(ctx, creq(&hookdv1.CreateIntegrationRequest{
				Name: k.name, BaseUrl: "https://api.example.com/v1/", Auth: k.auth}))
			require.NoError(t, err, k.name)
			id := res.Msg.GetIntegration().GetId()
			require.True(t, proto.Equal(k.auth, res.Msg.GetIntegration().GetAuth()), "%s: ADMIN reads the auth", k.name)

			get := func(c clients) *hookdv1.Integration {
				t.Helper()
				got, err := c.integrations.GetIntegration(ctx, creq(&hookdv1.GetIntegrationRequest{Id: id}))
				require.NoError(t, err)
				return got.Msg.GetIntegration()
			}
			require.Equal(t, k.secret, authSecret(get(e.admin).GetAuth()), k.name)
			for _, c := range []clients{e.member, e.viewer} {
				masked := get(c).GetAuth()
				require.Equal(t, secret.Masked, authSecret(masked), "%s: masked for non-ADMIN keys", k.name)
				require.Equal(t, k.auth.GetBasic().GetUsername(), masked.GetBasic().GetUsername(), "the rest is readable")
				require.Equal(t, k.auth.GetOauth2ClientCredentials().GetTokenUrl(), masked.GetOauth2ClientCredentials().GetTokenUrl())
				require.Equal(t, k.auth.GetTlsClient().GetCertificatePem(), masked.GetTlsClient().GetCertificatePem())
			}
			list, err := e.member.integrations.ListIntegrations(ctx, creq(&hookdv1.ListIntegrationsRequest{}))
			require.NoError(t, err)
			for _, in := range list.Msg.GetIntegrations() {
				require.NotContains(t, authSecret(in.GetAuth()), "SECRET")
			}

			stored := func() *store.IntegrationAuth {
				t.Helper()
				in, err := e.st.GetIntegration(ctx, auth.DefaultProjectID, id)
				require.NoError(t, err)
				return in.Auth
			}
			want := stored()

			// A MEMBER sends the masked auth back with another change: the secret is kept.
			masked := get(e.member)
			up, err := e.member.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{
				Id: id, Name: proto.String(k.name + " v2"), Auth: masked.GetAuth()}))
			require.NoError(t, err, k.name)
			require.Equal(t, secret.Masked, authSecret(up.Msg.GetIntegration().GetAuth()))
			require.Equal(t, want, stored(), "%s: the mask never overwrites the stored secret", k.name)
			// A same-origin base_url change is not a move.
			_, err = e.member.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{
				Id: id, BaseUrl: proto.String("https://api.example.com/v2/")}))
			require.NoError(t, err, k.name)

			// A MEMBER may not change the auth, set a new secret, remove it, or move the origin.
			for _, m := range []*hookdv1.UpdateIntegrationRequest{
				{Id: id, Auth: k.changed}, {Id: id, Auth: k.rotated}, {Id: id, Auth: &hookdv1.IntegrationAuth{}},
			} {
				_, err = e.member.integrations.UpdateIntegration(ctx, creq(m))
				requireCode(t, err, connect.CodePermissionDenied, "auth")
			}
			_, err = e.member.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{
				Id: id, BaseUrl: proto.String("https://member.example.net/v1/")}))
			requireCode(t, err, connect.CodePermissionDenied, "base_url")
			_, err = e.viewer.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{Id: id, Auth: k.changed}))
			requireCode(t, err, connect.CodePermissionDenied, "UpdateIntegration")
			require.Equal(t, want, stored())
			in, err := e.st.GetIntegration(ctx, auth.DefaultProjectID, id)
			require.NoError(t, err)
			require.Equal(t, "https://api.example.com/v2/", in.BaseURL)

			// The mask of another kind keeps nothing.
			other := basicAuth("x", secret.Masked)
			if k.name == "basic" {
				other = tlsAuth(cert, secret.Masked)
			}
			_, err = e.admin.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{Id: id, Auth: other}))
			requireCode(t, err, connect.CodeInvalidArgument, "is the mask")

			// An ADMIN may do all of it.
			up, err = e.admin.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{Id: id, Auth: k.changed}))
			require.NoError(t, err, k.name)
			require.Equal(t, k.secret, authSecret(up.Msg.GetIntegration().GetAuth()), "%s: the masked secret was kept", k.name)
			_, err = e.admin.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{Id: id, Auth: k.rotated,
				BaseUrl: proto.String("https://elsewhere.example.org/")}))
			require.NoError(t, err, k.name)
			require.True(t, proto.Equal(k.rotated, get(e.admin).GetAuth()), k.name)
			_, err = e.admin.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{Id: id, Auth: &hookdv1.IntegrationAuth{}}))
			require.NoError(t, err)
			require.Nil(t, get(e.admin).GetAuth(), "an auth with no kind removes it")
			require.Nil(t, stored())
		}
	})
}

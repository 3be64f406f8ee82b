package sender_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/sender"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// tokenServer is a loopback OAuth2 token endpoint (client-credentials grant) that counts the tokens it issues:
// token n is "tok-n", valid for expiresIn seconds. While failing is set it answers 500.
type tokenServer struct {
	*httptest.Server
	expiresIn int
	issued    atomic.Int32
	failing   atomic.Bool

	mu   sync.Mutex
	form []map[string]string // what each token request carried
}

func newTokenServer(t *testing.T, expiresIn int) *tokenServer {
	t.Helper()
	ts := &tokenServer{expiresIn: expiresIn}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ts.failing.Load() {
			http.Error(w, "token service down", http.StatusInternalServerError)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id, sec, _ := r.BasicAuth()
		ts.mu.Lock()
		ts.form = append(ts.form, map[string]string{"grant_type": r.PostForm.Get("grant_type"), "scope": r.PostForm.Get("scope"),
			"audience": r.PostForm.Get("audience"), "client_id": id + r.PostForm.Get("client_id"), "client_secret": sec + r.PostForm.Get("client_secret")})
		ts.mu.Unlock()
		n := ts.issued.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "Bearer", "expires_in": ts.expiresIn})
	}))
	t.Cleanup(ts.Close)
	return ts
}

// authIntegration creates an integration calling baseURL with auth.
func (e *env) authIntegration(t *testing.T, baseURL string, auth *store.IntegrationAuth) *store.Integration {
	t.Helper()
	in := &store.Integration{ProjectID: e.project.ID, Name: "crm", BaseURL: baseURL, Auth: auth, CreateTime: e.clk.Now()}
	require.NoError(t, e.st.CreateIntegration(e.ctx, in))
	return in
}

// publishMany publishes n user.created events straight to the webhook in one call and returns their delivery ids.
func (e *env) publishMany(t *testing.T, n int, webhookID string) []string {
	t.Helper()
	in := make([]store.PublishInput, n)
	for i := range in {
		in[i] = store.PublishInput{Event: store.Event{EventType: "user.created", Payload: json.RawMessage(`{}`)}, WebhookIDs: []string{webhookID}}
	}
	res, err := e.st.PublishEvents(e.ctx, store.PublishEventsParams{ProjectID: e.project.ID, Events: in, Now: e.clk.Now(), IdempotencyWindow: 24 * time.Hour})
	require.NoError(t, err)
	var ids []string
	for _, r := range res {
		ids = append(ids, r.DeliveryIDs...)
	}
	return ids
}

// drain runs sender rounds until one claims nothing; it returns how many deliveries were claimed.
func (e *env) drain(t *testing.T) int {
	t.Helper()
	total := 0
	for {
		n, err := e.snd.RunOnce(e.ctx)
		require.NoError(t, err)
		if n == 0 {
			return total
		}
		total += n
	}
}

func oauth2Of(ts *tokenServer) *store.IntegrationAuth {
	return &store.IntegrationAuth{Kind: store.AuthOAuth2ClientCredentials, TokenURL: ts.URL + "/token", ClientID: "hookd",
		ClientSecret: "CLIENT-SECRET", Scopes: []string{"events:write", "audit"}, Audience: "https://api.example.com"}
}

// One token per expiry window: 500 deliveries (100 at a time, concurrently) fetch one token; once the clock has
// passed the token's lifetime (less the margin), the next ones fetch a second. The token is sent as a bearer
// token, the client credentials, scopes and audience go to the token endpoint, and the attempt log keeps the
// Authorization header masked.
func TestOAuth2TokenPerExpiryWindow(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, dev)
		ts := newTokenServer(t, 3600)
		rcv := newReceiver(t, reply{status: 204})
		in := e.authIntegration(t, rcv.URL+"/api/", oauth2Of(ts))
		w := e.webhook(t, "", func(w *store.Webhook) { w.IntegrationID, w.Path = in.ID, "orders" })

		ids := e.publishMany(t, 500, w.ID)
		require.Equal(t, 500, e.drain(t))
		assert.EqualValues(t, 1, ts.issued.Load(), "one token for 500 deliveries")
		got := rcv.requests()
		require.Len(t, got, 500)
		for _, r := range got {
			require.Equal(t, "Bearer tok-1", r.header.Get("Authorization"))
		}
		assert.Equal(t, store.StatusDone, e.delivery(t, ids[499]).Status)
		a := e.attempts(t, ids[0])
		require.Len(t, a, 1)
		assert.Equal(t, secret.Masked, header(a[0].RequestHeaders, "authorization"), "the token is not logged")
		assert.True(t, privateHeader(a[0].RequestHeaders, "authorization"))
		ts.mu.Lock()
		assert.Equal(t, map[string]string{"grant_type": "client_credentials", "scope": "events:write audit",
			"audience": "https://api.example.com", "client_id": "hookd", "client_secret": "CLIENT-SECRET"}, ts.form[0])
		ts.mu.Unlock()

		e.clk.Advance(3600*time.Second - 31*time.Second) // still valid beyond the margin
		e.publishMany(t, 10, w.ID)
		require.Equal(t, 10, e.drain(t))
		assert.EqualValues(t, 1, ts.issued.Load())
		e.clk.Advance(2 * time.Second) // within 30 s of its expiry: replaced before it runs out
		e.publishMany(t, 500, w.ID)
		require.Equal(t, 500, e.drain(t))
		assert.EqualValues(t, 2, ts.issued.Load(), "a second token for the second window")
		got = rcv.requests()
		assert.Equal(t, "Bearer tok-2", got[len(got)-1].header.Get("Authorization"))
	})
}

// A 401 answer to a cached token fetches a new one, once, and sends again in the same attempt; a receiver that
// refuses the new token too gets no third token.
func TestOAuth2RefreshAfter401(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, dev)
		ts := newTokenServer(t, 3600)
		rcv := newReceiver(t, reply{status: 200}, reply{status: 401}, reply{status: 200})
		in := e.authIntegration(t, rcv.URL, oauth2Of(ts))
		w := e.webhook(t, "", func(w *store.Webhook) { w.IntegrationID = in.ID })

		e.publish(t, `{}`, w.ID)
		e.runOnce(t, 1)
		ids := e.publish(t, `{}`, w.ID)
		e.runOnce(t, 1) // tok-1 is refused (the receiver rotated its keys): tok-2 is fetched and accepted
		assert.EqualValues(t, 2, ts.issued.Load(), "exactly one refresh")
		d := e.delivery(t, ids[0])
		assert.Equal(t, store.StatusDone, d.Status)
		assert.Equal(t, 1, d.Attempts, "the resend is part of the attempt")
		got := rcv.requests()
		require.Len(t, got, 3)
		assert.Equal(t, []string{"Bearer tok-1", "Bearer tok-1", "Bearer tok-2"},
			[]string{got[0].header.Get("Authorization"), got[1].header.Get("Authorization"), got[2].header.Get("Authorization")})
		assert.Equal(t, got[1].header.Get("webhook-id"), got[2].header.Get("webhook-id"))

		always := newReceiver(t, reply{status: 401})
		in2 := e.authIntegration(t, always.URL, oauth2Of(ts))
		w2 := e.webhook(t, "", func(w *store.Webhook) { w.IntegrationID = in2.ID; w.SystemName = "refused" })
		ids = e.publish(t, `{}`, w2.ID)
		e.runOnce(t, 1)
		assert.EqualValues(t, 4, ts.issued.Load(), "one token, one refresh, no more")
		assert.Len(t, always.requests(), 2)
		d = e.delivery(t, ids[0])
		assert.Equal(t, store.StatusFailed, d.Status, "a 401 to a fresh token is the receiver's answer")
		assert.Equal(t, 401, d.LastStatusCode)
	})
}

// A failing token endpoint fails the attempt with an "auth: …" reason, sends nothing and retries on the
// schedule; once the endpoint is back, the retry delivers. The token endpoint is reached through the target
// guard: without --dev, a loopback token_url is refused the same way (nothing dialled).
func TestOAuth2TokenEndpointFailure(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, dev)
		ts := newTokenServer(t, 3600)
		ts.failing.Store(true)
		rcv := newReceiver(t, reply{status: 200})
		in := e.authIntegration(t, rcv.URL, oauth2Of(ts))
		w := e.webhook(t, "", func(w *store.Webhook) { w.IntegrationID = in.ID })
		ids := e.publish(t, `{}`, w.ID)
		e.runOnce(t, 1)
		d := e.delivery(t, ids[0])
		assert.Equal(t, store.StatusRetrying, d.Status)
		assert.True(t, strings.HasPrefix(d.Reason, "auth: "), d.Reason)
		assert.Contains(t, d.Reason, "500")
		assert.Equal(t, e.clk.Now().Add(6*time.Second), d.NextAttemptTime.UTC(), "the first step of the schedule")
		a := e.attempts(t, ids[0])
		require.Len(t, a, 1)
		assert.Equal(t, d.Reason, a[0].Error)
		assert.Empty(t, rcv.requests(), "nothing is sent without the token")

		ts.failing.Store(false)
		e.clk.Advance(6 * time.Second)
		e.runOnce(t, 1)
		assert.Equal(t, store.StatusDone, e.delivery(t, ids[0]).Status)
		assert.Len(t, rcv.requests(), 1)
	})
}

func TestOAuth2TokenEndpointGuarded(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, sender.Config{})
		ts := newTokenServer(t, 3600)
		in := e.authIntegration(t, "https://api.example.com/", oauth2Of(ts)) // the token_url is loopback
		w := e.webhook(t, "", func(w *store.Webhook) { w.IntegrationID = in.ID })
		ids := e.publish(t, `{}`, w.ID)
		e.runOnce(t, 1)
		d := e.delivery(t, ids[0])
		assert.Equal(t, store.StatusRetrying, d.Status)
		assert.True(t, strings.HasPrefix(d.Reason, "auth: "), d.Reason)
		assert.Contains(t, d.Reason, "token_url")
		assert.Zero(t, ts.issued.Load(), "the loopback token endpoint was not called")
	})
}

// testPKI is a test certificate authority issuing server and client certificates.
type testPKI struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testPKI{cert: cert, key: key, pool: pool}
}

// issue returns a certificate for cn signed by the CA (a server certificate for 127.0.0.1 when server) and its
// private key, PEM encoded.
func (p *testPKI) issue(t *testing.T, cn string, server bool) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	require.NoError(t, err)
	k, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k}))
}

// newMTLSReceiver is an HTTPS receiver that requires a client certificate signed by the CA; it answers 200 and
// records the client's common name.
func newMTLSReceiver(t *testing.T, pki *testPKI) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var names []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		names = append(names, r.TLS.PeerCertificates[0].Subject.CommonName)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	certPEM, keyPEM := pki.issue(t, "receiver", true)
	cert, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	require.NoError(t, err)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), names...)
	}
}

// A receiver that requires a client certificate accepts the integration's; a webhook of the integration with its
// own URL (another origin) does not present it, and neither does a webhook without the integration.
func TestMutualTLS(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		pki := newTestPKI(t)
		e := setup(t, st, sender.Config{Dev: true, RootCAs: pki.pool})
		srv, names := newMTLSReceiver(t, pki)
		other, otherNames := newMTLSReceiver(t, pki)
		certPEM, keyPEM := pki.issue(t, "hookd-client", false)
		in := e.authIntegration(t, srv.URL, &store.IntegrationAuth{Kind: store.AuthTLSClient, CertificatePEM: certPEM, PrivateKeyPEM: keyPEM})
		w := e.webhook(t, "", func(w *store.Webhook) { w.IntegrationID, w.Path = in.ID, "hook" })
		ids := e.publish(t, `{}`, w.ID)
		ids = append(ids, e.publish(t, `{}`, w.ID)...)
		e.runOnce(t, 2)
		for _, id := range ids {
			assert.Equal(t, store.StatusDone, e.delivery(t, id).Status, e.attempts(t, id)[0].Error)
		}
		assert.Equal(t, []string{"hookd-client", "hookd-client"}, names())

		elsewhere := e.webhook(t, other.URL, func(w *store.Webhook) { w.IntegrationID = in.ID; w.SystemName = "elsewhere" })
		plain := e.webhook(t, srv.URL, func(w *store.Webhook) { w.SystemName = "plain" })
		ids = append(e.publish(t, `{}`, elsewhere.ID), e.publish(t, `{}`, plain.ID)...)
		e.runOnce(t, 2)
		for _, id := range ids {
			d := e.delivery(t, id)
			assert.Equal(t, store.StatusRetrying, d.Status, "no client certificate: the handshake fails")
			assert.NotEmpty(t, d.Reason)
		}
		assert.Empty(t, otherNames())
		assert.Len(t, names(), 2)
	})
}

// HTTP Basic credentials go to the integration's origin only, and TestWebhook sends them too.
func TestBasicAuth(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, dev)
		rcv := newReceiver(t, reply{status: 200})
		other := newReceiver(t, reply{status: 200})
		in := e.authIntegration(t, rcv.URL, &store.IntegrationAuth{Kind: store.AuthBasic, Username: "ada", Password: "BASIC-SECRET"})
		in.Headers = []store.Header{{Name: "Authorization", Value: "Bearer configured"}}
		require.NoError(t, e.st.UpdateIntegration(e.ctx, in))
		w := e.webhook(t, "", func(w *store.Webhook) { w.IntegrationID = in.ID })
		elsewhere := e.webhook(t, other.URL, func(w *store.Webhook) { w.IntegrationID = in.ID; w.SystemName = "elsewhere" })
		ids := e.publish(t, `{}`, w.ID, elsewhere.ID)
		e.runOnce(t, 2)
		for _, id := range ids {
			assert.Equal(t, store.StatusDone, e.delivery(t, id).Status)
		}
		got := rcv.requests()
		require.Len(t, got, 1)
		user, password, ok := (&http.Request{Header: got[0].header}).BasicAuth()
		require.True(t, ok, "auth replaces a configured Authorization header")
		assert.Equal(t, "ada", user)
		assert.Equal(t, "BASIC-SECRET", password)
		require.Len(t, other.requests(), 1)
		assert.Equal(t, "Bearer configured", other.requests()[0].header.Get("Authorization"), "another origin gets no credentials")

		att, err := e.snd.SendTest(e.ctx, w, "user.created", []byte(`{}`))
		require.NoError(t, err)
		assert.Equal(t, 200, att.ResponseStatusCode)
		assert.Equal(t, secret.Masked, header(att.RequestHeaders, "authorization"))
		got = rcv.requests()
		require.Len(t, got, 2)
		assert.Equal(t, got[0].header.Get("Authorization"), got[1].header.Get("Authorization"), "TestWebhook authenticates the same way")
	})
}

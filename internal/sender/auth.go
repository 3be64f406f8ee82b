package sender

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/netguard"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
)

// Integration authentication (Integration.auth). A request gets its integration's authentication only when it
// goes to the integration's own origin (PrivateHeadersAllowed, as private integration headers): HTTP Basic and
// OAuth2 bearer tokens as the Authorization header (replacing a configured one), a TLS client certificate through
// a client of its own. OAuth2 tokens are fetched with the client-credentials grant through the sender's guarded
// client (no proxy, no redirects, no forbidden address unless Dev), cached per integration on the sender's clock
// until tokenMargin before they expire, and fetched again once when the receiver answers 401. A failure to
// authenticate fails the attempt with an "auth: …" reason, retried on the webhook's schedule. The attempt record
// keeps the Authorization header masked.

// maxTokenMargin is how long before its expiry a cached OAuth2 token is replaced at most (a quarter of the
// token's lifetime when that is shorter).
const maxTokenMargin = 30 * time.Second

// errAuth marks an attempt that failed before the request because its authentication could not be prepared.
var errAuth = errors.New("auth")

// authenticator keeps the per-integration state of authentication: OAuth2 token caches and mTLS clients, each
// keyed by integration id and replaced when the integration's auth changes (its fingerprint).
type authenticator struct {
	base *httpClient
	clk  clock.Clock
	dev  bool

	mu     sync.Mutex
	tokens map[string]*tokenCache
	tls    map[string]*tlsClient
}

func newAuthenticator(base *httpClient, clk clock.Clock, dev bool) *authenticator {
	return &authenticator{base: base, clk: clk, dev: dev, tokens: map[string]*tokenCache{}, tls: map[string]*tlsClient{}}
}

// fingerprint identifies an auth configuration (a hash of it: the cache holds no second copy of the secrets).
func fingerprint(a *store.IntegrationAuth) [32]byte {
	b, _ := json.Marshal(a)
	return sha256.Sum256(b)
}

// apply authenticates request r of target t (nothing when its integration has no auth or r goes to another
// origin): it sets the Authorization header or r.client. rejected is an OAuth2 token the receiver has just
// refused (a new one is fetched instead of reusing it); empty on the first try.
func (a *authenticator) apply(ctx context.Context, t *target, r *request, rejected string) error {
	in := t.integration
	if in == nil || in.Auth == nil || !PrivateHeadersAllowed(r.url, in.BaseURL) {
		return nil
	}
	auth := in.Auth
	switch auth.Kind {
	case store.AuthBasic:
		r.setAuthorization("Basic " + base64.StdEncoding.EncodeToString([]byte(auth.Username+":"+auth.Password)))
	case store.AuthOAuth2ClientCredentials:
		tok, err := a.tokenCache(in.ID, auth).get(ctx, a, rejected, r.timeout)
		if err != nil {
			return err
		}
		r.bearer = tok.AccessToken
		r.setAuthorization(tok.Type() + " " + tok.AccessToken)
	case store.AuthTLSClient:
		c, err := a.tlsClient(in.ID, auth)
		if err != nil {
			return err
		}
		r.client = c
	default:
		return fmt.Errorf("unknown kind %q", auth.Kind)
	}
	return nil
}

// setAuthorization sets the Authorization header of r; the attempt record keeps it masked.
func (r *request) setAuthorization(v string) {
	r.header.Set("Authorization", v)
	hs := r.attempt.RequestHeaders[:0:0]
	for _, h := range r.attempt.RequestHeaders {
		if !strings.EqualFold(h.Name, "authorization") {
			hs = append(hs, h)
		}
	}
	r.attempt.RequestHeaders = append(hs, store.Header{Name: "authorization", Value: secret.Masked, Private: true})
}

// tokenCache returns the token cache of integration id for auth, a new one when its auth changed.
func (a *authenticator) tokenCache(id string, auth *store.IntegrationAuth) *tokenCache {
	fp := fingerprint(auth)
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.tokens[id]
	if c == nil || c.fingerprint != fp {
		var params url.Values
		if auth.Audience != "" {
			params = url.Values{"audience": {auth.Audience}}
		}
		c = &tokenCache{fingerprint: fp, cfg: clientcredentials.Config{
			ClientID: auth.ClientID, ClientSecret: auth.ClientSecret, TokenURL: auth.TokenURL, Scopes: auth.Scopes,
			EndpointParams: params,
		}}
		a.tokens[id] = c
	}
	return c
}

// tokenCache holds one integration's OAuth2 token; one fetch runs at a time.
type tokenCache struct {
	fingerprint [32]byte
	cfg         clientcredentials.Config

	mu     sync.Mutex
	token  *oauth2.Token
	expiry time.Time // on the sender's clock: when the token is replaced; zero when the server gave no expiry
}

// get returns the cached token, or fetches a new one when there is none, it is about to expire, or it is the
// rejected one. Concurrent callers wait for one fetch.
func (c *tokenCache) get(ctx context.Context, a *authenticator, rejected string, timeout time.Duration) (*oauth2.Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := a.clk.Now()
	if c.token != nil && c.token.AccessToken != rejected && (c.expiry.IsZero() || now.Before(c.expiry)) {
		return c.token, nil
	}
	c.token = nil
	if err := netguard.CheckURL(c.cfg.TokenURL, a.dev); err != nil {
		return nil, fmt.Errorf("token_url %w", err)
	}
	fctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, a.base.Client), timeout)
	defer cancel()
	tok, err := c.cfg.Token(fctx)
	if err != nil {
		return nil, fmt.Errorf("fetch token: %s", tokenError(err, fctx, timeout))
	}
	lifetime := time.Duration(tok.ExpiresIn) * time.Second
	if lifetime <= 0 && !tok.Expiry.IsZero() { // a form-encoded answer: the library set Expiry only
		lifetime = time.Until(tok.Expiry)
	}
	c.token, c.expiry = tok, time.Time{}
	if lifetime > 0 {
		c.expiry = now.Add(lifetime - min(maxTokenMargin, lifetime/4))
	}
	return tok, nil
}

// tokenError describes a failed token request on one line.
func tokenError(err error, ctx context.Context, timeout time.Duration) string {
	var rerr *oauth2.RetrieveError
	switch {
	case errors.As(err, &rerr) && rerr.ErrorCode != "":
		msg := fmt.Sprintf("%s: %s", rerr.Response.Status, rerr.ErrorCode)
		if rerr.ErrorDescription != "" {
			msg += " (" + rerr.ErrorDescription + ")"
		}
		return msg
	case errors.As(err, &rerr):
		return "token endpoint answered " + rerr.Response.Status
	}
	return strings.ReplaceAll(describeError(err, ctx, timeout), "\n", " ")
}

// tlsClient is an HTTP client presenting an integration's client certificate.
type tlsClient struct {
	fingerprint [32]byte
	client      *http.Client
}

// tlsClient returns the client of integration id presenting auth's certificate: the sender's transport (same
// guard, same limits) with the certificate added, built once per auth and reused (its connections too).
func (a *authenticator) tlsClient(id string, auth *store.IntegrationAuth) (*http.Client, error) {
	fp := fingerprint(auth)
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.tls[id]; c != nil && c.fingerprint == fp {
		return c.client, nil
	}
	cert, err := tls.X509KeyPair([]byte(auth.CertificatePEM), []byte(auth.PrivateKeyPEM))
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	tr := a.base.Transport.(*http.Transport).Clone()
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
	if old := a.tls[id]; old != nil {
		old.client.CloseIdleConnections()
	}
	c := &tlsClient{fingerprint: fp, client: &http.Client{Transport: tr, CheckRedirect: a.base.CheckRedirect}}
	a.tls[id] = c
	return c.client, nil
}

// send makes request r to target t with its integration's authentication (see apply). An OAuth2 token the
// receiver answers 401 to is replaced by a new one, once, and the request sent again within the same attempt.
func (s *Sender) send(ctx context.Context, t *target, r *request) result {
	if r.err != nil {
		return s.do(ctx, r)
	}
	if err := s.auth.apply(ctx, t, r, ""); err != nil {
		return authFailure(r, err)
	}
	res := s.do(ctx, r)
	if res.status == http.StatusUnauthorized && r.bearer != "" {
		if err := s.auth.apply(ctx, t, r, r.bearer); err != nil {
			return authFailure(r, err)
		}
		res = s.do(ctx, r)
	}
	return res
}

// authFailure is the result of a request whose authentication failed: a retryable error with an "auth: …"
// reason.
func authFailure(r *request, err error) result {
	err = fmt.Errorf("%w: %w", errAuth, err)
	r.attempt.Error = clean(err.Error(), maxReasonBytes)
	return result{attempt: r.attempt, err: err}
}

package api

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/netguard"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
)

// Limits of Integration.auth.
const (
	// maxPEMLen caps certificate_pem and private_key_pem (a chain of a few certificates).
	maxPEMLen = 64 << 10
	// maxScopes caps oauth2_client_credentials.scopes.
	maxScopes = 50
)

// authFromProto validates an integration's auth (a nil message, or one with no kind set, is none) that replaces
// old. A secret sent as secret.Masked keeps the stored secret of the same kind; the mask with nothing of that
// kind stored is refused.
func authFromProto(m *hookdv1.IntegrationAuth, old *store.IntegrationAuth, dev bool) (*store.IntegrationAuth, error) {
	keep := func(field, v string, kind store.AuthKind, stored func(*store.IntegrationAuth) string) (string, error) {
		if v != secret.Masked {
			return v, nil
		}
		if old == nil || old.Kind != kind || stored(old) == "" {
			return "", apierr.Invalid(field, "is the mask %s but no %s value is stored to keep", secret.Masked, kind)
		}
		return stored(old), nil
	}
	switch k := m.GetKind().(type) {
	case nil:
		return nil, nil
	case *hookdv1.IntegrationAuth_Basic_:
		const f = "auth.basic."
		a := &store.IntegrationAuth{Kind: store.AuthBasic, Username: k.Basic.GetUsername()}
		var err error
		if a.Password, err = keep(f+"password", k.Basic.GetPassword(), store.AuthBasic,
			func(o *store.IntegrationAuth) string { return o.Password }); err != nil {
			return nil, err
		}
		switch {
		case a.Username == "":
			return nil, apierr.Invalid(f+"username", "is required")
		case strings.Contains(a.Username, ":"):
			return nil, apierr.Invalid(f+"username", "must not contain ':' (HTTP Basic separates it from the password with one)")
		}
		if err := checkHeaderValue(a.Username); err != nil {
			return nil, apierr.Invalid(f+"username", "%v", err)
		}
		if err := checkHeaderValue(a.Password); err != nil {
			return nil, apierr.Invalid(f+"password", "%v", err)
		}
		return a, nil
	case *hookdv1.IntegrationAuth_Oauth2ClientCredentials:
		const f = "auth.oauth2_client_credentials."
		c := k.Oauth2ClientCredentials
		a := &store.IntegrationAuth{Kind: store.AuthOAuth2ClientCredentials, TokenURL: c.GetTokenUrl(), ClientID: c.GetClientId(),
			Scopes: c.GetScopes(), Audience: c.GetAudience()}
		var err error
		if a.ClientSecret, err = keep(f+"client_secret", c.GetClientSecret(), store.AuthOAuth2ClientCredentials,
			func(o *store.IntegrationAuth) string { return o.ClientSecret }); err != nil {
			return nil, err
		}
		switch {
		case a.TokenURL == "":
			return nil, apierr.Invalid(f+"token_url", "is required")
		case len(a.TokenURL) > maxURLLen:
			return nil, apierr.Invalid(f+"token_url", "is longer than %d bytes", maxURLLen)
		case a.ClientID == "":
			return nil, apierr.Invalid(f+"client_id", "is required")
		case a.ClientSecret == "":
			return nil, apierr.Invalid(f+"client_secret", "is required")
		case len(a.Scopes) > maxScopes:
			return nil, apierr.Invalid(f+"scopes", "has %d scopes; the limit is %d", len(a.Scopes), maxScopes)
		}
		if err := netguard.CheckURL(a.TokenURL, dev); err != nil {
			return nil, apierr.Invalid(f+"token_url", "%v", err)
		}
		for _, v := range []struct{ field, value string }{{"client_id", a.ClientID}, {"client_secret", a.ClientSecret}, {"audience", a.Audience}} {
			if err := checkHeaderValue(v.value); err != nil {
				return nil, apierr.Invalid(f+v.field, "%v", err)
			}
		}
		for i, s := range a.Scopes {
			if s == "" || strings.ContainsAny(s, " \"\\") || checkHeaderValue(s) != nil {
				return nil, apierr.Invalid(fmt.Sprintf("%sscopes[%d]", f, i), "%q is not a valid scope (RFC 6749 3.3)", s)
			}
		}
		return a, nil
	case *hookdv1.IntegrationAuth_TlsClient_:
		const f = "auth.tls_client."
		a := &store.IntegrationAuth{Kind: store.AuthTLSClient, CertificatePEM: k.TlsClient.GetCertificatePem()}
		var err error
		if a.PrivateKeyPEM, err = keep(f+"private_key_pem", k.TlsClient.GetPrivateKeyPem(), store.AuthTLSClient,
			func(o *store.IntegrationAuth) string { return o.PrivateKeyPEM }); err != nil {
			return nil, err
		}
		if err := checkClientCertificate(a.CertificatePEM, a.PrivateKeyPEM); err != nil {
			return nil, err
		}
		return a, nil
	default:
		return nil, apierr.Invalid("auth", "unknown kind %T", k)
	}
}

// checkClientCertificate checks that certPEM holds a certificate chain and keyPEM its private key (the pair the
// sender loads with tls.X509KeyPair).
func checkClientCertificate(certPEM, keyPEM string) error {
	const f = "auth.tls_client."
	switch {
	case certPEM == "":
		return apierr.Invalid(f+"certificate_pem", "is required")
	case len(certPEM) > maxPEMLen:
		return apierr.Invalid(f+"certificate_pem", "is longer than %d bytes", maxPEMLen)
	case keyPEM == "":
		return apierr.Invalid(f+"private_key_pem", "is required")
	case len(keyPEM) > maxPEMLen:
		return apierr.Invalid(f+"private_key_pem", "is longer than %d bytes", maxPEMLen)
	}
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return apierr.Invalid(f+"certificate_pem", "is not a PEM-encoded certificate (-----BEGIN CERTIFICATE-----)")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return apierr.Invalid(f+"certificate_pem", "%v", err)
	}
	if block, _ := pem.Decode([]byte(keyPEM)); block == nil || !strings.HasSuffix(block.Type, "PRIVATE KEY") {
		return apierr.Invalid(f+"private_key_pem", "is not a PEM-encoded private key (-----BEGIN PRIVATE KEY-----)")
	}
	if _, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM)); err != nil {
		return apierr.Invalid(f+"private_key_pem", "does not match certificate_pem: %v", err)
	}
	return nil
}

// authToProto converts an integration's auth, masking its secrets unless reveal.
func authToProto(a *store.IntegrationAuth, reveal bool) *hookdv1.IntegrationAuth {
	if a == nil {
		return nil
	}
	mask := func(v string) string {
		if reveal || v == "" {
			return v
		}
		return secret.Masked
	}
	switch a.Kind {
	case store.AuthBasic:
		return &hookdv1.IntegrationAuth{Kind: &hookdv1.IntegrationAuth_Basic_{Basic: &hookdv1.IntegrationAuth_Basic{
			Username: a.Username, Password: mask(a.Password)}}}
	case store.AuthOAuth2ClientCredentials:
		return &hookdv1.IntegrationAuth{Kind: &hookdv1.IntegrationAuth_Oauth2ClientCredentials{
			Oauth2ClientCredentials: &hookdv1.IntegrationAuth_OAuth2ClientCredentials{
				TokenUrl: a.TokenURL, ClientId: a.ClientID, ClientSecret: mask(a.ClientSecret), Scopes: a.Scopes, Audience: a.Audience}}}
	case store.AuthTLSClient:
		return &hookdv1.IntegrationAuth{Kind: &hookdv1.IntegrationAuth_TlsClient_{TlsClient: &hookdv1.IntegrationAuth_TlsClient{
			CertificatePem: a.CertificatePEM, PrivateKeyPem: mask(a.PrivateKeyPEM)}}}
	}
	return &hookdv1.IntegrationAuth{}
}

// sameAuth reports whether two auths are the same configuration.
func sameAuth(a, b *store.IntegrationAuth) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Kind == b.Kind && a.Username == b.Username && a.Password == b.Password && a.TokenURL == b.TokenURL &&
		a.ClientID == b.ClientID && a.ClientSecret == b.ClientSecret && slices.Equal(a.Scopes, b.Scopes) &&
		a.Audience == b.Audience && a.CertificatePEM == b.CertificatePEM && a.PrivateKeyPEM == b.PrivateKeyPEM
}

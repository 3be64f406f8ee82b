// Package signature signs outgoing webhook requests the Standard Webhooks way: `webhook-signature` is
// `v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">` for a `whsec_` secret, or
// `v1a,<base64 ed25519 signature of the same text>` for a `whsk_` private key (verified with its `whpk_`
// public key), one per active secret, space-separated.
package signature

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookd/hookd/internal/store"
)

// Standard Webhooks header names.
const (
	HeaderID        = standardwebhooks.HeaderWebhookID
	HeaderTimestamp = standardwebhooks.HeaderWebhookTimestamp
	HeaderSignature = standardwebhooks.HeaderWebhookSignature
)

// SecretPrefix starts every HMAC secret hookd generates; the rest is the base64 key.
const SecretPrefix = "whsec_"

// Ed25519 key prefixes (Standard Webhooks): the private key hookd keeps, the public key receivers verify with.
const (
	// PrivateKeyPrefix starts an ed25519 private key: `whsk_` + base64 of the 64-byte key (seed, then public key).
	PrivateKeyPrefix = "whsk_"
	// PublicKeyPrefix starts an ed25519 public key: `whpk_` + base64 of the 32-byte key.
	PublicKeyPrefix = "whpk_"
)

// NewSecret returns a fresh secret: SecretPrefix + base64 of 32 random bytes.
func NewSecret() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("new secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// NewEd25519Key returns a fresh ed25519 key pair as a `whsk_` private key and its `whpk_` public key.
func NewEd25519Key() (private, public string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("new ed25519 key: %w", err)
	}
	return PrivateKeyPrefix + base64.StdEncoding.EncodeToString(priv), EncodePublicKey(pub), nil
}

// EncodePublicKey returns the `whpk_` form of an ed25519 public key.
func EncodePublicKey(pub ed25519.PublicKey) string {
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// IsPrivateKey reports whether secret is an ed25519 private key (`whsk_…`) rather than an HMAC secret.
func IsPrivateKey(secret string) bool { return strings.HasPrefix(secret, PrivateKeyPrefix) }

// errBadPrivateKey is returned for a whsk_ value that is not a 32-byte seed or a 64-byte key in base64.
var errBadPrivateKey = errors.New("ed25519 private key: want whsk_ and the base64 of a 64-byte key or 32-byte seed")

// PrivateKey decodes a `whsk_` private key (the 64-byte key, or its 32-byte seed).
func PrivateKey(secret string) (ed25519.PrivateKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, PrivateKeyPrefix))
	switch {
	case !IsPrivateKey(secret) || err != nil:
		return nil, errBadPrivateKey
	case len(b) == ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case len(b) == ed25519.PrivateKeySize:
		priv := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
		if string(priv) != string(b) { // the public half does not belong to the seed
			return nil, errBadPrivateKey
		}
		return priv, nil
	default:
		return nil, errBadPrivateKey
	}
}

// PublicKey returns the `whpk_` public key of a `whsk_` private key.
func PublicKey(secret string) (string, error) {
	priv, err := PrivateKey(secret)
	if err != nil {
		return "", err
	}
	return EncodePublicKey(priv.Public().(ed25519.PublicKey)), nil
}

// Key returns the HMAC key of a secret: the base64-decoded text after the optional `whsec_` prefix, as in
// the reference libraries. A secret that is not base64 is used as raw bytes, so no delivery is blocked by it.
func Key(secret string) []byte {
	text := strings.TrimPrefix(secret, SecretPrefix)
	if key, err := base64.StdEncoding.DecodeString(text); err == nil && len(key) > 0 {
		return key
	}
	return []byte(text)
}

// Sign returns the signature of msgID, ts (unix seconds) and body: "v1a,<base64 ed25519 signature>" for a
// `whsk_` private key, else "v1,<base64 HMAC-SHA256>" keyed with the secret. A `whsk_` value that does not
// decode signs nothing (""): hookd generates its keys, so this only happens to a damaged one.
func Sign(secret, msgID string, ts time.Time, body []byte) string {
	if IsPrivateKey(secret) {
		priv, err := PrivateKey(secret)
		if err != nil {
			return ""
		}
		return "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(priv, signedContent(msgID, ts, body)))
	}
	wh, _ := standardwebhooks.NewWebhookRaw(Key(secret)) // never fails
	sig, _ := wh.Sign(msgID, ts, body)                   // never fails
	return sig
}

// signedContent is what a signature covers: "<msgID>.<unix seconds>.<body>".
func signedContent(msgID string, ts time.Time, body []byte) []byte {
	b := make([]byte, 0, len(msgID)+len(body)+22)
	b = append(b, msgID...)
	b = append(b, '.')
	b = strconv.AppendInt(b, ts.Unix(), 10)
	b = append(b, '.')
	return append(b, body...)
}

// Value returns the webhook-signature header value: one signature per non-empty secret, space-separated.
func Value(msgID string, ts time.Time, body []byte, secrets ...string) string {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if sig := Sign(s, msgID, ts, body); sig != "" {
			sigs = append(sigs, sig)
		}
	}
	return strings.Join(sigs, " ")
}

// SetHeaders sets webhook-id, webhook-timestamp and webhook-signature on h (the default Scheme).
func SetHeaders(h http.Header, msgID string, ts time.Time, body []byte, secrets ...string) {
	SchemeOf(&store.Webhook{}).Set(h, msgID, ts, body, secrets...)
}

// Secrets returns the secrets that sign a webhook's requests at now: the current one and, during a rotation
// (until PreviousSecretExpireTime), the previous one. Each signs by its own kind (whsec_ → v1, whsk_ → v1a), so
// a change of algorithm sends both kinds of signature for the overlap.
func Secrets(w *store.Webhook, now time.Time) []string {
	out := []string{w.Secret}
	if w.PreviousSecret != "" && w.PreviousSecretExpireTime != nil && now.Before(*w.PreviousSecretExpireTime) {
		out = append(out, w.PreviousSecret)
	}
	return out
}

// Package signature signs outgoing webhook requests the Standard Webhooks way: `webhook-signature` is
// `v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">`, one per active secret.
package signature

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookd/hookd/server/store"
)

// Standard Webhooks header names.
const (
	HeaderID        = standardwebhooks.HeaderWebhookID
	HeaderTimestamp = standardwebhooks.HeaderWebhookTimestamp
	HeaderSignature = standardwebhooks.HeaderWebhookSignature
)

// SecretPrefix starts every secret hookd generates; the rest is the base64 key.
const SecretPrefix = "whsec_"

// NewSecret returns a fresh secret: SecretPrefix + base64 of 32 random bytes.
func NewSecret() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("new secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
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

// Sign returns the signature "v1,<base64>" of msgID, ts (unix seconds) and body with secret.
func Sign(secret, msgID string, ts time.Time, body []byte) string {
	wh, _ := standardwebhooks.NewWebhookRaw(Key(secret)) // never fails
	sig, _ := wh.Sign(msgID, ts, body)                   // never fails
	return sig
}

// Value returns the webhook-signature header value: one signature per non-empty secret, space-separated.
func Value(msgID string, ts time.Time, body []byte, secrets ...string) string {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		if s != "" {
			sigs = append(sigs, Sign(s, msgID, ts, body))
		}
	}
	return strings.Join(sigs, " ")
}

// SetHeaders sets webhook-id, webhook-timestamp and webhook-signature on h.
func SetHeaders(h http.Header, msgID string, ts time.Time, body []byte, secrets ...string) {
	h.Set(HeaderID, msgID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, Value(msgID, ts, body, secrets...))
}

// Secrets returns the secrets that sign a webhook's requests at now: the current one and, during a rotation
// (until PreviousSecretExpireTime), the previous one.
func Secrets(w *store.Webhook, now time.Time) []string {
	out := []string{w.Secret}
	if w.PreviousSecret != "" && w.PreviousSecretExpireTime != nil && now.Before(*w.PreviousSecretExpireTime) {
		out = append(out, w.PreviousSecret)
	}
	return out
}

package hookd

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Standard Webhooks header names set by hookd on every delivery.
const (
	// HeaderWebhookID is the delivery id, the same on every retry (use it to deduplicate).
	HeaderWebhookID = "webhook-id"
	// HeaderWebhookTimestamp is the attempt's unix time in seconds.
	HeaderWebhookTimestamp = "webhook-timestamp"
	// HeaderWebhookSignature is one or more space-separated signatures: "v1,<base64 HMAC-SHA256>"
	// (webhooks signed with a whsec_ secret) or "v1a,<base64 ed25519>" (SIGNING_ALGORITHM_ED25519).
	HeaderWebhookSignature = "webhook-signature"
)

// Key prefixes of the values Verify accepts.
const (
	// SecretPrefix starts a webhook's HMAC-SHA256 signing secret (Webhook.secret): "whsec_<base64>".
	SecretPrefix = "whsec_"
	// PublicKeyPrefix starts a webhook's ed25519 public key (Webhook.public_key): "whpk_<base64 32 bytes>".
	PublicKeyPrefix = "whpk_"
)

// signingKeyPrefix starts the private key hookd signs ed25519 webhooks with (Webhook.secret of such a
// webhook); receivers verify with the public key instead.
const signingKeyPrefix = "whsk_"

// Tolerance is how far a webhook-timestamp may be from the receiver's clock, in either direction.
const Tolerance = 5 * time.Minute

// ErrVerification is wrapped by every error Verify returns for a request that is not authentic.
var ErrVerification = errors.New("hookd: webhook verification failed")

// Verify checks a Standard Webhooks signature: the webhook-id, webhook-timestamp and
// webhook-signature headers against body. key is the webhook's "whsec_…" secret (HMAC-SHA256,
// "v1," signatures) or, for webhooks signed with SIGNING_ALGORITHM_ED25519, its "whpk_…" public key
// ("v1a," ed25519 signatures of "id.timestamp.body"). It accepts any of several space-separated
// signatures (secret or key rotation) and rejects timestamps more than 5 minutes off.
//
// Errors for a request that is not authentic wrap ErrVerification; a key that is not a whsec_ secret or
// whpk_ public key is reported without it (a misconfiguration, not the sender's fault).
func Verify(key string, header http.Header, body []byte) error {
	return verifyAt(key, header, body, time.Now())
}

// verifyAt is Verify with the receiver's clock given.
func verifyAt(key string, header http.Header, body []byte, now time.Time) error {
	id, ts, sigs := header.Get(HeaderWebhookID), header.Get(HeaderWebhookTimestamp), header.Get(HeaderWebhookSignature)
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("%w: %w", ErrVerification, standardwebhooks.ErrRequiredHeaders)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %w: webhook-timestamp %q", ErrVerification, standardwebhooks.ErrInvalidHeaders, ts)
	}
	switch sent := time.Unix(sec, 0); {
	case now.Sub(sent) > Tolerance:
		return fmt.Errorf("%w: %w", ErrVerification, standardwebhooks.ErrMessageTooOld)
	case sent.Sub(now) > Tolerance:
		return fmt.Errorf("%w: %w", ErrVerification, standardwebhooks.ErrMessageTooNew)
	}

	if strings.HasPrefix(key, PublicKeyPrefix) {
		pub, err := ParsePublicKey(key)
		if err != nil {
			return err
		}
		if !verifyEd25519(pub, id, ts, sigs, body) {
			return fmt.Errorf("%w: %w", ErrVerification, standardwebhooks.ErrNoMatchingSignature)
		}
		return nil
	}
	if strings.HasPrefix(key, signingKeyPrefix) {
		return errors.New("hookd: whsk_ is an ed25519 webhook's private signing key: verify with its whpk_ public key")
	}
	wh, err := standardwebhooks.NewWebhook(key)
	if err != nil {
		return fmt.Errorf("hookd: webhook secret is not whsec_<base64> (nor a whpk_ public key): %w", err)
	}
	// The timestamp was checked above against the injectable clock.
	if err := wh.VerifyIgnoringTimestamp(body, header); err != nil {
		return fmt.Errorf("%w: %w", ErrVerification, err)
	}
	return nil
}

// ParsePublicKey decodes a webhook's "whpk_<base64 32 bytes>" ed25519 public key.
func ParsePublicKey(key string) (ed25519.PublicKey, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(key, PublicKeyPrefix))
	if err != nil || !strings.HasPrefix(key, PublicKeyPrefix) || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("hookd: webhook public key is not whpk_<base64 of %d bytes>", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// verifyEd25519 reports whether one of the space-separated "v1a,<base64>" signatures in sigs is pub's
// signature of "id.ts.body". Other versions are ignored.
func verifyEd25519(pub ed25519.PublicKey, id, ts, sigs string, body []byte) bool {
	signed := make([]byte, 0, len(id)+len(ts)+2+len(body))
	signed = append(append(append(append(append(signed, id...), '.'), ts...), '.'), body...)
	for _, s := range strings.Fields(sigs) {
		version, b64, ok := strings.Cut(s, ",")
		if !ok || version != "v1a" {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(sig) != ed25519.SignatureSize {
			continue
		}
		if ed25519.Verify(pub, signed, sig) {
			return true
		}
	}
	return false
}

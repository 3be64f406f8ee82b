package hookd

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// SignatureStyle is what a webhook's signature header holds (Webhook.signature_style).
type SignatureStyle int

// Signature styles.
const (
	// StyleStandardWebhooks is the default: "v1,<base64 HMAC-SHA256>" or "v1a,<base64 ed25519>" of
	// "id.timestamp.body" (SIGNATURE_STYLE_STANDARD_WEBHOOKS).
	StyleStandardWebhooks SignatureStyle = iota
	// StyleHexBody is "sha256=<hex HMAC-SHA256 of the body>" keyed with the secret as shown, as GitHub sends it
	// (SIGNATURE_STYLE_HEX_BODY). It covers the body only: no timestamp, so no replay protection.
	StyleHexBody
)

// Scheme says where a webhook's requests carry their id, timestamp and signature, and in which style: a webhook
// with signature_header, id_header, timestamp_header or signature_style set (receivers migrating from another
// sender). The zero Scheme is the default (Standard Webhooks headers and style).
type Scheme struct {
	// SignatureHeader is Webhook.signature_header (empty: "webhook-signature").
	SignatureHeader string
	// IDHeader is Webhook.id_header (empty: "webhook-id").
	IDHeader string
	// TimestampHeader is Webhook.timestamp_header (empty: "webhook-timestamp").
	TimestampHeader string
	// Style is Webhook.signature_style.
	Style SignatureStyle
}

func (sc Scheme) names() (id, ts, sig string) {
	pick := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	return pick(sc.IDHeader, HeaderWebhookID), pick(sc.TimestampHeader, HeaderWebhookTimestamp), pick(sc.SignatureHeader, HeaderWebhookSignature)
}

// VerifyScheme is Verify for a webhook signed by sc: the headers it names, and for StyleHexBody the
// "sha256=<hex>" HMAC-SHA256 of body keyed with the secret exactly as shown (whsec_… included; one of several
// space-separated signatures during a rotation). Errors for a request that is not authentic wrap ErrVerification.
func VerifyScheme(key string, sc Scheme, header http.Header, body []byte) error {
	return verifySchemeAt(key, sc, header, body, time.Now())
}

func verifySchemeAt(key string, sc Scheme, header http.Header, body []byte, now time.Time) error {
	id, ts, sig := sc.names()
	if sc.Style == StyleHexBody {
		sigs := header.Get(sig)
		if sigs == "" {
			return fmt.Errorf("%w: %w", ErrVerification, standardwebhooks.ErrRequiredHeaders)
		}
		want := hexBody(key, body)
		for _, s := range strings.Fields(sigs) {
			if hmac.Equal([]byte(s), []byte(want)) {
				return nil
			}
		}
		return fmt.Errorf("%w: %w", ErrVerification, standardwebhooks.ErrNoMatchingSignature)
	}
	std := http.Header{}
	std.Set(HeaderWebhookID, header.Get(id))
	std.Set(HeaderWebhookTimestamp, header.Get(ts))
	std.Set(HeaderWebhookSignature, header.Get(sig))
	return verifyAt(key, std, body, now)
}

// hexBody is "sha256=" and the hex HMAC-SHA256 of body keyed with the bytes of secret.
func hexBody(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// HandlerScheme is Handler for a webhook signed by sc (see VerifyScheme).
func HandlerScheme(key string, sc Scheme, fn func(ctx context.Context, e *Envelope) error) http.Handler {
	return &handler{key: key, scheme: sc, fn: fn, nowFunc: time.Now}
}

package hookd

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Standard Webhooks header names set by hookd on every delivery.
const (
	// HeaderWebhookID is the delivery id, the same on every retry (use it to deduplicate).
	HeaderWebhookID = "webhook-id"
	// HeaderWebhookTimestamp is the attempt's unix time in seconds.
	HeaderWebhookTimestamp = "webhook-timestamp"
	// HeaderWebhookSignature is one or more space-separated "v1,<base64 HMAC-SHA256>" signatures.
	HeaderWebhookSignature = "webhook-signature"
)

// Tolerance is how far a webhook-timestamp may be from the receiver's clock, in either direction.
const Tolerance = 5 * time.Minute

// ErrVerification is wrapped by every error Verify returns for a request that is not authentic.
var ErrVerification = errors.New("hookd: webhook verification failed")

// Verify checks a Standard Webhooks signature: the webhook-id, webhook-timestamp and
// webhook-signature headers against body, with the webhook's "whsec_…" secret. It accepts any of
// several space-separated signatures (secret rotation) and rejects timestamps more than 5 minutes off.
func Verify(secret string, header http.Header, body []byte) error {
	return verifyAt(secret, header, body, time.Now())
}

// verifyAt is Verify with the receiver's clock given.
func verifyAt(secret string, header http.Header, body []byte, now time.Time) error {
	ts := header.Get(HeaderWebhookTimestamp)
	if header.Get(HeaderWebhookID) == "" || ts == "" || header.Get(HeaderWebhookSignature) == "" {
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
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return fmt.Errorf("hookd: webhook secret is not whsec_<base64>: %w", err)
	}
	// The timestamp was checked above against the injectable clock.
	if err := wh.VerifyIgnoringTimestamp(body, header); err != nil {
		return fmt.Errorf("%w: %w", ErrVerification, err)
	}
	return nil
}

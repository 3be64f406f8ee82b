package trigger

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookd/hookd/internal/store"
)

// signatureTolerance is how far a Standard Webhooks timestamp may be from now.
const signatureTolerance = 5 * time.Minute

var errBadSignature = errors.New("invalid signature")

// verifySignature checks the request's signature as the trigger requires; nil when none is configured.
func verifySignature(sig store.TriggerSignature, h http.Header, body []byte, now time.Time) error {
	switch sig.Scheme {
	case "":
		return nil
	case store.TriggerSchemeStandardWebhooks:
		wh, err := standardwebhooks.NewWebhook(sig.Secret)
		if err != nil {
			return fmt.Errorf("standard webhooks secret: %w", err)
		}
		// The library checks the timestamp against the wall clock; we check it against the injected clock.
		if err := wh.VerifyIgnoringTimestamp(body, h); err != nil {
			return fmt.Errorf("%w: %w", errBadSignature, err)
		}
		sec, err := strconv.ParseInt(h.Get(standardwebhooks.HeaderWebhookTimestamp), 10, 64)
		if err != nil {
			return fmt.Errorf("%w: bad timestamp", errBadSignature)
		}
		if d := now.Sub(time.Unix(sec, 0)); d > signatureTolerance || d < -signatureTolerance {
			return fmt.Errorf("%w: timestamp outside the tolerance", errBadSignature)
		}
		return nil
	case store.TriggerSchemeHMACSHA256:
		got := strings.TrimSpace(h.Get(sig.Header))
		if len(got) < len(sig.Prefix) || !strings.EqualFold(got[:len(sig.Prefix)], sig.Prefix) {
			return fmt.Errorf("%w: missing %s", errBadSignature, sig.Header)
		}
		got = got[len(sig.Prefix):]
		mac := hmac.New(sha256.New, []byte(sig.Secret))
		mac.Write(body)
		want := mac.Sum(nil)
		for _, decode := range []func(string) ([]byte, error){
			hex.DecodeString, base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString,
			base64.URLEncoding.DecodeString, base64.RawURLEncoding.DecodeString,
		} {
			if b, err := decode(got); err == nil && hmac.Equal(b, want) {
				return nil
			}
		}
		return errBadSignature
	default:
		return fmt.Errorf("unknown signature scheme %q", sig.Scheme)
	}
}

package trigger

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookd/hookd/internal/store"
)

var (
	errBadSignature = errors.New("invalid signature")
	// errReplayed answers a timestamped signature accepted before, within its window.
	errReplayed = errors.New("signature already used")
)

// maxSignatureEntries bounds the `k=v` entries of a timestamped signature header.
const maxSignatureEntries = 16

// signedOnce is a signature to be accepted once: Digest (a SHA-256 of the MAC, hex) is remembered until Expire.
type signedOnce struct {
	Digest string
	Expire time.Time
}

// verifySignature checks the request's signature as the trigger requires; nil when none is configured. A
// timestamped HMAC also returns what to remember so that the same signature is not accepted twice (the caller
// remembers it once the request is admitted by the rate limit).
func verifySignature(sig store.TriggerSignature, r *http.Request, triggerID string, body []byte, now time.Time) (*signedOnce, error) {
	h := r.Header
	tolerance := cmp.Or(sig.Tolerance, store.DefaultSignatureTolerance)
	switch sig.Scheme {
	case "":
		return nil, nil
	case store.TriggerSchemeStandardWebhooks:
		wh, err := standardwebhooks.NewWebhook(sig.Secret)
		if err != nil {
			return nil, fmt.Errorf("standard webhooks secret: %w", err)
		}
		// The library checks the timestamp against the wall clock; we check it against the injected clock.
		if err := wh.VerifyIgnoringTimestamp(body, h); err != nil {
			return nil, fmt.Errorf("%w: %w", errBadSignature, err)
		}
		sec, err := strconv.ParseInt(h.Get(standardwebhooks.HeaderWebhookTimestamp), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: bad timestamp", errBadSignature)
		}
		if !within(now, sec, tolerance) {
			return nil, fmt.Errorf("%w: timestamp outside the tolerance", errBadSignature)
		}
		return nil, nil
	case store.TriggerSchemeHMACSHA256:
		got := strings.TrimSpace(h.Get(sig.Header))
		if len(got) < len(sig.Prefix) || !strings.EqualFold(got[:len(sig.Prefix)], sig.Prefix) {
			return nil, fmt.Errorf("%w: missing %s", errBadSignature, sig.Header)
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
				return nil, nil
			}
		}
		return nil, errBadSignature
	case store.TriggerSchemeHMACSHA256Timestamped:
		return verifyTimestamped(sig, r, triggerID, body, now, tolerance)
	default:
		return nil, fmt.Errorf("unknown signature scheme %q", sig.Scheme)
	}
}

// verifyTimestamped checks an HMAC_SHA256_TIMESTAMPED signature: `t=<unix seconds>,v1=<hex>[,v1=<hex>…]` in
// sig.Header, one v1 being the HMAC of SignedPayload, and t within tolerance of now.
func verifyTimestamped(sig store.TriggerSignature, r *http.Request, triggerID string, body []byte, now time.Time, tolerance time.Duration) (*signedOnce, error) {
	var (
		stamp string
		v1s   []string
	)
	entries := strings.Split(r.Header.Get(sig.Header), ",")
	if len(entries) > maxSignatureEntries {
		return nil, fmt.Errorf("%w: more than %d entries in %s", errBadSignature, maxSignatureEntries, sig.Header)
	}
	for _, e := range entries {
		k, v, _ := strings.Cut(strings.TrimSpace(e), "=")
		switch k {
		case "t":
			if stamp != "" {
				return nil, fmt.Errorf("%w: two timestamps", errBadSignature)
			}
			stamp = v
		case "v1":
			v1s = append(v1s, v)
		}
	}
	sec, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil || stamp != strconv.FormatInt(sec, 10) || len(v1s) == 0 {
		return nil, fmt.Errorf("%w: %s needs t=<unix seconds> and v1=<hex HMAC-SHA256>", errBadSignature, sig.Header)
	}
	mac := hmac.New(sha256.New, []byte(sig.Secret))
	writeSignedPayload(mac, sig.SignTarget, stamp, r, triggerID, body)
	want := mac.Sum(nil)
	ok := false
	for _, v := range v1s {
		if b, err := hex.DecodeString(v); err == nil && hmac.Equal(b, want) {
			ok = true
		}
	}
	if !ok {
		return nil, errBadSignature
	}
	// The timestamp is checked after the MAC: only the signer can move it.
	if !within(now, sec, tolerance) {
		return nil, fmt.Errorf("%w: timestamp outside the tolerance", errBadSignature)
	}
	digest := sha256.Sum256(want)
	return &signedOnce{Digest: hex.EncodeToString(digest[:]), Expire: time.Unix(sec, 0).Add(tolerance)}, nil
}

// writeSignedPayload writes what an HMAC_SHA256_TIMESTAMPED signature covers: "<t>.<body>", or with signTarget
// "<t>.<METHOD>\n<target>\n<body>", where target is the path after /t/<trigger id> as sent (escaped; empty or
// starting with "/") and "?<raw query>" when the query is not empty. A request target cannot hold a raw newline,
// so the parts cannot be shifted into one another.
func writeSignedPayload(w io.Writer, signTarget bool, stamp string, r *http.Request, triggerID string, body []byte) {
	_, _ = w.Write([]byte(stamp + "."))
	if signTarget {
		_, _ = w.Write([]byte(r.Method + "\n" + requestTarget(r, triggerID) + "\n"))
	}
	_, _ = w.Write(body)
}

// requestTarget is the request target an HMAC_SHA256_TIMESTAMPED signature with sign_request_target covers: the
// escaped path after /t/<triggerID>, then "?" and the raw query when it is not empty.
func requestTarget(r *http.Request, triggerID string) string {
	target := strings.TrimPrefix(r.URL.EscapedPath(), "/t/"+triggerID)
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	return target
}

// within reports whether unix second sec is within tolerance of now.
func within(now time.Time, sec int64, tolerance time.Duration) bool {
	d := now.Sub(time.Unix(sec, 0))
	return d <= tolerance && d >= -tolerance
}

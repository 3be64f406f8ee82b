// Package retry is the delivery retry schedule: when a failed attempt is tried again, and when to give up.
//
// EXPONENTIAL (the default): after the k-th failed attempt the next one is due 5 s + k⁴ s later (6 s, 21 s,
// 86 s, 261 s, …), up to 15 retries: 16 attempts over about two days (49.6 h of waiting). FIXED waits Interval
// between attempts, up to MaxRetries retries. NONE never retries. IDEMPOTENT (the product document 001: "the
// webhook will be called back three times within six minutes") retries 1, 2 and 3 minutes after the previous
// attempt, at +1, +3 and +6 minutes; which failures it retries is the sender's outcome rule. A Retry-After
// answer (429/503) replaces the scheduled delay, capped at 4× that delay, except under IDEMPOTENT, whose
// schedule is the document's promise.
package retry

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/internal/store"
)

// Limits and defaults of the policies.
const (
	// MaxExponentialRetries is the default and the maximum number of EXPONENTIAL retries.
	MaxExponentialRetries = 15
	// DefaultFixedInterval is the FIXED delay when the policy has none.
	DefaultFixedInterval = 10 * time.Second
	// DefaultFixedRetries is the FIXED retry count when the policy has none.
	DefaultFixedRetries = 5
	// MaxFixedRetries caps FIXED retries.
	MaxFixedRetries = 10
	// RetryAfterFactor caps a Retry-After delay at this multiple of the scheduled delay.
	RetryAfterFactor = 4
)

// IdempotentDelays are the IDEMPOTENT delays after the first, second and third failed attempt: three retries
// within six minutes (at +1, +3 and +6 minutes).
var IdempotentDelays = [...]time.Duration{1 * time.Minute, 2 * time.Minute, 3 * time.Minute}

// Exponential is the EXPONENTIAL delay after the k-th failed attempt: 5 s + k⁴ s.
func Exponential(k int) time.Duration {
	k = max(k, 1)
	return 5*time.Second + time.Duration(k*k*k*k)*time.Second
}

// Retries is how many retries the policy allows after the first attempt.
func Retries(p store.RetryPolicy) int {
	switch p.Kind {
	case store.RetryNone:
		return 0
	case store.RetryIdempotent:
		return len(IdempotentDelays)
	case store.RetryFixed:
		if p.MaxRetries <= 0 {
			return DefaultFixedRetries
		}
		return min(p.MaxRetries, MaxFixedRetries)
	default:
		if p.MaxRetries <= 0 {
			return MaxExponentialRetries
		}
		return min(p.MaxRetries, MaxExponentialRetries)
	}
}

// Next returns the delay after the failed attempt number attempt (1 = the first attempt) before the next
// one, or false when the policy has no retry left and the delivery fails.
func Next(p store.RetryPolicy, attempt int) (time.Duration, bool) {
	if attempt < 1 || attempt > Retries(p) {
		return 0, false
	}
	switch p.Kind {
	case store.RetryFixed:
		if p.Interval <= 0 {
			return DefaultFixedInterval, true
		}
		return p.Interval, true
	case store.RetryIdempotent:
		return IdempotentDelays[attempt-1], true
	default:
		return Exponential(attempt), true
	}
}

// ParseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date (relative to now). It returns false
// when the value is absent or malformed; a date in the past is a zero delay.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(365*24*time.Hour/time.Second) { // no overflow; the cap applies anyway
			secs = int64(365 * 24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// HonoursRetryAfter reports whether a Retry-After answer may move the policy's next attempt: every policy but
// IDEMPOTENT, whose fixed schedule keeps its three retries within six minutes.
func HonoursRetryAfter(p store.RetryPolicy) bool { return p.Kind != store.RetryIdempotent }

// WithRetryAfter returns the delay to use when a 429 or 503 answer carried Retry-After value v: the receiver's
// delay, but at most RetryAfterFactor × scheduled; the scheduled delay when v is absent or malformed.
func WithRetryAfter(scheduled time.Duration, v string, now time.Time) time.Duration {
	d, ok := ParseRetryAfter(v, now)
	if !ok {
		return scheduled
	}
	return min(d, RetryAfterFactor*scheduled)
}

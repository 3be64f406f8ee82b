package retry_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hookd/hookd/internal/retry"
	"github.com/hookd/hookd/internal/store"
)

func TestExponentialSchedule(t *testing.T) {
	s := time.Second
	want := []time.Duration{ // after attempt 1..15: 5 s + k^4 s
		6 * s, 21 * s, 86 * s, 261 * s, 630 * s, 1301 * s, 2406 * s, 4101 * s, 6566 * s, 10005 * s,
		14646 * s, 20741 * s, 28566 * s, 38421 * s, 50630 * s,
	}
	for _, p := range []store.RetryPolicy{{}, {Kind: store.RetryExponential}, {Kind: store.RetryExponential, MaxRetries: 99}} {
		var total time.Duration
		for i, w := range want {
			got, ok := retry.Next(p, i+1)
			assert.True(t, ok, "attempt %d of %+v is retried", i+1, p)
			assert.Equal(t, w, got, "delay after attempt %d", i+1)
			total += got
		}
		_, ok := retry.Next(p, 16)
		assert.False(t, ok, "the 16th attempt is the last")
		assert.Equal(t, 178387*time.Second, total)
		assert.InDelta(t, 2.0, total.Hours()/24, 0.1, "about two days")
	}
}

// TestIdempotentSchedule checks the rule of the product document 001 (001_cece2d8210d42b3c.txt): "If you add the
// ${WebhookRequest.TransactionalId} parameter to your request, the webhook will be called back three times within
// six minutes if the response contains errors 5xx and 429". The delays are 1, 2 and 3 minutes after the previous
// attempt (the retries are at +1, +3 and +6 minutes); a Retry-After answer does not move them.
func TestIdempotentSchedule(t *testing.T) {
	p := store.RetryPolicy{Kind: store.RetryIdempotent}
	assert.Equal(t, 3, retry.Retries(p), "called back three times")
	var since time.Duration
	var at []time.Duration
	for attempt := 1; attempt <= 3; attempt++ {
		d, ok := retry.Next(p, attempt)
		assert.True(t, ok, "attempt %d is retried", attempt)
		since += d
		at = append(at, since)
	}
	assert.Equal(t, []time.Duration{time.Minute, 3 * time.Minute, 6 * time.Minute}, at, "retries after the first attempt")
	assert.LessOrEqual(t, since, 6*time.Minute, "within six minutes")
	_, ok := retry.Next(p, 4)
	assert.False(t, ok, "the fourth attempt is the last")
	assert.False(t, retry.HonoursRetryAfter(p))
	for _, k := range []store.RetryKind{"", store.RetryExponential, store.RetryFixed, store.RetryNone} {
		assert.True(t, retry.HonoursRetryAfter(store.RetryPolicy{Kind: k}), k)
	}
}

func TestNext(t *testing.T) {
	tests := []struct {
		name    string
		policy  store.RetryPolicy
		attempt int
		want    time.Duration
		ok      bool
	}{
		{"exponential first", store.RetryPolicy{Kind: store.RetryExponential}, 1, 6 * time.Second, true},
		{"exponential fewer retries", store.RetryPolicy{Kind: store.RetryExponential, MaxRetries: 3}, 3, 86 * time.Second, true},
		{"exponential fewer retries exhausted", store.RetryPolicy{Kind: store.RetryExponential, MaxRetries: 3}, 4, 0, false},
		{"fixed", store.RetryPolicy{Kind: store.RetryFixed, Interval: 10 * time.Second, MaxRetries: 5}, 1, 10 * time.Second, true},
		{"fixed last retry", store.RetryPolicy{Kind: store.RetryFixed, Interval: 10 * time.Second, MaxRetries: 5}, 5, 10 * time.Second, true},
		{"fixed exhausted", store.RetryPolicy{Kind: store.RetryFixed, Interval: 10 * time.Second, MaxRetries: 5}, 6, 0, false},
		{"fixed defaults", store.RetryPolicy{Kind: store.RetryFixed}, 5, retry.DefaultFixedInterval, true},
		{"fixed capped at 10", store.RetryPolicy{Kind: store.RetryFixed, Interval: time.Minute, MaxRetries: 50}, 11, 0, false},
		{"none", store.RetryPolicy{Kind: store.RetryNone}, 1, 0, false},
		{"idempotent first", store.RetryPolicy{Kind: store.RetryIdempotent}, 1, time.Minute, true},
		{"idempotent third", store.RetryPolicy{Kind: store.RetryIdempotent}, 3, 3 * time.Minute, true},
		{"idempotent exhausted", store.RetryPolicy{Kind: store.RetryIdempotent}, 4, 0, false},
		{"idempotent ignores max_retries", store.RetryPolicy{Kind: store.RetryIdempotent, MaxRetries: 10}, 4, 0, false},
		{"attempt zero", store.RetryPolicy{}, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := retry.Next(tt.policy, tt.attempt)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestWithRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		scheduled time.Duration
		header    string
		want      time.Duration
	}{
		{"absent", 6 * time.Second, "", 6 * time.Second},
		{"seconds", 6 * time.Second, "20", 20 * time.Second},
		{"shorter than scheduled", 21 * time.Second, "3", 3 * time.Second},
		{"capped at 4x", 6 * time.Second, "3600", 24 * time.Second},
		{"http date", 86 * time.Second, now.Add(2 * time.Minute).Format(http.TimeFormat), 2 * time.Minute},
		{"http date capped", 6 * time.Second, now.Add(time.Hour).Format(http.TimeFormat), 24 * time.Second},
		{"http date in the past", 6 * time.Second, now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"malformed", 6 * time.Second, "soon", 6 * time.Second},
		{"negative", 6 * time.Second, "-5", 6 * time.Second},
		{"huge", 6 * time.Second, "99999999999999999", 24 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, retry.WithRetryAfter(tt.scheduled, tt.header, now))
		})
	}
}

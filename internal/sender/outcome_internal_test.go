package sender

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hookd/hookd/internal/store"
)

var (
	exponential = store.RetryPolicy{Kind: store.RetryExponential}
	idempotent  = store.RetryPolicy{Kind: store.RetryIdempotent}
	fixed       = store.RetryPolicy{Kind: store.RetryFixed, Interval: 10 * time.Second, MaxRetries: 5}
	none        = store.RetryPolicy{Kind: store.RetryNone}
)

func TestClassify(t *testing.T) {
	t.Parallel()
	netErr := errors.New("connection refused")
	plain := rules{policy: exponential}
	only200 := rules{policy: exponential, successCodes: []int{200}}
	async := rules{async: true, policy: fixed}
	keyed := rules{policy: idempotent, keyed: true}
	unkeyed := rules{policy: idempotent}
	for _, tt := range []struct {
		name      string
		code      int
		err       error
		permanent bool
		r         rules
		status    store.Status
		retryable bool
	}{
		{"200", 200, nil, false, plain, store.StatusDone, false},
		{"204", 204, nil, false, plain, store.StatusDone, false},
		{"202 plain", 202, nil, false, plain, store.StatusDone, false},
		{"301", 301, nil, false, plain, store.StatusFailed, false},
		{"302", 302, nil, false, plain, store.StatusFailed, false},
		{"400", 400, nil, false, plain, store.StatusFailed, false},
		{"404", 404, nil, false, plain, store.StatusFailed, false},
		{"408", 408, nil, false, plain, store.StatusFailed, true},
		{"410", 410, nil, false, plain, store.StatusFailed, false},
		{"429", 429, nil, false, plain, store.StatusFailed, true},
		{"500", 500, nil, false, plain, store.StatusFailed, true},
		{"503", 503, nil, false, plain, store.StatusFailed, true},
		{"network error", 0, netErr, false, plain, store.StatusFailed, true},
		{"refused target", 0, netErr, true, plain, store.StatusFailed, false},

		// Product document 004: "If you reply with any response code that is not a HTTP 200, including
		// 3xx/4xx/5xx codes, we will mark the webhook as rejected." Other 2xx follow the retry policy like a 5xx.
		{"[200] 200", 200, nil, false, only200, store.StatusDone, false},
		{"[200] 201", 201, nil, false, only200, store.StatusFailed, true},
		{"[200] 204", 204, nil, false, only200, store.StatusFailed, true},
		{"[200] 302", 302, nil, false, only200, store.StatusFailed, false},
		{"[200] 404", 404, nil, false, only200, store.StatusFailed, false},
		{"[200] 500", 500, nil, false, only200, store.StatusFailed, true},
		{"[200, 204] 204", 204, nil, false, rules{successCodes: []int{200, 204}}, store.StatusDone, false},

		// Product document 000: "200 Done, 202 Wait, > 202 Failed"; 201 (not in the table) is FAILED too.
		{"async 200", 200, nil, false, async, store.StatusDone, false},
		{"async 202", 202, nil, false, async, store.StatusWaiting, false},
		{"async 201", 201, nil, false, async, store.StatusFailed, false},
		{"async 204", 204, nil, false, async, store.StatusFailed, false},
		{"async 400", 400, nil, false, async, store.StatusFailed, false},
		{"async 502", 502, nil, false, async, store.StatusFailed, true},
		{"async network error", 0, netErr, false, async, store.StatusFailed, true},

		// Product document 001: "called back three times within six minutes if the response contains errors 5xx
		// and 429", only when the request carries the TransactionalId.
		{"idempotent 500", 500, nil, false, keyed, store.StatusFailed, true},
		{"idempotent 503", 503, nil, false, keyed, store.StatusFailed, true},
		{"idempotent 429", 429, nil, false, keyed, store.StatusFailed, true},
		{"idempotent 408", 408, nil, false, keyed, store.StatusFailed, false},
		{"idempotent 404", 404, nil, false, keyed, store.StatusFailed, false},
		{"idempotent network error", 0, netErr, false, keyed, store.StatusFailed, false},
		{"idempotent 200", 200, nil, false, keyed, store.StatusDone, false},
		{"idempotent [200] 201", 201, nil, false, rules{policy: idempotent, keyed: true, successCodes: []int{200}}, store.StatusFailed, false},
		{"idempotent without key 500", 500, nil, false, unkeyed, store.StatusFailed, false},
		{"idempotent without key 429", 429, nil, false, unkeyed, store.StatusFailed, false},
	} {
		status, retryable := classify(tt.code, tt.err, tt.permanent, tt.r)
		assert.Equal(t, tt.status, status, tt.name)
		assert.Equal(t, tt.retryable, retryable, tt.name)
	}
}

// TestDecideIdempotent follows one delivery of an IDEMPOTENT webhook through the schedule of the product document
// 001: "the webhook will be called back three times within six minutes if the response contains errors 5xx and
// 429" — at +1, +3 and +6 minutes after the first attempt, whatever Retry-After says, then FAILED.
func TestDecideIdempotent(t *testing.T) {
	t.Parallel()
	first := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	r := rules{policy: idempotent, keyed: true}
	now := first
	var at []time.Duration
	for attempt, code := range []int{500, 429, 503} {
		res := result{status: code, header: http.Header{"Retry-After": {"3600"}}}
		v := decide(now, r, res, attempt+1)
		assert.Equal(t, store.StatusRetrying, v.status, "attempt %d", attempt+1)
		at = append(at, v.next.Sub(first))
		now = v.next
	}
	assert.Equal(t, []time.Duration{time.Minute, 3 * time.Minute, 6 * time.Minute}, at)
	v := decide(now, r, result{status: 500}, 4)
	assert.Equal(t, store.StatusFailed, v.status, "three retries, then FAILED")
	assert.Equal(t, "HTTP 500 Internal Server Error", v.reason)

	v = decide(first, rules{policy: idempotent}, result{status: 500}, 1)
	assert.Equal(t, store.StatusFailed, v.status, "without the key a 5xx fails at once")
	assert.Contains(t, v.reason, "{{.TransactionalId}}", "the reason says why it was not retried")

	v = decide(first, r, result{status: 0, err: errors.New("timeout"), attempt: &store.Attempt{Error: "timeout after 15s"}}, 1)
	assert.Equal(t, store.StatusFailed, v.status, "no answer is not a 5xx or 429")
	assert.Equal(t, "timeout after 15s", v.reason)
}

func TestDecide(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name    string
		r       rules
		res     result
		attempt int
		want    verdict
	}{
		{"done", rules{policy: exponential}, result{status: 200, body: []byte(`{"reason":"ignored"}`)}, 1,
			verdict{status: store.StatusDone, reason: "ignored"}},
		{"exponential first retry", rules{policy: exponential}, result{status: 500}, 1,
			verdict{status: store.StatusRetrying, next: now.Add(6 * time.Second), reason: "HTTP 500 Internal Server Error"}},
		{"retry-after honoured", rules{policy: exponential}, result{status: 429, header: http.Header{"Retry-After": {"20"}}}, 1,
			verdict{status: store.StatusRetrying, next: now.Add(20 * time.Second), reason: "HTTP 429 Too Many Requests"}},
		{"receiver reason", rules{policy: fixed}, result{status: 503, body: []byte(`{"reason":"down for maintenance"}`)}, 5,
			verdict{status: store.StatusRetrying, next: now.Add(10 * time.Second), reason: "down for maintenance"}},
		{"fixed exhausted", rules{policy: fixed}, result{status: 503}, 6,
			verdict{status: store.StatusFailed, reason: "HTTP 503 Service Unavailable"}},
		{"410 disables", rules{policy: exponential}, result{status: 410}, 1,
			verdict{status: store.StatusFailed, reason: "HTTP 410 Gone", disable: true}},
		{"[200] 201 retried", rules{policy: exponential, successCodes: []int{200}}, result{status: 201}, 1,
			verdict{status: store.StatusRetrying, next: now.Add(6 * time.Second), reason: "HTTP 201 Created (not in success_status_codes [200])"}},
		{"[200] 204 under NONE", rules{policy: none, successCodes: []int{200}}, result{status: 204}, 1,
			verdict{status: store.StatusFailed, reason: "HTTP 204 No Content (not in success_status_codes [200])"}},
		{"async waiting default", rules{async: true, policy: none}, result{status: 202}, 1,
			verdict{status: store.StatusWaiting, next: now.Add(24 * time.Hour)}},
		{"async waiting bound", rules{async: true, asyncTimeout: 5 * time.Second, policy: none}, result{status: 202}, 1,
			verdict{status: store.StatusWaiting, next: now.Add(5 * time.Second)}},
		{"async 500 under NONE", rules{async: true, policy: none}, result{status: 500}, 1,
			verdict{status: store.StatusFailed, reason: "HTTP 500 Internal Server Error"}},
		{"async 500 with a policy", rules{async: true, policy: fixed}, result{status: 500}, 1,
			verdict{status: store.StatusRetrying, next: now.Add(10 * time.Second), reason: "HTTP 500 Internal Server Error"}},
		{"async 201", rules{async: true, policy: fixed}, result{status: 201}, 1,
			verdict{status: store.StatusFailed, reason: "HTTP 201 Created (async_status webhooks accept only 200 and 202)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, decide(now, tt.r, tt.res, tt.attempt))
		})
	}
}

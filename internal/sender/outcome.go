package sender

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hookd/hookd/internal/retry"
	"github.com/hookd/hookd/internal/store"
)

// rules are what a webhook's attempt outcomes depend on besides the response.
type rules struct {
	// async maps 200 to DONE, 202 to WAITING and every other answer to FAILED (product document 000).
	async bool
	// asyncTimeout bounds WAITING (0: DefaultAsyncTimeout).
	asyncTimeout time.Duration
	// successCodes are the statuses that count as success; empty means any 2xx.
	successCodes []int
	// policy schedules retries.
	policy store.RetryPolicy
	// keyed says the request carries `{{.TransactionalId}}` in its URL, headers or body: IDEMPOTENT retries
	// need it.
	keyed bool
}

// rulesOf returns the outcome rules of webhook w; keyed says whether its request uses `{{.TransactionalId}}`.
func rulesOf(w *store.Webhook, keyed bool) rules {
	return rules{async: w.AsyncStatus, asyncTimeout: w.AsyncTimeout, successCodes: w.SuccessStatusCodes,
		policy: w.RetryPolicy, keyed: keyed}
}

// verdict is the outcome of one attempt.
type verdict struct {
	status store.Status
	// next is when the delivery is due again (RETRYING) or when WAITING times out.
	next time.Time
	// reason explains a failure (or is the receiver's JSON reason).
	reason string
	// disable disables the webhook (a 410 Gone answer).
	disable bool
}

// decide maps attempt number attempt (1 = the first) of a webhook with rules r, made at now with result res,
// to its verdict: the status, when it is due again and why it failed.
func decide(now time.Time, r rules, res result, attempt int) verdict {
	v := verdict{reason: responseReason(res.body), disable: res.status == http.StatusGone}
	status, retryable := classify(res.status, res.err, res.permanent, r)
	switch {
	case status == store.StatusDone:
	case status == store.StatusWaiting:
		v.next = now.Add(cmp.Or(max(r.asyncTimeout, 0), DefaultAsyncTimeout))
	case retryable:
		delay, ok := retry.Next(r.policy, attempt)
		if !ok {
			status = store.StatusFailed
			break
		}
		if (res.status == http.StatusTooManyRequests || res.status == http.StatusServiceUnavailable) && retry.HonoursRetryAfter(r.policy) {
			delay = retry.WithRetryAfter(delay, res.header.Get("Retry-After"), now)
		}
		status, v.next = store.StatusRetrying, now.Add(delay)
	}
	v.status = status
	if status != store.StatusDone && status != store.StatusWaiting {
		v.reason = failureReason(v.reason, res, r)
	}
	return v
}

// classify maps an attempt to a status; retryable says a failure may be retried (as the policy's schedule allows).
//
//   - Plain webhooks: a success code → DONE (any 2xx, or exactly Webhook.success_status_codes when set: the
//     product document 004 accepts only 200); network error, timeout, 408, 429, 5xx → retryable; a 2xx that is
//     not a success code → retryable like a 5xx; other 3xx/4xx (redirects are never followed) → FAILED.
//   - async_status webhooks (product document 000: "200 Done, 202 Wait, > 202 Failed"): 200 → DONE, 202 →
//     WAITING; network error, timeout, 408, 429, 5xx → retryable; anything else, 201 and 204 included → FAILED.
//   - RETRY_POLICY_KIND_IDEMPOTENT (product document 001: "called back three times within six minutes if the
//     response contains errors 5xx and 429"): only a 5xx or 429 answer is retryable, and only when the request
//     carries `{{.TransactionalId}}`; every other failure is final.
//
// A refused target or a template that cannot render (permanent) is never retryable.
func classify(code int, err error, permanent bool, r rules) (status store.Status, retryable bool) {
	switch {
	case err != nil:
		status, retryable = store.StatusFailed, !permanent
	case r.async && code == http.StatusOK:
		return store.StatusDone, false
	case r.async && code == http.StatusAccepted:
		return store.StatusWaiting, false
	case !r.async && success(code, r.successCodes):
		return store.StatusDone, false
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		status, retryable = store.StatusFailed, true
	case !r.async && code >= 200 && code < 300: // a 2xx outside success_status_codes
		status, retryable = store.StatusFailed, true
	default:
		return store.StatusFailed, false
	}
	if r.policy.Kind == store.RetryIdempotent {
		retryable = retryable && idempotentRetryable(code, err, r.keyed)
	}
	return status, retryable
}

// idempotentRetryable is the IDEMPOTENT rule: a 5xx or 429 answer to a request carrying the idempotency key.
func idempotentRetryable(code int, err error, keyed bool) bool {
	return keyed && err == nil && (code >= 500 || code == http.StatusTooManyRequests)
}

// success reports whether code counts as success: one of codes, or any 2xx when codes is empty.
func success(code int, codes []int) bool {
	if len(codes) == 0 {
		return code >= 200 && code < 300
	}
	return slices.Contains(codes, code)
}

// failureReason says why an attempt failed: the receiver's reason, else the error or the HTTP status, with a
// note when the webhook's options made the difference.
func failureReason(reason string, res result, r rules) string {
	if reason == "" {
		switch {
		case res.err != nil && res.attempt != nil:
			reason = res.attempt.Error
		case res.err != nil:
			reason = res.err.Error()
		default:
			reason = fmt.Sprintf("HTTP %d %s", res.status, http.StatusText(res.status))
		}
	}
	switch {
	case res.err == nil && !r.async && len(r.successCodes) > 0 && res.status >= 200 && res.status < 300 && !success(res.status, r.successCodes):
		reason += " (not in success_status_codes " + joinCodes(r.successCodes) + ")"
	case res.err == nil && r.async && res.status >= 200 && res.status < 300:
		reason += " (async_status webhooks accept only 200 and 202)"
	case r.policy.Kind == store.RetryIdempotent && !r.keyed && res.err == nil &&
		(res.status >= 500 || res.status == http.StatusTooManyRequests):
		reason += " (not retried: RETRY_POLICY_KIND_IDEMPOTENT retries only requests that send {{.TransactionalId}})"
	}
	return reason
}

func joinCodes(codes []int) string {
	s := make([]string, len(codes))
	for i, c := range codes {
		s[i] = fmt.Sprint(c)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

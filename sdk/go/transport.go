package hookd

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/go-retryablehttp"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
)

// retryKey is the request-context key under which the client interceptor hands a unary call's retry
// decision (a bool) to the HTTP layer, where go-retryablehttp's CheckRetry reads it.
type retryKey struct{}

// retryable reports whether a call can be sent again safely: unary RPCs whose proto declares
// idempotency_level NO_SIDE_EFFECTS or IDEMPOTENT (connect-go's generated clients put it in the
// Spec), and publishes whose every event carries an idempotency key (hookd returns the first result
// for a repeated key instead of publishing twice).
func retryable(spec connect.Spec, msg any) bool {
	if spec.StreamType != connect.StreamTypeUnary {
		return false
	}
	switch spec.IdempotencyLevel {
	case connect.IdempotencyNoSideEffects, connect.IdempotencyIdempotent:
		return true
	}
	switch m := msg.(type) {
	case *hookdv1.PublishEventRequest:
		return m.GetIdempotencyKey() != ""
	case *hookdv1.PublishEventsRequest:
		for _, e := range m.GetEvents() {
			if e.GetIdempotencyKey() == "" {
				return false
			}
		}
		return len(m.GetEvents()) > 0
	}
	return false
}

// retryAllowed reads the decision the interceptor stored in ctx (false when there is none).
func retryAllowed(ctx context.Context) bool {
	ok, _ := ctx.Value(retryKey{}).(bool)
	return ok
}

// newHTTPClient builds the client handed to the generated Connect clients: unary calls (whose
// context carries the interceptor's retry decision) go through go-retryablehttp, whose CheckRetry
// honours that decision; streams go straight to the base transport (they are never retried, and
// go-retryablehttp would buffer their request bodies).
func newHTTPClient(cfg *config, plaintext bool) *http.Client {
	var outer http.Client
	var base http.RoundTripper
	if cfg.httpClient != nil {
		outer = http.Client{Timeout: cfg.httpClient.Timeout, Jar: cfg.httpClient.Jar, CheckRedirect: cfg.httpClient.CheckRedirect}
		base = cfg.httpClient.Transport
	}
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if cfg.protocol == protocolGRPC {
			// gRPC needs HTTP/2: TLS-negotiated for https://, prior knowledge (h2c) for http://.
			t.Protocols = new(http.Protocols)
			t.Protocols.SetHTTP2(true)
			if plaintext {
				t.Protocols.SetUnencryptedHTTP2(true)
			}
		}
		base = t
	}
	rc := &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport:     base,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		RetryWaitMin: cfg.retryWaitMin,
		RetryWaitMax: cfg.retryWaitMax,
		RetryMax:     cfg.retryMax,
		CheckRetry:   checkRetry,
		Backoff:      backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler, // hand the last response to Connect to decode
	}
	if cfg.logger != nil {
		rc.Logger = cfg.logger
	}
	outer.Transport = &retryTransport{base: base, retry: &retryablehttp.RoundTripper{Client: rc}}
	return &outer
}

// retryTransport routes unary calls through go-retryablehttp.
type retryTransport struct {
	base  http.RoundTripper
	retry http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if _, unary := req.Context().Value(retryKey{}).(bool); unary {
		return t.retry.RoundTrip(req)
	}
	return t.base.RoundTrip(req)
}

// checkRetry retries calls the interceptor found retryable on network errors and 429/502/503/504;
// never other statuses.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if !retryAllowed(ctx) {
		return false, nil
	}
	if err != nil {
		// DefaultRetryPolicy skips unrecoverable transport errors (bad scheme, TLS trust, redirects).
		return retryablehttp.DefaultRetryPolicy(ctx, nil, err)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true, nil
	}
	return false, nil
}

// backoff honours Retry-After (capped at waitMax) and otherwise waits waitMin·2^attempt with jitter,
// capped at waitMax.
func backoff(waitMin, waitMax time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return min(d, waitMax)
		}
	}
	d := waitMin << min(attempt, 30)
	if d <= 0 || d > waitMax {
		d = waitMax
	}
	// Full jitter in [d/2, d].
	if half := int64(d / 2); half > 0 {
		d = time.Duration(half + rand.Int64N(half+1))
	}
	return d
}

// parseRetryAfter reads a Retry-After value in seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(min(s, int64(24*time.Hour/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

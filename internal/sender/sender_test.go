package sender_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/actiontoken"
	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/retry"
	"github.com/hookd/hookd/internal/sender"
	"github.com/hookd/hookd/internal/signature"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

var dev = sender.Config{Dev: true}

// header returns the value of name among stored headers.
func header(hs []store.Header, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

func TestSuccess(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, sender.Config{Dev: true, UserAgent: "hookd/1.2.3"})
		rcv := newReceiver(t, reply{status: 200, header: map[string]string{"Content-Type": "application/json"}, body: `{"ok":true}`})
		w := e.webhook(t, rcv.URL+"/hook", func(w *store.Webhook) {
			w.Headers = []store.Header{{Name: "X-Api-Key", Value: "s3cret", Private: true}, {Name: "X-Plain", Value: "p"}}
		})
		ids := e.publish(t, `{"name":"Ada"}`, w.ID)
		e.runOnce(t, 1)

		d := e.delivery(t, ids[0])
		assert.Equal(t, store.StatusDone, d.Status)
		assert.Equal(t, 1, d.Attempts)
		assert.Equal(t, 200, d.LastStatusCode)
		assert.Empty(t, d.Reason)

		got := rcv.requests()
		require.Len(t, got, 1)
		req := got[0]
		assert.Equal(t, "POST", req.method)
		assert.Equal(t, "/hook", req.path)
		assert.Equal(t, "application/json", req.header.Get("Content-Type"))
		assert.Equal(t, "hookd/1.2.3", req.header.Get("User-Agent"))
		assert.Equal(t, "s3cret", req.header.Get("X-Api-Key"), "private headers are sent in clear")
		assert.Equal(t, "p", req.header.Get("X-Plain"))
		assert.Equal(t, d.ID, req.header.Get("webhook-id"))
		assert.Equal(t, e.clk.Now().Unix(), mustInt(t, req.header.Get("webhook-timestamp")))
		verify(t, w.Secret, req)

		var env struct {
			ID, Type, Timestamp, Subject string
			Data                         map[string]any
			Meta                         struct {
				DeliveryID string `json:"deliveryId"`
				Attempt    int
				Link       string
			}
		}
		require.NoError(t, json.Unmarshal(req.body, &env))
		assert.Equal(t, d.EventID, env.ID)
		assert.Equal(t, "user.created", env.Type)
		assert.Equal(t, "user-7", env.Subject)
		assert.Equal(t, map[string]any{"name": "Ada"}, env.Data)
		assert.Equal(t, d.ID, env.Meta.DeliveryID)
		assert.Equal(t, 1, env.Meta.Attempt)
		token := actiontoken.New(keys, d.ID, 0)
		assert.Equal(t, "https://hookd.example.com/v1/action-status/"+token, env.Meta.Link)
		ts, err := time.Parse(time.RFC3339Nano, env.Timestamp)
		require.NoError(t, err)
		assert.WithinDuration(t, e.clk.Now(), ts, time.Second, "the event's create time")
		assert.True(t, strings.HasPrefix(string(req.body), `{"id":"evt_`), "envelope fields in the documented order")

		attempts := e.attempts(t, d.ID)
		require.Len(t, attempts, 1)
		a := attempts[0]
		assert.Equal(t, 1, a.Number)
		assert.Equal(t, "POST", a.RequestMethod)
		assert.Equal(t, rcv.URL+"/hook", a.RequestURL)
		assert.Equal(t, strings.ReplaceAll(string(req.body), token, actiontoken.Redacted), a.RequestBody,
			"the stored body holds no usable action-status token")
		assert.NotContains(t, a.RequestBody, token)
		assert.True(t, privateHeader(a.RequestHeaders, "x-api-key"), "private values are flagged (the API masks them for non-admins)")
		assert.Equal(t, d.ID, header(a.RequestHeaders, "webhook-id"))
		assert.Equal(t, req.header.Get("webhook-signature"), header(a.RequestHeaders, "webhook-signature"))
		assert.Equal(t, 200, a.ResponseStatusCode)
		assert.Equal(t, `{"ok":true}`, a.ResponseBody)
		assert.Equal(t, "application/json", header(a.ResponseHeaders, "content-type"))
		assert.Positive(t, a.Duration)
		assert.Empty(t, a.Error)

		e.runOnce(t, 0)
	})
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, json.Unmarshal([]byte(s), &n))
	return n
}

func TestRetryThenSuccess(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, dev)
		rcv := newReceiver(t, reply{status: 500, body: "oops"}, reply{status: 204})
		w := e.webhook(t, rcv.URL)
		ids := e.publish(t, `{}`, w.ID)
		e.runOnce(t, 1)

		first := e.clk.Now()
		d := e.delivery(t, ids[0])
		assert.Equal(t, store.StatusRetrying, d.Status)
		assert.Equal(t, first.Add(6*time.Second), d.NextAttemptTime, "the second attempt is due exactly 6 s later")
		assert.Equal(t, 500, d.LastStatusCode)
		assert.Equal(t, "HTTP 500 Internal Server Error", d.Reason)

		e.clk.Advance(6*time.Second - time.Millisecond)
		e.runOnce(t, 0)
		e.clk.Advance(time.Millisecond)
		e.runOnce(t, 1)
		d = e.delivery(t, ids[0])
		assert.Equal(t, store.StatusDone, d.Status)
		assert.Equal(t, 2, d.Attempts)
		assert.Equal(t, 204, d.LastStatusCode)
		assert.Empty(t, d.Reason)

		got := rcv.requests()
		require.Len(t, got, 2)
		assert.Equal(t, ids[0], got[0].header.Get("webhook-id"))
		assert.Equal(t, got[0].header.Get("webhook-id"), got[1].header.Get("webhook-id"), "webhook-id is stable across retries")
		assert.NotEqual(t, got[0].header.Get("webhook-timestamp"), got[1].header.Get("webhook-timestamp"))
		for i, req := range got {
			verify(t, w.Secret, req)
			var env struct{ Meta struct{ Attempt int } }
			require.NoError(t, json.Unmarshal(req.body, &env))
			assert.Equal(t, i+1, env.Meta.Attempt)
		}
		attempts := e.attempts(t, ids[0])
		require.Len(t, attempts, 2)
		assert.Equal(t, "oops", attempts[0].ResponseBody)
		assert.Equal(t, []int{1, 2}, []int{attempts[0].Number, attempts[1].Number})
	})
}

func TestFullScheduleThenFailed(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, dev)
		rcv := newReceiver(t, reply{status: 503})
		w := e.webhook(t, rcv.URL)
		ids := e.publish(t, `{}`, w.ID)
		start := e.clk.Now()
		for k := 1; k <= 16; k++ {
			e.runOnce(t, 1)
			d := e.delivery(t, ids[0])
			require.Equal(t, k, d.Attempts)
			if k == 16 {
				assert.Equal(t, store.StatusFailed, d.Status, "the 16th attempt is the last")
				break
			}
			require.Equal(t, store.StatusRetrying, d.Status, "after attempt %d", k)
			want := retry.Exponential(k)
			require.Equal(t, e.clk.Now().Add(want), d.NextAttemptTime, "delay after attempt %d", k)
			e.clk.Advance(want - time.Second)
			e.runOnce(t, 0)
			e.clk.Advance(time.Second)
		}
		assert.Equal(t, 178387*time.Second, e.clk.Now().Sub(start), "about two days")
		e.clk.Advance(30 * 24 * time.Hour)
		e.runOnce(t, 0)
		assert.Len(t, rcv.requests(), 16)
		d := e.delivery(t, ids[0])
		assert.Equal(t, "HTTP 503 Service Unavailable", d.Reason)
	})
}

func TestTimeout(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, sender.Config{Dev: true, Timeout: 200 * time.Millisecond})
		rcv := newReceiver(t, reply{hang: true})
		w := e.webhook(t, rcv.URL)
		ids := e.publish(t, `{}`, w.ID)
		began := time.Now()
		e.runOnce(t, 1)
		assert.Less(t, time.Since(began), 5*time.Second)

		d := e.delivery(t, ids[0])
		assert.Equal(t, store.StatusRetrying, d.Status)
		assert.Equal(t, e.clk.Now().Add(6*time.Second), d.NextAttemptTime)
		assert.Zero(t, d.LastStatusCode)
		attempts := e.attempts(t, ids[0])
		require.Len(t, attempts, 1)
		assert.Equal(t, "timeout after 200ms", attempts[0].Error)
		assert.Equal(t, attempts[0].Error, d.Reason)
		// The timeout clock starts before the attempt's own stopwatch: allow a little slack below 200ms.
		assert.GreaterOrEqual(t, attempts[0].Duration, 150*time.Millisecond)
		assert.Len(t, rcv.requests(), 1)
	})
}

func TestClassification(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		tests := []struct {
			name    string
			reply   reply
			async   bool
			policy  store.RetryPolicy
			status  store.Status
			delay   time.Duration // for RETRYING and WAITING
			reason  string
			disable bool
		}{
			{name: "302 is not followed", reply: reply{status: 302, header: map[string]string{"Location": "/elsewhere"}},
				status: store.StatusFailed, reason: "HTTP 302 Found"},
			{name: "400 is permanent", reply: reply{status: 400}, status: store.StatusFailed, reason: "HTTP 400 Bad Request"},
			{name: "reason from JSON", reply: reply{status: 422, body: `{"reason":"customer unknown"}`},
				status: store.StatusFailed, reason: "customer unknown"},
			{name: "reason on success", reply: reply{status: 200, body: `{"reason":"created"}`}, status: store.StatusDone, reason: "created"},
			{name: "408 retries", reply: reply{status: 408}, status: store.StatusRetrying, delay: 6 * time.Second, reason: "HTTP 408 Request Timeout"},
			{name: "429 with Retry-After", reply: reply{status: 429, header: map[string]string{"Retry-After": "20"}},
				status: store.StatusRetrying, delay: 20 * time.Second, reason: "HTTP 429 Too Many Requests"},
			{name: "429 Retry-After capped at 4x", reply: reply{status: 429, header: map[string]string{"Retry-After": "3600"}},
				status: store.StatusRetrying, delay: 24 * time.Second},
			{name: "503 Retry-After date", reply: reply{status: 503, header: map[string]string{"Retry-After": "DATE+10s"}},
				status: store.StatusRetrying, delay: 10 * time.Second},
			{name: "500 ignores Retry-After", reply: reply{status: 500, header: map[string]string{"Retry-After": "20"}},
				status: store.StatusRetrying, delay: 6 * time.Second},
			{name: "500 with reason", reply: reply{status: 500, body: `{"reason":"db down"}`},
				status: store.StatusRetrying, delay: 6 * time.Second, reason: "db down"},
			{name: "fixed policy", reply: reply{status: 500}, policy: store.RetryPolicy{Kind: store.RetryFixed, Interval: 10 * time.Second, MaxRetries: 5},
				status: store.StatusRetrying, delay: 10 * time.Second},
			{name: "no retries", reply: reply{status: 500}, policy: store.RetryPolicy{Kind: store.RetryNone}, status: store.StatusFailed},
			{name: "410 disables the webhook", reply: reply{status: 410}, status: store.StatusFailed, reason: "HTTP 410 Gone", disable: true},
			{name: "async 200", reply: reply{status: 200}, async: true, status: store.StatusDone},
			{name: "async 202", reply: reply{status: 202}, async: true, status: store.StatusWaiting, delay: 24 * time.Hour},
			{name: "async 201", reply: reply{status: 201}, async: true, status: store.StatusFailed, reason: "HTTP 201 Created (async_status webhooks accept only 200 and 202)"},
			{name: "async 500 retries", reply: reply{status: 500}, async: true, status: store.StatusRetrying, delay: 6 * time.Second},
		}
		e := setup(t, st, dev)
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if v := tt.reply.header["Retry-After"]; strings.HasPrefix(v, "DATE+") {
					tt.reply.header = map[string]string{"Retry-After": e.clk.Now().Add(10 * time.Second).Format(http.TimeFormat)}
				}
				rcv := newReceiver(t, tt.reply)
				w := e.webhook(t, rcv.URL, func(w *store.Webhook) {
					w.SystemName = "case-" + string(rune('a'+i))
					w.AsyncStatus = tt.async
					if tt.policy.Kind != "" {
						w.RetryPolicy = tt.policy
					}
				})
				ids := e.publish(t, `{}`, w.ID)
				e.runOnce(t, 1)
				d := e.delivery(t, ids[0])
				assert.Equal(t, tt.status, d.Status)
				assert.Equal(t, tt.reply.status, d.LastStatusCode)
				if tt.delay > 0 {
					assert.Equal(t, e.clk.Now().Add(tt.delay), d.NextAttemptTime)
				}
				if tt.reason != "" {
					assert.Equal(t, tt.reason, d.Reason)
				}
				assert.Len(t, rcv.requests(), 1, "redirects are never followed")
				got, err := st.GetWebhook(e.ctx, e.project.ID, w.ID)
				require.NoError(t, err)
				assert.Equal(t, !tt.disable, got.Enabled)
				if tt.status == store.StatusRetrying || tt.status == store.StatusWaiting {
					_, err := st.CancelDelivery(e.ctx, e.project.ID, d.ID, e.clk.Now()) // keep the next cases' queue clean
					require.NoError(t, err)
				}
			})
		}
	})
}

func TestDisabledAndDeletedWebhooks(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, dev)
		rcv := newReceiver(t, reply{status: 410})
		w := e.webhook(t, rcv.URL)
		first := e.publish(t, `{}`, w.ID)
		e.runOnce(t, 1)
		assert.Equal(t, store.StatusFailed, e.delivery(t, first[0]).Status)

		second := e.publish(t, `{}`, w.ID)
		e.runOnce(t, 0) // failed when published: nothing is queued for a disabled webhook
		d := e.delivery(t, second[0])
		assert.Equal(t, store.StatusFailed, d.Status)
		assert.Equal(t, health.FailWebhookDisabled.String(), d.Reason)
		assert.Zero(t, d.Attempts, "no request was made")
		assert.Len(t, rcv.requests(), 1)

		// Queued while enabled, disabled before it was sent: the sender fails it without a request.
		_, _, err := st.SetWebhookEnabled(e.ctx, store.SetWebhookEnabledParams{ProjectID: e.project.ID, WebhookID: w.ID, Enabled: true, Now: e.clk.Now()})
		require.NoError(t, err)
		third := e.publish(t, `{}`, w.ID)
		_, _, err = st.SetWebhookEnabled(e.ctx, store.SetWebhookEnabledParams{ProjectID: e.project.ID, WebhookID: w.ID, Enabled: false, Reason: health.DisabledByPerson.String(), Now: e.clk.Now()})
		require.NoError(t, err)
		e.clk.Advance(5 * time.Second) // past the sender's webhook cache
		e.runOnce(t, 1)
		d = e.delivery(t, third[0])
		assert.Equal(t, store.StatusFailed, d.Status)
		assert.Equal(t, health.FailWebhookDisabled.String(), d.Reason)
		assert.Len(t, rcv.requests(), 1)
	})
}

func TestSignatureDuringRotation(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, dev)
		rcv := newReceiver(t, reply{status: 200})
		previous, err := signature.NewSecret()
		require.NoError(t, err)
		w := e.webhook(t, rcv.URL, func(w *store.Webhook) {
			expire := e.clk.Now().Add(24 * time.Hour)
			w.PreviousSecret, w.PreviousSecretExpireTime = previous, &expire
		})
		e.publish(t, `{"a":1}`, w.ID)
		e.runOnce(t, 1)
		e.clk.Advance(25 * time.Hour)
		e.publish(t, `{"a":2}`, w.ID)
		e.runOnce(t, 1)

		got := rcv.requests()
		require.Len(t, got, 2)
		assert.Len(t, strings.Fields(got[0].header.Get("webhook-signature")), 2, "both secrets sign during rotation")
		verify(t, w.Secret, got[0])
		verify(t, previous, got[0])
		assert.Len(t, strings.Fields(got[1].header.Get("webhook-signature")), 1, "the old secret expired")
		// The reference library checks the timestamp against the wall clock: check the second one ignoring it.
		assert.Equal(t, signature.Sign(w.Secret, got[1].header.Get("webhook-id"), e.clk.Now(), got[1].body),
			got[1].header.Get("webhook-signature"))
	})
}

func TestTemplatesAndIntegration(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, dev)
		rcv := newReceiver(t, reply{status: 200})
		in := &store.Integration{ProjectID: e.project.ID, Name: "shop", BaseURL: rcv.URL + "/api/", CreateTime: e.clk.Now(),
			Headers: []store.Header{
				{Name: "Authorization", Value: "Bearer int-token", Private: true},
				{Name: "X-Unused", Value: "no"},
				{Name: "X-Region", Value: "eu"},
				{Name: "X-Override", Value: "integration"},
			}}
		require.NoError(t, st.CreateIntegration(e.ctx, in))
		w := e.webhook(t, "", func(w *store.Webhook) {
			w.IntegrationID = in.ID
			w.Method = "PUT"
			w.Path = "/orders/{{.Data.order}}?key={{.TransactionalId}}"
			w.IntegrationHeaders = []store.IntegrationHeader{{Name: "x-unused", Use: false}, {Name: "Authorization", Use: true}}
			w.Headers = []store.Header{{Name: "Idempotency-Key", Value: "{{.TransactionalId}}"}, {Name: "X-Override", Value: "webhook"}}
			w.BodyTemplate = `{"order":{{json .Data.order}},"type":"{{.EventType}}","who":"{{upper .Subject}}","n":{{.Attempt}}}`
		})
		ids := e.publish(t, `{"order":42}`, w.ID)
		e.runOnce(t, 1)

		got := rcv.requests()
		require.Len(t, got, 1)
		req := got[0]
		assert.Equal(t, "PUT", req.method)
		assert.Equal(t, "/api/orders/42", req.path)
		assert.Equal(t, "key="+ids[0], req.query)
		assert.Equal(t, ids[0], req.header.Get("Idempotency-Key"))
		assert.Equal(t, "Bearer int-token", req.header.Get("Authorization"))
		assert.Empty(t, req.header.Get("X-Unused"), "an integration header switched off is not sent")
		assert.Equal(t, "eu", req.header.Get("X-Region"), "an integration header not listed is sent")
		assert.Equal(t, []string{"webhook"}, req.header.Values("X-Override"), "webhook headers replace integration headers")
		assert.JSONEq(t, `{"order":42,"type":"user.created","who":"USER-7","n":1}`, string(req.body))
		verify(t, w.Secret, req)

		d := e.delivery(t, ids[0])
		assert.Equal(t, store.StatusDone, d.Status)
		a := e.attempts(t, ids[0])[0]
		assert.Equal(t, rcv.URL+"/api/orders/42?key="+ids[0], a.RequestURL)
		assert.Equal(t, "PUT", a.RequestMethod)
		assert.True(t, privateHeader(a.RequestHeaders, "authorization"))
	})
}

func TestBadTemplateFails(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, dev)
		rcv := newReceiver(t, reply{status: 200})
		w := e.webhook(t, rcv.URL, func(w *store.Webhook) { w.BodyTemplate = `{{index .Data.items 5}}` })
		ids := e.publish(t, `{"items":[]}`, w.ID)
		e.runOnce(t, 1)
		d := e.delivery(t, ids[0])
		assert.Equal(t, store.StatusFailed, d.Status, "a template that cannot render is not retried")
		assert.Contains(t, d.Reason, "template: body_template")
		assert.Empty(t, rcv.requests())
		a := e.attempts(t, ids[0])
		require.Len(t, a, 1)
		assert.Contains(t, a[0].Error, "template: body_template")
	})
}

func TestRateLimitDelays(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, dev)
		rcv := newReceiver(t, reply{status: 200})
		in := &store.Integration{ProjectID: e.project.ID, Name: "slow", BaseURL: rcv.URL, RateLimitPerSecond: 2, CreateTime: e.clk.Now()}
		require.NoError(t, st.CreateIntegration(e.ctx, in))
		w := e.webhook(t, "", func(w *store.Webhook) { w.IntegrationID, w.Path = in.ID, "/slow" })
		var ids []string
		for range 5 {
			ids = append(ids, e.publish(t, `{}`, w.ID)...)
		}
		e.runOnce(t, 5)
		assert.Len(t, rcv.requests(), 2, "rate in the first second")
		var delays []time.Duration
		for _, id := range ids {
			d := e.delivery(t, id)
			switch d.Status {
			case store.StatusQueued:
				assert.Zero(t, d.Attempts, "a delay is not an attempt")
				delays = append(delays, d.NextAttemptTime.Sub(e.clk.Now()))
			case store.StatusDone:
			default:
				t.Errorf("delivery %s is %s; rate limits delay, never fail", id, d.Status)
			}
		}
		// The held-back deliveries wait until the first two are a second old, then are spread at the rate (2/s),
		// not all due at once.
		// (Each admission counts in the window from RateLag after it.)
		lag := sender.RateLag
		assert.ElementsMatch(t, []time.Duration{time.Second + lag, 1500*time.Millisecond + lag, 2*time.Second + lag}, delays)
		e.runOnce(t, 0)
		for range 10 {
			e.clk.Advance(500 * time.Millisecond)
			if _, err := e.snd.RunOnce(e.ctx); err != nil {
				t.Fatal(err)
			}
		}
		assert.Len(t, rcv.requests(), 5)
		for _, id := range ids {
			assert.Equal(t, store.StatusDone, e.delivery(t, id).Status)
		}
	})
}

// TestRateLimitRollingSecond: an integration at 5/s shared by two webhooks and two senders (two stores on one
// database, as two processes) with a backlog of 40 deliveries: the receiver, counting on the injected clock, never
// gets more than 5 requests in a rolling second (no first-second burst of 2×), and the backlog drains at 5/s.
func TestRateLimitRollingSecond(t *testing.T) {
	t.Parallel()
	storetest.ForEachClusterParallel(t, func(t *testing.T, st, st2 *storetest.DB) {
		e := setup(t, st, dev)
		cfg := dev
		cfg.Queue, cfg.Targets, cfg.Rates, cfg.ActionKeys, cfg.Listener = st2, st2, st2, keys, st2.Notifier()
		cfg.Clock, cfg.Log, cfg.PublicURL = e.clk, quietLog(), "https://hookd.example.com"
		senders := []*sender.Sender{e.snd, sender.New(cfg)}

		var mu sync.Mutex
		var arrivals []time.Duration
		start := e.clk.Now()
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			arrivals = append(arrivals, e.clk.Now().Sub(start))
			mu.Unlock()
		}))
		t.Cleanup(rcv.Close)
		in := &store.Integration{ProjectID: e.project.ID, Name: "limited", BaseURL: rcv.URL, RateLimitPerSecond: 5, CreateTime: e.clk.Now()}
		require.NoError(t, st.CreateIntegration(e.ctx, in))
		for _, path := range []string{"/a", "/b"} {
			w := e.webhook(t, "", func(w *store.Webhook) { w.IntegrationID, w.Path, w.SystemName = in.ID, path, "limited"+path })
			for range 20 {
				e.publish(t, `{}`, w.ID)
			}
		}
		for i := 0; i < 2000; i++ { // 20 s of injected time in 10 ms steps, both senders every step
			mu.Lock()
			n := len(arrivals)
			mu.Unlock()
			if n == 40 {
				break
			}
			for _, s := range senders {
				_, err := s.RunOnce(e.ctx)
				require.NoError(t, err)
			}
			e.clk.Advance(10 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, arrivals, 40)
		slices.Sort(arrivals)
		most := 0
		for i := range arrivals {
			j, _ := slices.BinarySearch(arrivals, arrivals[i]+time.Second)
			most = max(most, j-i)
		}
		assert.LessOrEqual(t, most, 5, "requests in one rolling second at the receiver")
		span := arrivals[39] - arrivals[0]
		// 5 at once, then one as each admission (counted from RateLag after it) is a second old: 7 more rounds of
		// 5, plus the injected clock's steps.
		want := 7*(time.Second+sender.RateLag) + 700*time.Millisecond
		assert.InDelta(t, float64(want), float64(span), float64(250*time.Millisecond),
			"40 requests at 5/s: 5 at once, then one every (1 s + RateLag)/5")
		t.Logf("40 requests in %s, at most %d in any rolling second", span, most)
	})
}

func TestSendTest(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, dev)
		rcv := newReceiver(t, reply{status: 418, header: map[string]string{"X-Teapot": "yes"}, body: "short and stout"})
		w := e.webhook(t, rcv.URL+"/test")
		a, err := e.snd.SendTest(e.ctx, w, "user.created", []byte(`{"sample":true}`))
		require.NoError(t, err)
		assert.Equal(t, 418, a.ResponseStatusCode)
		assert.Equal(t, "short and stout", a.ResponseBody)
		assert.Equal(t, "yes", header(a.ResponseHeaders, "x-teapot"))
		assert.Zero(t, a.Number)
		assert.Empty(t, a.Error)

		got := rcv.requests()
		require.Len(t, got, 1)
		verify(t, w.Secret, got[0])
		var env struct {
			Type string
			Data map[string]any
		}
		require.NoError(t, json.Unmarshal(got[0].body, &env))
		assert.Equal(t, "user.created", env.Type)
		assert.Equal(t, map[string]any{"sample": true}, env.Data)

		ds, err := st.ListDeliveries(e.ctx, store.ListDeliveriesParams{ProjectID: e.project.ID, Filter: store.DeliveryFilter{}, Page: store.Page{Size: 10}})
		require.NoError(t, err)
		assert.Empty(t, ds, "test sends are not stored")
		e.runOnce(t, 0)

		// A network error is reported in the attempt, not as an error.
		rcv.Close()
		a, err = e.snd.SendTest(e.ctx, w, "user.created", nil)
		require.NoError(t, err)
		assert.NotEmpty(t, a.Error)
		assert.Zero(t, a.ResponseStatusCode)
	})
}

func TestSSRFRefused(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, sender.Config{Timeout: 2 * time.Second}) // not Dev
		rcv := newReceiver(t, reply{status: 200})
		port := rcv.Listener.Addr().(interface{ String() string }).String()
		port = port[strings.LastIndex(port, ":")+1:]
		targets := []string{
			"https://127.0.0.1:" + port + "/",
			"https://localhost:" + port + "/",
			"https://10.0.0.1/",
			"https://169.254.169.254/latest/meta-data/",
			"https://[::1]:" + port + "/",
			"https://[::ffff:127.0.0.1]:" + port + "/",
			"https://100.64.0.1/",
			"https://0.0.0.0:" + port + "/",
			"http://example.com/", // https only
			rcv.URL,
		}
		var ids []string
		for i, u := range targets {
			w := e.webhook(t, u, func(w *store.Webhook) { w.SystemName = "ssrf-" + string(rune('a'+i)) })
			ids = append(ids, e.publish(t, `{}`, w.ID)...)
		}
		e.runOnce(t, len(targets))
		assert.Empty(t, rcv.requests(), "nothing is sent")
		for i, id := range ids {
			d := e.delivery(t, id)
			assert.Equal(t, store.StatusFailed, d.Status, targets[i])
			a := e.attempts(t, id)
			require.Len(t, a, 1, targets[i])
			assert.Contains(t, a[0].Error, "target refused", targets[i])
			assert.Zero(t, a[0].ResponseStatusCode)
		}

		// Test sends are guarded the same way.
		a, err := e.snd.SendTest(e.ctx, &store.Webhook{Method: "POST", URL: "https://127.0.0.1:" + port, Secret: "whsec_AAAA"}, "x", nil)
		require.NoError(t, err)
		assert.Contains(t, a.Error, "target refused")
		assert.Empty(t, rcv.requests())
	})
}

// privateHeader reports whether the stored header name is flagged private.
func privateHeader(hs []store.Header, name string) bool {
	for _, h := range hs {
		if h.Name == name {
			return h.Private
		}
	}
	return false
}

// TestDeleteWebhookWhileInFlight (issue 21 item 10): deleting a webhook while its receiver is answering. The
// attempts under way finish and are recorded as what they were (DONE, with their attempt rows); only the delivery
// that was not in flight is cancelled.
func TestDeleteWebhookWhileInFlight(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, dev)
		arrived, gate := make(chan struct{}, 8), make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			arrived <- struct{}{}
			<-gate // blocks until the webhook is deleted
			w.WriteHeader(http.StatusOK)
		}))
		t.Cleanup(srv.Close)
		w := e.webhook(t, srv.URL)
		var inFlight []string
		for range 3 {
			inFlight = append(inFlight, e.publish(t, `{}`, w.ID)...)
		}
		done := make(chan error, 1)
		go func() {
			_, err := e.snd.RunOnce(e.ctx)
			done <- err
		}()
		for range inFlight {
			<-arrived
		}
		queued := e.publish(t, `{}`, w.ID) // not claimed: nothing is under way for it
		require.NoError(t, st.DeleteWebhook(e.ctx, e.project.ID, w.ID, e.clk.Now()))
		close(gate)
		require.NoError(t, <-done)

		for _, id := range inFlight {
			d := e.delivery(t, id)
			assert.Equal(t, store.StatusDone, d.Status, "a delivery answered 200 while its webhook was deleted")
			assert.Equal(t, 200, d.LastStatusCode)
			require.Len(t, e.attempts(t, id), 1)
		}
		d := e.delivery(t, queued[0])
		assert.Equal(t, store.StatusCancelled, d.Status)
		assert.Equal(t, health.FailWebhookDeleted.String(), d.Reason)
	})
}

// TestRefusedAddressNotNamed (issue 21 item 18): without Dev, a target whose name resolves to a forbidden address
// is refused with "target refused: address not allowed", never naming the resolved address (the error is shown to
// MEMBERs: it would tell them what internal names resolve to), in attempts, delivery reasons and test sends.
func TestRefusedAddressNotNamed(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		// not Dev; an internal name that resolves to loopback
		e := setup(t, st, sender.Config{Timeout: 2 * time.Second, LookupHostFunc: func(_ context.Context, host string) ([]string, error) {
			if host == "billing.internal.example" {
				return []string{"127.0.0.1"}, nil
			}
			return nil, fmt.Errorf("lookup %s: no such host", host)
		}})
		rcv := newReceiver(t, reply{status: 200})
		port := rcv.Listener.Addr().String()
		port = port[strings.LastIndex(port, ":")+1:]
		target := "https://billing.internal.example:" + port + "/"
		leaks := func(s string) bool {
			return strings.Contains(s, "127.0.0.1") || strings.Contains(s, "::1") || strings.Contains(s, "dial")
		}
		w := e.webhook(t, target)
		ids := e.publish(t, `{}`, w.ID)
		e.runOnce(t, 1)
		d := e.delivery(t, ids[0])
		assert.Equal(t, store.StatusFailed, d.Status)
		assert.False(t, leaks(d.Reason), "reason %q", d.Reason)
		a := e.attempts(t, ids[0])
		require.Len(t, a, 1)
		assert.Equal(t, "target refused: address not allowed", a[0].Error)

		ta, err := e.snd.SendTest(e.ctx, &store.Webhook{Method: "POST", URL: target, Secret: "whsec_AAAA"}, "x", nil)
		require.NoError(t, err)
		assert.Equal(t, "target refused: address not allowed", ta.Error)
		assert.Empty(t, rcv.requests())
	})
}

// TestPanicInAttemptIsContained (issue 21 item 12): a panic in a delivery attempt fails that delivery (FAILED at
// once, reason "panic: …", not retried), counts in hookd_sender_panics_total, and neither the process nor the other
// attempts of the batch are affected.
func TestPanicInAttemptIsContained(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		reg := prometheus.NewRegistry()
		var poisoned atomic.Value
		cfg := dev
		cfg.Registerer = reg
		cfg.BeforeAttemptFunc = func(_ context.Context, d *store.ClaimedDelivery) {
			if d.ID == poisoned.Load() {
				panic("boom")
			}
		}
		e := setup(t, st, cfg)
		rcv := newReceiver(t, reply{status: 200})
		w := e.webhook(t, rcv.URL)
		bad := e.publish(t, `{}`, w.ID)[0]
		good := e.publish(t, `{}`, w.ID)[0]
		poisoned.Store(bad)
		e.runOnce(t, 2)

		d := e.delivery(t, bad)
		assert.Equal(t, store.StatusFailed, d.Status)
		assert.Equal(t, "panic: boom", d.Reason)
		assert.Equal(t, store.StatusDone, e.delivery(t, good).Status, "the other attempt of the batch went on")
		assert.Len(t, rcv.requests(), 1)
		e.clk.Advance(time.Hour)
		e.runOnce(t, 0) // not retried
		assert.Equal(t, 1.0, metricValue(t, reg, "hookd_sender_panics_total"))
	})
}

// metricValue is the value of a registered counter without labels.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

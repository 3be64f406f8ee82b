package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
)

// Real-clock tests of the delivery engine's promises about time, through the real binary and its public API
// ("Delivery timing and fairness" in DESIGN.md): attempts start within 1 s of their due time, idle or busy, and
// one project's troubles do not delay another's deliveries.

// arrival is one request a timed receiver got.
type arrival struct {
	deliveryID string
	attempt    int
	at         time.Time
}

// timedReceiver records when each request arrives and answers with answer(n): a status after a wait (n counts
// the requests of a delivery id from 1).
type timedReceiver struct {
	mu       sync.Mutex
	arrivals []arrival
	counts   map[string]int
	srv      *httptest.Server
}

func newTimedReceiver(t *testing.T, answer func(n int) (int, time.Duration)) *timedReceiver {
	t.Helper()
	rec := &timedReceiver{counts: map[string]int{}}
	stop := make(chan struct{})
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now() // when the request arrived (its headers), before its body is read
		var env struct {
			Meta struct {
				Attempt int `json:"attempt"`
			} `json:"meta"`
		}
		_ = json.NewDecoder(r.Body).Decode(&env)
		id := r.Header.Get("webhook-id")
		rec.mu.Lock()
		rec.counts[id]++
		n := rec.counts[id]
		rec.arrivals = append(rec.arrivals, arrival{deliveryID: id, attempt: env.Meta.Attempt, at: at})
		rec.mu.Unlock()
		code, wait := answer(n)
		if wait > 0 {
			select {
			case <-time.After(wait):
			case <-r.Context().Done():
				return
			case <-stop:
				return
			}
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(func() { close(stop); rec.srv.Close() })
	return rec
}

func (rec *timedReceiver) got() []arrival {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.arrivals)
}

// waitFor waits until the receiver got n requests (or fails after timeout) and returns them.
func (rec *timedReceiver) waitFor(t *testing.T, n int, timeout time.Duration) []arrival {
	t.Helper()
	eventually(t, timeout, "requests at the receiver", func() bool { return len(rec.got()) >= n })
	return rec.got()[:n]
}

// within fails unless got is want ± tolerance.
func within(t *testing.T, what string, got, want, tolerance time.Duration) {
	t.Helper()
	if got < want-tolerance || got > want+tolerance {
		t.Errorf("%s: %s, want %s ± %s", what, got.Round(time.Millisecond), want, tolerance)
	} else {
		t.Logf("%s: %s (want %s)", what, got.Round(time.Millisecond), want)
	}
}

// timingEnv is a started hookd with an event type, on one backend.
type timingEnv struct {
	p   *proc
	c   clients
	ctx context.Context
}

func newTimingEnv(t *testing.T, b backend, args ...string) *timingEnv {
	t.Helper()
	key := testKey(t)
	e := &timingEnv{p: startHookd(t, key, append(b.args(t), args...)...), ctx: context.Background()}
	e.c = newClients(e.p.baseURL, key, "connect")
	if _, err := e.c.eventTypes.CreateEventType(e.ctx, connect.NewRequest(&hookdv1.CreateEventTypeRequest{Name: "user.created"})); err != nil {
		t.Fatalf("CreateEventType: %v", err)
	}
	return e
}

func (e *timingEnv) webhook(t *testing.T, req *hookdv1.CreateWebhookRequest) *hookdv1.Webhook {
	t.Helper()
	if req.Name == "" {
		req.Name = "receiver " + randomHex(3)
	}
	wh, err := e.c.webhooks.CreateWebhook(e.ctx, connect.NewRequest(req))
	if err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	return wh.Msg.GetWebhook()
}

// publish sends n events straight to the webhook (one PublishEvents call) and returns their delivery ids.
func (e *timingEnv) publish(t *testing.T, webhookID string, n int) []string {
	t.Helper()
	var reqs []*hookdv1.PublishEventRequest
	for range n {
		reqs = append(reqs, &hookdv1.PublishEventRequest{EventType: "user.created", WebhookIds: []string{webhookID}})
	}
	res, err := e.c.events.PublishEvents(e.ctx, connect.NewRequest(&hookdv1.PublishEventsRequest{Events: reqs}))
	if err != nil {
		t.Fatalf("PublishEvents: %v", err)
	}
	var ids []string
	for _, r := range res.Msg.GetResults() {
		ids = append(ids, r.GetDeliveryIds()...)
	}
	return ids
}

func (e *timingEnv) delivery(t *testing.T, id string) *hookdv1.Delivery {
	t.Helper()
	res, err := e.c.deliveries.GetDelivery(e.ctx, connect.NewRequest(&hookdv1.GetDeliveryRequest{Id: id}))
	if err != nil {
		t.Fatalf("GetDelivery: %v", err)
	}
	return res.Msg.GetDelivery()
}

// TestRetryScheduleToTheSecond: a 500, 500, 200 receiver gets its second attempt 6 s after the first and its
// third 21 s after the second (5 s + k⁴), and next_attempt_time shown by the API is when the attempt happens.
func TestRetryScheduleToTheSecond(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newTimingEnv(t, b)
			rec := newTimedReceiver(t, func(n int) (int, time.Duration) {
				if n < 3 {
					return http.StatusInternalServerError, 0
				}
				return http.StatusOK, 0
			})
			wh := e.webhook(t, &hookdv1.CreateWebhookRequest{Url: rec.srv.URL})
			id := e.publish(t, wh.GetId(), 1)[0]

			first := rec.waitFor(t, 1, 10*time.Second)[0]
			var next time.Time
			eventually(t, 5*time.Second, "the first outcome", func() bool {
				d := e.delivery(t, id)
				next = d.GetNextAttemptTime().AsTime()
				return d.GetAttempts() == 1
			})
			got := rec.waitFor(t, 3, 40*time.Second)
			within(t, "second attempt after the first", got[1].at.Sub(first.at), 6*time.Second, time.Second)
			within(t, "third attempt after the second", got[2].at.Sub(got[1].at), 21*time.Second, time.Second)
			within(t, "second attempt vs the API's next_attempt_time", got[1].at.Sub(next), 0, time.Second)
			eventually(t, 5*time.Second, "DONE", func() bool {
				return e.delivery(t, id).GetStatus() == hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE
			})
		})
	}
}

// TestHangIsCutAndRetried: a receiver that hangs 20 s is cut at 15 s and retried 6 s later.
func TestHangIsCutAndRetried(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newTimingEnv(t, b)
			rec := newTimedReceiver(t, func(n int) (int, time.Duration) {
				if n == 1 {
					return http.StatusOK, 20 * time.Second
				}
				return http.StatusOK, 0
			})
			wh := e.webhook(t, &hookdv1.CreateWebhookRequest{Url: rec.srv.URL})
			id := e.publish(t, wh.GetId(), 1)[0]
			got := rec.waitFor(t, 2, 40*time.Second)
			within(t, "retry after a 20 s hang", got[1].at.Sub(got[0].at), 15*time.Second+6*time.Second, time.Second)
			eventually(t, 5*time.Second, "DONE", func() bool {
				return e.delivery(t, id).GetStatus() == hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE
			})
			res, err := e.c.deliveries.GetDelivery(e.ctx, connect.NewRequest(&hookdv1.GetDeliveryRequest{Id: id}))
			if err != nil {
				t.Fatal(err)
			}
			if a := res.Msg.GetDelivery().GetAttemptList(); len(a) != 2 || a[0].GetError() != "timeout after 15s" {
				t.Errorf("attempts: %v", a)
			}
		})
	}
}

// TestFixedIntervalWhileBusy: a FIXED 10 s × 5 policy is 10 s apart while the sender is busy with a hanging
// webhook's backlog.
func TestFixedIntervalWhileBusy(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newTimingEnv(t, b)
			failing := newTimedReceiver(t, func(int) (int, time.Duration) { return http.StatusServiceUnavailable, 0 })
			busy := newTimedReceiver(t, func(int) (int, time.Duration) { return http.StatusOK, 10 * time.Second })
			fixed := e.webhook(t, &hookdv1.CreateWebhookRequest{Url: failing.srv.URL,
				RetryPolicy: &hookdv1.RetryPolicy{Kind: hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_FIXED, Interval: durationpb.New(10 * time.Second), MaxRetries: 5}})
			hanging := e.webhook(t, &hookdv1.CreateWebhookRequest{Url: busy.srv.URL})
			e.publish(t, hanging.GetId(), 200)
			id := e.publish(t, fixed.GetId(), 1)[0]
			got := failing.waitFor(t, 6, 70*time.Second)
			for i := 1; i < len(got); i++ {
				within(t, "FIXED interval", got[i].at.Sub(got[i-1].at), 10*time.Second, time.Second)
			}
			eventually(t, 5*time.Second, "FAILED after 5 retries", func() bool {
				d := e.delivery(t, id)
				return d.GetStatus() == hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED && d.GetAttempts() == 6
			})
		})
	}
}

// TestRateLimitAcrossProcesses: an integration at 5/s shared by two webhooks (and, on PostgreSQL, two processes)
// delivers 40 events in 7–10 s; never more than 5 attempts start in any rolling second (5 at once, then one as
// each of them is a second old: the backlog drains at 5/s).
func TestRateLimitAcrossProcesses(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			dbArgs := b.args(t)
			key := testKey(t)
			p := startHookd(t, key, dbArgs...)
			if b.name == "postgres" {
				startHookd(t, key, append(dbArgs, "--role", "sender")...)
			}
			e := &timingEnv{p: p, c: newClients(p.baseURL, key, "connect"), ctx: context.Background()}
			if _, err := e.c.eventTypes.CreateEventType(e.ctx, connect.NewRequest(&hookdv1.CreateEventTypeRequest{Name: "user.created"})); err != nil {
				t.Fatal(err)
			}
			rec := newTimedReceiver(t, func(int) (int, time.Duration) { return http.StatusOK, 0 })
			in, err := e.c.integrations.CreateIntegration(e.ctx, connect.NewRequest(&hookdv1.CreateIntegrationRequest{
				Name: "limited", BaseUrl: rec.srv.URL, RateLimitPerSecond: 5}))
			if err != nil {
				t.Fatal(err)
			}
			a := e.webhook(t, &hookdv1.CreateWebhookRequest{IntegrationId: in.Msg.GetIntegration().GetId(), Path: "/a"})
			bw := e.webhook(t, &hookdv1.CreateWebhookRequest{IntegrationId: in.Msg.GetIntegration().GetId(), Path: "/b"})
			start := time.Now()
			e.publish(t, a.GetId(), 20)
			e.publish(t, bw.GetId(), 20)
			got := rec.waitFor(t, 40, 30*time.Second)
			span := got[39].at.Sub(start)
			if span < 7*time.Second || span > 10*time.Second {
				t.Errorf("40 events at 5/s took %s, want 7–10 s", span.Round(time.Millisecond))
			}
			// The contract: at most 5 attempts START in any rolling second (Attempt.start_time, recorded by hookd when
			// it sends). Exact by construction: the window counts each admission from RateLag after it is granted,
			// and an attempt held up longer than that takes a fresh admission.
			var starts []time.Time
			for _, g := range got {
				d, err := e.c.deliveries.GetDelivery(e.ctx, connect.NewRequest(&hookdv1.GetDeliveryRequest{Id: g.deliveryID}))
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range d.Msg.GetDelivery().GetAttemptList() {
					starts = append(starts, a.GetStartTime().AsTime())
				}
			}
			most := mostWithin(starts, time.Second)
			if most > 5 {
				t.Errorf("%d attempts started within one rolling second, want at most 5 (starts: %v)", most, offsets(starts))
			}
			// At the receiver the same holds up to the time a request takes to arrive (scheduling and a new
			// connection on a loaded machine: tens of milliseconds), so arrivals are counted in windows that much
			// shorter.
			var ats []time.Time
			for _, g := range got {
				ats = append(ats, g.at)
			}
			if n := mostWithin(ats, time.Second-arrivalJitter); n > 5 {
				t.Errorf("%d requests arrived within %s, want at most 5 (arrivals: %v)", n, time.Second-arrivalJitter, offsets(ats))
			}
			t.Logf("40 events in %s, at most %d in a second", span.Round(time.Millisecond), most)
		})
	}
}

// TestFairness: project A's webhook hangs 10 s per request with 500 deliveries queued; project B's healthy
// webhook gets each of its fresh events within 1 s while A's backlog drains.
func TestFairness(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newTimingEnv(t, b)
			slow := newTimedReceiver(t, func(int) (int, time.Duration) { return http.StatusOK, 10 * time.Second })
			healthy := newTimedReceiver(t, func(int) (int, time.Duration) { return http.StatusOK, 0 })
			a := e.webhook(t, &hookdv1.CreateWebhookRequest{Url: slow.srv.URL})
			e.publish(t, a.GetId(), 500)
			slow.waitFor(t, 1, 10*time.Second) // A's backlog is being worked on

			// Project B, with its own key.
			prj, err := e.c.projects.CreateProject(e.ctx, connect.NewRequest(&hookdv1.CreateProjectRequest{Name: "b-" + randomHex(3)}))
			if err != nil {
				t.Fatal(err)
			}
			k, err := e.c.apiKeys.CreateApiKey(e.ctx, connect.NewRequest(&hookdv1.CreateApiKeyRequest{Name: "b", Role: hookdv1.Role_ROLE_ADMIN,
				ProjectId: prj.Msg.GetProject().GetId()}))
			if err != nil {
				t.Fatal(err)
			}
			eb := &timingEnv{p: e.p, c: newClients(e.p.baseURL, k.Msg.GetKey(), "connect"), ctx: e.ctx}
			if _, err := eb.c.eventTypes.CreateEventType(e.ctx, connect.NewRequest(&hookdv1.CreateEventTypeRequest{Name: "user.created"})); err != nil {
				t.Fatal(err)
			}
			bw := eb.webhook(t, &hookdv1.CreateWebhookRequest{Url: healthy.srv.URL})
			var worst time.Duration
			for i := range 10 {
				sent := time.Now()
				eb.publish(t, bw.GetId(), 1)
				got := healthy.waitFor(t, i+1, 10*time.Second)
				worst = max(worst, got[i].at.Sub(sent))
			}
			if worst > time.Second {
				t.Errorf("B's slowest delivery took %s while A's backlog drained, want under 1 s", worst.Round(time.Millisecond))
			}
			inFlight := len(slow.got())
			t.Logf("B's slowest of 10 deliveries: %s; A's receiver got %d requests (its cap: half of the 64 workers)", worst.Round(time.Millisecond), inFlight)
			if inFlight > 32 {
				t.Errorf("A's hanging webhook got %d requests at once, more than its cap of 32", inFlight)
			}
		})
	}
}

// TestAsyncTimeoutToTheSecond: a WAITING delivery fails within 1 s of its async_timeout.
func TestAsyncTimeoutToTheSecond(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newTimingEnv(t, b)
			rec := newTimedReceiver(t, func(int) (int, time.Duration) { return http.StatusAccepted, 0 })
			wh := e.webhook(t, &hookdv1.CreateWebhookRequest{Url: rec.srv.URL, AsyncStatus: true, AsyncTimeout: durationpb.New(5 * time.Second)})
			id := e.publish(t, wh.GetId(), 1)[0]
			got := rec.waitFor(t, 1, 10*time.Second)
			var failed time.Time
			eventually(t, 10*time.Second, "FAILED", func() bool {
				if e.delivery(t, id).GetStatus() == hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED {
					failed = time.Now()
					return true
				}
				return false
			})
			within(t, "WAITING failed after the 202", failed.Sub(got[0].at), 5*time.Second, time.Second)
		})
	}
}

// arrivalJitter is how much later than its start an attempt may reach a loopback receiver on a loaded test
// machine (goroutine scheduling, a new connection).
const arrivalJitter = 100 * time.Millisecond

// mostWithin returns the most times that fall within one window of length w.
func mostWithin(ts []time.Time, w time.Duration) int {
	ts = slices.Clone(ts)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	most := 0
	for i := range ts {
		n := 0
		for j := i; j < len(ts) && ts[j].Sub(ts[i]) < w; j++ {
			n++
		}
		most = max(most, n)
	}
	return most
}

// offsets returns the times as offsets from the earliest, for messages.
func offsets(ts []time.Time) []string {
	if len(ts) == 0 {
		return nil
	}
	first := slices.MinFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.Sub(first).Round(time.Millisecond).String())
	}
	return out
}

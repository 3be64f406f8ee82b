package sender_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/sender"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// orderedReceiver records, per ordering key, the sequence numbers it accepted, and every violation of the ordered
// contract it saw: an attempt of a key while another attempt of that key was in flight, or an accepted delivery
// that is not the next of its key.
type orderedReceiver struct {
	*httptest.Server
	mu         sync.Mutex
	accepted   map[string][]int
	inFlight   map[string]int
	violations []string
	acceptedAt map[string]time.Time // "key/seq" → when it was accepted
	// fail decides an attempt's answer (true: 500).
	fail func(key string, seq int) bool
}

func newOrderedReceiver(t *testing.T, fail func(key string, seq int) bool) *orderedReceiver {
	t.Helper()
	r := &orderedReceiver{accepted: map[string][]int{}, inFlight: map[string]int{}, acceptedAt: map[string]time.Time{}, fail: fail}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var env struct {
			Data struct {
				Key string `json:"key"`
				Seq int    `json:"seq"`
			}
		}
		if err := json.NewDecoder(req.Body).Decode(&env); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		k, n := env.Data.Key, env.Data.Seq
		r.mu.Lock()
		r.inFlight[k]++
		if r.inFlight[k] > 1 {
			r.violations = append(r.violations, fmt.Sprintf("key %s: seq %d sent while another of the key was in flight", k, n))
		}
		failed := r.fail(k, n)
		if !failed {
			if want := len(r.accepted[k]); n != want {
				r.violations = append(r.violations, fmt.Sprintf("key %s: got seq %d, want %d", k, n, want))
			}
			r.accepted[k] = append(r.accepted[k], n)
			r.acceptedAt[fmt.Sprintf("%s/%d", k, n)] = time.Now()
		}
		r.inFlight[k]--
		r.mu.Unlock()
		if failed {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *orderedReceiver) state() (map[string][]int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	acc := make(map[string][]int, len(r.accepted))
	for k, v := range r.accepted {
		acc[k] = append([]int(nil), v...)
	}
	return acc, append([]string(nil), r.violations...)
}

// keyedEvent is a user.created event with an ordering key and its sequence number in the payload.
func keyedEvent(key string, seq int) store.PublishInput {
	return store.PublishInput{Event: store.Event{EventType: "user.created", OrderingKey: key,
		Payload: json.RawMessage(fmt.Sprintf(`{"key":%q,"seq":%d}`, key, seq))}}
}

func TestOrderedKeysUnderRandomFailures(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		const keys, perKey, clients = 200, 20, 8
		e := setup(t, st, sender.Config{Dev: true, Workers: 32, BatchSize: 400})
		var rndMu sync.Mutex
		rnd := rand.New(rand.NewPCG(25, 1))
		ordered := newOrderedReceiver(t, func(string, int) bool {
			rndMu.Lock()
			defer rndMu.Unlock()
			return rnd.IntN(10) == 0 // 10 % of attempts fail with 500
		})
		ow := e.webhook(t, ordered.URL, func(w *store.Webhook) { w.Ordered = true; w.SystemName = "ordered" })

		// The unordered webhook's receiver notes in which sender round each of its deliveries arrived.
		var round atomic.Int64
		var umu sync.Mutex
		arrived := map[string]int64{}
		plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			var env struct{ Data struct{ ID string } }
			_ = json.NewDecoder(req.Body).Decode(&env)
			umu.Lock()
			arrived[env.Data.ID] = round.Load()
			umu.Unlock()
		}))
		t.Cleanup(plain.Close)
		uw := e.webhook(t, plain.URL, func(w *store.Webhook) { w.SystemName = "plain" })

		// 8 clients publish concurrently: client c owns the keys k ≡ c (mod 8) and publishes seq 0..19 of each in
		// order, one batch per seq, with one unordered event per batch beside them.
		published := map[string]int64{} // unordered event id → the round after its publish committed
		var pmu sync.Mutex
		var wg sync.WaitGroup
		var publishing atomic.Int64
		publishing.Store(clients)
		errs := make(chan error, clients)
		for c := range clients {
			wg.Go(func() {
				defer publishing.Add(-1)
				for seq := range perKey {
					var in []store.PublishInput
					for k := c; k < keys; k += clients {
						in = append(in, keyedEvent(fmt.Sprintf("key-%03d", k), seq))
						in[len(in)-1].WebhookIDs = []string{ow.ID}
					}
					uid := fmt.Sprintf("u-%d-%d", c, seq)
					in = append(in, store.PublishInput{Event: store.Event{EventType: "user.created",
						Payload: json.RawMessage(fmt.Sprintf(`{"id":%q}`, uid))}, WebhookIDs: []string{uw.ID}})
					if _, err := st.PublishEvents(e.ctx, store.PublishEventsParams{ProjectID: e.project.ID, Events: in,
						Now: e.clk.Now()}); err != nil {
						errs <- err
						return
					}
					pmu.Lock()
					published[uid] = round.Load()
					pmu.Unlock()
				}
			})
		}

		// The sender runs round after round; when a round finds nothing due, the clock jumps ahead so that retries
		// (5 s + N⁴) are due at once.
		for rounds := 0; ; rounds++ {
			require.Less(t, rounds, 5000, "the traffic does not drain")
			round.Add(1)
			n, err := e.snd.RunOnce(e.ctx)
			require.NoError(t, err)
			if n > 0 {
				continue
			}
			if publishing.Load() == 0 {
				depth, err := st.QueueDepth(e.ctx)
				require.NoError(t, err)
				if depth == 0 {
					break
				}
			}
			e.clk.Advance(time.Hour)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}

		accepted, violations := ordered.state()
		assert.Empty(t, violations, "every key in publish order, one at a time")
		require.Len(t, accepted, keys)
		want := make([]int, perKey)
		for i := range want {
			want[i] = i
		}
		for k, got := range accepted {
			assert.Equal(t, want, got, "key %s: every event, in order", k)
		}

		// Unordered traffic beside it is not held back: each delivery arrives in the round its publish committed in
		// or the next one.
		umu.Lock()
		defer umu.Unlock()
		require.Len(t, arrived, clients*perKey, "every unordered delivery arrived")
		for id, r := range arrived {
			assert.LessOrEqual(t, r-published[id], int64(1), "unordered delivery %s waited %d rounds", id, r-published[id])
		}
	})
}

func TestOrderedFailingHeadHoldsOnlyItsKey(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		var healed atomic.Bool
		rcv := newOrderedReceiver(t, func(key string, seq int) bool { return key == "stuck" && seq == 0 && !healed.Load() })
		signals := &sender.TestSignals{}
		signals.Idle.Init() // only Idle is waited on here
		e := setup(t, st, sender.Config{Dev: true, Workers: 8, BatchSize: 50, Signals: signals})
		w := e.webhook(t, rcv.URL, func(w *store.Webhook) { w.Ordered = true })
		var in []store.PublishInput
		for seq := range 5 {
			for _, k := range []string{"stuck", "a", "b", "c"} {
				in = append(in, keyedEvent(k, seq))
				in[len(in)-1].WebhookIDs = []string{w.ID}
			}
		}
		res, err := st.PublishEvents(e.ctx, store.PublishEventsParams{ProjectID: e.project.ID, Events: in, Now: e.clk.Now()})
		require.NoError(t, err)
		var stuck []string
		for i, r := range res {
			if i%4 == 0 {
				stuck = append(stuck, r.DeliveryIDs[0])
			}
		}

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		require.NoError(t, e.snd.Start(ctx))
		defer e.snd.Stop()
		require.Eventually(t, func() bool {
			acc, _ := rcv.state()
			return len(acc["a"]) == 5 && len(acc["b"]) == 5 && len(acc["c"]) == 5
		}, 15*time.Second, 10*time.Millisecond, "the other keys are delivered while the head of stuck fails")
		waitIdle(t, signals)
		acc, violations := rcv.state()
		assert.Empty(t, acc["stuck"])
		assert.Empty(t, violations)
		head := e.delivery(t, stuck[0])
		assert.Equal(t, store.StatusRetrying, head.Status)
		for i, id := range stuck[1:] {
			d := e.delivery(t, id)
			assert.Equal(t, store.StatusQueued, d.Status)
			assert.Equal(t, stuck[i], d.BlockedBy, "each follower shows what it waits for")
			assert.Zero(t, d.Attempts, "the rest of the key waits")
		}

		// The receiver heals and the head's retry comes due: once it succeeds its followers go, in order, within 1 s.
		healed.Store(true)
		e.clk.Advance(head.NextAttemptTime.Sub(e.clk.Now()))
		e.publish(t, `{"key":"other","seq":0}`, w.ID) // a publish wakes the sleeping sender, which finds the retry due
		require.Eventually(t, func() bool {
			acc, _ := rcv.state()
			return len(acc["stuck"]) == 5
		}, 10*time.Second, 5*time.Millisecond)
		rcv.mu.Lock()
		took := rcv.acceptedAt["stuck/4"].Sub(rcv.acceptedAt["stuck/0"])
		rcv.mu.Unlock()
		assert.Less(t, took, time.Second, "the followers went within 1 s of the head's success")
		acc, violations = rcv.state()
		assert.Equal(t, []int{0, 1, 2, 3, 4}, acc["stuck"])
		assert.Empty(t, violations)
	})
}

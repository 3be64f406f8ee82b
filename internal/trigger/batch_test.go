package trigger_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/trigger"
)

// TestConcurrentIngest fires requests at once (so that they share batches) and checks that every execution,
// event and delivery is stored exactly once and belongs to the request that got its id.
func TestConcurrentIngest(t *testing.T) {
	const n = 200
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		hook := b.subscribe(t, "order.created")
		trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", RateLimitPerSecond: trigger.MaxRateLimit})
		rejected := func(i int) bool { return i%10 == 0 } // malformed JSON: recorded without an event

		exeIDs := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				body := `{"n":` + strconv.Itoa(i) + `}`
				if rejected(i) {
					body = `{bad`
				}
				res, err := http.Post(trg.Url+"?n="+strconv.Itoa(i), "application/json", strings.NewReader(body))
				if !assert.NoError(t, err) {
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				want := http.StatusOK
				if rejected(i) {
					want = http.StatusBadRequest
				}
				assert.Equal(t, want, res.StatusCode, "request %d", i)
				exeIDs[i] = res.Header.Get("Hookd-Execution-Id")
			})
		}
		wg.Wait()
		require.False(t, t.Failed())

		var stored []store.Execution
		for page := (store.Page{Size: 100}); ; {
			got, err := st.ListExecutions(b.ctx, b.project.ID, trg.Id, page)
			require.NoError(t, err)
			stored = append(stored, got...)
			if len(got) < page.Size {
				break
			}
			page.After = got[len(got)-1].ID
		}
		require.Len(t, stored, n, "one execution per request")
		byID := map[string]store.Execution{}
		for _, e := range stored {
			byID[e.ID] = e
		}
		events := map[string]bool{}
		for i, exeID := range exeIDs {
			e, ok := byID[exeID]
			require.True(t, ok, "request %d's execution %q is stored", i, exeID)
			assert.Equal(t, []store.Header{{Name: "n", Value: strconv.Itoa(i)}}, e.QueryParameters, "execution %s is request %d's", exeID, i)
			if rejected(i) {
				assert.Empty(t, e.EventID)
				continue
			}
			require.NotEmpty(t, e.EventID, "request %d published", i)
			require.False(t, events[e.EventID], "event %s belongs to one execution", e.EventID)
			events[e.EventID] = true
			ev, err := st.GetEvent(b.ctx, b.project.ID, e.EventID)
			require.NoError(t, err)
			var p struct {
				Data struct{ N int } `json:"data"`
			}
			require.NoError(t, json.Unmarshal(ev.Payload, &p))
			assert.Equal(t, i, p.Data.N, "event %s carries request %d's body", ev.ID, i)
			assert.Equal(t, store.DeliveryCounts{store.StatusQueued: 1}, ev.Counts)
		}
		var all []store.Event
		for page := (store.Page{Size: 100}); ; {
			got, err := st.ListEvents(b.ctx, b.project.ID, store.EventFilter{}, page)
			require.NoError(t, err)
			all = append(all, got...)
			if len(got) < page.Size {
				break
			}
			page.After = got[len(got)-1].ID
		}
		assert.Len(t, all, n-n/10, "no event stored twice")
		dlv, err := st.ListDeliveries(b.ctx, store.ListDeliveriesParams{ProjectID: b.project.ID, Filter: store.DeliveryFilter{WebhookID: hook.ID}, Page: store.Page{Size: n}})
		require.NoError(t, err)
		assert.Len(t, dlv, n-n/10, "one delivery per event")
	})
}

func TestTriggerCache(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created"})
		require.Equal(t, http.StatusOK, b.post(t, trg.Url, "application/json", "{}").status)

		_, err := b.admin.UpdateTrigger(b.ctx, connect.NewRequest(&hookdv1.UpdateTriggerRequest{Id: trg.Id, Enabled: new(false)}))
		require.NoError(t, err)
		b.clock.Advance(trigger.DefaultTriggerCacheTTL / 2)
		assert.Equal(t, http.StatusOK, b.post(t, trg.Url, "application/json", "{}").status, "the trigger read before is reused")
		b.clock.Advance(trigger.DefaultTriggerCacheTTL / 2)
		assert.Equal(t, http.StatusNotFound, b.post(t, trg.Url, "application/json", "{}").status, "disabled within the TTL")

		// A deleted trigger still in the cache cannot record executions: 404.
		_, err = b.admin.UpdateTrigger(b.ctx, connect.NewRequest(&hookdv1.UpdateTriggerRequest{Id: trg.Id, Enabled: new(true)}))
		require.NoError(t, err)
		b.clock.Advance(trigger.DefaultTriggerCacheTTL)
		require.Equal(t, http.StatusOK, b.post(t, trg.Url, "application/json", "{}").status)
		_, err = b.admin.DeleteTrigger(b.ctx, connect.NewRequest(&hookdv1.DeleteTriggerRequest{Id: trg.Id}))
		require.NoError(t, err)
		r := b.post(t, trg.Url, "application/json", "{}")
		assert.Equal(t, http.StatusNotFound, r.status)
		assert.Equal(t, "trigger not found", r.json(t)["error"])
	})
}

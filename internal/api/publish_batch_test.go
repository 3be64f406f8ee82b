package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/groupcommit"
	"github.com/hookd/hookd/internal/store"
)

// publishCounter records the size of every PublishEvents call by project.
type publishCounter struct {
	store.Store

	mu    sync.Mutex
	sizes map[string][]int
}

func (c *publishCounter) PublishEvents(ctx context.Context, p store.PublishEventsParams) ([]store.PublishResult, error) {
	c.mu.Lock()
	c.sizes[p.ProjectID] = append(c.sizes[p.ProjectID], len(p.Events))
	c.mu.Unlock()
	return c.Store.PublishEvents(ctx, p)
}

func (c *publishCounter) largest() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var m int
	for _, s := range c.sizes {
		m = max(m, slices.Max(s))
	}
	return m
}

// TestConcurrentPublishEvent fires PublishEvent calls of two projects at once, so that they share batches (group
// commit), with repeated idempotency keys and one unknown webhook id that fails its batch: every caller must get
// its own answer, as if it had published alone, and every event must be stored exactly once.
func TestConcurrentPublishEvent(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		st := &publishCounter{Store: e.st, sizes: map[string][]int{}}
		reg := prometheus.NewRegistry()
		d := Deps{Store: st, Clock: e.clock, Log: slog.New(slog.DiscardHandler)}
		svc := NewEventService(d, EventConfig{Registerer: reg, Batch: groupcommit.Config{MaxWait: 20 * time.Millisecond}})
		mux := http.NewServeMux()
		mux.Handle(hookdv1connect.NewEventServiceHandler(svc, handlerOptions(e.st, d.Log)...))
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		clientOf := func(project string) hookdv1connect.EventServiceClient {
			secret, err := auth.IssueKey(ctx, e.st, &store.APIKey{ProjectID: project, Name: "publisher", Role: store.RoleMember, CreateTime: e.clock.Now()})
			require.NoError(t, err)
			hc := &http.Client{Transport: bearerTransport{secret: secret, next: http.DefaultTransport}, Timeout: 30 * time.Second}
			return hookdv1connect.NewEventServiceClient(hc, srv.URL)
		}
		eventClients := map[string]hookdv1connect.EventServiceClient{auth.DefaultProjectID: clientOf(auth.DefaultProjectID), otherProjectID: clientOf(otherProjectID)}
		hooks := map[string]*hookdv1.Webhook{auth.DefaultProjectID: createWebhook(t, e.member, "ours"), otherProjectID: createWebhook(t, e.other, "theirs")}
		for project, c := range map[string]clients{auth.DefaultProjectID: e.member, otherProjectID: e.other} {
			createEventType(t, c, "order.paid", nil)
			subscribe(t, c, hooks[project].GetId(), "", true, "order.paid")
		}

		// Call i publishes {"n": i} with subject s<i>; every 4th call is the other project's. Every 5th call and
		// every 8th reuse one of three idempotency keys (the same key names in both projects); call 50 names a
		// webhook that does not exist.
		const n, bad = 100, 50
		type call struct {
			project, key string
			req          *hookdv1.PublishEventRequest
		}
		calls := make([]call, n)
		for i := range calls {
			c := call{project: auth.DefaultProjectID}
			if i%4 == 3 {
				c.project = otherProjectID
			}
			if i%5 == 0 || i%8 == 3 {
				c.key = fmt.Sprintf("order-%d", i%3)
			}
			c.req = &hookdv1.PublishEventRequest{EventType: "order.paid", Subject: fmt.Sprintf("s%d", i), IdempotencyKey: c.key,
				Payload: mustStruct(t, map[string]any{"n": i})}
			if i == bad {
				c.key, c.req.IdempotencyKey, c.req.WebhookIds = "", "", []string{"wh_unknown"}
			}
			calls[i] = c
		}
		res := make([]*hookdv1.PublishEventResponse, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, c := range calls {
			wg.Go(func() {
				r, err := eventClients[c.project].PublishEvent(ctx, creq(c.req))
				if err == nil {
					res[i] = r.Msg
				}
				errs[i] = err
			})
		}
		wg.Wait()
		assert.Greater(t, st.largest(), 1, "calls shared a transaction")

		// The failed call gets exactly the error of publishing it alone (the batch RPC calls the store directly).
		_, alone := eventClients[auth.DefaultProjectID].PublishEvents(ctx, creq(&hookdv1.PublishEventsRequest{Events: []*hookdv1.PublishEventRequest{calls[bad].req}}))
		requireCode(t, alone, connect.CodeInvalidArgument, "webhook_ids")
		requireCode(t, errs[bad], connect.CodeInvalidArgument, "webhook_ids")
		assert.Equal(t, alone.Error(), errs[bad].Error())

		// Every other caller got its own event, or, for a key, the one event of its project and key.
		byKey := map[[2]string]*hookdv1.PublishEventResponse{}
		events := map[string]int{}
		for i, c := range calls {
			if i == bad {
				continue
			}
			require.NoError(t, errs[i], "call %d", i)
			r := res[i]
			ev := r.GetEvent()
			require.Len(t, r.GetDeliveryIds(), 1, "call %d", i)
			require.Equal(t, e.clock.Now(), ev.GetCreateTime().AsTime())
			if c.key == "" {
				require.Equal(t, c.req.GetSubject(), ev.GetSubject(), "call %d gets its own event", i)
				require.Equal(t, c.req.GetPayload().AsMap(), ev.GetPayload().AsMap(), "call %d", i)
				events[c.project]++
				continue
			}
			require.Equal(t, c.key, ev.GetIdempotencyKey())
			first, ok := byKey[[2]string{c.project, c.key}]
			if !ok {
				byKey[[2]string{c.project, c.key}] = r
				events[c.project]++
				continue
			}
			require.Equal(t, first.GetEvent().GetId(), ev.GetId(), "call %d: one event per project and key", i)
			require.Equal(t, first.GetEvent().GetSubject(), ev.GetSubject(), "call %d: the first publish's event", i)
			require.Equal(t, first.GetDeliveryIds(), r.GetDeliveryIds(), "call %d", i)
		}
		require.Len(t, byKey, 6, "three keys in each project")
		keyed := map[string]bool{}
		for _, r := range byKey {
			keyed[r.GetEvent().GetId()] = true
		}
		require.Len(t, keyed, 6, "the same key in two projects names two events")

		// Stored: exactly those events, each with its one QUEUED delivery, whatever the batches and the fallback.
		for project, want := range events {
			evs, err := e.st.ListEvents(ctx, project, store.EventFilter{}, store.Page{Size: 1000})
			require.NoError(t, err)
			require.Len(t, evs, want, project)
			ds, err := e.st.ListDeliveries(ctx, store.ListDeliveriesParams{ProjectID: project, Filter: store.DeliveryFilter{}, Page: store.Page{Size: 1000}})
			require.NoError(t, err)
			require.Len(t, ds, want, project)
			for _, dl := range ds {
				require.Equal(t, hooks[project].GetId(), dl.WebhookID)
				require.Equal(t, store.StatusQueued, dl.Status)
			}
		}
		for i, c := range calls {
			if i == bad {
				continue
			}
			got, err := e.st.GetEvent(ctx, c.project, res[i].GetEvent().GetId())
			require.NoError(t, err, "call %d", i)
			require.Equal(t, res[i].GetEvent().GetSubject(), got.Subject)
			payload, err := json.Marshal(res[i].GetEvent().GetPayload().AsMap())
			require.NoError(t, err)
			require.JSONEq(t, string(payload), string(got.Payload))
			ds, err := e.st.ListDeliveries(ctx, store.ListDeliveriesParams{ProjectID: c.project, Filter: store.DeliveryFilter{EventID: got.ID}, Page: store.Page{Size: 10}})
			require.NoError(t, err)
			require.Len(t, ds, 1)
			require.Equal(t, res[i].GetDeliveryIds(), []string{ds[0].ID})
		}
		require.Equal(t, float64(events[auth.DefaultProjectID]+events[otherProjectID]), counterValue(t, reg, "hookd_published_events_total"),
			"duplicates are not counted")
	})
}

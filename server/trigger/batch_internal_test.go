package trigger

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/server/clock"
	"github.com/hookd/hookd/server/id"
	"github.com/hookd/hookd/server/store"
	"github.com/hookd/hookd/server/store/storetest"
)

var bt0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// countingStore counts RecordExecutions calls and their sizes; when gate is set, each call first signals entered
// and waits for the gate.
type countingStore struct {
	store.Store
	gate    chan struct{}
	entered chan struct{}

	mu    sync.Mutex
	sizes []int
}

func (c *countingStore) RecordExecutions(ctx context.Context, in []store.ExecutionRecord, now time.Time) ([]*store.PublishResult, error) {
	if c.gate != nil {
		c.entered <- struct{}{}
		<-c.gate
	}
	c.mu.Lock()
	c.sizes = append(c.sizes, len(in))
	c.mu.Unlock()
	return c.Store.RecordExecutions(ctx, in, now)
}

func (c *countingStore) calls() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.sizes...)
}

// batchSetup stores a project with a subscribed event type and a trigger, and returns a batcher over a counting
// store whose batches close on size only (maxWait of a minute), so that tests know the batches exactly.
func batchSetup(t *testing.T, st store.Store, maxRecords int) (*batcher, *countingStore, *store.Trigger) {
	t.Helper()
	ctx := context.Background()
	p := &store.Project{Name: "acme", CreateTime: bt0}
	require.NoError(t, st.CreateProject(ctx, p))
	require.NoError(t, st.CreateEventType(ctx, &store.EventType{ProjectID: p.ID, Name: "order.created", CreateTime: bt0}))
	trg := &store.Trigger{ProjectID: p.ID, Name: "in", EventType: "order.created", Enabled: true, CreateTime: bt0}
	require.NoError(t, st.CreateTrigger(ctx, trg))
	cs := &countingStore{Store: st}
	b := newBatcher(cs, clock.NewFake(bt0), slog.New(slog.DiscardHandler))
	b.maxRecords, b.maxWait, b.idle = maxRecords, time.Minute, 20*time.Millisecond
	t.Cleanup(func() { waitWriters(t, b) })
	return b, cs, trg
}

// waitWriters waits until the batcher's idle writers have exited.
func waitWriters(t *testing.T, b *batcher) {
	t.Helper()
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.writers == 0
	}, 10*time.Second, 5*time.Millisecond, "idle writers exit")
}

func execution(trg *store.Trigger, projectID string) *store.Execution {
	return &store.Execution{ID: id.New(id.Execution, bt0), ProjectID: projectID, TriggerID: trg.ID, ReceiveTime: bt0, Method: "POST", Status: 200}
}

func publishInput() *store.PublishInput {
	return &store.PublishInput{Event: store.Event{EventType: "order.created", Payload: []byte(`{}`)}}
}

func TestBatcherGroupsRecords(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Store) {
		b, cs, trg := batchSetup(t, st, 50)
		const n = 100
		exes := make([]*store.Execution, n)
		results := make([]*store.PublishResult, n)
		var wg sync.WaitGroup
		for i := range n {
			exes[i] = execution(trg, trg.ProjectID)
			wg.Go(func() {
				var pub *store.PublishInput
				if i%2 == 0 {
					pub = publishInput()
				}
				res, err := b.record(context.Background(), exes[i], pub)
				assert.NoError(t, err)
				results[i] = res
			})
		}
		wg.Wait()
		assert.Equal(t, []int{50, 50}, cs.calls(), "two full batches, one transaction each")
		for i, e := range exes {
			got, err := st.GetExecution(context.Background(), trg.ProjectID, e.ID)
			require.NoError(t, err)
			if i%2 == 1 {
				assert.Nil(t, results[i])
				assert.Empty(t, got.EventID)
				continue
			}
			require.NotNil(t, results[i])
			assert.Equal(t, results[i].Event.ID, got.EventID, "each waiter gets its own record's result")
		}
		waitWriters(t, b)
		// Writers restart on demand.
		b.maxRecords = 1
		res, err := b.record(context.Background(), execution(trg, trg.ProjectID), publishInput())
		require.NoError(t, err)
		assert.NotEmpty(t, res.Event.ID)
	})
}

func TestBatcherFallsBackToSingleRecords(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Store) {
		b, cs, trg := batchSetup(t, st, 3)
		good1, good2 := execution(trg, trg.ProjectID), execution(trg, trg.ProjectID)
		bad := execution(trg, "prj_other") // the trigger is not the project's
		errs := make(map[*store.Execution]error)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, e := range []*store.Execution{good1, bad, good2} {
			wg.Go(func() {
				_, err := b.record(context.Background(), e, publishInput())
				mu.Lock()
				errs[e] = err
				mu.Unlock()
			})
		}
		wg.Wait()
		assert.Equal(t, []int{3, 1, 1, 1}, cs.calls(), "the failed batch is retried record by record")
		assert.NoError(t, errs[good1])
		assert.NoError(t, errs[good2])
		assert.True(t, errors.Is(errs[bad], store.ErrNotFound), "got %v", errs[bad])
		for _, e := range []*store.Execution{good1, good2} {
			got, err := st.GetExecution(context.Background(), trg.ProjectID, e.ID)
			require.NoError(t, err)
			assert.NotEmpty(t, got.EventID)
		}
	})
}

func TestBatcherCancelledWaiter(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Store) {
		b, cs, trg := batchSetup(t, st, 1)
		cs.gate, cs.entered = make(chan struct{}), make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		e := execution(trg, trg.ProjectID)
		var err atomic.Value
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, rerr := b.record(ctx, e, publishInput())
			err.Store(rerr)
		}()
		<-cs.entered // the writer took the record and is writing it
		cancel()
		<-done
		assert.True(t, errors.Is(err.Load().(error), context.Canceled))
		close(cs.gate) // the writer had taken the record: it is still stored
		require.Eventually(t, func() bool {
			_, gerr := st.GetExecution(context.Background(), trg.ProjectID, e.ID)
			return gerr == nil
		}, 10*time.Second, 5*time.Millisecond)
	})
}

package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errBad = errors.New("bad item")

// fakeWriter is a WriteFunc over ints: it answers "r<n>" for item n and keeps the items of successful calls.
// A call fails (writing nothing) when it holds an item that bad reports. When gate is set, each call first
// signals entered and waits for the gate.
type fakeWriter struct {
	bad     func(n int) bool
	gate    chan struct{}
	entered chan struct{}

	mu       sync.Mutex
	sizes    []int
	written  []int
	deadline time.Duration
}

func (f *fakeWriter) write(ctx context.Context, in []int) ([]string, error) {
	if f.gate != nil {
		f.entered <- struct{}{}
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sizes = append(f.sizes, len(in))
	if d, ok := ctx.Deadline(); ok {
		f.deadline = time.Until(d)
	}
	out := make([]string, len(in))
	for i, n := range in {
		if f.bad != nil && f.bad(n) {
			return nil, fmt.Errorf("write item %d: %w", n, errBad)
		}
		out[i] = fmt.Sprintf("r%d", n)
	}
	f.written = append(f.written, in...)
	return out, nil
}

func (f *fakeWriter) calls() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sizes)
}

func (f *fakeWriter) stored() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(slices.Values(f.written))
}

// newTest returns a batcher over f whose idle writers exit after 20 ms; unless cfg sets MaxWait, batches close
// on size only (a MaxWait of a minute), so that tests know the batches exactly. Cleanup waits for the writers.
func newTest(t *testing.T, cfg Config, f *fakeWriter) *Batcher[int, string] {
	t.Helper()
	cfg.MaxWait = orDuration(cfg.MaxWait, time.Minute)
	cfg.Idle = orDuration(cfg.Idle, 20*time.Millisecond)
	cfg.Log = slog.New(slog.DiscardHandler)
	b := New(cfg, f.write)
	t.Cleanup(func() { waitWriters(t, b) })
	return b
}

func orDuration(v, d time.Duration) time.Duration {
	if v == 0 {
		return d
	}
	return v
}

// waitWriters waits until the batcher's idle writers have exited (no Do may run meanwhile).
func waitWriters(t *testing.T, b *Batcher[int, string]) {
	t.Helper()
	exited := make(chan struct{})
	go func() {
		b.exited.Wait()
		close(exited)
	}()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("idle writers did not exit")
	}
	require.Zero(t, b.running())
}

func (b *Batcher[In, Out]) running() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.writers
}

// doAll calls Do for each item concurrently and returns the results and errors by item.
func doAll(b *Batcher[int, string], items []int) ([]string, []error) {
	outs, errs := make([]string, len(items)), make([]error, len(items))
	var wg sync.WaitGroup
	for i, n := range items {
		wg.Go(func() { outs[i], errs[i] = b.Do(context.Background(), n) })
	}
	wg.Wait()
	return outs, errs
}

func TestDefaults(t *testing.T) {
	want := Config{MaxItems: 100, MaxWait: time.Millisecond, Idle: time.Second, Timeout: 30 * time.Second, Writers: 2, Queue: 1024,
		Log: slog.Default(), Name: "groupcommit"}
	assert.Equal(t, want, Config{}.withDefaults())
	assert.Equal(t, want, Config{MaxItems: -1, MaxWait: -1, Idle: -1, Timeout: -1, Writers: -1, Queue: -1}.withDefaults())
	set := Config{MaxItems: 7, MaxWait: 2, Idle: 3, Timeout: 4, Writers: 5, Queue: 6, Log: slog.New(slog.DiscardHandler), Name: "x"}
	assert.Equal(t, set, set.withDefaults())
}

func TestGroupsItems(t *testing.T) {
	f := &fakeWriter{}
	b := newTest(t, Config{MaxItems: 50}, f)
	items := make([]int, 100)
	for i := range items {
		items[i] = i
	}
	outs, errs := doAll(b, items)
	assert.Equal(t, []int{50, 50}, f.calls(), "two full batches, one write each")
	for i, n := range items {
		require.NoError(t, errs[i])
		assert.Equal(t, fmt.Sprintf("r%d", n), outs[i], "each caller gets its own item's result")
	}
	assert.Equal(t, items, f.stored())
}

func TestMaxWaitClosesPartialBatch(t *testing.T) {
	f := &fakeWriter{}
	b := newTest(t, Config{MaxWait: time.Millisecond}, f) // MaxItems 100: only the wait closes the batch
	out, err := b.Do(context.Background(), 7)
	require.NoError(t, err)
	assert.Equal(t, "r7", out)
	assert.Equal(t, []int{1}, f.calls())
}

func TestIdleWritersExitAndRestart(t *testing.T) {
	f := &fakeWriter{}
	b := newTest(t, Config{MaxWait: time.Millisecond, Idle: 150 * time.Millisecond, Writers: 3}, f)
	assert.Zero(t, b.running(), "no writer before the first item")
	out, err := b.Do(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, "r1", out)
	assert.Equal(t, 3, b.running(), "writers started on demand")
	waitWriters(t, b)
	out, err = b.Do(context.Background(), 2)
	require.NoError(t, err, "writers restart on demand")
	assert.Equal(t, "r2", out)
	assert.Equal(t, []int{1, 2}, f.stored())
}

// TestManyRestarts writes small batches with writers that exit almost at once, so that items keep arriving
// while writers retire: none may be lost or written twice.
func TestManyRestarts(t *testing.T) {
	f := &fakeWriter{}
	b := newTest(t, Config{MaxItems: 7, MaxWait: time.Microsecond, Idle: time.Microsecond, Queue: 4}, f)
	const n = 2000
	items := make([]int, n)
	for i := range items {
		items[i] = i
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for w := range 20 {
		wg.Go(func() {
			for i := w; i < n; i += 20 {
				var out string
				out, errs[i] = b.Do(context.Background(), i)
				if errs[i] == nil && out != fmt.Sprintf("r%d", i) {
					errs[i] = fmt.Errorf("item %d got %q", i, out)
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	assert.Equal(t, items, f.stored(), "every item written exactly once")
	for _, s := range f.calls() {
		assert.LessOrEqual(t, s, 7)
	}
}

func TestFallsBackToSingleItems(t *testing.T) {
	f := &fakeWriter{bad: func(n int) bool { return n == 2 }}
	b := newTest(t, Config{MaxItems: 3}, f)
	items := []int{1, 2, 3}
	outs, errs := doAll(b, items)
	assert.Equal(t, []int{3, 1, 1, 1}, f.calls(), "the failed batch is written again item by item")
	assert.NoError(t, errs[0])
	assert.Equal(t, "r1", outs[0])
	assert.ErrorIs(t, errs[1], errBad)
	assert.Equal(t, "write item 2: bad item", errs[1].Error(), "the write's own error, unwrapped")
	assert.Empty(t, outs[1])
	assert.NoError(t, errs[2])
	assert.Equal(t, "r3", outs[2])
	assert.Equal(t, []int{1, 3}, f.stored())
}

func TestSingleFailedItemIsNotRetried(t *testing.T) {
	f := &fakeWriter{bad: func(int) bool { return true }}
	b := newTest(t, Config{MaxWait: time.Millisecond}, f)
	_, err := b.Do(context.Background(), 1)
	assert.ErrorIs(t, err, errBad)
	assert.Equal(t, []int{1}, f.calls())
}

func TestWrongResultCountFailsWithoutRewrite(t *testing.T) {
	var calls int
	var mu sync.Mutex
	b := New(Config{MaxItems: 2, MaxWait: time.Minute, Idle: 20 * time.Millisecond, Log: slog.New(slog.DiscardHandler)},
		func(_ context.Context, in []int) ([]string, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			return []string{"only one"}, nil
		})
	t.Cleanup(func() { waitWriters(t, b) })
	var wg sync.WaitGroup
	for n := range 2 {
		wg.Go(func() {
			_, err := b.Do(context.Background(), n)
			assert.ErrorContains(t, err, "write returned 1 results for 2 items")
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 1, calls, "a write that may have succeeded is not repeated")
}

func TestWriteTimeout(t *testing.T) {
	f := &fakeWriter{}
	b := newTest(t, Config{MaxWait: time.Millisecond, Timeout: 5 * time.Second}, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := b.Do(ctx, 1)
	require.NoError(t, err)
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.InDelta(t, 5*time.Second, f.deadline, float64(time.Second), "the write is bounded by Timeout, not by the caller")
}

func TestCancelledWaiter(t *testing.T) {
	f := &fakeWriter{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	b := newTest(t, Config{MaxItems: 1}, f)
	b.signals.written.Init()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := b.Do(ctx, 1)
		done <- err
	}()
	<-f.entered // the writer took the item and is writing it
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	close(f.gate) // the writer had taken the item: it is still written
	b.signals.written.Wait(t)
	assert.Equal(t, []int{1}, f.stored())
}

func TestQueuedItemOfCancelledCallerIsWritten(t *testing.T) {
	f := &fakeWriter{gate: make(chan struct{}), entered: make(chan struct{}, 2)}
	b := newTest(t, Config{MaxItems: 1, Writers: 1}, f)
	b.signals.queued.Init()
	b.signals.written.Init()
	first := make(chan error, 1)
	go func() {
		_, err := b.Do(context.Background(), 1)
		first <- err
	}()
	<-f.entered // the only writer is busy with item 1
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() {
		_, err := b.Do(ctx, 2)
		second <- err
	}()
	b.signals.queued.WaitUntil(t, func(n int) bool { return n == 2 })
	require.Len(t, b.queue, 1, "item 2 queued")
	cancel()
	assert.ErrorIs(t, <-second, context.Canceled)
	close(f.gate)
	require.NoError(t, <-first)
	b.signals.written.Wait(t)
	b.signals.written.Wait(t)
	assert.Equal(t, []int{1, 2}, f.stored(), "the queued item is written although its caller gave up")
}

func TestCancelledBeforeQueueing(t *testing.T) {
	f := &fakeWriter{}
	b := newTest(t, Config{}, f)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := b.Do(ctx, 1)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, b.running(), "no writer started")
	assert.Empty(t, f.calls())
}

func TestFullQueueHonoursContext(t *testing.T) {
	f := &fakeWriter{gate: make(chan struct{}), entered: make(chan struct{}, 2)}
	b := newTest(t, Config{MaxItems: 1, Writers: 1, Queue: 1}, f)
	b.signals.queued.Init()
	results := make(chan error, 2)
	for n := range 2 {
		go func() {
			_, err := b.Do(context.Background(), n)
			results <- err
		}()
	}
	<-f.entered // one item is being written ...
	b.signals.queued.Wait(t)
	b.signals.queued.Wait(t)
	require.Len(t, b.queue, 1, "... and one fills the queue")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := b.Do(ctx, 9)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "groupcommit: queue")
	close(f.gate)
	require.NoError(t, <-results)
	require.NoError(t, <-results)
	assert.Equal(t, []int{0, 1}, f.stored(), "the item that never entered the queue is not written")
}

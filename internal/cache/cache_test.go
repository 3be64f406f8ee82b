package cache_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/cache"
	"github.com/hookd/hookd/internal/clock"
)

func TestTTL(t *testing.T) {
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	c := cache.New[string, int](time.Second, 0, clk)
	ctx := context.Background()
	loads := 0
	load := func(v int) func(context.Context) (int, error) {
		return func(context.Context) (int, error) { loads++; return v, nil }
	}
	v, err := c.Get(ctx, "a", load(1))
	require.NoError(t, err)
	assert.Equal(t, 1, v)
	v, _ = c.Get(ctx, "a", load(2))
	assert.Equal(t, 1, v, "kept for the TTL")
	clk.Advance(999 * time.Millisecond)
	v, _ = c.Get(ctx, "a", load(2))
	assert.Equal(t, 1, v)
	clk.Advance(time.Millisecond)
	v, _ = c.Get(ctx, "a", load(2))
	assert.Equal(t, 2, v, "reloaded once expired (on the injected clock)")
	c.Delete("a")
	v, _ = c.Get(ctx, "a", load(3))
	assert.Equal(t, 3, v, "Delete forgets")
	assert.Equal(t, 3, loads)

	boom := errors.New("boom")
	_, err = c.Get(ctx, "b", func(context.Context) (int, error) { return 0, boom })
	assert.ErrorIs(t, err, boom)
	v, err = c.Get(ctx, "b", load(4))
	require.NoError(t, err)
	assert.Equal(t, 4, v, "errors are not kept")
}

func TestOneLoadAtATime(t *testing.T) {
	c := cache.New[string, int](time.Minute, 0, nil)
	var loads atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			v, err := c.Get(context.Background(), "k", func(context.Context) (int, error) {
				loads.Add(1)
				<-release
				return 7, nil
			})
			assert.NoError(t, err)
			assert.Equal(t, 7, v)
		})
	}
	for loads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	assert.Equal(t, int32(1), loads.Load(), "concurrent callers share one load")
}

func TestBounded(t *testing.T) {
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	c := cache.New[int, int](time.Minute, 100, clk)
	for i := range 1000 {
		_, _ = c.Get(context.Background(), i, func(context.Context) (int, error) { return i, nil })
	}
	loads := 0
	for i := range 1000 {
		_, _ = c.Get(context.Background(), i, func(context.Context) (int, error) { loads++; return i, nil })
	}
	assert.Greater(t, loads, 800, "at most 100 entries are kept")
}

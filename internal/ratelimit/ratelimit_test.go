package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/ratelimit"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func TestBlockSize(t *testing.T) {
	for rate, want := range map[int]int{1: 1, 10: 1, 50: 2, 1000: 50, 100000: 100} {
		assert.Equal(t, want, ratelimit.BlockSize(rate), "rate %d", rate)
	}
}

// TestNeverOverAdmits: several processes (limiters) share one bucket; within a second no more than the rate
// is admitted in all, and held tokens expire.
func TestNeverOverAdmits(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		ctx := context.Background()
		limiters := []*ratelimit.Limiter{ratelimit.New(s), ratelimit.New(s), ratelimit.New(s)}
		var admitted atomic.Int64
		var wg sync.WaitGroup
		for i := range 150 {
			wg.Go(func() {
				ok, _, err := limiters[i%3].Allow(ctx, "trg_a", 50, t0)
				if err != nil {
					t.Error(err)
				}
				if ok {
					admitted.Add(1)
				}
			})
		}
		wg.Wait()
		assert.LessOrEqual(t, admitted.Load(), int64(50), "burst = rate across processes")
		assert.GreaterOrEqual(t, admitted.Load(), int64(50-3*(ratelimit.BlockSize(50)-1)), "at most a block per process is lost")

		ok, next, err := ratelimit.New(s).Allow(ctx, "trg_a", 50, t0) // a fourth process finds the bucket empty
		require.NoError(t, err)
		assert.False(t, ok)
		assert.True(t, next.After(t0))

		ok, _, err = limiters[0].Allow(ctx, "trg_b", 50, t0)
		require.NoError(t, err)
		assert.True(t, ok, "buckets are per key")
	})
}

// TestHeldTokensExpire: tokens taken in a block are spent locally, and only within HoldFor.
func TestHeldTokensExpire(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		ctx := context.Background()
		allow := func(l *ratelimit.Limiter, at time.Time) bool {
			ok, _, err := l.Allow(ctx, "k", 1000, at)
			require.NoError(t, err)
			return ok
		}
		drain := func(at time.Time) int { // another process takes everything left
			got, _, err := s.TakeRateTokens(ctx, store.TakeRateTokensParams{Key: "k", Rate: 1000, N: 1000, Now: at})
			require.NoError(t, err)
			return got
		}
		l := ratelimit.New(s)
		require.True(t, allow(l, t0)) // takes a block of 50, holds 49
		assert.Equal(t, 950, drain(t0), "the block left the shared bucket")
		for range 49 {
			require.True(t, allow(l, t0), "held tokens are spent without the store")
		}
		assert.False(t, allow(l, t0), "held tokens spent, bucket empty")

		require.True(t, allow(l, t0.Add(10*time.Millisecond))) // 10 refilled: takes them all, holds 9
		later := t0.Add(10*time.Millisecond + ratelimit.HoldFor)
		assert.Equal(t, 100, drain(later))
		assert.False(t, allow(l, later), "held tokens expire after HoldFor")
		ok, _, err := l.Allow(ctx, "k", 0, t0)
		require.NoError(t, err)
		assert.True(t, ok, "rate 0 is unlimited")
	})
}

package ratelimit_test

import (
	"context"
	"fmt"
	"sort"
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
	for rate, want := range map[int]int{1: 1, 10: 1, 50: 1, 100: 1, 101: 5, 1000: 50, 100000: 100} {
		assert.Equal(t, want, ratelimit.BlockSize(rate), "rate %d", rate)
	}
}

// TestNeverOverAdmits: several processes (limiters) share one window; within a second no more than the rate
// is admitted in all.
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
		assert.LessOrEqual(t, admitted.Load(), int64(50), "at most rate in the second, across processes")
		assert.GreaterOrEqual(t, admitted.Load(), int64(50-3*(ratelimit.BlockSize(50)-1)), "at most a block per process is lost")

		ok, next, err := ratelimit.New(s).Allow(ctx, "trg_a", 50, t0) // a fourth process finds the window full
		require.NoError(t, err)
		assert.False(t, ok)
		assert.True(t, next.After(t0))

		ok, _, err = limiters[0].Allow(ctx, "trg_b", 50, t0)
		require.NoError(t, err)
		assert.True(t, ok, "windows are per key")
	})
}

// TestHeldTokensExpire: admissions taken in a block are spent locally, only within HoldFor, and count in the
// shared window from the end of HoldFor.
func TestHeldTokensExpire(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		ctx := context.Background()
		allow := func(l *ratelimit.Limiter, at time.Time) bool {
			ok, _, err := l.Allow(ctx, "k", 1000, at)
			require.NoError(t, err)
			return ok
		}
		drain := func(at time.Time) int { // another process takes everything left
			got, _, err := s.TakeRate(ctx, store.TakeRateParams{Key: "k", Rate: 1000, N: 1000, Now: at})
			require.NoError(t, err)
			return got
		}
		l := ratelimit.New(s)
		require.True(t, allow(l, t0)) // takes a block of 50, holds 49
		assert.Equal(t, 950, drain(t0), "the block left the shared window")
		for range 49 {
			require.True(t, allow(l, t0), "held admissions are spent without the store")
		}
		assert.False(t, allow(l, t0), "held admissions spent, window full")

		// The block counts from t0 + HoldFor, and so does what followed it (the log's times never decrease).
		assert.Zero(t, drain(t0.Add(time.Second+ratelimit.HoldFor-time.Millisecond)))
		require.True(t, allow(l, t0.Add(time.Second+ratelimit.HoldFor))) // the window is free: takes a block, holds 49
		later := t0.Add(time.Second + 2*ratelimit.HoldFor)
		assert.Equal(t, 950, drain(later))
		assert.False(t, allow(l, later), "held admissions expire after HoldFor")
		ok, _, err := l.Allow(ctx, "k", 0, t0)
		require.NoError(t, err)
		assert.True(t, ok, "rate 0 is unlimited")
	})
}

// TestRollingWindowAcrossProcesses: two processes (two stores on one database, a limiter each) take turns
// admitting a steady stream of requests, faster than the rate, for three seconds of injected time. In no rolling
// second are more than rate admitted (no first-second burst of 2×), and the stream is served at the rate (a
// backlog drains at rate per second): exactly for rates up to 100, within HoldFor for the block-taking ones.
func TestRollingWindowAcrossProcesses(t *testing.T) {
	storetest.ForEachClusterParallel(t, func(t *testing.T, a, b *storetest.DB) {
		ctx := context.Background()
		for _, c := range []struct {
			rate int
			step time.Duration
		}{{5, 10 * time.Millisecond}, {50, 2 * time.Millisecond}, {1000, 250 * time.Microsecond}} {
			limiters := []*ratelimit.Limiter{ratelimit.New(a), ratelimit.New(b)}
			key := fmt.Sprintf("int_%d", c.rate)
			var admitted []time.Duration
			for at, i := time.Duration(0), 0; at < 3*time.Second; at, i = at+c.step, i+1 {
				ok, _, err := limiters[i%2].Allow(ctx, key, c.rate, t0.Add(at))
				require.NoError(t, err)
				if ok {
					admitted = append(admitted, at)
				}
			}
			most := 0
			for i := range admitted {
				j := sort.Search(len(admitted), func(j int) bool { return admitted[j] >= admitted[i]+time.Second })
				most = max(most, j-i)
			}
			assert.LessOrEqual(t, most, c.rate, "rate %d: admitted in one rolling second", c.rate)
			want := 3 * c.rate
			if ratelimit.BlockSize(c.rate) > 1 {
				want = int(float64(want) * float64(time.Second) / float64(time.Second+ratelimit.HoldFor))
			}
			assert.GreaterOrEqual(t, len(admitted), want-ratelimit.BlockSize(c.rate), "rate %d: admitted in 3 s", c.rate)
			t.Logf("rate %d/s: %d admitted in 3 s, at most %d in any rolling second", c.rate, len(admitted), most)
		}
	})
}

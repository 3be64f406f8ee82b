package trigger

import (
	"sync"
	"time"

	"github.com/hookd/hookd/internal/clock"
)

// localLimiter allows each key up to rate events per second in this process (a token bucket with burst = rate).
// It bounds bookkeeping work, not clients: it needs no database.
type localLimiter struct {
	rate float64
	clk  clock.Clock

	mu      sync.Mutex
	buckets map[string]*localBucket
}

type localBucket struct {
	tokens float64
	last   time.Time
}

// maxLocalBuckets bounds the limiter's memory; when full, the buckets start over.
const maxLocalBuckets = 10000

func newLocalLimiter(rate int, clk clock.Clock) *localLimiter {
	return &localLimiter{rate: float64(rate), clk: clk, buckets: map[string]*localBucket{}}
}

// allow takes a token of key, reporting whether there was one.
func (l *localLimiter) allow(key string) bool {
	now := l.clk.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxLocalBuckets {
			clear(l.buckets)
		}
		b = &localBucket{tokens: l.rate, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.rate, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

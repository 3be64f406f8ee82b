// Package cache is hookd's one small cache: values kept for a fixed time on the injected clock, a bounded number
// of entries, and one load at a time per key (concurrent callers of Get share it).
package cache

import (
	"context"
	"sync"
	"time"

	"github.com/hookd/hookd/internal/clock"
)

// DefaultMaxEntries bounds a cache that sets no MaxEntries.
const DefaultMaxEntries = 10_000

// TTL keeps values for TTL after they were loaded.
type TTL[K comparable, V any] struct {
	ttl   time.Duration
	max   int
	clock clock.Clock

	mu      sync.Mutex
	entries map[K]*entry[V]
}

type entry[V any] struct {
	ready  chan struct{} // closed once loaded
	value  V
	err    error
	expire time.Time
}

// New returns a cache keeping values for ttl (on clk; nil is the wall clock) and at most maxEntries (0: the
// default) entries.
func New[K comparable, V any](ttl time.Duration, maxEntries int, clk clock.Clock) *TTL[K, V] {
	if clk == nil {
		clk = clock.Real{}
	}
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	return &TTL[K, V]{ttl: ttl, max: maxEntries, clock: clk, entries: make(map[K]*entry[V])}
}

// Get returns the value of key, loading it with load when it is missing or expired. One load per key runs at a
// time; callers arriving meanwhile wait for it. Errors are returned but not kept.
func (c *TTL[K, V]) Get(ctx context.Context, key K, load func(ctx context.Context) (V, error)) (V, error) {
	now := c.clock.Now()
	c.mu.Lock()
	if e := c.entries[key]; e != nil {
		select {
		case <-e.ready:
			if e.err == nil && now.Before(e.expire) {
				c.mu.Unlock()
				return e.value, nil
			}
		default: // being loaded
			c.mu.Unlock()
			select {
			case <-e.ready:
				return e.value, e.err
			case <-ctx.Done():
				var zero V
				return zero, ctx.Err()
			}
		}
	}
	if len(c.entries) >= c.max {
		c.evict(now)
	}
	e := &entry[V]{ready: make(chan struct{})}
	c.entries[key] = e
	c.mu.Unlock()

	e.value, e.err = load(ctx)
	e.expire = c.clock.Now().Add(c.ttl)
	close(e.ready)
	if e.err != nil {
		c.mu.Lock()
		if c.entries[key] == e {
			delete(c.entries, key)
		}
		c.mu.Unlock()
	}
	return e.value, e.err
}

// Delete forgets key (its next Get loads again).
func (c *TTL[K, V]) Delete(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
}

// evict drops expired entries, and when none expired, about half of the loaded ones; c.mu is held.
func (c *TTL[K, V]) evict(now time.Time) {
	dropped := 0
	for k, e := range c.entries {
		select {
		case <-e.ready:
			if !now.Before(e.expire) {
				delete(c.entries, k)
				dropped++
			}
		default:
		}
	}
	if dropped > 0 {
		return
	}
	n := 0
	for k, e := range c.entries { // map order is random: a random half
		select {
		case <-e.ready:
			if n%2 == 0 {
				delete(c.entries, k)
			}
			n++
		default:
		}
	}
}

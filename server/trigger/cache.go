package trigger

import (
	"context"
	"sync"
	"time"

	"github.com/hookd/hookd/server/clock"
	"github.com/hookd/hookd/server/store"
)

// maxCachedTriggers bounds the trigger cache; when full, expired entries are dropped (all, if none expired).
const maxCachedTriggers = 10000

// triggerCache reuses TriggerByID results for ttl (by the injected clock), so a trigger that is disabled, updated
// or deleted takes effect on the public endpoint within ttl. Lookups that fail (unknown ids) are not cached.
// Cached triggers are shared between requests and must not be modified.
type triggerCache struct {
	st  store.Store
	clk clock.Clock
	ttl time.Duration

	mu      sync.Mutex
	entries map[string]cachedTrigger
}

type cachedTrigger struct {
	t      *store.Trigger
	expire time.Time
}

func newTriggerCache(st store.Store, clk clock.Clock, ttl time.Duration) *triggerCache {
	return &triggerCache{st: st, clk: clk, ttl: ttl, entries: map[string]cachedTrigger{}}
}

// get returns the trigger with the id, from the cache when read less than ttl ago.
func (c *triggerCache) get(ctx context.Context, triggerID string) (*store.Trigger, error) {
	if c.ttl <= 0 {
		return c.st.TriggerByID(ctx, triggerID)
	}
	now := c.clk.Now()
	c.mu.Lock()
	e, ok := c.entries[triggerID]
	c.mu.Unlock()
	if ok && now.Before(e.expire) {
		return e.t, nil
	}
	t, err := c.st.TriggerByID(ctx, triggerID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCachedTriggers {
		for k, v := range c.entries {
			if !now.Before(v.expire) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCachedTriggers {
			clear(c.entries)
		}
	}
	c.entries[triggerID] = cachedTrigger{t: t, expire: now.Add(c.ttl)}
	return t, nil
}

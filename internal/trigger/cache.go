package trigger

import (
	"context"
	"time"

	"github.com/hookd/hookd/internal/cache"
	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/store"
)

// triggerCache reuses TriggerByID results for ttl on the injected clock, so a trigger that is disabled, updated
// or deleted takes effect on the public endpoint within ttl. Lookups that fail (unknown ids) are not cached.
// Cached triggers are shared between requests and must not be modified.
type triggerCache struct {
	st      store.Store
	ttl     time.Duration
	entries *cache.TTL[string, *store.Trigger]
}

func newTriggerCache(st store.Store, clk clock.Clock, ttl time.Duration) *triggerCache {
	return &triggerCache{st: st, ttl: ttl, entries: cache.New[string, *store.Trigger](ttl, 0, clk)}
}

// get returns the trigger with the id, from the cache when read less than ttl ago (no cache when ttl <= 0).
func (c *triggerCache) get(ctx context.Context, triggerID string) (*store.Trigger, error) {
	load := func(ctx context.Context) (*store.Trigger, error) { return c.st.TriggerByID(ctx, triggerID) }
	if c.ttl <= 0 {
		return load(ctx)
	}
	return c.entries.Get(ctx, triggerID, load)
}

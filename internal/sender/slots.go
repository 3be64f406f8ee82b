package sender

import (
	"sync"
	"time"
)

// rateSlots spreads the deliveries a rate limit holds back: the k-th delivery of an integration told to wait
// for the next token is due k/rate after it, rather than all of them at the next token's time (which would wake
// them together, let one through and requeue the rest again and again).
type rateSlots struct {
	mu   sync.Mutex
	free map[string]time.Time // the next free slot by rate key
}

func newRateSlots() *rateSlots { return &rateSlots{free: map[string]time.Time{}} }

// next returns when a delivery of key, told that the next admission comes at token, is due again, and reserves
// that slot. A delivery told that the window frees sooner than one slot from now (typically one that came at its
// slot a few milliseconds before the window let it through) is due at token itself: sending it to the back of the
// line would leave its slot unused, and a backlog would drain slower than the rate.
func (r *rateSlots) next(key string, token time.Time, rate int, now time.Time) time.Time {
	if token.Sub(now) < time.Second/time.Duration(max(rate, 1)) {
		return token
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.free) > 10_000 {
		for k, t := range r.free {
			if t.Before(now) {
				delete(r.free, k)
			}
		}
	}
	slot := token
	if free := r.free[key]; free.After(slot) {
		slot = free
	}
	r.free[key] = slot.Add(time.Second / time.Duration(max(rate, 1)))
	return slot
}

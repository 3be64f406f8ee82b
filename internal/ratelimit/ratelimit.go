// Package ratelimit enforces rate limits shared by every hookd process through the store: at most `rate`
// admissions of a key in any rolling second (a sliding-window log in the store, the product documents' own
// rule: "already received 50 requests in the last second → 429"). A busy key (above blockAbove per second) takes
// its admissions in small blocks and spends them locally for a moment, so that it does not lock the shared
// window on every request; the store counts a block from the end of that moment (now + HoldFor) and admissions a
// process does not spend in time are dropped, so the limit holds across processes in every rolling second (at
// worst a busy key admits HoldFor/1 s less).
package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hookd/hookd/internal/store"
)

const (
	// HoldFor is how long a process may spend admissions it took in a block.
	HoldFor = 50 * time.Millisecond
	// blockAbove is the rate above which admissions are taken in blocks; up to it every admission is exact.
	blockAbove = 100
	// maxBlock caps the admissions taken at once.
	maxBlock = 100
	// pruneAt is the number of held keys above which expired holdings are dropped.
	pruneAt = 10000
)

// Windows are the rolling windows shared by every process (the store implements them).
type Windows interface {
	// TakeRate takes up to N admissions of Key at once (at most Rate in any rolling second), counted from Now +
	// Hold, and returns how many it got (0: none left, and when the next one can be had).
	TakeRate(ctx context.Context, p store.TakeRateParams) (int, time.Time, error)
}

// Limiter takes admissions from the shared windows.
type Limiter struct {
	store   Windows
	lag     time.Duration
	nowFunc func() time.Time // optional: the time right before a store call (after waiting for another)

	mu       sync.Mutex
	held     map[string]holding
	fetching map[string]chan struct{} // a store call in progress for a key; closed when it ends
}

// holding is admissions taken from a shared window and not spent yet, or, when the window was found full, when
// its next admission can be had (no process can take one before).
type holding struct {
	tokens int
	until  time.Time
	empty  time.Time
}

// New returns a Limiter over st.
func New(st Windows) *Limiter { return NewLagged(st, 0, nil) }

// NewLagged returns a Limiter over st for admissions whose effect is seen up to lag after them (a request
// reaches its receiver some milliseconds after it was admitted, and not always as fast): each admission counts in
// the window from lag after it, so that the receiver too sees at most rate in any rolling second. The rate a
// backlog is served at is rate per (1 s + lag). nowFunc (optional) reads the clock again right before each store
// call: an Allow that waited for another request's store call is admitted later than the now it was given.
func NewLagged(st Windows, lag time.Duration, nowFunc func() time.Time) *Limiter {
	return &Limiter{store: st, lag: lag, nowFunc: nowFunc, held: map[string]holding{}, fetching: map[string]chan struct{}{}}
}

// BlockSize is how many admissions a Limiter takes at once for a rate: one up to 100 per second (every
// admission is logged when it is spent), above that 1/20 of a second's worth (at most 100).
func BlockSize(rate int) int {
	if rate <= blockAbove {
		return 1
	}
	return min(rate/20, maxBlock)
}

// Allow takes one admission of key (at most rate in any rolling second; rate ≤ 0 is unlimited). When none is
// left it returns false and when the next one can be had.
func (l *Limiter) Allow(ctx context.Context, key string, rate int, now time.Time) (bool, time.Time, error) {
	if rate <= 0 {
		return true, now, nil
	}
	l.mu.Lock()
	for {
		h, ok := l.held[key]
		if ok && h.tokens > 0 && now.Before(h.until) {
			h.tokens--
			l.held[key] = h
			l.mu.Unlock()
			return true, now, nil
		}
		if ok && now.Before(h.empty) {
			l.mu.Unlock()
			return false, h.empty, nil
		}
		wait, busy := l.fetching[key]
		if !busy {
			break
		}
		// Another request of this process is taking a block for key: share it rather than take another.
		l.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return false, time.Time{}, fmt.Errorf("rate limit %s: %w", key, ctx.Err())
		}
		l.mu.Lock()
	}
	done := make(chan struct{})
	l.fetching[key] = done
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.fetching, key)
		l.mu.Unlock()
		close(done)
	}()

	block, hold := BlockSize(rate), time.Duration(0)
	if block > 1 {
		hold = HoldFor
	}
	if l.nowFunc != nil {
		if t := l.nowFunc(); t.After(now) {
			now = t
		}
	}
	n, next, err := l.store.TakeRate(ctx, store.TakeRateParams{Key: key, Rate: rate, N: block, Now: now, Hold: hold + l.lag})
	if err != nil {
		return false, time.Time{}, fmt.Errorf("rate limit %s: %w", key, err)
	}
	if n == 0 {
		l.mu.Lock()
		l.held[key] = holding{empty: next}
		l.mu.Unlock()
		return false, next, nil
	}
	if n > 1 {
		l.mu.Lock()
		if len(l.held) >= pruneAt {
			for k, h := range l.held {
				if !now.Before(h.until) && !now.Before(h.empty) {
					delete(l.held, k)
				}
			}
		}
		h := l.held[key]
		if h.tokens > 0 && now.Before(h.until) {
			h.tokens += n - 1 // concurrent requests both fetched a block: keep both (the earlier expiry)
		} else {
			h = holding{tokens: n - 1, until: now.Add(hold)}
		}
		l.held[key] = h
		l.mu.Unlock()
	}
	return true, now, nil
}

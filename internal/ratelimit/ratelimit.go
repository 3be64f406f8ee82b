// Package ratelimit enforces token-bucket limits shared by every hookd process through the store. A busy key
// takes its tokens in small blocks and spends them locally for a moment, so that it does not update the shared
// bucket row on every request; tokens a process holds but does not spend in time are dropped, so the limit is
// never exceeded across processes (at worst a process admits slightly less).
package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hookd/hookd/internal/store"
)

const (
	// HoldFor is how long a process may spend tokens it took in a block.
	HoldFor = 100 * time.Millisecond
	// maxBlock caps the tokens taken at once.
	maxBlock = 100
	// pruneAt is the number of held keys above which expired holdings are dropped.
	pruneAt = 10000
)

// Buckets are the token buckets shared by every process (the store implements them).
type Buckets interface {
	// TakeRateTokens takes up to N tokens at once from the bucket Key (Rate per second, burst = Rate) and returns
	// how many it got (0: none left, and when the next one is due).
	TakeRateTokens(ctx context.Context, p store.TakeRateTokensParams) (int, time.Time, error)
}

// Limiter takes tokens from the shared buckets.
type Limiter struct {
	store Buckets

	mu       sync.Mutex
	held     map[string]holding
	fetching map[string]chan struct{} // a store call in progress for a key; closed when it ends
}

// holding is tokens taken from a shared bucket and not spent yet, or, when the bucket was found empty, when
// its next token is due (no process can take one before).
type holding struct {
	tokens int
	until  time.Time
	empty  time.Time
}

// New returns a Limiter over st.
func New(st Buckets) *Limiter {
	return &Limiter{store: st, held: map[string]holding{}, fetching: map[string]chan struct{}{}}
}

// BlockSize is how many tokens a Limiter takes at once for a rate: 1/20 of a second's worth (at least 1, at
// most 100), so a slow key (e.g. 10/s) always asks the store and a fast one rarely does.
func BlockSize(rate int) int { return min(max(rate/20, 1), maxBlock) }

// Allow takes one token of key (rate per second, burst = rate; rate ≤ 0 is unlimited). When none is left it
// returns false and when the next token is due.
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

	n, next, err := l.store.TakeRateTokens(ctx, store.TakeRateTokensParams{Key: key, Rate: rate, N: BlockSize(rate), Now: now})
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
				if !now.Before(h.until) {
					delete(l.held, k)
				}
			}
		}
		h := l.held[key]
		if h.tokens > 0 && now.Before(h.until) {
			h.tokens += n - 1 // concurrent requests both fetched a block: keep both (the earlier expiry)
		} else {
			h = holding{tokens: n - 1, until: now.Add(HoldFor)}
		}
		l.held[key] = h
		l.mu.Unlock()
	}
	return true, now, nil
}

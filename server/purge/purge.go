// Package purge deletes events, deliveries and attempts older than the retention period, in small
// batches so that no long lock is held.
package purge

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/server/clock"
	"github.com/hookd/hookd/server/store"
)

// Config configures a Purger.
type Config struct {
	// Store is purged.
	Store store.Store
	// Retention is how long events are kept (default 90 days).
	Retention time.Duration
	// Interval is the pause between purge rounds (default 1 minute).
	Interval time.Duration
	// BatchSize is how many events one statement deletes (default 500).
	BatchSize int
	// Clock tells the time (default the wall clock).
	Clock clock.Clock
	// Logger logs each round that deleted something.
	Logger *slog.Logger
	// Registerer receives the hookd_purged_events_total counter (optional).
	Registerer prometheus.Registerer
}

// Purger runs the retention purge in the background.
type Purger struct {
	cfg    Config
	purged prometheus.Counter
	// mu guards cancel and done; Stop holds it while it waits, so Start and Stop never interleave.
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Purger with defaults filled in (zero or negative values take the defaults).
func New(cfg Config) *Purger {
	cfg.Retention = cmp.Or(max(cfg.Retention, 0), 90*24*time.Hour)
	cfg.Interval = cmp.Or(max(cfg.Interval, 0), time.Minute)
	cfg.BatchSize = cmp.Or(max(cfg.BatchSize, 0), 500)
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Purger{cfg: cfg, purged: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hookd_purged_events_total",
		Help: "Events (with their deliveries and attempts) deleted by the retention purge.",
	})}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(p.purged)
	}
	return p
}

// Start runs purge rounds (the first one at once) until Stop or ctx ends; it fails if already started.
func (p *Purger) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		return errors.New("purge: already started")
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	p.cancel, p.done = cancel, done
	go func() {
		defer close(done)
		t := time.NewTicker(p.cfg.Interval)
		defer t.Stop()
		for {
			if _, err := p.runOnce(ctx); err != nil && ctx.Err() == nil {
				p.cfg.Logger.ErrorContext(ctx, "retention purge failed", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// Stop ends the background loop and waits for it; safe to call twice, or before Start.
func (p *Purger) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel == nil {
		return
	}
	p.cancel()
	<-p.done
	p.cancel, p.done = nil, nil
}

// runOnce deletes everything older than the cutoff, batch by batch; it returns the events deleted.
func (p *Purger) runOnce(ctx context.Context) (int, error) {
	cutoff := p.cfg.Clock.Now().Add(-p.cfg.Retention)
	total := 0
	for {
		n, err := p.cfg.Store.Purge(ctx, cutoff, p.cfg.BatchSize)
		total += n
		p.purged.Add(float64(n))
		if err != nil {
			return total, err
		}
		if n < p.cfg.BatchSize {
			break
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(10 * time.Millisecond): // let other writers in between batches
		}
	}
	if total > 0 {
		p.cfg.Logger.InfoContext(ctx, "retention purge", "events_deleted", total, "cutoff", cutoff)
	}
	return total, nil
}

// Package purge enforces retention and keeps the queue's tables in shape. On PostgreSQL it drops the day
// partitions of the log tables (events, deliveries, attempts, executions) once the whole day is older than the
// retention period, and creates partitions ahead; on SQLite it deletes old rows in small batches so that no long
// lock is held. It also forgets idempotency keys after their window and vacuums the queue when the server's
// autovacuum is off.
package purge

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/testsignal"
)

// Store is what the purger needs of the store.
type Store interface {
	// Purge deletes up to limit events created before cutoff, with their deliveries and attempts, and up to limit
	// executions (SQLite; PostgreSQL drops partitions instead and returns 0).
	Purge(ctx context.Context, cutoff time.Time, limit int) (int, error)
	// DropPartitionsBefore drops the day partitions whose day ended by cutoff and returns their days (PostgreSQL).
	DropPartitionsBefore(ctx context.Context, cutoff time.Time) ([]time.Time, error)
	// EnsurePartitions creates the day partitions from the day of from through the day of to (PostgreSQL).
	EnsurePartitions(ctx context.Context, from, to time.Time) error
	// ExpireIdempotencyKeys deletes up to limit idempotency keys taken before cutoff.
	ExpireIdempotencyKeys(ctx context.Context, cutoff time.Time, limit int) (int, error)
	// ExpireTriggerSignatures deletes up to limit remembered trigger signatures that expired by now.
	ExpireTriggerSignatures(ctx context.Context, now time.Time, limit int) (int, error)
	// VacuumQueue vacuums the queue's tables when the server's autovacuum is off (PostgreSQL).
	VacuumQueue(ctx context.Context) error
	// ExpireStats deletes the webhook statistics buckets older than their resolution keeps them.
	ExpireStats(ctx context.Context, now time.Time) (int, error)
}

// PartitionsAhead is how many days of log partitions the purger keeps ready beyond today.
const PartitionsAhead = 7

// Config configures a Purger.
type Config struct {
	// Store is purged.
	Store Store
	// Retention is how long events are kept (default 90 days).
	Retention time.Duration
	// Interval is the pause between purge rounds (default 1 minute).
	Interval time.Duration
	// VacuumInterval is the pause between vacuums of the queue when autovacuum is off (default 15 s).
	VacuumInterval time.Duration
	// BatchSize is how many events one statement deletes (default 500).
	BatchSize int
	// Clock tells the time (default the wall clock).
	Clock clock.Clock
	// Logger logs each round that deleted something.
	Logger *slog.Logger
	// Registerer receives the hookd_purged_events_total counter (optional).
	Registerer prometheus.Registerer
	// Signals, when set, reports the purger's steps to a test (see TestSignals).
	Signals *TestSignals
}

// TestSignals lets a test wait for the purger's steps instead of polling: set Config.Signals, Init the signals
// the test reads, and wait on them.
type TestSignals struct {
	// Round receives the events each round deleted (SQLite), once the round finished.
	Round testsignal.Signal[int]
}

// Purger runs the retention purge in the background.
type Purger struct {
	cfg    Config
	purged prometheus.Counter
	days   prometheus.Counter
	// mu guards cancel and done; Stop holds it while it waits, so Start and Stop never interleave.
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Purger with defaults filled in (zero or negative values take the defaults).
func New(cfg Config) *Purger {
	cfg.Retention = cmp.Or(max(cfg.Retention, 0), 90*24*time.Hour)
	cfg.Interval = cmp.Or(max(cfg.Interval, 0), time.Minute)
	cfg.VacuumInterval = cmp.Or(max(cfg.VacuumInterval, 0), 15*time.Second)
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
	}), days: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hookd_purged_days_total",
		Help: "Day partitions of the log tables dropped by the retention purge (PostgreSQL).",
	})}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(p.purged, p.days)
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
		v := time.NewTicker(p.cfg.VacuumInterval)
		defer v.Stop()
		for {
			n, err := p.runOnce(ctx)
			if err != nil && ctx.Err() == nil {
				p.cfg.Logger.ErrorContext(ctx, "retention purge failed", "error", err)
			}
			if p.cfg.Signals != nil {
				p.cfg.Signals.Round.Signal(n)
			}
			for waiting := true; waiting; {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					waiting = false
				case <-v.C:
					if err := p.cfg.Store.VacuumQueue(ctx); err != nil && ctx.Err() == nil {
						p.cfg.Logger.WarnContext(ctx, "vacuum queue", "error", err)
					}
				}
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

// runOnce creates the partitions ahead, drops or deletes everything older than the cutoff (batch by batch) and
// forgets expired idempotency keys and trigger signatures; it returns the events deleted (SQLite).
func (p *Purger) runOnce(ctx context.Context) (int, error) {
	now := p.cfg.Clock.Now()
	cutoff := now.Add(-p.cfg.Retention)
	if err := p.cfg.Store.EnsurePartitions(ctx, now.AddDate(0, 0, -1), now.AddDate(0, 0, PartitionsAhead)); err != nil {
		return 0, err
	}
	days, err := p.cfg.Store.DropPartitionsBefore(ctx, cutoff)
	if err != nil {
		return 0, err
	}
	p.days.Add(float64(len(days)))
	if len(days) > 0 {
		p.cfg.Logger.InfoContext(ctx, "retention: dropped day partitions", "days", len(days), "first", days[0].Format(time.DateOnly),
			"last", days[len(days)-1].Format(time.DateOnly))
	}
	for {
		n, err := p.cfg.Store.ExpireIdempotencyKeys(ctx, now.Add(-store.IdempotencyWindow), p.cfg.BatchSize)
		if err != nil {
			return 0, err
		}
		if n < p.cfg.BatchSize {
			break
		}
	}
	for {
		n, err := p.cfg.Store.ExpireTriggerSignatures(ctx, now, p.cfg.BatchSize)
		if err != nil {
			return 0, err
		}
		if n < p.cfg.BatchSize {
			break
		}
	}
	if _, err := p.cfg.Store.ExpireStats(ctx, now); err != nil {
		return 0, err
	}
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

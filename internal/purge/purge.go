// Package purge enforces retention and keeps the queue's tables in shape. On PostgreSQL it drops the day
// partitions of the log tables (events, deliveries, attempts, executions) once the whole day is older than the
// retention period, and creates partitions ahead; on SQLite it deletes old rows in small batches so that no long
// lock is held. It also forgets idempotency keys after their window and vacuums the queue when the server's
// autovacuum is off.
package purge

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/startstop"
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
	// ProjectLifecycles lists the projects whose retention or payload retention is set.
	ProjectLifecycles(ctx context.Context) ([]store.ProjectLifecycle, error)
	// PurgeProject deletes one batch (up to limit rows a table) of the project's log made before cutoff and
	// returns the rows deleted (0: nothing left).
	PurgeProject(ctx context.Context, projectID string, cutoff time.Time, limit int) (int, error)
	// ExpirePayloads drops the payloads of the project's log rows made from from until cutoff, limit rows per
	// transaction with pause in between, and returns the rows changed.
	ExpirePayloads(ctx context.Context, projectID string, from, cutoff time.Time, limit int, pause func(context.Context) error) (int, error)
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
	// BaseStartStop gives the purger the services' Start/Stop contract: Stop ends the background loop and waits
	// for it (safe twice, or before Start); a second Start is refused.
	startstop.BaseStartStop
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
	ctx, stopped, err := p.StartInit(ctx)
	if err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	go func() {
		defer stopped()
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
		if err := pause(ctx); err != nil {
			return total, err
		}
	}
	if total > 0 {
		p.cfg.Logger.InfoContext(ctx, "retention purge", "events_deleted", total, "cutoff", cutoff)
	}
	return total, p.purgeProjects(ctx, now)
}

// pause lets other writers in between two batches.
func pause(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Millisecond):
		return nil
	}
}

// purgeProjects applies the projects' own retention (shorter than the instance's) and payload retention, batch
// by batch.
func (p *Purger) purgeProjects(ctx context.Context, now time.Time) error {
	projects, err := p.cfg.Store.ProjectLifecycles(ctx)
	if err != nil {
		return err
	}
	for _, l := range projects {
		retention, payload := l.Effective(p.cfg.Retention)
		deleted := 0
		for retention < p.cfg.Retention {
			n, err := p.cfg.Store.PurgeProject(ctx, l.ProjectID, now.Add(-retention), p.cfg.BatchSize)
			deleted += n
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
			if err := pause(ctx); err != nil {
				return err
			}
		}
		expired := 0
		if payload > 0 {
			if expired, err = p.cfg.Store.ExpirePayloads(ctx, l.ProjectID, l.PayloadExpireTime, now.Add(-payload), p.cfg.BatchSize,
				pause); err != nil {
				return err
			}
		}
		if deleted > 0 || expired > 0 {
			p.cfg.Logger.InfoContext(ctx, "project retention", "project_id", l.ProjectID, "rows_deleted", deleted,
				"payloads_expired", expired)
		}
	}
	return nil
}

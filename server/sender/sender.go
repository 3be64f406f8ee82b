// Package sender is the delivery engine: one claimer per process leases due deliveries in batches and feeds a
// worker pool that makes the signed HTTP requests; outcomes are written back in batches. Delivery is at least
// once: a process that dies mid-attempt loses its lease and another one sends again (same webhook-id).
package sender

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/server/clock"
	"github.com/hookd/hookd/server/ratelimit"
	"github.com/hookd/hookd/server/store"
)

// Config configures a Sender; zero values take the documented defaults.
type Config struct {
	// Store holds the queue.
	Store store.Store
	// Clock tells the time (default the wall clock).
	Clock clock.Clock
	// Log receives delivery failures and store errors (default slog.Default()).
	Log *slog.Logger
	// Registerer receives the sender's metrics (optional).
	Registerer prometheus.Registerer
	// Workers is how many attempts run at once (default 64).
	Workers int
	// BatchSize is how many deliveries one claim leases and one completion writes at most (default 100).
	BatchSize int
	// Lease is how long a claimed delivery is reserved before another process may take it (default 60 s).
	Lease time.Duration
	// Timeout bounds each attempt: connect, TLS, headers and body (default 15 s; a webhook's shorter
	// timeout wins).
	Timeout time.Duration
	// MaxResponseBytes caps the response body read and stored, and the request body stored (default 64 KiB).
	MaxResponseBytes int
	// Dev allows http:// and loopback/private targets.
	Dev bool
	// PublicURL is the base of meta.link (PublicURL + "/v1/action-status/" + token).
	PublicURL string
	// UserAgent is sent with every request (default "hookd/dev").
	UserAgent string
	// PollInterval is the longest idle wait between claims when no wake-up comes (default 5 s).
	PollInterval time.Duration
	// DialContextFunc replaces the dialer (tests); it then does its own address checks.
	DialContextFunc func(ctx context.Context, network, addr string) (net.Conn, error)
}

const (
	// flushDelay is how long an outcome may wait for others before its batch is written.
	flushDelay = 5 * time.Millisecond
	// maxFlushes is how many outcome batches are written concurrently.
	maxFlushes = 4
	// expireInterval is how often WAITING deliveries whose callback never came are failed.
	expireInterval = 10 * time.Second
	// targetTTL is how long a loaded webhook (and integration) is reused.
	targetTTL = 2 * time.Second
	// storeRetryDelay is the pause after a failed claim.
	storeRetryDelay = time.Second
)

// Sender delivers queued deliveries; it also implements api.Tester (SendTest).
type Sender struct {
	cfg     Config
	client  *httpClient
	targets *targetCache
	limiter *ratelimit.Limiter
	metrics *metrics

	busy  atomic.Int64  // deliveries handed to the pool and not finished
	freed chan struct{} // signalled when a worker finishes

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// New returns a Sender with defaults filled in; it registers its metrics with cfg.Registerer.
func New(cfg Config) *Sender {
	cfg.Workers = cmp.Or(max(cfg.Workers, 0), 64)
	cfg.BatchSize = cmp.Or(max(cfg.BatchSize, 0), 100)
	cfg.Lease = cmp.Or(max(cfg.Lease, 0), 60*time.Second)
	cfg.Timeout = cmp.Or(max(cfg.Timeout, 0), 15*time.Second)
	cfg.MaxResponseBytes = cmp.Or(max(cfg.MaxResponseBytes, 0), 64<<10)
	cfg.UserAgent = cmp.Or(cfg.UserAgent, "hookd/dev")
	cfg.PollInterval = cmp.Or(max(cfg.PollInterval, 0), 5*time.Second)
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Registerer != nil {
		register(cfg.Registerer, prometheus.Collector(newQueueDepth(cfg.Store, cfg.Log)))
	}
	return &Sender{
		cfg:     cfg,
		client:  newHTTPClient(cfg),
		targets: newTargetCache(cfg.Store, cfg.Clock, targetTTL),
		limiter: ratelimit.New(cfg.Store),
		metrics: newMetrics(cfg.Registerer),
		freed:   make(chan struct{}, 1),
	}
}

func (s *Sender) now() time.Time { return s.cfg.Clock.Now().UTC() }

// Start runs the claimer and the worker pool until Stop or ctx ends. In-flight attempts are not cut short by
// ctx: they finish (bounded by Timeout) and their outcomes are written.
func (s *Sender) Start(ctx context.Context) error {
	if s.cfg.Store == nil {
		return errors.New("start sender: no store")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("start sender: already started")
	}
	s.started = true
	claimCtx, cancel := context.WithCancel(ctx)
	s.cancel, s.done = cancel, make(chan struct{})
	workCtx := context.WithoutCancel(ctx)

	jobs := make(chan store.ClaimedDelivery, s.capacity())
	results := make(chan store.Outcome, s.capacity())
	var workers sync.WaitGroup
	for range s.cfg.Workers {
		workers.Go(func() {
			for d := range jobs {
				if claimCtx.Err() != nil {
					results <- release(&d, s.now()) // stopping: give back what was not started
				} else {
					results <- s.deliver(workCtx, &d)
				}
				s.busy.Add(-1)
				s.metrics.inFlight.Dec()
				select {
				case s.freed <- struct{}{}:
				default:
				}
			}
		})
	}
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		s.flushLoop(workCtx, results)
	}()
	go func() {
		defer close(s.done)
		s.claimLoop(claimCtx, jobs)
		close(jobs)
		workers.Wait()
		close(results)
		<-flushed
	}()
	return nil
}

// Stop stops claiming, waits for in-flight attempts, gives back claimed deliveries that were not started and
// writes all outcomes. Safe to call twice, and before Start.
func (s *Sender) Stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// capacity is how many claimed deliveries may be in the pool at once (running or queued for a worker).
// Two rounds of workers keeps every worker busy while the lease (60 s) covers the wait (at most one Timeout).
func (s *Sender) capacity() int { return 2 * s.cfg.Workers }

// claimLoop leases due deliveries while the pool has room; idle, it waits for a wake-up or PollInterval.
func (s *Sender) claimLoop(ctx context.Context, jobs chan<- store.ClaimedDelivery) {
	threshold := max(1, min(s.cfg.BatchSize, s.cfg.Workers)/2) // claim in reasonably large batches
	var nextExpire time.Time
	for ctx.Err() == nil {
		now := s.now()
		if !now.Before(nextExpire) {
			s.expireWaiting(ctx, now)
			nextExpire = now.Add(expireInterval)
		}
		free := s.capacity() - int(s.busy.Load())
		if free < threshold {
			select {
			case <-ctx.Done():
			case <-s.freed:
			}
			continue
		}
		batch, err := s.claim(ctx, now, min(s.cfg.BatchSize, free))
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Log.ErrorContext(ctx, "claim deliveries", "error", err)
				sleep(ctx, storeRetryDelay)
			}
			continue
		}
		if len(batch) == 0 {
			s.cfg.Store.WaitForWork(ctx, s.cfg.PollInterval)
			continue
		}
		for _, d := range batch {
			s.busy.Add(1)
			s.metrics.inFlight.Inc()
			jobs <- d // never blocks: at most capacity are in the pool
		}
	}
}

// RunOnce claims one batch, sends all of it (Workers at a time), writes the outcomes and returns how many
// deliveries it claimed. It also fails expired WAITING deliveries. For tests and tools.
func (s *Sender) RunOnce(ctx context.Context) (int, error) {
	now := s.now()
	s.expireWaiting(ctx, now)
	batch, err := s.claim(ctx, now, s.cfg.BatchSize)
	if err != nil {
		return 0, err
	}
	outcomes := make([]store.Outcome, len(batch))
	sem := make(chan struct{}, s.cfg.Workers)
	var wg sync.WaitGroup
	for i := range batch {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			outcomes[i] = s.deliver(ctx, &batch[i])
		})
	}
	wg.Wait()
	if err := s.cfg.Store.CompleteDeliveries(ctx, outcomes, s.now()); err != nil {
		return len(batch), fmt.Errorf("complete deliveries: %w", err)
	}
	return len(batch), nil
}

func (s *Sender) claim(ctx context.Context, now time.Time, limit int) ([]store.ClaimedDelivery, error) {
	batch, err := s.cfg.Store.ClaimDeliveries(ctx, now, limit, s.cfg.Lease)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	s.metrics.claimed.Add(float64(len(batch)))
	return batch, nil
}

func (s *Sender) expireWaiting(ctx context.Context, now time.Time) {
	for {
		n, err := s.cfg.Store.ExpireWaiting(ctx, now, s.cfg.BatchSize)
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Log.ErrorContext(ctx, "expire waiting deliveries", "error", err)
			}
			return
		}
		s.metrics.deliveries.WithLabelValues(string(store.StatusFailed)).Add(float64(n))
		if n > 0 {
			s.cfg.Log.InfoContext(ctx, "action status callbacks timed out", "deliveries", n)
		}
		if n < s.cfg.BatchSize {
			return
		}
	}
}

// flushLoop writes outcomes in batches: when BatchSize are buffered, or flushDelay after the first one.
// Up to maxFlushes batches are written at once, so a slow commit does not hold back the next batch.
func (s *Sender) flushLoop(ctx context.Context, results <-chan store.Outcome) {
	var buf []store.Outcome
	var writers sync.WaitGroup
	sem := make(chan struct{}, maxFlushes)
	timer := time.NewTimer(flushDelay)
	timer.Stop()
	flush := func() {
		if len(buf) > 0 {
			batch := buf
			buf = nil
			sem <- struct{}{}
			writers.Go(func() {
				defer func() { <-sem }()
				s.complete(ctx, batch)
			})
		}
		timer.Stop()
	}
	for {
		select {
		case o, ok := <-results:
			if !ok {
				flush()
				writers.Wait()
				return
			}
			buf = append(buf, o)
			if len(buf) == 1 {
				timer.Reset(flushDelay)
			}
			if len(buf) >= s.cfg.BatchSize {
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

// complete writes a batch of outcomes, retrying briefly; a batch that cannot be written is left to lease
// expiry (its deliveries are sent again: at least once).
func (s *Sender) complete(ctx context.Context, outcomes []store.Outcome) {
	var err error
	for try := range 3 {
		if try > 0 {
			sleep(ctx, time.Duration(try)*200*time.Millisecond)
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = s.cfg.Store.CompleteDeliveries(cctx, outcomes, s.now())
		cancel()
		if err == nil {
			return
		}
	}
	s.cfg.Log.ErrorContext(ctx, "complete deliveries: outcomes dropped, their leases will expire",
		"deliveries", len(outcomes), "error", err)
}

// release gives a claimed delivery back unchanged and due now (a stopping sender did not start it).
func release(d *store.ClaimedDelivery, now time.Time) store.Outcome {
	return store.Outcome{DeliveryID: d.ID, ClaimToken: d.ClaimToken, Status: d.Status, NextAttemptTime: now}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

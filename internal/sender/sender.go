// Package sender is the delivery engine: one claimer per process leases due deliveries in batches and feeds a
// worker pool that makes the signed HTTP requests; outcomes are written back in batches. Delivery is at least
// once: a process that dies mid-attempt loses its lease and another one sends again (same webhook-id).
//
// Timing: the claimer never polls blindly. It sleeps until the earliest due delivery — the queue's next due time
// returned by every claim, and wake-ups carrying the due time of work committed by this process or any other
// (store.Listener) — so an attempt starts when it is due, idle or busy.
//
// Fairness: a claim visits webhooks in turn and gives each at most a fair share of the claim and what is left of
// its in-flight cap (PerWebhook), so a webhook with a backlog or a hanging receiver holds at most PerWebhook of
// the process's workers and never delays the others' deliveries.
package sender

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/hookd/hookd/internal/listen"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookd/hookd/internal/actiontoken"
	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/ratelimit"
	"github.com/hookd/hookd/internal/startstop"
	"github.com/hookd/hookd/internal/store"
)

// Queue is what the sender needs of the delivery queue.
type Queue interface {
	ClaimDeliveries(ctx context.Context, now time.Time, req store.ClaimRequest) (store.ClaimResult, error)
	CompleteDeliveries(ctx context.Context, outcomes []store.Outcome, now time.Time) error
	QueueDepth(ctx context.Context) (int, error)
}

// Targets loads the webhooks (and their integrations) deliveries go to.
type Targets interface {
	GetWebhook(ctx context.Context, projectID, id string) (*store.Webhook, error)
	GetIntegration(ctx context.Context, projectID, id string) (*store.Integration, error)
}

// Defaults of Config.
const (
	// DefaultWorkers is how many attempts run at once in a process.
	DefaultWorkers = 64
	// DefaultBatchSize is how many deliveries one claim leases and one completion writes at most.
	DefaultBatchSize = 100
	// DefaultLease is how long a claimed delivery is reserved before another process may take it; longer than
	// the longest attempt (Timeout).
	DefaultLease = 60 * time.Second
	// DefaultTimeout bounds each attempt (connect, TLS, headers and body); a webhook's shorter timeout wins.
	DefaultTimeout = 15 * time.Second
	// DefaultMaxResponseBytes caps the response body read and stored, and the request body stored.
	DefaultMaxResponseBytes = 64 << 10
	// RateLag is how long after its admission an attempt of a rate-limited integration counts in the rolling
	// window: a guard for the time the request takes to reach the receiver (a new connection, a busy machine),
	// so that the receiver sees at most rate_limit_per_second in any rolling second; a backlog drains at
	// rate per 1.1 s.
	RateLag = 100 * time.Millisecond
)

// DefaultPerWebhook is a webhook's default cap of deliveries in flight in one process: half of its workers.
func DefaultPerWebhook(workers int) int { return max(1, workers/2) }

// Config configures a Sender; zero values take the documented defaults.
type Config struct {
	// Queue holds the deliveries.
	Queue Queue
	// Listener wakes the claimer when work is committed, by this process or another one; its owner starts what
	// listens to other processes (storesql's Notifier) before the sender (optional: without it
	// the claimer still wakes at the due times its claims learn and at its own completions' reschedules only when
	// they come through a listener, so production wiring always sets it).
	Listener store.Listener
	// Targets loads webhooks and integrations.
	Targets Targets
	// Rates holds the integrations' shared rate windows.
	Rates ratelimit.Windows
	// ActionKeys derive the action-status tokens of meta.link.
	ActionKeys actiontoken.Keys
	// Clock tells the time (default the wall clock).
	Clock clock.Clock
	// Log receives delivery failures and store errors (default slog.Default()).
	Log *slog.Logger
	// Registerer receives the sender's metrics (optional).
	Registerer prometheus.Registerer
	// PerWebhookMetrics adds series labelled by webhook id (outcomes, attempt durations): one per webhook.
	PerWebhookMetrics bool
	// Workers is how many attempts run at once (default DefaultWorkers).
	Workers int
	// PerWebhook caps one webhook's attempts running at once in this process (default DefaultPerWebhook(Workers));
	// the claimer holds at most twice as many of its deliveries.
	PerWebhook int
	// BatchSize is how many deliveries one claim leases and one completion writes at most (default 100).
	BatchSize int
	// Lease is how long a claimed delivery is reserved (default DefaultLease).
	Lease time.Duration
	// Timeout bounds each attempt (default DefaultTimeout).
	Timeout time.Duration
	// MaxResponseBytes caps the response body read and stored, and the request body stored (default 64 KiB).
	MaxResponseBytes int
	// Dev allows http:// and loopback/private targets.
	Dev bool
	// PublicURL is the base of meta.link (PublicURL + "/v1/action-status/" + token).
	PublicURL string
	// UserAgent is sent with every request (default "hookd/dev").
	UserAgent string
	// RootCAs, when set, replaces the system's root certificates for receivers and token endpoints (tests).
	RootCAs *x509.CertPool
	// DialContextFunc replaces the dialer (tests); it then does its own address checks.
	DialContextFunc func(ctx context.Context, network, addr string) (net.Conn, error)
	// BeforeAttemptFunc, when set, runs in the worker right before each attempt of a claimed delivery (a test
	// hook: tests inject panics with it).
	BeforeAttemptFunc func(ctx context.Context, d *store.ClaimedDelivery)
	// LookupHostFunc resolves target host names for the default dialer (tests point names at loopback with it;
	// default: the system resolver). The dial-time address guard checks what it returns.
	LookupHostFunc func(ctx context.Context, host string) ([]string, error)
	// Signals, when set, reports the sender's steps to a test (see TestSignals).
	Signals *TestSignals
	// OutcomesAwaited reports whether a request of this process waits for delivery outcomes to commit (a sync
	// trigger's caller); the sender then writes outcomes at once instead of coalescing them (optional).
	OutcomesAwaited func() bool
	// Listen holds the `hookd listen` clients connected to this process; attempts of TRANSPORT_LISTEN webhooks go
	// to them (without it, or with no client connected, such deliveries wait QUEUED).
	Listen *listen.Hub
	// TracerProvider makes the attempt spans (default OpenTelemetry's global provider).
	TracerProvider trace.TracerProvider
}

const (
	// flushDelay is how long an outcome may wait for others before its batch is written. Waiting delays no
	// delivery (the worker is free at once; the lease holds the row): it makes batches larger, so that a steady
	// trickle of deliveries costs one completion transaction per flushDelay rather than one per delivery. Outcomes
	// someone waits for are written at once (see urgent).
	flushDelay = 100 * time.Millisecond
	// maxFlushes is how many outcome batches are written concurrently.
	maxFlushes = 2
	// targetTTL is how long a loaded webhook (and integration) is reused.
	targetTTL = 2 * time.Second
	// storeRetryDelay is the pause after a failed claim.
	storeRetryDelay = time.Second
	// claimGap spaces claims that found little work: work arriving a few events at a time is claimed a few
	// milliseconds' worth at a time rather than one statement per event.
	claimGap = 2 * time.Millisecond
	// idleCheck bounds an idle claimer's sleep when no due time is known: a safety net for a lost wake-up
	// (every due time normally arrives with a claim's result or a wake-up).
	idleCheck = time.Minute
)

// Sender delivers queued deliveries; it also implements api.Tester (SendTest).
type Sender struct {
	cfg     Config
	client  *httpClient
	auth    *authenticator
	targets *targetCache
	limiter *ratelimit.Limiter
	slots   *rateSlots
	metrics *metrics
	tracer  trace.Tracer

	disp  *dispatcher   // claimed deliveries waiting for or running on a worker
	hand  *handoff      // room reserved by publishes of this process (store.Handoff)
	freed chan struct{} // signalled when a worker finishes

	// BaseStartStop gives the sender the services' Start/Stop contract: Stop stops claiming, waits for
	// in-flight attempts, gives back claimed deliveries that were not started and writes all outcomes (safe
	// twice, and before Start).
	startstop.BaseStartStop
	// ran is set by the first Start: a sender runs once (its pool is closed when it stops).
	ran atomic.Bool
}

// New returns a Sender with defaults filled in; it registers its metrics with cfg.Registerer.
func New(cfg Config) *Sender {
	cfg.Workers = cmp.Or(max(cfg.Workers, 0), DefaultWorkers)
	cfg.PerWebhook = cmp.Or(max(cfg.PerWebhook, 0), DefaultPerWebhook(cfg.Workers))
	cfg.BatchSize = cmp.Or(max(cfg.BatchSize, 0), DefaultBatchSize)
	cfg.Lease = cmp.Or(max(cfg.Lease, 0), DefaultLease)
	cfg.Timeout = cmp.Or(max(cfg.Timeout, 0), DefaultTimeout)
	cfg.MaxResponseBytes = cmp.Or(max(cfg.MaxResponseBytes, 0), DefaultMaxResponseBytes)
	cfg.UserAgent = cmp.Or(cfg.UserAgent, "hookd/dev")
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = otel.GetTracerProvider()
	}
	if cfg.Registerer != nil && cfg.Queue != nil {
		register(cfg.Registerer, prometheus.Collector(newQueueDepth(cfg.Queue, cfg.Log, cfg.Clock)))
	}
	client := newHTTPClient(cfg)
	return &Sender{
		cfg:     cfg,
		client:  client,
		auth:    newAuthenticator(client, cfg.Clock, cfg.Dev),
		targets: newTargetCache(cfg.Targets, cfg.Clock, targetTTL),
		limiter: ratelimit.NewLagged(cfg.Rates, RateLag, cfg.Clock.Now),
		slots:   newRateSlots(),
		metrics: newMetrics(cfg.Registerer, cfg.PerWebhookMetrics),
		tracer:  cfg.TracerProvider.Tracer(tracerName),
		disp:    newDispatcher(cfg.PerWebhook),
		hand:    newHandoff(),
		freed:   make(chan struct{}, 1),
	}
}

func (s *Sender) now() time.Time { return s.cfg.Clock.Now().UTC() }

// Start runs the claimer and the worker pool until Stop or ctx ends. In-flight attempts are not cut short by
// ctx: they finish (bounded by Timeout) and their outcomes are written.
func (s *Sender) Start(ctx context.Context) error {
	if s.cfg.Queue == nil || s.cfg.Targets == nil {
		return errors.New("start sender: no queue or targets")
	}
	if !s.ran.CompareAndSwap(false, true) {
		return fmt.Errorf("start sender: %w", startstop.ErrAlreadyStarted)
	}
	claimCtx, stopped, err := s.StartInit(ctx)
	if err != nil {
		return fmt.Errorf("start sender: %w", err)
	}
	var wakeups <-chan store.Wakeup
	unsubscribe := func() {}
	if s.cfg.Listener != nil {
		wakeups, unsubscribe = s.cfg.Listener.Subscribe()
	}
	workCtx := context.WithoutCancel(ctx)

	results := make(chan pendingOutcome, s.capacity())
	var workers sync.WaitGroup
	for range s.cfg.Workers {
		workers.Go(func() {
			for {
				d, ok := s.disp.next()
				if !ok {
					return
				}
				if claimCtx.Err() != nil {
					results <- pendingOutcome{Outcome: release(&d, s.now())} // stopping: give back what was not started
				} else {
					o := s.deliver(workCtx, &d)
					results <- pendingOutcome{Outcome: o, urgent: s.urgent(workCtx, &d)}
				}
				s.finished(d.WebhookID)
			}
		})
	}
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		s.flushLoop(workCtx, results)
	}()
	s.openHandoff()
	go func() {
		defer stopped()
		s.claimLoop(claimCtx, wakeups)
		unsubscribe()
		s.closeHandoff()
		for _, d := range s.disp.drain() { // claimed but not started: give them back, due now
			results <- pendingOutcome{Outcome: release(&d, s.now())}
			s.metrics.inFlight.Dec()
		}
		s.disp.close()
		workers.Wait()
		close(results)
		<-flushed
	}()
	return nil
}

// claimThreshold is how much free room makes a claim worth it while deliveries are in flight.
func (s *Sender) claimThreshold() int { return max(1, min(s.cfg.BatchSize, s.cfg.Workers)/2) }

// capacity is how many claimed deliveries may be held at once (running or queued for a worker). Two rounds of
// workers keeps every worker busy while the lease covers the wait (at most one Timeout).
func (s *Sender) capacity() int { return 2 * s.cfg.Workers }

// claimCap is how many deliveries of one webhook may be held (running or queued): two rounds of its share of
// the workers, so that the next round is claimed while one runs.
func (s *Sender) claimCap() int { return 2 * s.cfg.PerWebhook }

// dispatched hands claimed deliveries to the workers.
func (s *Sender) dispatched(batch []store.ClaimedDelivery) {
	s.disp.add(batch)
	s.metrics.inFlight.Add(float64(len(batch)))
}

// finished records a delivery that left the pool and wakes the claimer.
func (s *Sender) finished(webhookID string) {
	s.disp.done(webhookID)
	s.metrics.inFlight.Dec()
	select {
	case s.freed <- struct{}{}:
	default:
	}
}

// room returns the free pool capacity and the deliveries held (or reserved by a publish's handoff) by webhook.
func (s *Sender) room() (int, map[string]int) {
	held, by := s.disp.counts()
	held += s.hand.counts(by)
	return s.capacity() - held, by
}

// claimLoop leases due deliveries while the pool has room and sleeps until the next due time otherwise.
func (s *Sender) claimLoop(ctx context.Context, wakeups <-chan store.Wakeup) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var (
		nextDue  time.Time // earliest known due time of work not claimed yet (zero: none known)
		cursor   string
		claimNow = true // claim at once (start, wake-up now, more due work)
		onFreed  bool   // a finished delivery may let the claimer take work the caps or the pool held back
		last     time.Time
		lastSize int
	)
	for ctx.Err() == nil {
		now := s.now()
		if !nextDue.IsZero() && !now.Before(nextDue) {
			claimNow, nextDue = true, time.Time{}
		}
		free, busy := s.room()
		if claimNow && lastSize < s.claimThreshold() {
			if wait := claimGap - time.Since(last); wait > 0 { // the last claim found little: let a little more arrive
				sleep(ctx, wait)
				now = s.now()
			}
		}
		// Claim in reasonably large batches: with deliveries in flight, wait until a fair part of the pool is free
		// (each claim is one statement whatever its size).
		if claimNow && free > 0 && (free >= s.claimThreshold() || len(busy) == 0) {
			claimNow, onFreed = false, false
			res, err := s.claim(ctx, now, store.ClaimRequest{
				Limit: min(s.cfg.BatchSize, free), Lease: s.cfg.Lease, PerWebhook: s.claimCap(), InFlight: busy, Cursor: cursor,
			})
			if err != nil {
				if ctx.Err() == nil {
					s.cfg.Log.ErrorContext(ctx, "claim deliveries", "error", err)
					sleep(ctx, storeRetryDelay)
					claimNow = true
				}
				continue
			}
			cursor = res.Cursor
			last, lastSize = time.Now(), len(res.Deliveries) // (real time: this paces statements, not the schedule)
			if len(res.Deliveries) > 0 {
				s.dispatched(res.Deliveries)
			}
			s.cfg.Signals.claimed(len(res.Deliveries))
			nextDue = earliest(nextDue, res.NextDue)
			switch {
			case res.More && free > len(res.Deliveries):
				claimNow = true
				continue
			case res.More, res.Capped:
				onFreed = true // the pool or a webhook's cap is full: claim when a delivery finishes
			}
		} else if claimNow {
			onFreed = true // no room in the pool
		}

		wait := idleCheck
		if !nextDue.IsZero() {
			wait = max(nextDue.Sub(s.now()), 0)
		}
		resetTimer(timer, wait)
		held, _ := s.disp.counts()
		s.cfg.Signals.idle(held)
		select {
		case <-ctx.Done():
		case <-timer.C:
			claimNow = true
		case w := <-wakeups:
			if w.Due.After(s.now()) {
				nextDue = earliest(nextDue, w.Due)
			} else {
				claimNow = true
			}
		case <-s.freed:
			claimNow = claimNow || onFreed // (else the loop only goes back to sleep)
		}
	}
}

// earliest is the earlier of two times, ignoring zero ones.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	select {
	case <-t.C:
	default:
	}
	t.Reset(d)
}

// RunOnce claims one batch, sends all of it (Workers at a time), writes the outcomes and returns how many
// deliveries it claimed (WAITING deliveries whose wait ended are failed on the way). For tests and tools.
func (s *Sender) RunOnce(ctx context.Context) (int, error) {
	now := s.now()
	res, err := s.claim(ctx, now, store.ClaimRequest{Limit: s.cfg.BatchSize, Lease: s.cfg.Lease, PerWebhook: s.cfg.BatchSize})
	if err != nil {
		return 0, err
	}
	batch := res.Deliveries
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
	if err := s.cfg.Queue.CompleteDeliveries(ctx, outcomes, s.now()); err != nil {
		return len(batch), fmt.Errorf("complete deliveries: %w", err)
	}
	return len(batch), nil
}

func (s *Sender) claim(ctx context.Context, now time.Time, req store.ClaimRequest) (store.ClaimResult, error) {
	res, err := s.cfg.Queue.ClaimDeliveries(ctx, now, req)
	if err != nil {
		return res, fmt.Errorf("claim deliveries: %w", err)
	}
	s.metrics.claimed.Add(float64(len(res.Deliveries)))
	return res, nil
}

// pendingOutcome is an attempt's outcome on its way to the flush loop; urgent ones are written without waiting for others.
type pendingOutcome struct {
	store.Outcome
	urgent bool
}

// urgent reports whether d's outcome should be written at once: a request waits for outcomes (a sync trigger), or
// d's webhook is ordered (its key's next delivery is released only when this outcome commits).
func (s *Sender) urgent(ctx context.Context, d *store.ClaimedDelivery) bool {
	if f := s.cfg.OutcomesAwaited; f != nil && f() {
		return true
	}
	t, err := s.targets.get(ctx, d.ProjectID, d.WebhookID) // (cached: the attempt just loaded it)
	return err != nil || t.webhook.Ordered
}

// flushLoop writes outcomes in batches: when BatchSize are buffered, when an urgent one arrives, or flushDelay
// after the first one. Up to maxFlushes batches are written at once, so a slow commit does not hold back the next.
func (s *Sender) flushLoop(ctx context.Context, results <-chan pendingOutcome) {
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
			buf = append(buf, o.Outcome)
			if len(buf) == 1 {
				timer.Reset(flushDelay)
			}
			if len(buf) >= s.cfg.BatchSize || o.urgent {
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
		err = s.cfg.Queue.CompleteDeliveries(cctx, outcomes, s.now())
		cancel()
		if err == nil {
			s.cfg.Signals.completed(outcomes)
			return
		}
	}
	s.cfg.Log.ErrorContext(ctx, "complete deliveries: outcomes dropped, their leases will expire",
		"deliveries", len(outcomes), "error", err)
}

// release gives a claimed delivery back unchanged and due now (a stopping sender did not start it).
func release(d *store.ClaimedDelivery, now time.Time) store.Outcome {
	return store.Outcome{DeliveryID: d.ID, ClaimToken: d.ClaimToken, Status: d.Status, Attempts: d.Attempts,
		NextAttemptTime: now, WebhookID: d.WebhookID}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

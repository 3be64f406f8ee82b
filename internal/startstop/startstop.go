// Package startstop gives hookd's background services one Start/Stop contract (after River's
// internal/startstop): Start runs the service until its context ends or Stop; a second Start while it runs is
// refused with ErrAlreadyStarted; Stop is safe before Start, twice, and from several goroutines at once, and
// returns once the service has wound down; a stopped service may start again unless it says otherwise.
//
// A service embeds BaseStartStop and writes its Start as:
//
//	func (s *Service) Start(ctx context.Context) error {
//		ctx, stopped, err := s.StartInit(ctx)
//		if err != nil {
//			return fmt.Errorf("start service: %w", err)
//		}
//		if err := s.acquire(ctx); err != nil {
//			stopped() // a failed Start leaves the service stopped
//			return err
//		}
//		go func() {
//			defer stopped()
//			s.run(ctx) // returns when ctx ends (Stop cancels it)
//		}()
//		return nil
//	}
package startstop

import (
	"context"
	"errors"
	"sync"
)

// Service is a background service.
type Service interface {
	// Start starts the service; it runs until ctx ends or Stop. ErrAlreadyStarted while it runs.
	Start(ctx context.Context) error
	// Stop stops the service and waits until it has wound down; safe before Start and twice.
	Stop()
}

// ErrAlreadyStarted is returned by a Start while the service runs.
var ErrAlreadyStarted = errors.New("already started")

// BaseStartStop keeps a service's run state; its zero value is a stopped service. Embed it and call StartInit
// from Start; Stop, Started and Stopped come with it.
type BaseStartStop struct {
	mu sync.Mutex
	// cancel ends the current run's context; nil while stopped.
	cancel context.CancelFunc
	// stopped is closed when the current run has wound down.
	stopped chan struct{}
}

// StartInit begins a run: it returns the run's context (ended by Stop or by ctx) and the function the service
// calls exactly once when the run has wound down (deferred in its goroutine, or at once when Start fails after
// StartInit). While a run is under way it returns ErrAlreadyStarted.
func (b *BaseStartStop) StartInit(ctx context.Context) (context.Context, func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cancel != nil {
		return nil, nil, ErrAlreadyStarted
	}
	ctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	b.cancel, b.stopped = cancel, stopped
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			cancel()
			b.mu.Lock()
			if b.stopped == stopped { // not a later run's
				b.cancel, b.stopped = nil, nil
			}
			b.mu.Unlock()
			close(stopped)
		})
	}, nil
}

// Stop ends the current run (cancels its context) and waits until it has wound down. Safe before Start, twice and
// concurrently: every caller returns once the run ended.
func (b *BaseStartStop) Stop() {
	b.mu.Lock()
	cancel, stopped := b.cancel, b.stopped
	b.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-stopped
}

// Started reports whether a run is under way (started and not yet wound down).
func (b *BaseStartStop) Started() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cancel != nil
}

// Stopped returns a channel closed when the current run has wound down (already closed when none runs).
func (b *BaseStartStop) Stopped() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped == nil {
		return closed
	}
	return b.stopped
}

// closed is the Stopped channel of a service that does not run.
var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

package storesql

import (
	"context"
	"sync"
	"time"

	"github.com/lib/pq"
)

// broadcast wakes every waiter at once: waiters hold the current channel, a signal closes it and
// installs a fresh one. A signal is also remembered (pending) so that a waiter arriving just after it —
// e.g. a sender that found nothing to claim a moment before a publish committed — does not sleep through it.
type broadcast struct {
	mu      sync.Mutex
	ch      chan struct{}
	pending bool
}

func newBroadcast() *broadcast { return &broadcast{ch: make(chan struct{})} }

// wait returns the channel closed by the next signal, already closed when a signal came since the last wait.
func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pending {
		b.pending = false
		done := make(chan struct{})
		close(done)
		return done
	}
	return b.ch
}

// signal wakes all current waiters.
func (b *broadcast) signal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.ch)
	b.ch = make(chan struct{})
	b.pending = true
}

// consume clears the remembered signal once a waiter was woken by it.
func (b *broadcast) consume() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending = false
}

// WaitForWork blocks until new work may be due (a publish, a retry or a requeue in any process sharing
// the database), until timeout, or until ctx ends.
func (s *Store) WaitForWork(ctx context.Context, timeout time.Duration) {
	if s.pg() {
		s.startListener()
	}
	ch := s.work.wait()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ch:
		s.work.consume()
	case <-t.C:
	case <-ctx.Done():
	}
}

// startListener starts the store's one LISTEN connection (PostgreSQL) on first use; its notifications
// fan out to all waiters.
func (s *Store) startListener() {
	s.listenOnce.Do(func() {
		l := pq.NewListener(s.url, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
			switch ev {
			case pq.ListenerEventConnectionAttemptFailed, pq.ListenerEventDisconnected:
				s.log.Warn("work listener connection problem", "event", int(ev), "error", err)
			case pq.ListenerEventReconnected:
				s.log.Info("work listener reconnected")
			}
		})
		if err := l.Listen(workChannel); err != nil {
			s.log.Error("listen for work", "channel", workChannel, "error", err)
		}
		s.listener, s.listenDone = l, make(chan struct{})
		go func() {
			defer close(s.listenDone)
			for range l.NotificationChannel() {
				// nil means the connection was re-established: notifications may have been missed.
				s.work.signal()
			}
		}()
	})
}

// afterCommit wakes senders once work committed: waiters in this process at once, and on PostgreSQL every
// other process through the notifier. NOTIFY is not sent inside the work's transaction because PostgreSQL
// serializes the commits of notifying transactions (a global lock held through the commit's WAL flush), which
// would cap publishing at one commit per flush.
func (s *Store) afterCommit(woke bool) {
	if !woke {
		return
	}
	s.work.signal()
	if s.pg() {
		s.startNotifier()
		select {
		case s.notifyCh <- struct{}{}:
		default: // a NOTIFY is already pending: it covers this commit too
		}
	}
}

// startNotifier starts the goroutine that sends one NOTIFY per burst of commits (PostgreSQL).
func (s *Store) startNotifier() {
	s.notifyOnce.Do(func() {
		s.notifyCh, s.notifyStop, s.notifyDone = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
		go func() {
			defer close(s.notifyDone)
			for {
				select {
				case <-s.notifyStop:
					return
				case <-s.notifyCh:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				// A NOTIFY-only transaction writes no WAL, so its commit is cheap.
				if _, err := s.db.ExecContext(ctx, "SELECT pg_notify('"+workChannel+"', '')"); err != nil {
					s.log.Warn("notify work", "error", err) // other processes fall back to their poll
				}
				cancel()
			}
		}()
	})
}

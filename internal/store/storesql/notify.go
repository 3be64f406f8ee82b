package storesql

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/hookd/hookd/internal/store"
)

// Wake-ups. Work that commits (a publish, a retry, a resend) wakes senders with the time it is due: at once the
// subscribers in this process (hub), and on PostgreSQL every process through NOTIFY on workChannel with the due
// time in the payload (Unix microseconds), sent after commit by one coalescing notifier goroutine. NOTIFY is not
// sent inside the work's transaction because PostgreSQL serializes the commits of notifying transactions (a
// global lock held through the commit's WAL flush), which would cap publishing at one commit per flush.

// hub fans wake-ups out to subscribers. Each subscriber has a one-slot mailbox holding the earliest due time
// not read yet, so a slow reader never blocks the hub and never loses an earlier due time to a later one.
type hub struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

type subscriber struct {
	mu sync.Mutex
	ch chan store.Wakeup
}

func newHub() *hub { return &hub{subs: map[*subscriber]struct{}{}} }

// subscribe adds a subscriber; the returned function removes it.
func (h *hub) subscribe() (<-chan store.Wakeup, func()) {
	sub := &subscriber{ch: make(chan store.Wakeup, 1)}
	h.mu.Lock()
	h.subs[sub] = struct{}{}
	h.mu.Unlock()
	return sub.ch, func() {
		h.mu.Lock()
		delete(h.subs, sub)
		h.mu.Unlock()
	}
}

// publish hands due to every subscriber, keeping the earliest of it and what the mailbox already holds.
func (h *hub) publish(due time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs {
		sub.mu.Lock()
		select {
		case old := <-sub.ch:
			if old.Due.Before(due) {
				due = old.Due
			}
		default:
		}
		sub.ch <- store.Wakeup{Due: due} // never blocks: the slot was just emptied and only publish sends
		sub.mu.Unlock()
	}
}

// wake tells the senders of every process that work is due at due (once it committed).
func (s *Store) wake(due time.Time) {
	s.hub.publish(due)
	if !s.pg() {
		return
	}
	s.startNotifier()
	s.notifyMu.Lock()
	if s.notifyDue.IsZero() || due.Before(s.notifyDue) {
		s.notifyDue = due
	}
	s.notifyMu.Unlock()
	select {
	case s.notifyCh <- struct{}{}:
	default: // a NOTIFY is already pending: it carries the earliest due time
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
				s.notifyMu.Lock()
				due := s.notifyDue
				s.notifyDue = time.Time{}
				s.notifyMu.Unlock()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				// A NOTIFY-only transaction writes no WAL, so its commit is cheap.
				if _, err := s.db.ExecContext(ctx, `SELECT pg_notify('`+workChannel+`', $1)`,
					strconv.FormatInt(due.UnixMicro(), 10)+" "+s.origin); err != nil {
					s.log.Warn("notify work", "error", err) // other processes still wake at their next due time
				}
				cancel()
			}
		}()
	})
}

// Listener returns the store's wake-up listener (store.Listener). On PostgreSQL Start opens a LISTEN connection
// so that work committed by other processes wakes this one; on SQLite (one process) it only fans out.
func (s *Store) Listener() store.Listener { return &listener{s: s} }

type listener struct {
	s *Store

	mu   sync.Mutex
	pq   *pq.Listener
	done chan struct{}
}

// Start begins listening; wake-ups committed after Start returns are not missed.
func (l *listener) Start(ctx context.Context) error {
	if !l.s.pg() {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pq != nil {
		return errors.New("start listener: already started")
	}
	log := l.s.log
	pl := pq.NewListener(l.s.url, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventConnectionAttemptFailed, pq.ListenerEventDisconnected:
			log.Warn("work listener connection problem", "event", int(ev), "error", err)
		case pq.ListenerEventReconnected:
			log.Info("work listener reconnected")
		}
	})
	if err := pl.Listen(workChannel); err != nil {
		_ = pl.Close()
		return wrap("listen for work", err)
	}
	l.pq, l.done = pl, make(chan struct{})
	go func() {
		defer close(l.done)
		for n := range pl.NotificationChannel() {
			due := time.Now()
			if n != nil { // nil: the connection was re-established, notifications may have been missed
				micros, origin, _ := strings.Cut(n.Extra, " ")
				if origin == l.s.origin {
					continue // this store's own wake-up: its subscribers had it at commit
				}
				if us, err := strconv.ParseInt(micros, 10, 64); err == nil {
					due = time.UnixMicro(us).UTC()
				}
			}
			l.s.hub.publish(due)
		}
	}()
	return nil
}

// Stop ends listening; safe to call twice, and before Start.
func (l *listener) Stop() {
	l.mu.Lock()
	pl, done := l.pq, l.done
	l.pq = nil
	l.mu.Unlock()
	if pl != nil {
		_ = pl.Close()
		<-done
	}
}

// Subscribe returns a channel of wake-ups and a function that ends the subscription.
func (l *listener) Subscribe() (<-chan store.Wakeup, func()) { return l.s.hub.subscribe() }

package storesql

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/hookd/hookd/internal/startstop"
	"github.com/hookd/hookd/internal/store"
)

// The notifier's topics: PostgreSQL channels, all on one LISTEN connection per process.
const (
	// topicWork wakes idle senders: the payload is "<due, Unix microseconds> <origin>".
	topicWork = "hookd_work"
	// topicDeliveryChanges carries the delivery changes of watched projects (see Feed.announce).
	topicDeliveryChanges = "hookd_delivery_changes"
	// topicWatchers announces that a process started watching a project: the payload is its origin.
	topicWatchers = "hookd_delivery_watchers"
)

// Notifier carries the store's signals between the processes of a cluster and within this one. On PostgreSQL
// one LISTEN connection per process, open while the notifier runs (Start to Stop), hears every topic — work
// wake-ups, delivery changes and watcher announcements — and hands each notification to its topic's handler in
// this process (the wake-up hub, the feed). Signals this process sends reach its own subscribers at once, and
// go to the others by NOTIFY after commit. On SQLite (one process) the same type fans out in-process only.
//
// Start and Stop follow startstop: Stop is safe before Start and twice. While the notifier is stopped,
// subscribing and in-process fan-out still work and wake-ups are still sent (one NOTIFY each instead of one per
// burst); only other processes' notifications go unheard.
//
// Work wake-ups. Work that commits (a publish, a retry, a resend) wakes senders with the time it is due: at once
// the subscribers in this process (hub), and on PostgreSQL every process through NOTIFY on topicWork, sent after
// commit by one coalescing goroutine while the notifier runs. NOTIFY is not sent inside the work's transaction
// because PostgreSQL serializes the commits of notifying transactions (a global lock held through the commit's
// WAL flush), which would cap publishing at one commit per flush.
//
// Committed delivery outcomes (DeliveriesChanged) are an in-process topic only (see changeSignal).
type Notifier struct {
	startstop.BaseStartStop
	c *conn
	// hub fans wake-ups out to Subscribe's subscribers.
	hub *hub
	// changed is closed and replaced after every commit that finishes deliveries (see DeliveriesChanged).
	changed changeSignal
	// handlers take the notifications other processes send, by topic; registered before the notifier runs.
	// A handler is called with reconnected set (and no payload) after the connection was re-established:
	// notifications may have been missed.
	handlers map[string]func(payload string, reconnected bool)

	// workMu guards the pending work NOTIFY: its earliest due time, and the channel that kicks the goroutine
	// sending it (nil while the notifier does not run).
	workMu  sync.Mutex
	workDue time.Time
	workCh  chan struct{}
}

func newNotifier(c *conn) *Notifier {
	n := &Notifier{c: c, hub: newHub(), handlers: map[string]func(string, bool){}}
	n.handle(topicWork, n.heardWork)
	return n
}

// handle registers the handler of a topic (before the notifier runs).
func (n *Notifier) handle(topic string, fn func(payload string, reconnected bool)) {
	n.handlers[topic] = fn
}

// Subscribe returns a channel of wake-ups (store.Listener) and a function that ends the subscription; it works
// whether or not the notifier runs.
func (n *Notifier) Subscribe() (<-chan store.Wakeup, func()) { return n.hub.subscribe() }

// Start opens the LISTEN connection for every topic (PostgreSQL); notifications sent after Start returns are not
// missed. It runs until ctx ends or Stop.
func (n *Notifier) Start(ctx context.Context) error {
	ctx, stopped, err := n.StartInit(ctx)
	if err != nil {
		return fmt.Errorf("start notifier: %w", err)
	}
	if !n.c.pg() {
		go func() {
			defer stopped()
			<-ctx.Done()
		}()
		return nil
	}
	log := n.c.log
	pl := pq.NewListener(n.c.url, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventConnectionAttemptFailed, pq.ListenerEventDisconnected:
			log.Warn("notifier connection problem", "event", int(ev), "error", err)
		case pq.ListenerEventReconnected:
			log.Info("notifier reconnected")
		}
	})
	for topic := range n.handlers {
		if err := pl.Listen(topic); err != nil {
			_ = pl.Close()
			stopped()
			return wrap("listen for "+topic, err)
		}
	}
	kick := make(chan struct{}, 1)
	n.workMu.Lock()
	n.workCh = kick
	pending := !n.workDue.IsZero()
	n.workMu.Unlock()
	if pending {
		kick <- struct{}{}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for msg := range pl.NotificationChannel() {
			n.dispatch(msg)
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-kick:
			}
			n.sendWork()
		}
	})
	go func() {
		defer stopped()
		<-ctx.Done()
		n.workMu.Lock()
		n.workCh = nil
		n.workMu.Unlock()
		_ = pl.Close() // ends the notification channel
		wg.Wait()
	}()
	return nil
}

// dispatch hands a notification to its topic's handler (every handler after a reconnect: nil).
func (n *Notifier) dispatch(msg *pq.Notification) {
	if msg == nil {
		for _, fn := range n.handlers {
			fn("", true)
		}
		return
	}
	if fn := n.handlers[msg.Channel]; fn != nil {
		fn(msg.Extra, false)
	}
}

// notify sends payload on topic to every process (PostgreSQL).
func (n *Notifier) notify(ctx context.Context, topic, payload string) error {
	_, err := n.c.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, topic, payload)
	return err
}

// heardWork publishes another process's wake-up to this process's subscribers.
func (n *Notifier) heardWork(payload string, reconnected bool) {
	due := time.Now()
	if !reconnected { // reconnected: wake-ups may have been missed, look now
		micros, origin, _ := strings.Cut(payload, " ")
		if origin == n.c.origin {
			return // this process's own wake-up: its subscribers had it at commit
		}
		if us, err := strconv.ParseInt(micros, 10, 64); err == nil {
			due = time.UnixMicro(us).UTC()
		}
	}
	n.hub.publish(due)
}

// wake tells the senders of every process that work is due at due (once it committed).
func (n *Notifier) wake(due time.Time) {
	n.hub.publish(due)
	if !n.c.pg() || n.c.closed.Load() {
		return
	}
	n.workMu.Lock()
	if n.workDue.IsZero() || due.Before(n.workDue) {
		n.workDue = due
	}
	kick := n.workCh
	n.workMu.Unlock()
	if kick == nil { // not running: no goroutine coalesces, say it now
		n.sendWork()
		return
	}
	select {
	case kick <- struct{}{}:
	default: // a NOTIFY is already pending: it carries the earliest due time
	}
}

// sendWork sends the pending work NOTIFY, if any. A NOTIFY-only transaction writes no WAL, so its commit is cheap.
func (n *Notifier) sendWork() {
	n.workMu.Lock()
	due := n.workDue
	n.workDue = time.Time{}
	n.workMu.Unlock()
	if due.IsZero() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.notify(ctx, topicWork, strconv.FormatInt(due.UnixMicro(), 10)+" "+n.c.origin); err != nil {
		n.c.log.Warn("notify work", "error", err) // other processes still wake at their next due time
	}
}

// wake tells the senders of every process that work is due at due (once it committed).
func (s *conn) wake(due time.Time) { s.notify.wake(due) }

// deliveriesChanged tells this process's waiters that delivery outcomes committed (DeliveriesChanged).
func (s *conn) deliveriesChanged() { s.notify.changed.signal() }

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

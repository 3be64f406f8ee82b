package sender

import (
	"sync"

	"github.com/hookd/hookd/internal/store"
)

// dispatcher hands claimed deliveries to workers: one queue per webhook, webhooks served in turn, and at most
// perWebhook attempts of one webhook running at once. A webhook whose receiver hangs therefore holds at most
// perWebhook workers, and its queued deliveries never stand in front of another webhook's.
type dispatcher struct {
	perWebhook int

	mu      sync.Mutex
	cond    *sync.Cond
	queues  map[string][]store.ClaimedDelivery // claimed, not started, by webhook id
	running map[string]int                     // started, not finished, by webhook id
	ready   []string                           // webhooks with queued deliveries and room to run one, in turn
	inReady map[string]bool
	held    int  // queued + running
	closed  bool // no more deliveries come: workers exit once the queues are empty
}

func newDispatcher(perWebhook int) *dispatcher {
	d := &dispatcher{perWebhook: perWebhook, queues: map[string][]store.ClaimedDelivery{}, running: map[string]int{},
		inReady: map[string]bool{}}
	d.cond = sync.NewCond(&d.mu)
	return d
}

// add queues claimed deliveries and wakes a worker for each (not every idle worker: one delivery wakes one).
func (d *dispatcher) add(batch []store.ClaimedDelivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range batch {
		d.queues[c.WebhookID] = append(d.queues[c.WebhookID], c)
		d.held++
		d.markReady(c.WebhookID)
		d.cond.Signal()
	}
}

// markReady puts a webhook in turn when it has a queued delivery and room to run it, and reports whether it did;
// d.mu is held.
func (d *dispatcher) markReady(webhookID string) bool {
	if !d.inReady[webhookID] && len(d.queues[webhookID]) > 0 && d.running[webhookID] < d.perWebhook {
		d.inReady[webhookID] = true
		d.ready = append(d.ready, webhookID)
		return true
	}
	return false
}

// next blocks until a delivery may start and returns it (running from then on); false once the dispatcher is
// closed and nothing is queued.
func (d *dispatcher) next() (store.ClaimedDelivery, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.ready) == 0 {
		if d.closed && d.queuedLocked() == 0 {
			return store.ClaimedDelivery{}, false
		}
		d.cond.Wait()
	}
	w := d.ready[0]
	d.ready = d.ready[1:]
	delete(d.inReady, w)
	q := d.queues[w]
	c := q[0]
	if len(q) == 1 {
		delete(d.queues, w)
	} else {
		d.queues[w] = q[1:]
	}
	d.running[w]++
	if d.markReady(w) { // back in turn, behind the others, if it has more and room
		d.cond.Signal()
	}
	return c, true
}

// done records a finished delivery of webhookID.
func (d *dispatcher) done(webhookID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running[webhookID]--; d.running[webhookID] <= 0 {
		delete(d.running, webhookID)
	}
	d.held--
	if d.markReady(webhookID) {
		d.cond.Signal() // its next delivery may start now
	}
	if d.closed {
		d.cond.Broadcast() // workers exit once nothing is queued
	}
}

// drain takes every queued delivery out (a stopping sender gives them back).
func (d *dispatcher) drain() []store.ClaimedDelivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []store.ClaimedDelivery
	for w, q := range d.queues {
		out = append(out, q...)
		delete(d.queues, w)
	}
	d.ready, d.inReady = nil, map[string]bool{}
	d.held -= len(out)
	return out
}

// close lets workers exit once the queues are empty.
func (d *dispatcher) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.cond.Broadcast()
}

// counts returns how many deliveries are held (queued or running) in all, and by webhook.
func (d *dispatcher) counts() (int, map[string]int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	by := make(map[string]int, len(d.queues)+len(d.running))
	for w, q := range d.queues {
		by[w] += len(q)
	}
	for w, n := range d.running {
		by[w] += n
	}
	return d.held, by
}

func (d *dispatcher) queuedLocked() int {
	n := 0
	for _, q := range d.queues {
		n += len(q)
	}
	return n
}

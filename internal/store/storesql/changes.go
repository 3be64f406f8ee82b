package storesql

import "sync"

// changeSignal is the notifier's in-process topic of committed delivery outcomes. It stays in-process on
// purpose: its waiters (sync trigger requests) re-read their event on it and poll for other processes' outcomes,
// which would gain little from a NOTIFY per completion batch.
//
// changeSignal wakes every waiter of the current generation: wait returns a channel that the next signal
// closes. Waiters take the channel before they look at the database, so no change is missed in between.
type changeSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (c *changeSignal) wait() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

// awaited reports whether a waiter took the current generation's channel.
func (c *changeSignal) awaited() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ch != nil
}

func (c *changeSignal) signal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch != nil {
		close(c.ch)
		c.ch = nil
	}
}

// DeliveriesChanged returns a channel that is closed when this process next commits delivery outcomes
// (CompleteDeliveries) or an action-status callback. Take it before reading the state it guards; changes made by
// other processes of a cluster do not close it. It works whether or not the notifier runs.
func (n *Notifier) DeliveriesChanged() <-chan struct{} { return n.changed.wait() }

// OutcomesAwaited reports whether something in this process waits for the next commit of delivery outcomes
// (DeliveriesChanged): the sender then writes outcomes at once rather than coalescing them.
func (n *Notifier) OutcomesAwaited() bool { return n.changed.awaited() }

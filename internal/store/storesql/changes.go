package storesql

import "sync"

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
// other processes of a cluster do not close it.
func (s *Store) DeliveriesChanged() <-chan struct{} { return s.changed.wait() }

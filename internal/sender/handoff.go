package sender

import (
	"sync"
	"time"

	"github.com/hookd/hookd/internal/store"
)

// handoff is the sender's side of store.Handoff: publishes of this process reserve room in the pool for the
// deliveries they queue, lease them to the sender in their transaction and hand them over once committed. A
// reservation counts as held deliveries (the claimer does not fill the room again meanwhile); the sender grants
// room only while it runs, and a stopping sender waits for open reservations to end before it gives back what it
// holds.
type handoff struct {
	mu         sync.Mutex
	ended      *sync.Cond
	open       bool           // the sender runs: reservations are granted
	reserved   int            // room granted and not handed over or given back yet
	reservedBy map[string]int // the same by webhook id
}

func newHandoff() *handoff {
	h := &handoff{reservedBy: map[string]int{}}
	h.ended = sync.NewCond(&h.mu)
	return h
}

// counts returns the room reserved, in all and by webhook (added to what the dispatcher holds).
func (h *handoff) counts(by map[string]int) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w, n := range h.reservedBy {
		by[w] += n
	}
	return h.reserved
}

// Reserve grants room for deliveries of a publish of this process (store.Handoff): up to the pool's free capacity
// and each webhook's claim cap, as a claim would take them; nothing while the sender does not run.
func (s *Sender) Reserve(want map[string]int) (map[string]int, time.Duration) {
	h := s.hand
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.open {
		return nil, 0
	}
	held, by := s.disp.counts()
	free := s.capacity() - held - h.reserved
	var granted map[string]int
	for w, n := range want {
		n = min(n, free, s.claimCap()-by[w]-h.reservedBy[w])
		if n <= 0 {
			continue
		}
		if granted == nil {
			granted = map[string]int{}
		}
		granted[w] = n
		h.reservedBy[w] += n
		h.reserved += n
		free -= n
	}
	return granted, s.cfg.Lease
}

// Hand ends a reservation (store.Handoff): the claimed deliveries go to the workers as a claim's would.
func (s *Sender) Hand(granted map[string]int, claimed []store.ClaimedDelivery) {
	h := s.hand
	h.mu.Lock()
	defer h.mu.Unlock()
	for w, n := range granted {
		if h.reservedBy[w] -= n; h.reservedBy[w] <= 0 {
			delete(h.reservedBy, w)
		}
		h.reserved -= n
	}
	if len(claimed) > 0 {
		s.dispatched(claimed) // (under h.mu: a stopping sender drains after every reservation ended)
		s.metrics.handed.Add(float64(len(claimed)))
		s.cfg.Signals.handed(len(claimed))
	}
	h.ended.Broadcast()
}

// openHandoff starts granting reservations.
func (s *Sender) openHandoff() {
	s.hand.mu.Lock()
	s.hand.open = true
	s.hand.mu.Unlock()
}

// closeHandoff stops granting reservations and waits until the open ones ended (their publishes commit or roll
// back within their own deadlines).
func (s *Sender) closeHandoff() {
	h := s.hand
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open = false
	s.cfg.Signals.stopping(h.reserved)
	for h.reserved > 0 {
		h.ended.Wait()
	}
}

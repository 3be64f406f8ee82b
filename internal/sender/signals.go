package sender

import "github.com/hookd/hookd/internal/store"

// TestSignals lets a test wait for the sender's steps instead of sleeping (River's pattern): set
// Config.Signals to NewTestSignals() and receive from its channels. Sends never block the sender: a step nobody
// waits for is dropped once a channel's buffer is full.
type TestSignals struct {
	// Claimed receives the size of each claim the claimer made.
	Claimed chan int
	// Idle receives, each time the claimer is about to sleep, how many claimed deliveries the process holds
	// (0: the sender is idle).
	Idle chan int
	// Completed receives each batch of outcomes once it is written.
	Completed chan []store.Outcome
}

// NewTestSignals returns TestSignals with buffered channels.
func NewTestSignals() *TestSignals {
	return &TestSignals{Claimed: make(chan int, 1000), Idle: make(chan int, 1000), Completed: make(chan []store.Outcome, 1000)}
}

func (t *TestSignals) claimed(n int) {
	if t != nil {
		select {
		case t.Claimed <- n:
		default:
		}
	}
}

func (t *TestSignals) idle(held int) {
	if t != nil {
		select {
		case t.Idle <- held:
		default:
		}
	}
}

func (t *TestSignals) completed(o []store.Outcome) {
	if t != nil {
		select {
		case t.Completed <- o:
		default:
		}
	}
}

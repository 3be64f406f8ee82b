package sender

import (
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/testsignal"
)

// TestSignals lets a test wait for the sender's steps instead of polling or sleeping (River's pattern): set
// Config.Signals, Init the signals the test reads (or all with Init), and wait on them. A signal the test
// initialised but does not read fails the test once its buffer is full.
type TestSignals struct {
	// Claimed receives the size of each claim the claimer made.
	Claimed testsignal.Signal[int]
	// Idle receives, each time the claimer is about to sleep, how many claimed deliveries the process holds
	// (0: the sender is idle).
	Idle testsignal.Signal[int]
	// Completed receives each batch of outcomes once it is written.
	Completed testsignal.Signal[[]store.Outcome]
	// Handed receives the number of deliveries each publish of this process handed over (store.Handoff).
	Handed testsignal.Signal[int]
	// Stopping receives, when a stopping sender has stopped claiming, how much room publishes still have reserved
	// (it waits for those reservations to end before it gives back what it holds).
	Stopping testsignal.Signal[int]
}

// Init initialises every signal.
func (t *TestSignals) Init() {
	t.Claimed.Init()
	t.Idle.Init()
	t.Completed.Init()
	t.Handed.Init()
	t.Stopping.Init()
}

func (t *TestSignals) claimed(n int) {
	if t != nil {
		t.Claimed.Signal(n)
	}
}

func (t *TestSignals) idle(held int) {
	if t != nil {
		t.Idle.Signal(held)
	}
}

func (t *TestSignals) handed(n int) {
	if t != nil {
		t.Handed.Signal(n)
	}
}

func (t *TestSignals) stopping(reserved int) {
	if t != nil {
		t.Stopping.Signal(reserved)
	}
}

func (t *TestSignals) completed(o []store.Outcome) {
	if t != nil {
		t.Completed.Signal(o)
	}
}

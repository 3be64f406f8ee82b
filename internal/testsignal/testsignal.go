// Package testsignal lets a test wait for a background service's steps instead of polling or sleeping (River's
// testsignal): the service sends each step to a Signal, which records it only when a test initialised it. A test
// that initialises a signal must read it: a signal whose buffer is full panics instead of dropping the step, so a
// forgotten or lagging reader fails the test loudly rather than making a later wait hang or pass by chance.
package testsignal

import (
	"fmt"
	"time"
)

// Capacity is how many unread steps a signal holds.
const Capacity = 1000

// Timeout is how long Wait waits for a step before it fails the test.
const Timeout = 15 * time.Second

// TB is the part of testing.TB that Wait uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Signal is one kind of step a service reports. The zero Signal records nothing.
type Signal[T any] struct {
	ch chan T
}

// Init makes the signal record steps; call it before the service starts.
func (s *Signal[T]) Init() { s.ch = make(chan T, Capacity) }

// Signal records a step when the signal was initialised. It panics when Capacity steps are unread: the test that
// initialised the signal does not read it.
func (s *Signal[T]) Signal(v T) {
	if s == nil || s.ch == nil {
		return
	}
	select {
	case s.ch <- v:
	default:
		panic(fmt.Sprintf("testsignal: a %T signal is full (%d steps unread): the test that initialised it must read it", v, Capacity))
	}
}

// C is the channel of recorded steps (nil when the signal was not initialised), for a select.
func (s *Signal[T]) C() <-chan T { return s.ch }

// Wait returns the next step, failing the test when none comes within Timeout.
func (s *Signal[T]) Wait(t TB) T {
	t.Helper()
	if s.ch == nil {
		t.Fatalf("testsignal: Wait on a signal that was not initialised")
		var zero T
		return zero
	}
	select {
	case v := <-s.ch:
		return v
	case <-time.After(Timeout):
		var zero T
		t.Fatalf("testsignal: no %T step within %s", zero, Timeout)
		return zero
	}
}

// WaitUntil reads steps until done returns true for one, failing the test when none does within Timeout.
func (s *Signal[T]) WaitUntil(t TB, done func(T) bool) T {
	t.Helper()
	if s.ch == nil {
		t.Fatalf("testsignal: WaitUntil on a signal that was not initialised")
		var zero T
		return zero
	}
	deadline := time.After(Timeout)
	for {
		select {
		case v := <-s.ch:
			if done(v) {
				return v
			}
		case <-deadline:
			var zero T
			t.Fatalf("testsignal: no %T step met the condition within %s", zero, Timeout)
			return zero
		}
	}
}

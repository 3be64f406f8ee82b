package testsignal_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/testsignal"
)

func TestUninitialisedRecordsNothing(t *testing.T) {
	t.Parallel()
	var s testsignal.Signal[int]
	for i := range testsignal.Capacity + 1 {
		s.Signal(i) // neither blocks nor panics
	}
	assert.Nil(t, s.C())
	var nilSignal *testsignal.Signal[int]
	nilSignal.Signal(1)
}

func TestWait(t *testing.T) {
	t.Parallel()
	var s testsignal.Signal[string]
	s.Init()
	s.Signal("a")
	s.Signal("b")
	s.Signal("c")
	assert.Equal(t, "a", s.Wait(t))
	assert.Equal(t, "c", s.WaitUntil(t, func(v string) bool { return v == "c" }))
}

// TestFullFails: a signal the test does not read fails it instead of dropping steps.
func TestFullFails(t *testing.T) {
	t.Parallel()
	var s testsignal.Signal[int]
	s.Init()
	for i := range testsignal.Capacity {
		s.Signal(i)
	}
	require.PanicsWithValue(t, fmt.Sprintf("testsignal: a int signal is full (%d steps unread): the test that initialised it must read it",
		testsignal.Capacity), func() { s.Signal(-1) })
}

// fakeTB records a failure instead of ending the test.
type fakeTB struct{ failed string }

func (*fakeTB) Helper()                             {}
func (f *fakeTB) Fatalf(format string, args ...any) { f.failed = fmt.Sprintf(format, args...) }

func TestWaitUninitialisedFails(t *testing.T) {
	t.Parallel()
	var s testsignal.Signal[int]
	tb := &fakeTB{}
	s.Wait(tb)
	assert.Contains(t, tb.failed, "not initialised")
}

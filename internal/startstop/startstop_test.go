package startstop_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/startstop"
)

// service is a minimal service: it runs until its context ends, and may fail to acquire what it needs.
type service struct {
	startstop.BaseStartStop
	fail  error
	runs  atomic.Int32
	ended atomic.Int32
}

func (s *service) Start(ctx context.Context) error {
	ctx, stopped, err := s.StartInit(ctx)
	if err != nil {
		return err
	}
	if s.fail != nil {
		stopped()
		return s.fail
	}
	s.runs.Add(1)
	go func() {
		defer stopped()
		<-ctx.Done()
		s.ended.Add(1)
	}()
	return nil
}

var _ startstop.Service = (*service)(nil)

func TestStopBeforeStart(t *testing.T) {
	var s service
	s.Stop()
	s.Stop()
	require.False(t, s.Started())
	<-s.Stopped() // closed: nothing runs
	require.NoError(t, s.Start(context.Background()))
	require.True(t, s.Started())
	s.Stop()
	require.Equal(t, int32(1), s.ended.Load())
}

func TestDoubleStartAndStop(t *testing.T) {
	var s service
	require.NoError(t, s.Start(context.Background()))
	require.ErrorIs(t, s.Start(context.Background()), startstop.ErrAlreadyStarted)
	stopped := s.Stopped()
	s.Stop()
	<-stopped
	s.Stop()
	require.False(t, s.Started())
	require.Equal(t, int32(1), s.runs.Load())
	require.Equal(t, int32(1), s.ended.Load(), "the run wound down before Stop returned")

	// Stopped, it starts again.
	require.NoError(t, s.Start(context.Background()))
	s.Stop()
	require.Equal(t, int32(2), s.ended.Load())
}

func TestConcurrentStops(t *testing.T) {
	var s service
	require.NoError(t, s.Start(context.Background()))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			s.Stop()
			require.Equal(t, int32(1), s.ended.Load(), "every Stop returns after the run ended")
		})
	}
	wg.Wait()
}

func TestContextEndsRun(t *testing.T) {
	var s service
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, s.Start(ctx))
	stopped := s.Stopped()
	cancel()
	<-stopped
	require.False(t, s.Started())
	s.Stop() // after the run ended by itself
	require.NoError(t, s.Start(context.Background()))
	s.Stop()
}

func TestFailedStartLeavesStopped(t *testing.T) {
	s := service{fail: errors.New("no connection")}
	require.ErrorContains(t, s.Start(context.Background()), "no connection")
	require.False(t, s.Started())
	s.Stop()
	s.fail = nil
	require.NoError(t, s.Start(context.Background()))
	s.Stop()
}

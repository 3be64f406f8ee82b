package storesql_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/startstop"
	"github.com/hookd/hookd/internal/store/storetest"
)

// TestServicesStartStop: the notifier and the feed follow startstop — Stop before Start and twice is safe, a
// second Start is refused, a stopped service starts again — and the database closes after them (or with them
// still running).
func TestServicesStartStop(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		ctx := context.Background()
		for _, svc := range []startstop.Service{s.Notifier(), s.Feed} {
			done := make(chan struct{})
			go func() {
				defer close(done)
				svc.Stop() // before Start
				svc.Stop()
				if !assert.NoError(t, svc.Start(ctx)) {
					return
				}
				assert.ErrorIs(t, svc.Start(ctx), startstop.ErrAlreadyStarted)
				svc.Stop()
				svc.Stop()
				if !assert.NoError(t, svc.Start(ctx), "a stopped service starts again") {
					return
				}
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("%T: start/stop hung", svc)
			}
		}
		require.NoError(t, s.Close()) // stops both
	})
}

// TestNotifierCarriesWakeupsWhileStopped: subscribers of this process have their wake-ups whether or not the
// notifier runs (only other processes' notifications need its connection).
func TestNotifierCarriesWakeupsWhileStopped(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		wakeups, unsubscribe := s.Notifier().Subscribe()
		defer unsubscribe()
		changed := s.Notifier().DeliveriesChanged()
		f.publishN(t, 1, t0)
		receiveDue(t, wakeups, t0)
		select {
		case <-changed:
			t.Fatal("a publish is not a delivery outcome")
		default:
		}
	})
}

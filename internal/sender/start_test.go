package sender_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/sender"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

func TestStartStopDeliversPublishedEvents(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		// An idle sender without a known due time sleeps a minute: only a wake-up delivers the second batch in time.
		signals := &sender.TestSignals{}
		signals.Init()
		e := setup(t, st, sender.Config{Dev: true, Workers: 4, BatchSize: 10, Signals: signals})
		rcv := newReceiver(t, reply{status: 200})
		w := e.webhook(t, rcv.URL)
		require.NoError(t, st.CreateSubscription(e.ctx, &store.Subscription{
			ProjectID: e.project.ID, WebhookID: w.ID, EventTypes: []string{"user.created"}, Enabled: true, CreateTime: e.clk.Now(),
		}))
		publish := func(n int) []string {
			var in []store.PublishInput
			for i := range n {
				in = append(in, store.PublishInput{Event: store.Event{EventType: "user.created", Subject: fmt.Sprint(i), Payload: []byte(`{}`)}})
			}
			res, err := st.PublishEvents(e.ctx, store.PublishEventsParams{ProjectID: e.project.ID, Events: in, Now: e.clk.Now(), IdempotencyWindow: time.Hour})
			require.NoError(t, err)
			var ids []string
			for _, r := range res {
				require.Len(t, r.DeliveryIDs, 1)
				ids = append(ids, r.DeliveryIDs...)
			}
			return ids
		}
		requireDone := func(ids []string) {
			t.Helper()
			for _, id := range ids {
				require.Equal(t, store.StatusDone, e.delivery(t, id).Status, id)
			}
		}

		first := publish(25) // already due at Start
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		require.NoError(t, e.snd.Start(ctx))
		require.Error(t, e.snd.Start(ctx), "a second Start is refused")
		waitCompleted(t, signals, first)
		requireDone(first)

		// The sender goes idle once the first batch is written and nothing else is due.
		waitIdle(t, signals)
		drain(signals.Claimed.C())
		second := publish(5)
		signals.Claimed.WaitUntil(t, func(n int) bool { return n > 0 }) // the publish woke the idle sender
		waitCompleted(t, signals, second)
		requireDone(second)

		e.snd.Stop()
		e.snd.Stop() // safe twice
		got := rcv.requests()
		assert.Len(t, got, 30, "each delivered once")
		seen := map[string]bool{}
		for _, r := range got {
			seen[r.header.Get("webhook-id")] = true
		}
		assert.Len(t, seen, 30)
	})
}

func TestStopFinishesInFlightAttempts(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, sender.Config{Dev: true, Workers: 1, BatchSize: 10})
		started := make(chan struct{}, 10)
		slow := newSlowServer(t, started, 300*time.Millisecond)
		w := e.webhook(t, slow)
		var ids []string
		for range 3 {
			ids = append(ids, e.publish(t, `{}`, w.ID)...)
		}
		require.NoError(t, e.snd.Start(context.Background()))
		<-started
		e.snd.Stop()

		statuses := map[store.Status]int{}
		for _, id := range ids {
			d := e.delivery(t, id)
			statuses[d.Status]++
			if d.Status == store.StatusQueued {
				assert.Zero(t, d.Attempts)
			}
		}
		assert.Equal(t, 1, statuses[store.StatusDone], "the in-flight attempt finished and was recorded: %v", statuses)
		assert.Equal(t, 2, statuses[store.StatusQueued], "claimed but not started deliveries were given back: %v", statuses)

		// They were given back due now, not left to their lease (60 s): a new sender claims them at the same instant.
		e.runOnce(t, 2)
	})
}

// waitIdle waits until the sender's claimer goes to sleep holding no delivery: everything it claimed finished and
// nothing else is due.
func waitIdle(t *testing.T, signals *sender.TestSignals) {
	t.Helper()
	signals.Idle.WaitUntil(t, func(held int) bool { return held == 0 })
}

// waitCompleted waits until the sender has written a final outcome for each of ids.
func waitCompleted(t *testing.T, signals *sender.TestSignals, ids []string) {
	t.Helper()
	left := map[string]bool{}
	for _, id := range ids {
		left[id] = true
	}
	signals.Completed.WaitUntil(t, func(outcomes []store.Outcome) bool {
		for _, o := range outcomes {
			if store.IsFinal(o.Status) {
				delete(left, o.DeliveryID)
			}
		}
		return len(left) == 0
	})
}

// drain discards the steps a signal recorded so far.
func drain[T any](c <-chan T) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// TestStopBeforeStart: Stop before Start (and twice) returns at once; a sender without a queue refuses to start
// and stays stoppable.
func TestStopBeforeStart(t *testing.T) {
	snd := sender.New(sender.Config{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		snd.Stop()
		snd.Stop()
		assert.Error(t, snd.Start(context.Background()))
		snd.Stop()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop before Start hung")
	}
}

// gatedHandoff holds a publish's Hand until the test lets it through.
type gatedHandoff struct {
	*sender.Sender
	entered, release chan struct{}
}

func (g *gatedHandoff) Hand(granted map[string]int, claimed []store.ClaimedDelivery) {
	close(g.entered)
	<-g.release
	g.Sender.Hand(granted, claimed)
}

// TestPublishHandsDeliveriesToTheSender: with the handoff set (as the server sets it for its own sender), a publish
// gives its deliveries to the running sender already leased: they are delivered without any claim taking them. A
// stopping sender waits for a reservation still open and gives what it hands over back, due at once.
func TestPublishHandsDeliveriesToTheSender(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		signals := &sender.TestSignals{}
		signals.Claimed.Init()
		signals.Handed.Init()
		signals.Completed.Init()
		signals.Stopping.Init()
		e := setup(t, st, sender.Config{Dev: true, Workers: 4, BatchSize: 10, Signals: signals})
		st.SetHandoff(e.snd)
		t.Cleanup(func() { st.SetHandoff(nil) })
		rcv := newReceiver(t, reply{status: 200})
		w := e.webhook(t, rcv.URL)
		before, _ := e.snd.Reserve(map[string]int{w.ID: 1})
		assert.Nil(t, before, "no room is granted before Start")

		require.NoError(t, e.snd.Start(context.Background()))
		ids := e.publish(t, `{}`, w.ID)
		assert.Equal(t, 1, signals.Handed.Wait(t), "the publish handed its delivery over")
		waitCompleted(t, signals, ids)
		assert.Equal(t, store.StatusDone, e.delivery(t, ids[0]).Status)
		for {
			select {
			case n := <-signals.Claimed.C():
				assert.Zero(t, n, "no claim took the handed delivery")
				continue
			default:
			}
			break
		}
		require.Len(t, rcv.requests(), 1)

		// A publish whose reservation is open when the sender stops: Stop waits for it, then gives the delivery back.
		g := &gatedHandoff{Sender: e.snd, entered: make(chan struct{}), release: make(chan struct{})}
		st.SetHandoff(g)
		published := make(chan []string, 1)
		go func() {
			res, err := st.PublishEvents(e.ctx, store.PublishEventsParams{ProjectID: e.project.ID, Events: []store.PublishInput{{
				Event: store.Event{EventType: "user.created", Payload: []byte(`{}`)}, WebhookIDs: []string{w.ID}}},
				Now: e.clk.Now(), IdempotencyWindow: time.Hour})
			if err != nil || len(res) != 1 {
				published <- nil
				return
			}
			published <- res[0].DeliveryIDs
		}()
		<-g.entered // committed, leased to the sender, not handed over yet
		stopped := make(chan struct{})
		go func() {
			e.snd.Stop()
			close(stopped)
		}()
		assert.Equal(t, 1, signals.Stopping.Wait(t), "Stop stopped claiming and waits for the open reservation")
		close(g.release)
		late := <-published
		require.Len(t, late, 1)
		<-stopped
		d := e.delivery(t, late[0])
		assert.Equal(t, store.StatusQueued, d.Status)
		assert.Zero(t, d.Attempts)
		e.runOnce(t, 1) // given back due now, not left to its lease (60 s)
	})
}

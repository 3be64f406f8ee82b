package main

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	_ "github.com/lib/pq"
	"google.golang.org/protobuf/types/known/structpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/store/storetest"
)

// publishN publishes n events in batches of 50 and returns the delivery ids.
func publishN(t *testing.T, c clients, n int) []string {
	t.Helper()
	var ids []string
	for done := 0; done < n; {
		k := min(50, n-done)
		reqs := make([]*hookdv1.PublishEventRequest, k)
		for i := range reqs {
			p, _ := structpb.NewStruct(map[string]any{"n": done + i})
			reqs[i] = &hookdv1.PublishEventRequest{EventType: "user.created", Payload: p}
		}
		res, err := c.events.PublishEvents(context.Background(), connect.NewRequest(&hookdv1.PublishEventsRequest{Events: reqs}))
		if err != nil {
			t.Fatalf("PublishEvents: %v", err)
		}
		for _, r := range res.Msg.GetResults() {
			ids = append(ids, r.GetDeliveryIds()...)
		}
		done += k
	}
	return ids
}

// TestTwoSendersShareTheQueue: two processes on one PostgreSQL database deliver every event, never the same
// delivery twice at once.
func TestTwoSendersShareTheQueue(t *testing.T) {
	t.Parallel()
	dbURL := storetest.PostgresURL(t)
	key := testKey(t)
	a := startHookd(t, key, "--database-url", dbURL, "--workers", "8")
	b := startHookd(t, key, "--database-url", dbURL, "--workers", "8")
	rec := newRecorder(t, func(n int, r *http.Request) int {
		time.Sleep(time.Millisecond) // make overlaps observable if they happen
		return http.StatusOK
	})
	c := newClients(a.baseURL, key, "connect")
	setupWebhook(t, c, rec.srv.URL)
	const n = 400
	ids := publishN(t, c, n)
	if len(ids) != n {
		t.Fatalf("published %d deliveries, want %d", len(ids), n)
	}
	eventually(t, 60*time.Second, "all deliveries received", func() bool { return rec.distinct() == n })
	if o := rec.overlap.Load(); o != 0 {
		t.Fatalf("%d deliveries were being sent twice at the same time", o)
	}
	if got := len(rec.all()); got != n {
		t.Errorf("receiver got %d requests for %d deliveries (duplicates without a crash)", got, n)
	}
	// Both processes took part (each logs nothing per delivery, so ask the metrics).
	for _, p := range []*proc{a, b} {
		_, m := get(t, p.baseURL+"/metrics")
		if !strings.Contains(m, `hookd_deliveries_total{status="done"}`) {
			t.Errorf("process %s delivered nothing:\n%.500s", p.baseURL, m)
		}
	}
}

// TestKilledSenderIsRescued: a process killed with SIGKILL mid-attempt loses its lease; another process
// delivers the delivery after the lease expires, with the same webhook-id.
func TestKilledSenderIsRescued(t *testing.T) {
	t.Parallel()
	dbURL := storetest.PostgresURL(t)
	key := testKey(t)
	a := startHookd(t, key, "--database-url", dbURL, "--lease", "3s")
	hang := make(chan struct{})
	var calls atomic.Int64
	rec := newRecorder(t, func(n int, r *http.Request) int {
		if calls.Add(1) == 1 {
			select { // the first attempt hangs until its sender dies
			case <-hang:
			case <-r.Context().Done():
			}
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	c := newClients(a.baseURL, key, "connect")
	setupWebhook(t, c, rec.srv.URL)
	ids := publishN(t, c, 1)
	eventually(t, 15*time.Second, "the first attempt to start", func() bool { return calls.Load() >= 1 })
	if err := a.stop(syscall.SIGKILL); err == nil {
		t.Fatal("SIGKILL: process exited cleanly")
	}
	close(hang)
	start := time.Now()
	b := startHookd(t, key, "--database-url", dbURL, "--lease", "3s")
	cb := newClients(b.baseURL, key, "connect")
	eventually(t, 30*time.Second, "the rescued delivery to be DONE", func() bool {
		d, err := cb.deliveries.GetDelivery(context.Background(), connect.NewRequest(&hookdv1.GetDeliveryRequest{Id: ids[0]}))
		return err == nil && d.Msg.GetDelivery().GetStatus() == hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE
	})
	t.Logf("rescued %s after %s", ids[0], time.Since(start).Round(time.Millisecond))
	all := rec.all()
	if len(all) < 2 || all[0].header.Get("webhook-id") != all[len(all)-1].header.Get("webhook-id") {
		t.Fatalf("want the same webhook-id on the rescued attempt, got %d requests", len(all))
	}
}

// TestConnectionLossLosesNothing: while events are published, every PostgreSQL connection of the database is
// terminated repeatedly (as a database restart does to clients). Every event whose publish returned OK is
// delivered.
func TestConnectionLossLosesNothing(t *testing.T) {
	t.Parallel()
	dbURL := storetest.PostgresURL(t)
	key := testKey(t)
	p := startHookd(t, key, "--database-url", dbURL, "--workers", "16")
	rec := newRecorder(t, nil)
	c := newClients(p.baseURL, key, "connect")
	setupWebhook(t, c, rec.srv.URL)

	u, _ := url.Parse(dbURL)
	dbName := strings.TrimPrefix(u.Path, "/")
	admin, err := sql.Open("postgres", strings.Replace(dbURL, "/"+dbName, "/postgres", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	stop := make(chan struct{})
	var killer sync.WaitGroup
	killer.Add(1)
	var kills int
	go func() {
		defer killer.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
				_, _ = admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, dbName)
				kills++
			}
		}
	}()
	accepted := map[string]bool{}
	var failed int
	deadline := time.Now().Add(4 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		pl, _ := structpb.NewStruct(map[string]any{"n": i})
		res, err := c.events.PublishEvent(context.Background(), connect.NewRequest(&hookdv1.PublishEventRequest{EventType: "user.created", Payload: pl}))
		if err != nil {
			failed++
			continue
		}
		for _, id := range res.Msg.GetDeliveryIds() {
			accepted[id] = true
		}
	}
	close(stop)
	killer.Wait()
	t.Logf("%d publishes accepted, %d refused during %d connection kills", len(accepted), failed, kills)
	if len(accepted) < 10 {
		t.Fatalf("only %d publishes succeeded", len(accepted))
	}
	eventually(t, 60*time.Second, "every accepted event delivered", func() bool {
		got := map[string]bool{}
		for _, r := range rec.all() {
			got[r.header.Get("webhook-id")] = true
		}
		for id := range accepted {
			if !got[id] {
				return false
			}
		}
		return true
	})
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/store/storetest"
)

// TestKilledSenderKeepsKeyOrder: two processes deliver the keys of an ordered webhook; one is killed with SIGKILL
// in the middle. Every key still arrives in publish order (an attempt the dead process had made may arrive once
// more, at least once, but nothing of the key goes before it), none missing.
func TestKilledSenderKeepsKeyOrder(t *testing.T) {
	t.Parallel()
	const keys, perKey = 50, 20
	dbURL := storetest.PostgresURL(t)
	key := testKey(t)
	a := startHookd(t, key, "--database-url", dbURL, "--workers", "8", "--lease", "3s")
	b := startHookd(t, key, "--database-url", dbURL, "--workers", "8", "--lease", "3s")

	var mu sync.Mutex
	last := map[string]int{} // key → the last seq accepted
	var violations []string
	accepted := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var env struct {
			Data struct {
				Key string `json:"key"`
				Seq int    `json:"seq"`
			}
		}
		if err := json.NewDecoder(r.Body).Decode(&env); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		time.Sleep(time.Millisecond) // a receiver that takes a moment, so that the kill lands mid-attempt
		mu.Lock()
		defer mu.Unlock()
		k, n := env.Data.Key, env.Data.Seq
		prev, seen := last[k]
		switch {
		case !seen && n != 0, seen && n != prev && n != prev+1:
			violations = append(violations, fmt.Sprintf("key %s: seq %d after %d", k, n, prev))
		}
		if !seen || n == prev+1 {
			accepted++
		}
		last[k] = max(n, prev)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)

	ctx := context.Background()
	cb := newClients(b.baseURL, key, "connect")
	if _, err := cb.eventTypes.CreateEventType(ctx, connect.NewRequest(&hookdv1.CreateEventTypeRequest{Name: "user.created"})); err != nil {
		t.Fatalf("CreateEventType: %v", err)
	}
	wh, err := cb.webhooks.CreateWebhook(ctx, connect.NewRequest(&hookdv1.CreateWebhookRequest{Name: "ordered", Url: srv.URL,
		Ordered: true}))
	if err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	if !wh.Msg.GetWebhook().GetOrdered() {
		t.Fatal("the webhook is not ordered")
	}
	if _, err := cb.subscriptions.CreateSubscription(ctx, connect.NewRequest(&hookdv1.CreateSubscriptionRequest{
		WebhookId: wh.Msg.GetWebhook().GetId(), EventTypes: []string{"*"}})); err != nil {
		t.Fatalf("CreateSubscription: %v", err)
	}

	// Publish (through b, which survives) one batch per seq, each with one event per key.
	published := make(chan error, 1)
	go func() {
		for seq := range perKey {
			reqs := make([]*hookdv1.PublishEventRequest, keys)
			for k := range keys {
				p, _ := structpb.NewStruct(map[string]any{"key": fmt.Sprintf("key-%02d", k), "seq": seq})
				reqs[k] = &hookdv1.PublishEventRequest{EventType: "user.created", Payload: p, OrderingKey: fmt.Sprintf("key-%02d", k)}
			}
			if _, err := cb.events.PublishEvents(ctx, connect.NewRequest(&hookdv1.PublishEventsRequest{Events: reqs})); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return accepted
	}
	eventually(t, 30*time.Second, "a fifth of the traffic delivered", func() bool { return count() >= keys*perKey/5 })
	if err := a.stop(syscall.SIGKILL); err == nil {
		t.Fatal("SIGKILL: process exited cleanly")
	}
	if err := <-published; err != nil {
		t.Fatalf("PublishEvents: %v", err)
	}
	eventually(t, 90*time.Second, "every event of every key delivered", func() bool { return count() == keys*perKey })

	mu.Lock()
	defer mu.Unlock()
	for _, v := range violations {
		t.Error(v)
	}
	for k := range keys {
		if got := last[fmt.Sprintf("key-%02d", k)]; got != perKey-1 {
			t.Errorf("key-%02d: last seq %d, want %d", k, got, perKey-1)
		}
	}
}

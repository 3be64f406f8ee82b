package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/store/storetest"
)

// opsPayloads decodes the operational events a receiver got: type → payloads, in arrival order.
func opsPayloads(rec *recorder) map[string][]map[string]any {
	out := map[string][]map[string]any{}
	for _, r := range rec.all() {
		var env struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if json.Unmarshal(r.body, &env) == nil {
			out[env.Type] = append(out[env.Type], env.Data)
		}
	}
	return out
}

// TestThresholdDisablesAndTellsOps: a webhook with failure_threshold 3 whose receiver fails is disabled after
// three failed deliveries; an ops webhook subscribed to the operational events gets the 50, 70 and 90 % warnings
// once each and the disable; re-enabled with replay_missed (raw Connect JSON, as curl sends it), the webhook gets exactly the
// deliveries it missed.
func TestThresholdDisablesAndTellsOps(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newTimingEnv(t, b, "--webhook-concurrency", "1") // one request at a time: replays arrive in order
			var healthy atomic.Bool
			flaky := newRecorder(t, func(int, *http.Request) int {
				if healthy.Load() {
					return http.StatusOK
				}
				return http.StatusServiceUnavailable
			})
			ops := newRecorder(t, nil)
			w := e.webhook(t, &hookdv1.CreateWebhookRequest{Url: flaky.srv.URL, FailureThreshold: 3,
				RetryPolicy: &hookdv1.RetryPolicy{Kind: hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_NONE}})
			o := e.webhook(t, &hookdv1.CreateWebhookRequest{Url: ops.srv.URL})
			if _, err := e.c.subscriptions.CreateSubscription(e.ctx, connect.NewRequest(&hookdv1.CreateSubscriptionRequest{
				WebhookId: o.GetId(), EventTypes: []string{"hookd.webhook.failing", "hookd.webhook.disabled", "hookd.webhook.enabled"}})); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				n := len(flaky.all())
				e.publish(t, w.GetId(), 1)
				eventually(t, 10*time.Second, "the attempt", func() bool { return len(flaky.all()) > n })
			}
			eventually(t, 10*time.Second, "hookd.webhook.disabled at the ops webhook", func() bool {
				return len(opsPayloads(ops)["hookd.webhook.disabled"]) == 1
			})
			eventually(t, 10*time.Second, "the failing warnings", func() bool { return len(opsPayloads(ops)["hookd.webhook.failing"]) >= 3 })
			got := opsPayloads(ops)
			percents := map[float64]int{}
			for _, f := range got["hookd.webhook.failing"] {
				percents[f["percent"].(float64)]++
				if f["webhookId"] != w.GetId() {
					t.Errorf("failing warning for %v, want %s", f["webhookId"], w.GetId())
				}
			}
			if len(got["hookd.webhook.failing"]) != 3 || percents[50] != 1 || percents[70] != 1 || percents[90] != 1 {
				t.Errorf("failing warnings = %v, want 50, 70 and 90 %% once each", got["hookd.webhook.failing"])
			}
			if d := got["hookd.webhook.disabled"][0]; d["webhookId"] != w.GetId() || d["reason"] == "" {
				t.Errorf("disabled event = %v", d)
			}
			gw, err := e.c.webhooks.GetWebhook(e.ctx, connect.NewRequest(&hookdv1.GetWebhookRequest{Id: w.GetId()}))
			if err != nil {
				t.Fatal(err)
			}
			if gw.Msg.GetWebhook().GetEnabled() || gw.Msg.GetWebhook().GetDisabledReason() == "" || gw.Msg.GetWebhook().GetDisableTime() == nil {
				t.Fatalf("webhook after the threshold: %v", gw.Msg.GetWebhook())
			}

			missed := e.publish(t, w.GetId(), 2)
			for _, id := range missed {
				if d := e.delivery(t, id); d.GetStatus() != hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED || d.GetReason() != "webhook disabled" {
					t.Fatalf("delivery while disabled: %s %q", d.GetStatus(), d.GetReason())
				}
			}
			healthy.Store(true)
			before := len(flaky.all())
			code, res := curl(t, e.p.baseURL, e.p.key, "/hookd.v1.WebhookService/UpdateWebhook",
				map[string]any{"id": w.GetId(), "enabled": true, "replayMissed": true})
			if code != http.StatusOK || res["replayed"] != float64(2) {
				t.Fatalf("UpdateWebhook replay: %d %v", code, res)
			}
			eventually(t, 10*time.Second, "the replayed deliveries", func() bool { return len(flaky.all()) == before+2 })
			var ids []string
			for _, r := range flaky.all()[before:] {
				ids = append(ids, r.header.Get("webhook-id"))
			}
			if ids[0] != missed[0] || ids[1] != missed[1] {
				t.Errorf("replayed %v, want %v in order", ids, missed)
			}
			eventually(t, 10*time.Second, "hookd.webhook.enabled", func() bool { return len(opsPayloads(ops)["hookd.webhook.enabled"]) == 1 })
		})
	}
}

// TestWatchSeesAnotherProcess: watchers on an API-only process, over Connect, gRPC and gRPC-Web, see the
// deliveries that another process publishes and sends.
func TestWatchSeesAnotherProcess(t *testing.T) {
	t.Parallel()
	db := storetest.PostgresURL(t)
	key := testKey(t)
	sender := startHookd(t, key, "--database-url", db)
	watched := startHookd(t, key, "--database-url", db, "--role", "api")
	c := newClients(sender.baseURL, key, "connect")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rec := newRecorder(t, nil)
	w := setupWebhook(t, c, rec.srv.URL)

	type change struct {
		protocol, id string
		kind         hookdv1.DeliveryChange
		status       hookdv1.DeliveryStatus
		name         string
	}
	changes := make(chan change, 100)
	seen := map[string]map[hookdv1.DeliveryChange]bool{} // by protocol
	for _, protocol := range []string{"connect", "grpc", "grpcweb"} {
		wc := newClients(watched.baseURL, key, protocol)
		if protocol == "connect" { // newClients' 30 s client timeout would end the stream
			wc.deliveries = hookdv1connect.NewDeliveryServiceClient(http.DefaultClient, watched.baseURL, withKey(key), connect.WithProtoJSON())
		}
		stream, err := wc.deliveries.WatchDeliveries(ctx, connect.NewRequest(&hookdv1.WatchDeliveriesRequest{
			Filter: &hookdv1.DeliveryFilter{WebhookId: w.GetId()}}))
		if err != nil {
			t.Fatalf("%s: %v", protocol, err)
		}
		if !stream.Receive() {
			t.Fatalf("%s: no first heartbeat: %v", protocol, stream.Err())
		}
		go func() {
			defer stream.Close()
			for stream.Receive() {
				if d := stream.Msg().GetDelivery(); d != nil {
					changes <- change{protocol, d.GetId(), stream.Msg().GetChange(), d.GetStatus(), d.GetWebhookName()}
				}
			}
		}()
	}

	// The sending process learns of the new watchers through a NOTIFY (possibly after a first publish commits):
	// publish until a creation arrives, then follow that delivery.
	var first string
	deadline := time.After(10 * time.Second)
	for first == "" {
		publishN(t, c, 1)
		wait := time.After(200 * time.Millisecond)
	next:
		for {
			select {
			case ch := <-changes:
				if ch.kind == hookdv1.DeliveryChange_DELIVERY_CHANGE_CREATED {
					first = ch.id
					seen[ch.protocol] = map[hookdv1.DeliveryChange]bool{ch.kind: true}
					break next
				}
			case <-wait:
				break next
			case <-deadline:
				t.Fatal("no creation reached the watchers within 10 s")
			}
		}
	}
	// Every protocol sees it created and attempted (DONE), with the webhook's name.
	complete := func() bool {
		for _, p := range []string{"connect", "grpc", "grpcweb"} {
			if !seen[p][hookdv1.DeliveryChange_DELIVERY_CHANGE_CREATED] || !seen[p][hookdv1.DeliveryChange_DELIVERY_CHANGE_ATTEMPTED] {
				return false
			}
		}
		return true
	}
	timeout := time.After(20 * time.Second)
	for !complete() {
		var ch change
		select {
		case ch = <-changes:
		case <-timeout:
			t.Fatalf("changes of %s seen, by protocol: %v", first, seen)
		}
		if ch.id != first {
			continue
		}
		if seen[ch.protocol] == nil {
			seen[ch.protocol] = map[hookdv1.DeliveryChange]bool{}
		}
		seen[ch.protocol][ch.kind] = true
		if ch.kind == hookdv1.DeliveryChange_DELIVERY_CHANGE_ATTEMPTED && ch.status != hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE {
			t.Errorf("%s: attempted change with status %s", ch.protocol, ch.status)
		}
		if ch.name != w.GetName() {
			t.Errorf("%s: webhook name %q, want %q", ch.protocol, ch.name, w.GetName())
		}
	}
}

// TestStalledWatcherDoesNotDelayDeliveries: a watcher that stops reading (a tiny receive buffer, never drained)
// does not hold up deliveries; it is dropped with resource_exhausted once it is far behind.
func TestStalledWatcherDoesNotDelayDeliveries(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			key := testKey(t)
			p := startHookd(t, key, b.args(t)...)
			c := newClients(p.baseURL, key, "connect")
			rec := newRecorder(t, nil)
			setupWebhook(t, c, rec.srv.URL)

			tiny := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{Control: func(_, _ string, raw syscall.RawConn) error {
				var serr error
				err := raw.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
				if err != nil {
					return err
				}
				return serr
			}}).DialContext}}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			stalled, err := hookdv1connect.NewDeliveryServiceClient(tiny, p.baseURL, withKey(key), connect.WithProtoJSON()).
				WatchDeliveries(ctx, connect.NewRequest(&hookdv1.WatchDeliveriesRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			if !stalled.Receive() { // registered; from here on nothing is read
				t.Fatalf("first heartbeat: %v", stalled.Err())
			}

			const n = 8000 // 16,000 changes: far more than the watcher's buffer and the sockets' buffers
			start := time.Now()
			for range n / 100 {
				publishN(t, c, 100)
			}
			eventually(t, 2*time.Minute, "every delivery at the receiver", func() bool { return rec.distinct() >= n })
			t.Logf("%d deliveries in %s with a stalled watcher", n, time.Since(start).Round(time.Millisecond))

			for stalled.Receive() { // now drain what was buffered: the stream ends with the drop
			}
			if got := connect.CodeOf(stalled.Err()); got != connect.CodeResourceExhausted {
				t.Fatalf("stalled watcher ended with %v (%v), want resource_exhausted", got, stalled.Err())
			}
		})
	}
}

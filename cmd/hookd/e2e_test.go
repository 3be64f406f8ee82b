package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"google.golang.org/protobuf/types/known/structpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/store/storetest"
)

var firstKeyRE = regexp.MustCompile(`(?m)^\s+(hk_[A-Za-z0-9_-]{20,})\s*$`)

// TestFirstStart is the README's promise: no configuration, a printed admin key, curl works, reflection works.
func TestFirstStart(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			p := startHookd(t, "", b.args(t)...)
			m := firstKeyRE.FindStringSubmatch(p.logs())
			if m == nil {
				t.Fatalf("first start printed no admin key:\n%s", p.logs())
			}
			key := m[1]

			code, out := curl(t, p.baseURL, key, "/hookd.v1.IntegrationService/CreateIntegration",
				map[string]any{"name": "Payments", "baseUrl": "https://api.example.com", "rateLimitPerSecond": 10})
			if code != http.StatusOK {
				t.Fatalf("CreateIntegration: %d %v", code, out)
			}
			in, _ := out["integration"].(map[string]any)
			if id, _ := in["id"].(string); !strings.HasPrefix(id, "int_") || in["name"] != "Payments" {
				t.Fatalf("CreateIntegration returned %v", out)
			}

			code, out = curl(t, p.baseURL, "", "/hookd.v1.IntegrationService/ListIntegrations", map[string]any{})
			if code != http.StatusUnauthorized || out["code"] != "unauthenticated" {
				t.Fatalf("no key: %d %v, want 401 unauthenticated", code, out)
			}
			code, out = curl(t, p.baseURL, "hk_wrong_key_000000000000000000", "/hookd.v1.IntegrationService/ListIntegrations", map[string]any{})
			if code != http.StatusUnauthorized {
				t.Fatalf("unknown key: %d %v, want 401", code, out)
			}

			for path, want := range map[string]string{"/healthz": `"ok"`, "/readyz": `"ok"`, "/metrics": "hookd_queue_depth"} {
				if code, body := get(t, p.baseURL+path); code != http.StatusOK || !strings.Contains(body, want) {
					t.Errorf("GET %s: %d %.200s", path, code, body)
				}
			}

			// A gRPC client lists the services through reflection.
			stream := grpcreflect.NewClient(h2c(), p.baseURL).NewStream(context.Background())
			names, err := stream.ListServices()
			if err != nil {
				t.Fatalf("reflection: %v", err)
			}
			_, _ = stream.Close()
			got := fmt.Sprint(names)
			for _, want := range []string{"hookd.v1.WebhookService", "hookd.v1.EventService", "hookd.v1.DeliveryService", "hookd.v1.TriggerService"} {
				if !strings.Contains(got, want) {
					t.Errorf("reflection lists %s, missing %s", got, want)
				}
			}

			// A restart with the same database prints no new key and keeps the old one working.
			if err := p.stop(syscall.SIGTERM); err != nil {
				t.Fatalf("graceful stop: %v", err)
			}
			p2 := startHookd(t, "", b.args2(t, p)...)
			if firstKeyRE.MatchString(p2.logs()) {
				t.Fatalf("second start printed another key:\n%s", p2.logs())
			}
			if code, out := curl(t, p2.baseURL, key, "/hookd.v1.IntegrationService/ListIntegrations", map[string]any{}); code != http.StatusOK || len(out["integrations"].([]any)) != 1 {
				t.Fatalf("after restart: %d %v", code, out)
			}
		})
	}
}

// recorder is a webhook receiver that records requests and answers from a script.
type recorder struct {
	mu       sync.Mutex
	requests []recorded
	inFlight map[string]int
	overlap  atomic.Int64
	answer   func(n int, r *http.Request) int
	srv      *httptest.Server
}

type recorded struct {
	header http.Header
	body   []byte
	at     time.Time
}

func newRecorder(t *testing.T, answer func(n int, r *http.Request) int) *recorder {
	rec := &recorder{inFlight: map[string]int{}, answer: answer}
	rec.srv = httptest.NewServer(rec)
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get("webhook-id")
	rec.mu.Lock()
	rec.inFlight[id]++
	if rec.inFlight[id] > 1 {
		rec.overlap.Add(1) // the same delivery sent twice at once
	}
	rec.requests = append(rec.requests, recorded{header: r.Header.Clone(), body: body, at: time.Now()})
	n := len(rec.requests)
	rec.mu.Unlock()
	code := http.StatusOK
	if rec.answer != nil {
		code = rec.answer(n, r)
	}
	rec.mu.Lock()
	rec.inFlight[id]--
	rec.mu.Unlock()
	w.WriteHeader(code)
}

func (rec *recorder) all() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recorded(nil), rec.requests...)
}

// distinct counts distinct webhook-id values received.
func (rec *recorder) distinct() int {
	seen := map[string]bool{}
	for _, r := range rec.all() {
		seen[r.header.Get("webhook-id")] = true
	}
	return len(seen)
}

// setupWebhook creates an event type, a webhook to url and a subscription to all events; it returns the webhook.
func setupWebhook(t *testing.T, c clients, url string) *hookdv1.Webhook {
	t.Helper()
	ctx := context.Background()
	if _, err := c.eventTypes.CreateEventType(ctx, connect.NewRequest(&hookdv1.CreateEventTypeRequest{Name: "user.created"})); err != nil && connect.CodeOf(err) != connect.CodeAlreadyExists {
		t.Fatalf("CreateEventType: %v", err)
	}
	wh, err := c.webhooks.CreateWebhook(ctx, connect.NewRequest(&hookdv1.CreateWebhookRequest{Name: "receiver " + randomHex(3), Url: url}))
	if err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	if _, err := c.subscriptions.CreateSubscription(ctx, connect.NewRequest(&hookdv1.CreateSubscriptionRequest{
		WebhookId: wh.Msg.GetWebhook().GetId(), EventTypes: []string{"*"}})); err != nil {
		t.Fatalf("CreateSubscription: %v", err)
	}
	return wh.Msg.GetWebhook()
}

// TestPublishAndDeliver publishes through gRPC, Connect and raw JSON and checks what the receiver got.
func TestPublishAndDeliver(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			key := testKey(t)
			p := startHookd(t, key, b.args(t)...)
			rec := newRecorder(t, nil)
			c := newClients(p.baseURL, key, "grpc")
			wh := setupWebhook(t, c, rec.srv.URL+"/hook")
			ctx := context.Background()

			payload, _ := structpb.NewStruct(map[string]any{"email": "ada@example.com"})
			r1, err := c.events.PublishEvent(ctx, connect.NewRequest(&hookdv1.PublishEventRequest{EventType: "user.created", Payload: payload, Subject: "cus_1", IdempotencyKey: "k1"}))
			if err != nil {
				t.Fatalf("gRPC PublishEvent: %v", err)
			}
			again, err := newClients(p.baseURL, key, "connect").events.PublishEvent(ctx, connect.NewRequest(&hookdv1.PublishEventRequest{EventType: "user.created", Payload: payload, IdempotencyKey: "k1"}))
			if err != nil || again.Msg.GetEvent().GetId() != r1.Msg.GetEvent().GetId() {
				t.Fatalf("idempotent publish: %v, %v vs %v", err, again.Msg.GetEvent().GetId(), r1.Msg.GetEvent().GetId())
			}
			code, out := curl(t, p.baseURL, key, "/hookd.v1.EventService/PublishEvent", map[string]any{"eventType": "user.created", "payload": map[string]any{"n": 2}})
			if code != http.StatusOK || len(out["deliveryIds"].([]any)) != 1 {
				t.Fatalf("curl PublishEvent: %d %v", code, out)
			}
			code, out = curl(t, p.baseURL, key, "/hookd.v1.EventService/PublishEvent", map[string]any{"eventType": "no.such.type"})
			if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["message"]), "event_type") {
				t.Fatalf("unknown event type: %d %v", code, out)
			}

			eventually(t, 15*time.Second, "2 deliveries", func() bool { return rec.distinct() == 2 })
			wv, err := standardwebhooks.NewWebhook(wh.GetSecret())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rec.all() {
				if err := wv.Verify(r.body, r.header); err != nil {
					t.Errorf("signature does not verify with the reference library: %v", err)
				}
			}
			first := rec.all()[0]
			if !strings.Contains(string(first.body), `"ada@example.com"`) || first.header.Get("webhook-id") != r1.Msg.GetDeliveryIds()[0] {
				t.Errorf("first request: %s %v", first.body, first.header)
			}

			d, err := c.deliveries.GetDelivery(ctx, connect.NewRequest(&hookdv1.GetDeliveryRequest{Id: r1.Msg.GetDeliveryIds()[0]}))
			eventually(t, 10*time.Second, "delivery DONE", func() bool {
				d, err = c.deliveries.GetDelivery(ctx, connect.NewRequest(&hookdv1.GetDeliveryRequest{Id: r1.Msg.GetDeliveryIds()[0]}))
				return err == nil && d.Msg.GetDelivery().GetStatus() == hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE
			})
			if n := len(d.Msg.GetDelivery().GetAttemptList()); n != 1 || d.Msg.GetDelivery().GetAttemptList()[0].GetResponseStatusCode() != 200 {
				t.Errorf("attempts: %v", d.Msg.GetDelivery().GetAttemptList())
			}
			ev, err := c.events.GetEvent(ctx, connect.NewRequest(&hookdv1.GetEventRequest{Id: r1.Msg.GetEvent().GetId()}))
			if err != nil || ev.Msg.GetEvent().GetDeliveryCounts().GetDone() != 1 {
				t.Errorf("GetEvent counts: %v %v", err, ev.Msg.GetEvent().GetDeliveryCounts())
			}

			// The CSV download has a header row and one row per delivery.
			var code2 int
			var csv string
			eventually(t, 10*time.Second, "both deliveries DONE in the export", func() bool {
				code2, csv = get(t, p.baseURL+"/v1/deliveries/export?format=csv&status=done", "Authorization", "Bearer "+key)
				return code2 != http.StatusOK || len(strings.Split(strings.TrimSpace(csv), "\n")) >= 3
			})
			if lines := strings.Split(strings.TrimSpace(csv), "\n"); code2 != http.StatusOK || len(lines) != 3 || !strings.HasPrefix(lines[0], "id,event_id") {
				t.Errorf("export: %d %q", code2, csv)
			}
			if code, _ := get(t, p.baseURL+"/v1/deliveries/export?format=csv"); code != http.StatusUnauthorized {
				t.Errorf("export without a key: %d, want 401", code)
			}
		})
	}
}

// TestGracefulShutdown: SIGTERM while an attempt is in flight (the receiver is slow) lets the attempt finish: the
// process exits cleanly once the receiver answers, and the delivery is DONE, sent once.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			key := testKey(t)
			p := startHookd(t, key, b.args(t)...)
			started := make(chan struct{}, 1)
			release := make(chan struct{})
			rec := newRecorder(t, func(n int, r *http.Request) int {
				select {
				case started <- struct{}{}:
				default:
				}
				select {
				case <-release: // answers once the server is shutting down
					return http.StatusOK
				case <-r.Context().Done(): // the sender gave up on the attempt: the test fails below
					return http.StatusServiceUnavailable
				}
			})
			c := newClients(p.baseURL, key, "connect")
			setupWebhook(t, c, rec.srv.URL)
			ids := publishN(t, c, 1)
			select {
			case <-started:
			case <-time.After(15 * time.Second):
				t.Fatal("the attempt did not start")
			}
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the server to begin shutting down", func() bool { return strings.Contains(p.logs(), `msg="shutting down"`) })
			select {
			case <-p.exited:
				t.Fatalf("hookd exited with an attempt in flight: %v", p.err)
			default:
			}
			close(release)
			select {
			case <-p.exited:
				if p.err != nil {
					t.Fatalf("hookd did not exit cleanly: %v", p.err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("hookd did not exit within 30s after the attempt finished")
			}

			// An api-only process (no sender: nothing more can be sent) reads the outcome.
			api := startHookd(t, key, append(b.args2(t, p), "--role", "api")...)
			res, err := newClients(api.baseURL, key, "connect").deliveries.GetDelivery(context.Background(),
				connect.NewRequest(&hookdv1.GetDeliveryRequest{Id: ids[0]}))
			if err != nil {
				t.Fatal(err)
			}
			if d := res.Msg.GetDelivery(); d.GetStatus() != hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE || d.GetAttempts() != 1 {
				t.Fatalf("after shutdown the delivery is %s after %d attempts, want DONE after 1", d.GetStatus(), d.GetAttempts())
			}
			if n := len(rec.all()); n != 1 {
				t.Fatalf("the receiver got %d requests, want 1", n)
			}
		})
	}
}

// metric returns the value of the unlabelled (or fully labelled, e.g. `x{status="done"}`) series name of p's
// /metrics; 0 when absent.
func metric(t *testing.T, p *proc, name string) float64 {
	t.Helper()
	code, body := get(t, p.baseURL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	return 0
}

// TestRoles: an api-only process serves the API and sends nothing; a sender-only process serves no API but
// delivers what the api process accepted. Both count their claims: every delivery was claimed, and sent, by the
// sender process alone, exactly once.
func TestRoles(t *testing.T) {
	t.Parallel()
	dbURL := storetest.PostgresURL(t)
	key := testKey(t)
	api := startHookd(t, key, "--database-url", dbURL, "--role", "api")
	rec := newRecorder(t, nil)
	c := newClients(api.baseURL, key, "connect")
	setupWebhook(t, c, rec.srv.URL)
	ids := publishN(t, c, 3)
	snd := startHookd(t, key, "--database-url", dbURL, "--role", "sender")
	if code, _ := get(t, snd.baseURL+"/hookd.v1.IntegrationService/ListIntegrations?encoding=json&message=%7B%7D", "Authorization", "Bearer "+key); code != http.StatusNotFound {
		t.Errorf("sender-only process answered the API with %d, want 404", code)
	}
	if code, _ := get(t, snd.baseURL+"/readyz"); code != http.StatusOK {
		t.Errorf("sender /readyz: %d", code)
	}
	eventually(t, 15*time.Second, "the sender to deliver", func() bool { return rec.distinct() == len(ids) })
	eventually(t, 15*time.Second, "the sender to record the outcomes", func() bool {
		return metric(t, snd, `hookd_deliveries_total{status="done"}`) == float64(len(ids))
	})
	if n := metric(t, api, "hookd_queue_claimed_total"); n != 0 {
		t.Errorf("the api-only process claimed %v deliveries", n)
	}
	if n := metric(t, snd, "hookd_queue_claimed_total"); n != float64(len(ids)) {
		t.Errorf("the sender process claimed %v deliveries, want %d", n, len(ids))
	}
	if n := len(rec.all()); n != len(ids) {
		t.Errorf("the receiver got %d requests for %d deliveries", n, len(ids))
	}
}

// TestTriggerEndToEnd: a webhook received at a trigger URL of the real server is recorded and delivered to the
// subscribed receiver, its JSON body reaching the receiver as it was sent.
func TestTriggerEndToEnd(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			key := testKey(t)
			p := startHookd(t, key, b.args(t)...)
			rec := newRecorder(t, nil)
			setupWebhook(t, newClients(p.baseURL, key, "connect"), rec.srv.URL+"/hook")

			code, out := curl(t, p.baseURL, key, "/hookd.v1.TriggerService/CreateTrigger", map[string]any{"name": "shop", "eventType": "user.created"})
			if code != http.StatusOK {
				t.Fatalf("CreateTrigger: %d %v", code, out)
			}
			trg := out["trigger"].(map[string]any)
			url := p.baseURL + "/t/" + trg["id"].(string)

			const sent = `{"b":1,"a":[1.50,"x"],"big":12345678901234567890123}`
			resp, err := http.Post(url+"/orders?source=shop", "application/json", strings.NewReader(sent))
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			var accepted struct {
				ExecutionID string `json:"executionId"`
			}
			if resp.StatusCode != http.StatusOK || json.Unmarshal(answer, &accepted) != nil || !strings.HasPrefix(accepted.ExecutionID, "exe_") {
				t.Fatalf("POST trigger: %d %s", resp.StatusCode, answer)
			}
			resp, err = http.Post(url, "application/json", strings.NewReader(`{"b":`))
			if err != nil {
				t.Fatal(err)
			}
			answer, _ = io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || string(answer) != `{"error":"Received malformed JSON payload."}` {
				t.Fatalf("malformed JSON: %d %s", resp.StatusCode, answer)
			}

			eventually(t, 15*time.Second, "the trigger's event delivered", func() bool { return rec.distinct() == 1 })
			got := rec.all()[0]
			if !strings.Contains(string(got.body), `"data":`+sent) || !strings.Contains(string(got.body), `"pathFragment":"orders"`) {
				t.Errorf("receiver got %s, want data %s as sent and path fragment orders", got.body, sent)
			}

			code, out = curl(t, p.baseURL, key, "/hookd.v1.TriggerService/ListExecutions", map[string]any{"triggerId": trg["id"]})
			execs, _ := out["executions"].([]any)
			if code != http.StatusOK || len(execs) != 2 {
				t.Fatalf("ListExecutions: %d %v", code, out)
			}
			code, out = curl(t, p.baseURL, key, "/hookd.v1.TriggerService/GetExecution", map[string]any{"id": accepted.ExecutionID})
			exe, _ := out["execution"].(map[string]any)
			if code != http.StatusOK || exe["rawBody"] != sent || exe["eventId"] == "" {
				t.Fatalf("GetExecution: %d %v", code, out)
			}
		})
	}
}

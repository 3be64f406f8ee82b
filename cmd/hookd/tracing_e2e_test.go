package main

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
)

// collector is a loopback OTLP/HTTP receiver: it accepts POST /v1/traces (protobuf) and keeps the spans.
type collector struct {
	mu       sync.Mutex
	spans    []*tracepb.Span
	services map[string]bool // service.name of the resources seen
	versions map[string]bool // service.version of the resources seen
	srv      *httptest.Server
}

func newCollector(t *testing.T) *collector {
	c := &collector{services: map[string]bool{}, versions: map[string]bool{}}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want POST /v1/traces, application/x-protobuf", http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			for _, kv := range rs.GetResource().GetAttributes() {
				switch kv.GetKey() {
				case "service.name":
					c.services[kv.GetValue().GetStringValue()] = true
				case "service.version":
					c.versions[kv.GetValue().GetStringValue()] = true
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				c.spans = append(c.spans, ss.GetSpans()...)
			}
		}
		c.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// named returns the spans received with a name.
func (c *collector) named(name string) []*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range c.spans {
		if s.GetName() == name {
			out = append(out, s)
		}
	}
	return out
}

func spanAttr(s *tracepb.Span, key string) string {
	for _, kv := range s.GetAttributes() {
		if kv.GetKey() == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

// traceparentOf is the traceparent a receiver gets from span s (sampled).
func traceparentOf(s *tracepb.Span) string {
	return "00-" + hex.EncodeToString(s.GetTraceId()) + "-" + hex.EncodeToString(s.GetSpanId()) + "-01"
}

// TestTracingToOTLP runs the real binary with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a loopback collector: a
// publish carrying a caller's traceparent and the attempt it leads to are spans of the caller's trace (service
// hookd), the receiver gets the attempt's span as traceparent, a trigger request's event leads to an attempt in
// the trigger request's trace, and the spans still buffered at SIGTERM are flushed before the process exits.
// The same binary without OTEL_* variables sends no trace headers.
func TestTracingToOTLP(t *testing.T) {
	t.Parallel()
	col := newCollector(t)
	key := testKey(t)
	// A batch delay longer than the test: the spans arrive only through the flush at shutdown.
	p := startHookdEnv(t, key, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + col.srv.URL, "OTEL_BSP_SCHEDULE_DELAY=600000"},
		"--data-dir", t.TempDir())
	if !strings.Contains(p.logs(), `msg="tracing on"`) {
		t.Errorf("no 'tracing on' log line:\n%s", p.logs())
	}
	rec := newRecorder(t, nil)
	c := newClients(p.baseURL, key, "connect")
	setupWebhook(t, c, rec.srv.URL+"/hook")
	ctx := context.Background()

	const caller = "4bf92f3577b34da6a3ce929d0e0e4736"
	req := connect.NewRequest(&hookdv1.PublishEventRequest{EventType: "user.created"})
	req.Header().Set("traceparent", "00-"+caller+"-00f067aa0ba902b7-01")
	pub, err := c.events.PublishEvent(ctx, req)
	if err != nil {
		t.Fatalf("PublishEvent: %v", err)
	}
	code, out := curl(t, p.baseURL, key, "/hookd.v1.TriggerService/CreateTrigger", map[string]any{"name": "shop", "eventType": "user.created"})
	if code != http.StatusOK {
		t.Fatalf("CreateTrigger: %d %v", code, out)
	}
	resp, err := http.Post(p.baseURL+"/t/"+out["trigger"].(map[string]any)["id"].(string), "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST trigger: %d", resp.StatusCode)
	}
	eventually(t, 15*time.Second, "both events delivered and DONE", func() bool {
		res, err := c.deliveries.ListDeliveries(ctx, connect.NewRequest(&hookdv1.ListDeliveriesRequest{Filter: &hookdv1.DeliveryFilter{
			Statuses: []hookdv1.DeliveryStatus{hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE}}}))
		return err == nil && len(res.Msg.GetDeliveries()) == 2
	})
	if err := p.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.logs())
	}

	col.mu.Lock()
	services, versions := col.services, col.versions
	col.mu.Unlock()
	if !services["hookd"] || len(services) != 1 || len(versions) != 1 {
		t.Errorf("resources: service.name %v, service.version %v; want hookd and one version", services, versions)
	}
	publishes := col.named("hookd.v1.EventService/PublishEvent")
	attempts := col.named("webhook attempt")
	inbound := col.named("POST /t/{trigger_id}")
	if len(publishes) != 1 || len(attempts) != 2 || len(inbound) != 1 {
		t.Fatalf("spans: %d publishes, %d attempts, %d trigger requests; want 1, 2, 1", len(publishes), len(attempts), len(inbound))
	}
	publish := publishes[0]
	if hex.EncodeToString(publish.GetTraceId()) != caller || publish.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("publish span: trace %x kind %v, want the caller's trace %s, server", publish.GetTraceId(), publish.GetKind(), caller)
	}
	byTrace := map[string]*tracepb.Span{}
	for _, a := range attempts {
		byTrace[hex.EncodeToString(a.GetTraceId())] = a
	}
	fromPublish, fromTrigger := byTrace[caller], byTrace[hex.EncodeToString(inbound[0].GetTraceId())]
	if fromPublish == nil || fromTrigger == nil {
		t.Fatalf("attempt traces %v; want the publish's %s and the trigger request's %x", byTrace, caller, inbound[0].GetTraceId())
	}
	if string(fromPublish.GetParentSpanId()) != string(publish.GetSpanId()) ||
		spanAttr(fromPublish, "hookd.delivery.id") != pub.Msg.GetDeliveryIds()[0] || spanAttr(fromPublish, "hookd.attempt.outcome") != "done" {
		t.Errorf("attempt of the publish: parent %x (publish %x), attributes %v", fromPublish.GetParentSpanId(), publish.GetSpanId(), fromPublish.GetAttributes())
	}
	if string(fromTrigger.GetParentSpanId()) != string(inbound[0].GetSpanId()) {
		t.Errorf("attempt of the trigger's event: parent %x, want the trigger request %x", fromTrigger.GetParentSpanId(), inbound[0].GetSpanId())
	}
	got := map[string]bool{}
	for _, r := range rec.all() {
		got[r.header.Get("traceparent")] = true
	}
	if !got[traceparentOf(fromPublish)] || !got[traceparentOf(fromTrigger)] {
		t.Errorf("receiver got traceparent %v, want %s and %s", got, traceparentOf(fromPublish), traceparentOf(fromTrigger))
	}

	// Without OTEL_* variables: no spans, no headers.
	key2 := testKey(t)
	off := startHookd(t, key2, "--data-dir", t.TempDir())
	rec2 := newRecorder(t, nil)
	c2 := newClients(off.baseURL, key2, "connect")
	setupWebhook(t, c2, rec2.srv.URL+"/hook")
	req = connect.NewRequest(&hookdv1.PublishEventRequest{EventType: "user.created"})
	req.Header().Set("traceparent", "00-"+caller+"-00f067aa0ba902b7-01")
	if _, err := c2.events.PublishEvent(ctx, req); err != nil {
		t.Fatalf("PublishEvent: %v", err)
	}
	eventually(t, 15*time.Second, "the delivery without tracing", func() bool { return len(rec2.all()) == 1 })
	if h := rec2.all()[0].header; h.Get("traceparent") != "" || h.Get("tracestate") != "" {
		t.Errorf("tracing off, yet the receiver got traceparent %q tracestate %q", h.Get("traceparent"), h.Get("tracestate"))
	}
	if strings.Contains(off.logs(), "tracing on") {
		t.Errorf("tracing on without OTEL_* variables:\n%s", off.logs())
	}
}

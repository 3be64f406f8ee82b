package hookd

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
)

// fakeAPI answers GetIntegration/CreateIntegration/PublishEvent; invalidArgument makes them fail with 400.
type fakeAPI struct {
	hookdv1connect.UnimplementedIntegrationServiceHandler
	hookdv1connect.UnimplementedEventServiceHandler
	invalidArgument bool
	hang            bool
}

func (f *fakeAPI) GetIntegration(ctx context.Context, req *connect.Request[hookdv1.GetIntegrationRequest]) (*connect.Response[hookdv1.GetIntegrationResponse], error) {
	if f.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if f.invalidArgument {
		return nil, connect.NewError(connect.CodeInvalidArgument, nil)
	}
	return connect.NewResponse(&hookdv1.GetIntegrationResponse{Integration: &hookdv1.Integration{Id: req.Msg.GetId()}}), nil
}

func (f *fakeAPI) CreateIntegration(context.Context, *connect.Request[hookdv1.CreateIntegrationRequest]) (*connect.Response[hookdv1.CreateIntegrationResponse], error) {
	return connect.NewResponse(&hookdv1.CreateIntegrationResponse{Integration: &hookdv1.Integration{Id: "int_1"}}), nil
}

func (f *fakeAPI) PublishEvents(context.Context, *connect.Request[hookdv1.PublishEventsRequest]) (*connect.Response[hookdv1.PublishEventsResponse], error) {
	return connect.NewResponse(&hookdv1.PublishEventsResponse{}), nil
}

func (f *fakeAPI) PublishEvent(context.Context, *connect.Request[hookdv1.PublishEventRequest]) (*connect.Response[hookdv1.PublishEventResponse], error) {
	return connect.NewResponse(&hookdv1.PublishEventResponse{Event: &hookdv1.Event{Id: "evt_1"}}), nil
}

// scriptedServer answers the first len(script) requests from the script ("503", "429", "drop", ...)
// and passes the rest to the fake API. It records the requests it saw.
type scriptedServer struct {
	mu       sync.Mutex
	script   []string
	requests int
	auth     []string
}

func (s *scriptedServer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests++
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		step := ""
		if len(s.script) > 0 {
			step, s.script = s.script[0], s.script[1:]
		}
		s.mu.Unlock()
		switch step {
		case "":
			next.ServeHTTP(w, r)
		case "drop":
			// A network error: close the connection without an answer.
			panic(http.ErrAbortHandler)
		case "429-long":
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
		case "503":
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
		case "502":
			w.WriteHeader(http.StatusBadGateway)
		case "504":
			w.WriteHeader(http.StatusGatewayTimeout)
		case "500":
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
}

func (s *scriptedServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func startScripted(t *testing.T, api *fakeAPI, script []string, h2c bool) (*scriptedServer, string) {
	t.Helper()
	s := &scriptedServer{script: script}
	mux := http.NewServeMux()
	mux.Handle(hookdv1connect.NewIntegrationServiceHandler(api))
	mux.Handle(hookdv1connect.NewEventServiceHandler(api))
	srv := httptest.NewUnstartedServer(s.wrap(mux))
	if h2c {
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	srv.Config.ErrorLog = nil
	srv.Start()
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func TestRetry(t *testing.T) {
	t.Parallel()
	get := func(c *Client) error {
		_, err := c.Integrations.GetIntegration(context.Background(), connect.NewRequest(&hookdv1.GetIntegrationRequest{Id: "int_1"}))
		return err
	}
	create := func(c *Client) error {
		_, err := c.Integrations.CreateIntegration(context.Background(), connect.NewRequest(&hookdv1.CreateIntegrationRequest{Name: "a"}))
		return err
	}
	publish := func(key string) func(c *Client) error {
		return func(c *Client) error {
			_, err := c.Events.PublishEvent(context.Background(), connect.NewRequest(&hookdv1.PublishEventRequest{EventType: "a.b", IdempotencyKey: key}))
			return err
		}
	}
	publishBatch := func(keys ...string) func(c *Client) error {
		return func(c *Client) error {
			req := &hookdv1.PublishEventsRequest{}
			for _, k := range keys {
				req.Events = append(req.Events, &hookdv1.PublishEventRequest{EventType: "a.b", IdempotencyKey: k})
			}
			_, err := c.Events.PublishEvents(context.Background(), connect.NewRequest(req))
			return err
		}
	}
	tests := []struct {
		name         string
		script       []string
		api          fakeAPI
		opts         []Option
		call         func(*Client) error
		wantCode     connect.Code // 0 = success
		wantRequests int
	}{
		{name: "get 503 then 200", script: []string{"503"}, call: get, wantRequests: 2},
		{name: "get 502 504 then 200", script: []string{"502", "504"}, call: get, wantRequests: 3},
		{name: "get network error then 200", script: []string{"drop"}, call: get, wantRequests: 2},
		{name: "get 429 retry-after capped", script: []string{"429-long"}, call: get, wantRequests: 2},
		{name: "get grpc 503 then 200", script: []string{"503"}, opts: []Option{WithGRPC()}, call: get, wantRequests: 2},
		{name: "get json 503 then 200", script: []string{"503"}, opts: []Option{WithConnectJSON()}, call: get, wantRequests: 2},
		{name: "get 400 not retried", api: fakeAPI{invalidArgument: true}, call: get, wantCode: connect.CodeInvalidArgument, wantRequests: 1},
		{name: "get 500 not retried", script: []string{"500"}, call: get, wantCode: connect.CodeUnknown, wantRequests: 1},
		{name: "get gives up after retry max", script: []string{"503", "503", "503", "503"}, opts: []Option{WithRetryMax(2)}, call: get, wantCode: connect.CodeUnavailable, wantRequests: 3},
		{name: "retries disabled", script: []string{"503"}, opts: []Option{WithRetryMax(0)}, call: get, wantCode: connect.CodeUnavailable, wantRequests: 1},
		{name: "create 503 not retried", script: []string{"503"}, call: create, wantCode: connect.CodeUnavailable, wantRequests: 1},
		{name: "create network error not retried", script: []string{"drop"}, call: create, wantCode: connect.CodeUnavailable, wantRequests: 1},
		{name: "publish with idempotency key retried", script: []string{"503"}, call: publish("order-1"), wantRequests: 2},
		{name: "publish batch all keyed retried", script: []string{"502"}, call: publishBatch("a", "b"), wantRequests: 2},
		{name: "publish batch one unkeyed not retried", script: []string{"502"}, call: publishBatch("a", ""), wantCode: connect.CodeUnavailable, wantRequests: 1},
		{name: "publish without idempotency key not retried", script: []string{"503"}, call: publish(""), wantCode: connect.CodeUnavailable, wantRequests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			grpc := len(tt.opts) > 0 && isGRPC(tt.opts)
			s, url := startScripted(t, &tt.api, tt.script, grpc)
			opts := append([]Option{WithRetryWait(time.Millisecond, 20*time.Millisecond)}, tt.opts...)
			c := NewClient(url, "hk_test", opts...)
			start := time.Now()
			err := tt.call(c)
			if tt.wantCode == 0 {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				assert.Equal(t, tt.wantCode, connect.CodeOf(err), "error: %v", err)
			}
			assert.Equal(t, tt.wantRequests, s.count())
			assert.Less(t, time.Since(start), 5*time.Second, "Retry-After must be capped")
			for _, a := range s.auth {
				assert.Equal(t, "Bearer hk_test", a)
			}
		})
	}
}

func isGRPC(opts []Option) bool {
	var c config
	for _, o := range opts {
		o(&c)
	}
	return c.protocol == protocolGRPC
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	_, url := startScripted(t, &fakeAPI{hang: true}, nil, false)
	c := NewClient(url, "hk_test", WithTimeout(100*time.Millisecond))
	_, err := c.Integrations.GetIntegration(context.Background(), connect.NewRequest(&hookdv1.GetIntegrationRequest{Id: "int_1"}))
	require.Error(t, err)
	assert.Equal(t, connect.CodeDeadlineExceeded, connect.CodeOf(err))
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	unary := func(proc string, lvl connect.IdempotencyLevel) connect.Spec {
		return connect.Spec{Procedure: proc, StreamType: connect.StreamTypeUnary, IdempotencyLevel: lvl}
	}
	tests := []struct {
		name string
		spec connect.Spec
		msg  any
		want bool
	}{
		{"no side effects", unary(hookdv1connect.IntegrationServiceGetIntegrationProcedure, connect.IdempotencyNoSideEffects), &hookdv1.GetIntegrationRequest{}, true},
		{"idempotent", unary("/hookd.v1.ExampleService/PutThing", connect.IdempotencyIdempotent), nil, true},
		{"named Get but level unknown", unary(hookdv1connect.DeliveryServiceGetDeliveryProcedure, connect.IdempotencyUnknown), &hookdv1.GetDeliveryRequest{}, false},
		{"named List but level unknown", unary(hookdv1connect.TriggerServiceListExecutionsProcedure, connect.IdempotencyUnknown), nil, false},
		{"create", unary(hookdv1connect.WebhookServiceCreateWebhookProcedure, connect.IdempotencyUnknown), nil, false},
		{"retry deliveries", unary(hookdv1connect.DeliveryServiceRetryDeliveriesProcedure, connect.IdempotencyUnknown), &hookdv1.RetryDeliveriesRequest{}, false},
		{"delete", unary(hookdv1connect.WebhookServiceDeleteWebhookProcedure, connect.IdempotencyUnknown), nil, false},
		{"publish with key", unary(hookdv1connect.EventServicePublishEventProcedure, 0), &hookdv1.PublishEventRequest{IdempotencyKey: "k"}, true},
		{"publish without key", unary(hookdv1connect.EventServicePublishEventProcedure, 0), &hookdv1.PublishEventRequest{}, false},
		{"batch all keyed", unary(hookdv1connect.EventServicePublishEventsProcedure, 0), &hookdv1.PublishEventsRequest{Events: []*hookdv1.PublishEventRequest{{IdempotencyKey: "a"}, {IdempotencyKey: "b"}}}, true},
		{"batch one unkeyed", unary(hookdv1connect.EventServicePublishEventsProcedure, 0), &hookdv1.PublishEventsRequest{Events: []*hookdv1.PublishEventRequest{{IdempotencyKey: "a"}, {}}}, false},
		{"empty batch", unary(hookdv1connect.EventServicePublishEventsProcedure, 0), &hookdv1.PublishEventsRequest{}, false},
		{"stream", connect.Spec{Procedure: hookdv1connect.DeliveryServiceExportDeliveriesProcedure, StreamType: connect.StreamTypeServer}, nil, false},
		{"stream marked no side effects", connect.Spec{Procedure: hookdv1connect.DeliveryServiceWatchDeliveriesProcedure, StreamType: connect.StreamTypeServer, IdempotencyLevel: connect.IdempotencyNoSideEffects}, nil, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, retryable(tt.spec, tt.msg), tt.name)
	}
}

// TestRetryableRPCs lists every hookd.v1 RPC the client retries, from the Specs connect-go builds out
// of the protos' idempotency_level options: a proto change that makes another RPC retryable (or stops
// one) shows up here.
func TestRetryableRPCs(t *testing.T) {
	t.Parallel()
	want := []string{
		"ApiKeyService/GetCurrentApiKey", "ApiKeyService/ListApiKeys",
		"DeliveryService/GetDelivery", "DeliveryService/ListDeliveries",
		"EventService/GetEvent", "EventService/ListEvents",
		"EventTypeService/GetEventType", "EventTypeService/ListEventTypes",
		"IntegrationService/GetIntegration", "IntegrationService/ListIntegrations",
		"PortalService/GetCurrentPortalSession",
		"ProjectService/GetProject", "ProjectService/ListProjects",
		"SubscriptionService/GetSubscription", "SubscriptionService/ListSubscriptions",
		"SubscriptionService/TestSubscriptionFilter",
		"TriggerService/GetExecution", "TriggerService/GetTrigger", "TriggerService/ListExecutions", "TriggerService/ListTriggers",
		"WebhookService/GetWebhook", "WebhookService/GetWebhookStats", "WebhookService/ListWebhooks",
		"WebhookService/RenderWebhookBody",
	}
	var got []string
	total := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("hookd.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			svc := fd.Services().Get(i)
			for j := range svc.Methods().Len() {
				m := svc.Methods().Get(j)
				total++
				spec := connect.Spec{
					Procedure:        fmt.Sprintf("/%s/%s", svc.FullName(), m.Name()),
					StreamType:       connect.StreamTypeUnary,
					IdempotencyLevel: connect.IdempotencyLevel(m.Options().(*descriptorpb.MethodOptions).GetIdempotencyLevel()),
				}
				if m.IsStreamingServer() {
					spec.StreamType = connect.StreamTypeServer
				}
				if retryable(spec, nil) {
					got = append(got, fmt.Sprintf("%s/%s", svc.Name(), m.Name()))
				}
			}
		}
		return true
	})
	slices.Sort(got)
	assert.Equal(t, want, got)
	assert.Greater(t, total, len(want)+20, "the registry holds every hookd.v1 RPC")
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"7", 7 * time.Second, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
	} {
		got, ok := parseRetryAfter(tt.in, now)
		assert.Equal(t, tt.ok, ok, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}

	resp := &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"3600"}}}
	assert.Equal(t, 2*time.Second, backoff(100*time.Millisecond, 2*time.Second, 0, resp), "Retry-After is capped at waitMax")
	resp.Header.Set("Retry-After", "1")
	assert.Equal(t, time.Second, backoff(100*time.Millisecond, 2*time.Second, 0, resp))
	for attempt := range 40 {
		d := backoff(100*time.Millisecond, 2*time.Second, attempt, nil)
		assert.GreaterOrEqual(t, d, 50*time.Millisecond)
		assert.LessOrEqual(t, d, 2*time.Second)
	}
	assert.GreaterOrEqual(t, backoff(100*time.Millisecond, 2*time.Second, 10, nil), time.Second, "late attempts wait near the cap")
}

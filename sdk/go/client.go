// Package hookd is the Go SDK for hookd: a Client exposing every hookd.v1 service as a generated
// Connect client (API key attached, idempotent calls retried), and receiver helpers (Verify, Handler,
// CompleteAction) for the signed webhooks hookd sends.
package hookd

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
)

// Client holds one generated Connect client per hookd.v1 service, all sharing one HTTP transport
// and sending `Authorization: Bearer <api key>` on every call.
//
// Calls that are safe to send twice are retried on network errors and HTTP 429/502/503/504 (never
// other statuses), with exponential backoff and jitter, honouring Retry-After up to the backoff cap:
// RPCs whose proto declares idempotency_level NO_SIDE_EFFECTS or IDEMPOTENT (every Get and List), and
// PublishEvent/PublishEvents when every event carries an idempotency key. Streams are never retried.
type Client struct {
	// Projects is ProjectService (instance admin keys create projects).
	Projects hookdv1connect.ProjectServiceClient
	// APIKeys is ApiKeyService.
	APIKeys hookdv1connect.ApiKeyServiceClient
	// Integrations is IntegrationService.
	Integrations hookdv1connect.IntegrationServiceClient
	// Webhooks is WebhookService.
	Webhooks hookdv1connect.WebhookServiceClient
	// EventTypes is EventTypeService.
	EventTypes hookdv1connect.EventTypeServiceClient
	// Subscriptions is SubscriptionService.
	Subscriptions hookdv1connect.SubscriptionServiceClient
	// Events is EventService.
	Events hookdv1connect.EventServiceClient
	// Deliveries is DeliveryService.
	Deliveries hookdv1connect.DeliveryServiceClient
	// ActionStatus is ActionStatusService.
	ActionStatus hookdv1connect.ActionStatusServiceClient
	// Triggers is TriggerService.
	Triggers hookdv1connect.TriggerServiceClient
}

// Option configures NewClient.
type Option func(*config)

type protocol int

const (
	protocolConnect protocol = iota
	protocolGRPC
	protocolGRPCWeb
)

type config struct {
	protocol     protocol
	json         bool
	timeout      time.Duration
	httpClient   *http.Client
	retryMax     int
	retryWaitMin time.Duration
	retryWaitMax time.Duration
	logger       *slog.Logger
	connectOpts  []connect.ClientOption
}

// Defaults of NewClient.
const (
	// DefaultTimeout bounds each unary call, retries included, when its context has no deadline.
	DefaultTimeout = 30 * time.Second
	// DefaultRetryMax is how many times an idempotent call is retried.
	DefaultRetryMax = 3
	// DefaultRetryWaitMin is the first backoff step.
	DefaultRetryWaitMin = 250 * time.Millisecond
	// DefaultRetryWaitMax caps every backoff step, Retry-After included.
	DefaultRetryWaitMax = 10 * time.Second
)

// WithGRPC makes the client speak gRPC (HTTP/2; h2c for http:// base URLs) instead of the Connect protocol.
func WithGRPC() Option { return func(c *config) { c.protocol = protocolGRPC } }

// WithGRPCWeb makes the client speak gRPC-Web instead of the Connect protocol.
func WithGRPCWeb() Option { return func(c *config) { c.protocol = protocolGRPCWeb } }

// WithConnectJSON encodes messages as JSON instead of binary protobuf (what curl users see).
func WithConnectJSON() Option { return func(c *config) { c.json = true } }

// WithTimeout bounds each unary call (retries included) whose context has no deadline; 0 disables it.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithHTTPClient sends requests through hc's Transport (and keeps its Timeout, Jar and CheckRedirect).
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.httpClient = hc } }

// WithRetryMax sets how many times an idempotent call is retried (0 disables retries).
func WithRetryMax(n int) Option { return func(c *config) { c.retryMax = max(n, 0) } }

// WithRetryWait sets the backoff bounds; waitMax also caps a server's Retry-After.
func WithRetryWait(waitMin, waitMax time.Duration) Option {
	return func(c *config) { c.retryWaitMin, c.retryWaitMax = waitMin, max(waitMin, waitMax) }
}

// WithLogger logs retries at debug level and given-up requests at error level.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithConnectOptions passes extra options (interceptors, compression, ...) to every generated client.
func WithConnectOptions(opts ...connect.ClientOption) Option {
	return func(c *config) { c.connectOpts = append(c.connectOpts, opts...) }
}

// NewClient returns a client for the hookd server at baseURL (e.g. "http://127.0.0.1:8080")
// that authenticates with apiKey.
func NewClient(baseURL, apiKey string, opts ...Option) *Client {
	cfg := config{
		timeout:      DefaultTimeout,
		retryMax:     DefaultRetryMax,
		retryWaitMin: DefaultRetryWaitMin,
		retryWaitMax: DefaultRetryWaitMax,
	}
	for _, o := range opts {
		o(&cfg)
	}
	baseURL = strings.TrimRight(baseURL, "/")
	hc := newHTTPClient(&cfg, strings.HasPrefix(baseURL, "http://"))

	copts := []connect.ClientOption{
		connect.WithInterceptors(&callInterceptor{apiKey: apiKey, timeout: cfg.timeout}),
	}
	switch cfg.protocol {
	case protocolGRPC:
		copts = append(copts, connect.WithGRPC())
	case protocolGRPCWeb:
		copts = append(copts, connect.WithGRPCWeb())
	}
	if cfg.json {
		copts = append(copts, connect.WithProtoJSON())
	}
	copts = append(copts, cfg.connectOpts...)

	return &Client{
		Projects:      hookdv1connect.NewProjectServiceClient(hc, baseURL, copts...),
		APIKeys:       hookdv1connect.NewApiKeyServiceClient(hc, baseURL, copts...),
		Integrations:  hookdv1connect.NewIntegrationServiceClient(hc, baseURL, copts...),
		Webhooks:      hookdv1connect.NewWebhookServiceClient(hc, baseURL, copts...),
		EventTypes:    hookdv1connect.NewEventTypeServiceClient(hc, baseURL, copts...),
		Subscriptions: hookdv1connect.NewSubscriptionServiceClient(hc, baseURL, copts...),
		Events:        hookdv1connect.NewEventServiceClient(hc, baseURL, copts...),
		Deliveries:    hookdv1connect.NewDeliveryServiceClient(hc, baseURL, copts...),
		ActionStatus:  hookdv1connect.NewActionStatusServiceClient(hc, baseURL, copts...),
		Triggers:      hookdv1connect.NewTriggerServiceClient(hc, baseURL, copts...),
	}
}

// CodeOf returns the Connect code of err (connect.CodeUnknown for non-Connect errors, 0 for nil).
func CodeOf(err error) connect.Code {
	if err == nil {
		return 0
	}
	return connect.CodeOf(err)
}

// IsNotFound reports whether err is a Connect not_found error.
func IsNotFound(err error) bool { return err != nil && connect.CodeOf(err) == connect.CodeNotFound }

// FieldViolations returns the fields an error names and why: the errdetails.BadRequest details hookd attaches
// to every invalid_argument error about a field (nil when err has none).
func FieldViolations(err error) []*errdetails.BadRequest_FieldViolation {
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		return nil
	}
	var out []*errdetails.BadRequest_FieldViolation
	for _, d := range cerr.Details() {
		if v, err := d.Value(); err == nil {
			if br, ok := v.(*errdetails.BadRequest); ok {
				out = append(out, br.GetFieldViolations()...)
			}
		}
	}
	return out
}

// callInterceptor attaches the API key, decides from the call's Spec (idempotency level) and message
// whether it may be retried, hands that to the HTTP layer in the context, and applies the default timeout.
type callInterceptor struct {
	apiKey  string
	timeout time.Duration
}

// WrapUnary implements connect.Interceptor.
func (i *callInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+i.apiKey)
		ctx = context.WithValue(ctx, retryKey{}, retryable(req.Spec(), req.Any()))
		if _, ok := ctx.Deadline(); !ok && i.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, i.timeout)
			defer cancel()
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient implements connect.Interceptor. Streams are never retried.
func (i *callInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+i.apiKey)
		return conn
	}
}

// WrapStreamingHandler implements connect.Interceptor (unused on clients).
func (i *callInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

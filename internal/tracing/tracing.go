// Package tracing sets up hookd's OpenTelemetry traces: the tracer provider and exporter configured by the
// standard OTEL_* environment variables (off when none selects an exporter), the instrumentation of the API
// (otelconnect) and of the public HTTP routes (otelhttp), and the W3C trace context stored with each published
// event so that its attempts — made later, possibly by another process — join the publish's trace.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/otelconnect"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/hookd/hookd/internal/store"
)

// DefaultServiceName is the service.name of hookd's spans unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES
// names another.
const DefaultServiceName = "hookd"

// shutdownTimeout bounds the flush of buffered spans at exit.
const shutdownTimeout = 5 * time.Second

// Config configures Setup.
type Config struct {
	// ServiceVersion is the service.version of the spans (hookd's version).
	ServiceVersion string
	// Log receives the exporter's errors (default slog.Default()).
	Log *slog.Logger
	// LookupEnvFunc reads the environment (default os.LookupEnv). It decides only whether tracing is on: the
	// SDK and the exporters read their own variables from the process environment.
	LookupEnvFunc func(key string) (string, bool)
}

// Provider is hookd's tracing: a tracer provider and the W3C propagator, or nothing at all when tracing is off.
// A nil *Provider is off.
type Provider struct {
	tp          trace.TracerProvider
	prop        propagation.TextMapPropagator
	interceptor *otelconnect.Interceptor
	shutdown    func(context.Context) error
}

// Enabled reports whether an exporter was configured (the environment, or NewProvider).
func (p *Provider) Enabled() bool { return p != nil && p.tp != nil }

// TracerProvider is the provider spans are made with (a no-op one when tracing is off).
func (p *Provider) TracerProvider() trace.TracerProvider {
	if !p.Enabled() {
		return tracenoop.NewTracerProvider()
	}
	return p.tp
}

// NewProvider returns tracing on with tp (tests use an in-memory exporter; embedders their own SDK setup).
// Shutdown does not shut tp down.
func NewProvider(tp trace.TracerProvider) (*Provider, error) {
	return newProvider(tp, func(context.Context) error { return nil })
}

func newProvider(tp trace.TracerProvider, shutdown func(context.Context) error) (*Provider, error) {
	p := &Provider{tp: tp, prop: propagator(), shutdown: shutdown}
	// An incoming traceparent is trusted — API callers hold a key — so a publisher's trace continues through
	// hookd to the receivers. No metrics: hookd has its own.
	ic, err := otelconnect.NewInterceptor(otelconnect.WithTracerProvider(tp), otelconnect.WithPropagator(p.prop),
		otelconnect.WithoutMetrics(), otelconnect.WithTrustRemote())
	if err != nil {
		return nil, fmt.Errorf("tracing: otelconnect: %w", err)
	}
	p.interceptor = ic
	return p, nil
}

// propagator reads and writes the W3C traceparent/tracestate and baggage headers of incoming requests.
func propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// Setup turns tracing on when the environment selects an exporter (see Enabled): a batching SDK tracer provider
// whose exporter, sampler and batching follow the OTEL_* variables (autoexport: OTLP over HTTP/protobuf by
// default, gRPC with OTEL_EXPORTER_OTLP_PROTOCOL=grpc, "console" for stdout), with service.name "hookd"
// unless the environment names another. It also installs them as OpenTelemetry's globals. Without an exporter
// it returns a Provider that is off: no exporter, no interceptor, only no-op tracers.
func Setup(ctx context.Context, cfg Config) (*Provider, error) {
	lookup := cfg.LookupEnvFunc
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if !enabled(lookup) {
		return &Provider{shutdown: func(context.Context) error { return nil }}, nil
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: span exporter: %w", err)
	}
	attrs := []resource.Option{resource.WithAttributes(semconv.ServiceName(DefaultServiceName))}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, resource.WithAttributes(semconv.ServiceVersion(cfg.ServiceVersion)))
	}
	// Later options win: the environment (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) overrides the defaults.
	res, err := resource.New(ctx, append(attrs, resource.WithTelemetrySDK(), resource.WithHost(), resource.WithFromEnv())...)
	if err != nil && res == nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	// NewTracerProvider reads OTEL_TRACES_SAMPLER(_ARG) and the batch processor OTEL_BSP_*.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	p, err := newProvider(tp, tp.Shutdown)
	if err != nil {
		_ = tp.Shutdown(ctx)
		return nil, err
	}
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(p.prop)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing", "error", err)
	}))
	log.Info("tracing on", "exporter", exporterName(lookup), "service_name", serviceName(res))
	return p, nil
}

// enabled reports whether the environment selects a span exporter: OTEL_TRACES_EXPORTER set to anything but
// "none", or an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) with
// OTEL_TRACES_EXPORTER unset. OTEL_SDK_DISABLED=true turns tracing off whatever else is set.
func enabled(lookup func(string) (string, bool)) bool {
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	switch exp := get("OTEL_TRACES_EXPORTER"); {
	case strings.EqualFold(exp, "none"):
		return false
	case exp != "":
		return true
	}
	return get("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

func exporterName(lookup func(string) (string, bool)) string {
	if v, _ := lookup("OTEL_TRACES_EXPORTER"); v != "" {
		return v
	}
	return "otlp"
}

func serviceName(res *resource.Resource) string {
	if v, ok := res.Set().Value(semconv.ServiceNameKey); ok {
		return v.AsString()
	}
	return ""
}

// Shutdown flushes buffered spans (bounded by a few seconds) and stops the exporter; nothing when off.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil || p.shutdown == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := p.shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// HandlerOptions are the Connect handler options of the API: a server span per RPC (otelconnect), the child
// of the caller's span when the request carries a traceparent. None when tracing is off.
func (p *Provider) HandlerOptions() []connect.HandlerOption {
	if !p.Enabled() {
		return nil
	}
	return []connect.HandlerOption{connect.WithInterceptors(p.interceptor)}
}

// PublicHandler wraps a plain HTTP route that anyone may call (a trigger URL, the action-status link) in a
// server span named "<method> <route>". The caller's trace context is not trusted: the span starts a new trace
// and links to the caller's span. The span shows the route instead of the request's path, which may hold a
// capability (the action-status token). h itself when tracing is off.
func (p *Provider) PublicHandler(h http.Handler, route string) http.Handler {
	if !p.Enabled() {
		return h
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := r.Context().Value(originalURLKey{}).(*url.URL); ok {
			r.URL = u // the handler sees the request as it came
		}
		h.ServeHTTP(w, r)
	})
	traced := otelhttp.NewHandler(inner, route,
		otelhttp.WithTracerProvider(p.tp), otelhttp.WithPropagators(p.prop),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithPublicEndpointFn(func(*http.Request) bool { return true }),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + route }),
		otelhttp.WithSpanOptions(trace.WithAttributes(semconv.HTTPRoute(route))),
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		shown := &url.URL{Path: route}
		r2 := r.WithContext(context.WithValue(r.Context(), originalURLKey{}, r.URL))
		r2.URL = shown
		traced.ServeHTTP(w, r2)
	})
}

// originalURLKey keeps a public request's URL while the tracing handler sees the route in its place.
type originalURLKey struct{}

// w3c is the propagator of the trace context stored with events and sent to receivers.
var w3c = propagation.TraceContext{}

// Capture returns the W3C trace context of the span in ctx (the publish), to store with the events it
// publishes; empty when ctx has no valid span (tracing off).
func Capture(ctx context.Context) store.TraceContext {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return store.TraceContext{}
	}
	c := propagation.MapCarrier{}
	w3c.Inject(ctx, c)
	return store.TraceContext{Parent: c["traceparent"], State: c["tracestate"]}
}

// Resume returns ctx with the stored trace context tc as its remote parent: spans started from it join the
// publish's trace. ctx unchanged when tc is empty or not valid.
func Resume(ctx context.Context, tc store.TraceContext) context.Context {
	if tc.Parent == "" {
		return ctx
	}
	return w3c.Extract(ctx, propagation.MapCarrier{"traceparent": tc.Parent, "tracestate": tc.State})
}

// Inject sets the W3C traceparent (and tracestate, when not empty) of the span in ctx on h; nothing when ctx
// has no valid span.
func Inject(ctx context.Context, h http.Header) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		w3c.Inject(ctx, propagation.HeaderCarrier(h))
	}
}

// Attribute keys of hookd's spans.
const (
	KeyProjectID     = attribute.Key("hookd.project.id")
	KeyEventID       = attribute.Key("hookd.event.id")
	KeyEventType     = attribute.Key("hookd.event.type")
	KeyDeliveryID    = attribute.Key("hookd.delivery.id")
	KeyWebhookID     = attribute.Key("hookd.webhook.id")
	KeyAttemptNumber = attribute.Key("hookd.attempt.number")
	// KeyOutcome is the delivery's status after the attempt: done, retrying, failed, waiting.
	KeyOutcome = attribute.Key("hookd.attempt.outcome")
	// KeyReason is the delivery's reason after the attempt (a failure, or the receiver's "reason").
	KeyReason      = attribute.Key("hookd.attempt.reason")
	KeyTriggerID   = attribute.Key("hookd.trigger.id")
	KeyExecutionID = attribute.Key("hookd.execution.id")
)

// Annotate adds attributes to the span in ctx (nothing when it does not record).
func Annotate(ctx context.Context, attrs ...attribute.KeyValue) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(attrs...)
	}
}

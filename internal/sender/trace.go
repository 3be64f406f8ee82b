package sender

import (
	"context"
	"errors"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/tracing"
)

// tracerName names the sender's tracer (the instrumentation scope of attempt spans).
const tracerName = "github.com/hookd/hookd/internal/sender"

// Span names.
const (
	spanAttempt  = "webhook attempt"
	spanTestSend = "webhook test send"
)

// startAttempt starts the span of attempt number attempt of d: a client span, child of the publish's span (the
// trace context stored with the event), so that every attempt — whenever and wherever it is made — joins the
// publish's trace. The span's context is what build sends as traceparent.
func (s *Sender) startAttempt(ctx context.Context, d *store.ClaimedDelivery, attempt int) (context.Context, trace.Span) {
	ctx = tracing.Resume(ctx, d.EventTrace)
	ctx, span := s.tracer.Start(ctx, spanAttempt, trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(
			tracing.KeyDeliveryID.String(d.ID), tracing.KeyWebhookID.String(d.WebhookID),
			tracing.KeyEventID.String(d.EventID), tracing.KeyEventType.String(d.EventType),
			tracing.KeyProjectID.String(d.ProjectID), tracing.KeyAttemptNumber.Int(attempt),
		)
	}
	return ctx, span
}

// startTestSend starts the span of a test send to w (a child of the TestWebhook call's span).
func (s *Sender) startTestSend(ctx context.Context, w *store.Webhook) (context.Context, trace.Span) {
	ctx, span := s.tracer.Start(ctx, spanTestSend, trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(tracing.KeyWebhookID.String(w.ID), tracing.KeyProjectID.String(w.ProjectID))
	}
	return ctx, span
}

// endAttempt records the request, its response and the outcome on span and ends it. status and reason are the
// delivery's after the attempt (empty for a test send, which has none); a failed attempt (an error, or an
// outcome other than done or waiting) marks the span as an error.
func endAttempt(span trace.Span, r *request, res result, status store.Status, reason string) {
	defer span.End()
	if !span.IsRecording() {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 8)
	if r.method != "" {
		attrs = append(attrs, semconv.HTTPRequestMethodKey.String(r.method))
	}
	if u, err := url.Parse(r.url); err == nil && u.Host != "" {
		// The query is left out: it may hold credentials (the attempt log keeps it for the API's readers).
		attrs = append(attrs, semconv.URLFull((&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()),
			semconv.ServerAddress(u.Hostname()))
		if port, err := strconv.Atoi(u.Port()); err == nil {
			attrs = append(attrs, semconv.ServerPort(port))
		}
	}
	if res.status != 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(res.status))
	}
	if status != "" {
		attrs = append(attrs, tracing.KeyOutcome.String(string(status)))
	}
	if reason != "" {
		attrs = append(attrs, tracing.KeyReason.String(reason))
	}
	failed := res.err != nil || (status != "" && status != store.StatusDone && status != store.StatusWaiting) ||
		(status == "" && (res.status < 200 || res.status > 299))
	if failed {
		attrs = append(attrs, semconv.ErrorTypeKey.String(errorType(res)))
	}
	span.SetAttributes(attrs...)
	if res.err != nil {
		span.RecordError(errors.New(res.attempt.Error)) // the stored, redacted description
	}
	if failed {
		span.SetStatus(codes.Error, firstOf(reason, res.attempt.Error, "status "+strconv.Itoa(res.status)))
	}
}

// errorType is the low-cardinality error.type of a failed attempt: the status code, or the kind of error.
func errorType(res result) string {
	switch {
	case res.err == nil && res.status != 0:
		return strconv.Itoa(res.status)
	case res.permanent:
		return "refused" // refused target, template error: no request was made
	case errors.Is(res.err, context.DeadlineExceeded):
		return "timeout"
	default:
		return "_OTHER"
	}
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

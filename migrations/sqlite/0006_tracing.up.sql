-- 0006_tracing: OpenTelemetry traces from publish to every attempt (issue 16).
-- The log table (events) only gains columns.

-- send_traceparent: attempts carry the W3C traceparent (and tracestate) headers of their trace (default on).
ALTER TABLE webhooks ADD COLUMN send_traceparent BOOLEAN NOT NULL DEFAULT TRUE;

-- traceparent and tracestate are the W3C trace context of the publish (empty when it was not traced): the
-- attempts of the event's deliveries, in any process and however much later, join that trace.
ALTER TABLE events ADD COLUMN traceparent TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN tracestate TEXT NOT NULL DEFAULT '';

-- 0006_tracing: OpenTelemetry traces from publish to every attempt (issue 16).
-- The log table (events, partitioned by day since 0002) only gains columns: ADD COLUMN with a constant default
-- changes no row and reaches every partition, present and future.
SET LOCAL lock_timeout = '10s';

-- send_traceparent: attempts carry the W3C traceparent (and tracestate) headers of their trace (default on).
ALTER TABLE webhooks ADD COLUMN send_traceparent boolean NOT NULL DEFAULT TRUE;

-- traceparent and tracestate are the W3C trace context of the publish (empty when it was not traced): the
-- attempts of the event's deliveries, in any process and however much later, join that trace.
ALTER TABLE events
    ADD COLUMN traceparent text NOT NULL DEFAULT '',
    ADD COLUMN tracestate  text NOT NULL DEFAULT '';

package tracing

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookd/hookd/internal/store"
)

// TestEnabled: tracing is on only when the environment selects an exporter.
func TestEnabled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", nil, false},
		{"OTLP endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true},
		{"OTLP traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true},
		{"exporter named", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, true},
		{"exporter otlp, default endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{"exporter none", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, false},
		{"exporter NONE", map[string]string{"OTEL_TRACES_EXPORTER": "NONE"}, false},
		{"SDK disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, false},
		{"SDK not disabled", map[string]string{"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true},
		{"only other OTEL variables", map[string]string{"OTEL_SERVICE_NAME": "hooks", "OTEL_TRACES_SAMPLER": "always_on"}, false},
		{"blank endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			assert.Equal(t, tc.want, enabled(lookup))
			if tc.want {
				return // Setup would install an exporter and the globals
			}
			p, err := Setup(context.Background(), Config{LookupEnvFunc: lookup})
			require.NoError(t, err)
			assert.False(t, p.Enabled())
			assert.Nil(t, p.HandlerOptions(), "no interceptor when off")
			h := http.NotFoundHandler()
			assert.Equal(t, fmt.Sprintf("%p", h), fmt.Sprintf("%p", p.PublicHandler(h, "/t/{trigger_id}")), "no wrapper when off")
			_, span := p.TracerProvider().Tracer("x").Start(context.Background(), "s")
			assert.False(t, span.IsRecording(), "only no-op tracers when off")
		})
	}
}

// TestCaptureResume: the stored trace context round-trips a span's context; an empty one changes nothing.
func TestCaptureResume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	assert.Equal(t, store.TraceContext{}, Capture(ctx), "no span: nothing to store")
	assert.Equal(t, ctx, Resume(ctx, store.TraceContext{}))

	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(ctx, "publish")
	defer span.End()
	sc := span.SpanContext()
	tc := Capture(ctx)
	assert.Equal(t, "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-01", tc.Parent)

	ts, err := trace.ParseTraceState("vendor=abc")
	require.NoError(t, err)
	tc.State = ts.String()
	got := trace.SpanContextFromContext(Resume(context.Background(), tc))
	assert.True(t, got.IsRemote())
	assert.Equal(t, sc.TraceID(), got.TraceID())
	assert.Equal(t, sc.SpanID(), got.SpanID())
	assert.Equal(t, "vendor=abc", got.TraceState().String())

	bad := trace.SpanContextFromContext(Resume(context.Background(), store.TraceContext{Parent: "garbage"}))
	assert.False(t, bad.IsValid(), "an unparsable stored value is ignored")
}

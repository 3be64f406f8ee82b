package router

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	connectcors "connectrpc.com/cors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/cors"
)

// withCORS lets the listed browser origins call Connect, gRPC-Web and the plain routes.
func withCORS(next http.Handler, origins []string) http.Handler {
	if len(origins) == 0 {
		return next
	}
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: append(connectcors.AllowedMethods(), http.MethodPut, http.MethodPatch, http.MethodDelete),
		AllowedHeaders: append(connectcors.AllowedHeaders(), "Authorization"),
		ExposedHeaders: connectcors.ExposedHeaders(),
		MaxAge:         7200,
	}).Handler(next)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

// Flush keeps streaming responses (server streams, exports) flowing.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer (HTTP/2 full duplex, deadlines).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequests writes one structured log line and one histogram sample per request.
func logRequests(next http.Handler, log *slog.Logger, reg *prometheus.Registry) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hookd_http_request_duration_seconds",
		Help:    "HTTP requests served, by route kind and status code.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
	}, []string{"kind", "code"})
	if reg != nil {
		reg.MustRegister(hist)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		d := time.Since(start)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		kind := routeKind(r.URL.Path)
		hist.WithLabelValues(kind, http.StatusText(rec.status)).Observe(d.Seconds())
		if kind == "probe" {
			return
		}
		log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", loggedPath(r.URL.Path)),
			slog.Int("status", rec.status),
			slog.Int64("bytes", rec.bytes),
			slog.String("protocol", r.Proto),
			slog.Duration("duration", d),
			slog.String("remote_addr", r.RemoteAddr),
		)
	})
}

// actionStatusPrefix starts the action-status links, whose last segment is a capability token.
const actionStatusPrefix = "/v1/action-status/"

// loggedPath is the path as request logs show it: capability tokens are redacted (query strings, which hold the
// sync-result token and an export link's signature, are never logged).
func loggedPath(path string) string {
	if strings.HasPrefix(path, actionStatusPrefix) && len(path) > len(actionStatusPrefix) {
		return actionStatusPrefix + "[redacted]"
	}
	return path
}

func routeKind(path string) string {
	switch {
	case path == "/healthz" || path == "/readyz" || path == "/metrics":
		return "probe"
	case len(path) > 3 && path[:3] == "/t/":
		return "trigger"
	case len(path) > 4 && path[:4] == "/v1/":
		return "http"
	default:
		return "rpc"
	}
}

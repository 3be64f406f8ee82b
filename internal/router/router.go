// Package router assembles hookd's single HTTP handler: Connect/gRPC/gRPC-Web services, gRPC health
// and reflection, health and readiness probes, Prometheus metrics, CORS, request logs and size limits.
package router

import (
	"context"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"log/slog"

	"github.com/hookd/hookd/internal/trigger"
)

// Service is one mounted Connect service: its fully-qualified name and what its generated
// New<Service>Handler returned.
type Service struct {
	Name    string
	Path    string
	Handler http.Handler
}

// Config is everything the router mounts.
type Config struct {
	// Services are the Connect services to serve; only really implemented ones are registered.
	Services []Service
	// Routes are plain HTTP routes (pattern → handler), e.g. "POST /v1/action-status/{token}".
	Routes map[string]http.Handler
	// Ready reports whether the database is reachable (for /readyz).
	Ready func(ctx context.Context) error
	// Registry is where /metrics reads from.
	Registry *prometheus.Registry
	// CORSOrigins lists browser origins allowed to call the API.
	CORSOrigins []string
	// Portal answers CORS for portal tokens from their sessions' allowed origins (nil: none).
	Portal PortalOrigins
	// MaxRequestBytes caps plain-HTTP request bodies (Connect limits are set per handler).
	MaxRequestBytes int64
	// Logger writes one structured line per request.
	Logger *slog.Logger
	// SeparateAdmin leaves /metrics and gRPC reflection out of this handler: NewAdmin serves them on the admin
	// listener (`--admin-addr`) instead.
	SeparateAdmin bool
}

// New returns the root handler.
func New(cfg Config) http.Handler {
	mux := http.NewServeMux()
	names := make([]string, 0, len(cfg.Services))
	for _, s := range cfg.Services {
		mux.Handle(s.Path, s.Handler)
		names = append(names, s.Name)
	}
	mux.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker(names...)))
	if !cfg.SeparateAdmin {
		handleAdmin(mux, cfg, names)
	}
	for pattern, h := range cfg.Routes {
		mux.Handle(pattern, h)
	}
	handleProbes(mux, cfg)
	var h http.Handler = inert(mux)
	h = limitBodies(h, cfg.MaxRequestBytes)
	h = withCORS(h, cfg.CORSOrigins)
	h = withPortalCORS(h, cfg.Portal, cfg.CORSOrigins)
	h = logRequests(h, cfg.Logger, cfg.Registry)
	return h
}

// NewAdmin returns the handler of the admin listener (`--admin-addr`): /metrics, gRPC reflection of the services
// and the probes. Nothing on it needs an API key, so it belongs on an address only operators reach.
func NewAdmin(cfg Config) http.Handler {
	mux := http.NewServeMux()
	names := make([]string, 0, len(cfg.Services))
	for _, s := range cfg.Services {
		names = append(names, s.Name)
	}
	handleAdmin(mux, cfg, names)
	handleProbes(mux, cfg)
	return mux
}

// handleAdmin mounts gRPC reflection and /metrics.
func handleAdmin(mux *http.ServeMux, cfg Config, names []string) {
	reflector := grpcreflect.NewStaticReflector(names...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	if cfg.Registry != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{Registry: cfg.Registry}))
	}
}

// handleProbes mounts /healthz and /readyz.
func handleProbes(mux *http.ServeMux, cfg Config) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		if cfg.Ready != nil {
			if err := cfg.Ready(ctx); err != nil {
				cfg.Logger.WarnContext(ctx, "readiness check failed", "error", err)
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(`{"status":"unavailable","error":"database unreachable"}` + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
}

// inert marks every answer nosniff with the sandbox Content-Security-Policy of trigger answers before the route
// runs: exports, action-status answers, probes and 404s echo stored or requested data, and none of them may
// render as an active document on hookd's origin. A route that serves pages of its own (the console) sets its
// own policy, which replaces this one.
func inert(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", trigger.ContentSecurityPolicy)
		next.ServeHTTP(w, r)
	})
}

// limitBodies caps request bodies of plain HTTP routes; Connect handlers enforce their own read limit.
func limitBodies(next http.Handler, max int64) http.Handler {
	if max <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/t/") && r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, max)
		}
		next.ServeHTTP(w, r)
	})
}

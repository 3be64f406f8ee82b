package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/purge"
	"github.com/hookd/hookd/internal/quota"
	"github.com/hookd/hookd/internal/sender"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
	"github.com/hookd/hookd/internal/tracing"
)

// serveFlags are the flags of `hookd serve`.
type serveFlags struct {
	commonFlags
	addr               string
	dev                bool
	publicURL          string
	retention          time.Duration
	corsOrigins        stringList
	role               string
	bootstrapKey       string
	maxRequestBytes    int64
	maxPayloadBytes    int
	workers            int
	webhookConcurrency int
	metricsPerWebhook  bool
	shutdownTimeout    time.Duration
	lease              time.Duration
	console            bool
	adminAddr          string
	maxStreamLifetime  time.Duration
	// Per-project quotas (0 = unlimited).
	maxIntegrations  int
	maxWebhooks      int
	maxTriggers      int
	maxEventTypes    int
	maxSubscriptions int
}

func parseServeFlags(args []string) (*serveFlags, error) {
	f := &serveFlags{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	f.register(fs)
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "listen address (Connect, gRPC, gRPC-Web and HTTP on one port)")
	fs.BoolVar(&f.dev, "dev", false, "development mode: allow http:// and loopback/private webhook targets (never in production)")
	fs.StringVar(&f.publicURL, "public-url", "", "public base URL for action-status links and trigger URLs (default http://<addr>)")
	fs.DurationVar(&f.retention, "retention", 2160*time.Hour, "how long events, deliveries and attempts are kept")
	fs.Var(&f.corsOrigins, "cors-origin", "browser origin allowed to call the API (repeatable; env: comma-separated)")
	fs.StringVar(&f.role, "role", "all", "what this process runs: all, api or sender")
	fs.StringVar(&f.bootstrapKey, "bootstrap-key", "", "make this key an instance admin key of project 'default' (env HOOKD_BOOTSTRAP_KEY)")
	fs.Int64Var(&f.maxRequestBytes, "max-request-bytes", 8<<20, "maximum API request body size")
	fs.IntVar(&f.maxPayloadBytes, "max-payload-bytes", store.DefaultMaxPayloadBytes, "maximum size of one event payload (JSON)")
	fs.IntVar(&f.workers, "workers", sender.DefaultWorkers, "concurrent outgoing requests of the sender")
	fs.BoolVar(&f.metricsPerWebhook, "metrics-per-webhook", false, "add /metrics series labelled by webhook id (one set per webhook)")
	fs.IntVar(&f.webhookConcurrency, "webhook-concurrency", 0, "most concurrent requests to one webhook per process (default half of --workers)")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 20*time.Second, "how long graceful shutdown waits for requests and attempts")
	fs.DurationVar(&f.lease, "lease", sender.DefaultLease, fmt.Sprintf("how long a claimed delivery is leased; a crashed sender's deliveries are retried after it (must exceed the %s attempt timeout)", sender.DefaultTimeout))
	fs.BoolVar(&f.console, "console", true, "serve the web console at / (env HOOKD_CONSOLE)")
	fs.StringVar(&f.adminAddr, "admin-addr", "", "separate listen address for /metrics, gRPC reflection and probes (e.g. 127.0.0.1:9090); when set they leave --addr")
	fs.DurationVar(&f.maxStreamLifetime, "max-stream-lifetime", auth.DefaultMaxStreamLifetime,
		"longest a server stream (WatchDeliveries, ExportDeliveries) or export download may run; the client reconnects")
	fs.IntVar(&f.maxIntegrations, "max-integrations", quota.DefaultIntegrations, "most integrations per project (0 = unlimited)")
	fs.IntVar(&f.maxWebhooks, "max-webhooks", quota.DefaultWebhooks, "most webhooks per project (0 = unlimited)")
	fs.IntVar(&f.maxTriggers, "max-triggers", quota.DefaultTriggers, "most triggers per project (0 = unlimited)")
	fs.IntVar(&f.maxEventTypes, "max-event-types", quota.DefaultEventTypes, "most event types per project (0 = unlimited)")
	fs.IntVar(&f.maxSubscriptions, "max-subscriptions", quota.DefaultSubscriptions, "most subscriptions per project (0 = unlimited)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	for name, v := range map[string]int{"max-integrations": f.maxIntegrations, "max-webhooks": f.maxWebhooks, "max-triggers": f.maxTriggers,
		"max-event-types": f.maxEventTypes, "max-subscriptions": f.maxSubscriptions} {
		if v < 0 {
			return nil, fmt.Errorf("--%s must be 0 (unlimited) or more, got %d", name, v)
		}
	}
	if f.lease <= sender.DefaultTimeout && !f.dev {
		return nil, fmt.Errorf("--lease must be longer than the %s attempt timeout, got %s", sender.DefaultTimeout, f.lease)
	}
	if f.webhookConcurrency < 0 || f.webhookConcurrency > f.workers {
		return nil, fmt.Errorf("--webhook-concurrency must be between 1 and --workers (%d), got %d", f.workers, f.webhookConcurrency)
	}
	switch f.role {
	case "all", "api", "sender":
	default:
		return nil, fmt.Errorf("--role: want all, api or sender, got %q", f.role)
	}
	if err := positive("retention", f.retention); err != nil {
		return nil, err
	}
	if err := positive("max-stream-lifetime", f.maxStreamLifetime); err != nil {
		return nil, err
	}
	if f.workers < 1 {
		return nil, fmt.Errorf("--workers must be at least 1, got %d", f.workers)
	}
	if f.maxPayloadBytes < 1024 {
		return nil, fmt.Errorf("--max-payload-bytes must be at least 1024, got %d", f.maxPayloadBytes)
	}
	return f, nil
}

func runServe(ctx context.Context, args []string) error {
	f, err := parseServeFlags(args)
	if err != nil {
		return err
	}
	log, err := f.logger()
	if err != nil {
		return err
	}
	start := time.Now()
	// Traces, when the OTEL_* environment selects an exporter; flushed after the sender stopped.
	tr, err := tracing.Setup(ctx, tracing.Config{ServiceVersion: version, Log: log})
	if err != nil {
		return err
	}
	defer func() {
		if err := tr.Shutdown(ctx); err != nil {
			log.Warn("tracing shutdown", "error", err)
		}
	}()
	cfg, err := f.openConfig(log)
	if err != nil {
		return err
	}
	st, err := storesql.Open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()

	printed, err := auth.Bootstrap(ctx, st, f.bootstrapKey, log)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if printed != "" {
		fmt.Fprintf(os.Stderr, "\n  First start: created an admin API key for project 'default'. It is shown only once:\n\n    %s\n\n", printed)
	}

	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	publicURL := strings.TrimRight(f.publicURL, "/")
	if publicURL == "" {
		publicURL = "http://" + ln.Addr().String()
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	clk := clock.Real{}
	// The keyring encrypts secrets at rest and derives the capability tokens (action status, sync results).
	w := &wiring{flags: f, store: st, keys: cfg.Keyring, clock: clk, log: log, registry: reg, publicURL: publicURL,
		tracing: tr}

	var snd *sender.Sender
	if f.role != "api" {
		snd = w.sender()
		if err := snd.Start(ctx); err != nil {
			return fmt.Errorf("start sender: %w", err)
		}
		defer snd.Stop()
		p := purge.New(purge.Config{Store: st, Retention: f.retention, Clock: clk, Logger: log, Registerer: reg})
		if err := p.Start(ctx); err != nil {
			return fmt.Errorf("start purger: %w", err)
		}
		defer p.Stop()
	}

	// Every serving process routes delivery changes, so that watchers in any process see what this one commits.
	if err := st.StartFeed(ctx); err != nil {
		return fmt.Errorf("start delivery feed: %w", err)
	}

	srv := &http.Server{
		Handler:           w.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true) // gRPC over h2c on the same port

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	var adminSrv *http.Server
	if f.adminAddr != "" {
		aln, err := net.Listen("tcp", f.adminAddr)
		if err != nil {
			return fmt.Errorf("listen on --admin-addr: %w", err)
		}
		adminSrv = &http.Server{Handler: w.adminHandler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
			IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 1 << 20, ErrorLog: srv.ErrorLog}
		adminSrv.Protocols = new(http.Protocols)
		adminSrv.Protocols.SetHTTP1(true)
		adminSrv.Protocols.SetUnencryptedHTTP2(true) // gRPC reflection over h2c
		go func() { errc <- adminSrv.Serve(aln) }()
		log.Info("admin listener (metrics, reflection, probes)", "admin_addr", aln.Addr().String())
	}
	log.Info("hookd listening", "addr", ln.Addr().String(), "public_url", publicURL, "database", st.Dialect(),
		"role", f.role, "dev", f.dev, "version", version, "startup", time.Since(start).Round(time.Millisecond))

	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	case <-ctx.Done():
		log.Info("shutting down", "timeout", f.shutdownTimeout)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), f.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("http shutdown", "error", err)
	}
	if adminSrv != nil {
		_ = adminSrv.Shutdown(shutdownCtx)
	}
	if snd != nil {
		snd.Stop() // finishes or releases in-flight attempts
	}
	return nil
}

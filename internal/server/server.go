// Package server assembles what `hookd serve` runs from a Config: the store, the API handlers, the sender, the
// purger and the HTTP servers. `hookd serve` and the in-process `hookd bench` both run it, so a benchmark runs
// what users run.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/hookd/hookd/internal/listen"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/filter"
	"github.com/hookd/hookd/internal/purge"
	"github.com/hookd/hookd/internal/router"
	"github.com/hookd/hookd/internal/sender"
	"github.com/hookd/hookd/internal/store/storesql"
	"github.com/hookd/hookd/internal/tracing"
)

// Server is a hookd process's server: New builds it, Start runs it, Stop ends it.
type Server struct {
	cfg       Config
	log       *slog.Logger
	started   time.Time
	db        *storesql.DB
	tracing   *tracing.Provider
	registry  *prometheus.Registry
	clock     clock.Clock
	publicURL string
	created   string // the admin key Bootstrap created on first start
	// routes is the router configuration, built once (Handler and AdminHandler share it).
	routes *router.Config
	snd    *sender.Sender
	// listen holds the `hookd listen` clients connected to this process (nil unless it runs the sender too).
	listen *listen.Hub
	purger *purge.Purger

	ln, adminLn   net.Listener
	srv, adminSrv *http.Server
	errc          chan error
	stopOnce      sync.Once
	serving       bool
}

// New opens (and migrates) the store, creates the bootstrap key, listens on Addr (and AdminAddr) and builds the
// handlers, the sender and the purger. Nothing runs until Start; Stop releases what New acquired.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cmp.Or(cfg.Logger, slog.Default()), started: time.Now(), clock: clock.Real{},
		errc: make(chan error, 2)}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	// Traces, when the OTEL_* environment selects an exporter; flushed after the sender stopped.
	if s.tracing, err = tracing.Setup(ctx, tracing.Config{ServiceVersion: cfg.Version, Log: s.log}); err != nil {
		return nil, err
	}
	sc := cfg.Store
	sc.Logger = cmp.Or(sc.Logger, s.log)
	if s.db, err = storesql.Open(ctx, sc); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if s.created, err = auth.Bootstrap(ctx, s.db.Store(), cfg.BootstrapKey, s.log); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	if s.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if cfg.AdminAddr != "" {
		if s.adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			return nil, fmt.Errorf("listen on --admin-addr: %w", err)
		}
	}
	s.publicURL = strings.TrimRight(cfg.PublicURL, "/")
	if s.publicURL == "" {
		s.publicURL = "http://" + s.ln.Addr().String()
	}
	s.registry = prometheus.NewRegistry()
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		filter.ErrorsTotal)
	// The store's keyring encrypts secrets at rest and derives the capability tokens (action status, sync results).
	if cfg.Role == RoleAll {
		s.listen = listen.NewHub()
	}
	s.snd = sender.New(sender.Config{
		Queue: s.db.Queue(), Listener: s.db.Notifier(), Targets: s.db.Store(), Rates: s.db.RateWindows(), ActionKeys: sc.Keyring,
		Clock: s.clock, Log: s.log, Registerer: s.registry, Workers: cfg.Workers, PerWebhook: cfg.WebhookConcurrency,
		PerWebhookMetrics: cfg.MetricsPerWebhook, Lease: cfg.Lease, Dev: cfg.Dev, PublicURL: s.publicURL,
		UserAgent: "hookd/" + cfg.Version, TracerProvider: s.tracing.TracerProvider(), Listen: s.listen,
		OutcomesAwaited: s.db.Notifier().OutcomesAwaited,
	})
	if cfg.Role != RoleAPI {
		s.purger = purge.New(purge.Config{Store: s.db.Store(), Retention: cfg.Retention, Clock: s.clock, Logger: s.log,
			Registerer: s.registry})
	}
	s.routes = s.routerConfig()
	return s, nil
}

// CreatedKey is the admin API key New created on the first start (shown once), or empty.
func (s *Server) CreatedKey() string { return s.created }

// Addr is the address the API listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Handler is the root HTTP handler: every service plus the plain HTTP routes. A sender-only process serves just
// the probes and metrics. With AdminAddr, metrics and gRPC reflection are left to AdminHandler.
func (s *Server) Handler() http.Handler { return router.New(*s.routes) }

// AdminHandler is the handler of the AdminAddr listener: metrics, gRPC reflection and probes.
func (s *Server) AdminHandler() http.Handler { return router.NewAdmin(*s.routes) }

// Start starts the notifier (the process's one LISTEN connection, which the others listen through), the sender
// and the purger (unless Role is RoleAPI), the delivery feed and the HTTP servers. Each service runs until ctx
// ends or Stop.
func (s *Server) Start(ctx context.Context) error {
	if err := s.db.Notifier().Start(ctx); err != nil {
		return fmt.Errorf("start notifier: %w", err)
	}
	if s.cfg.Role != RoleAPI {
		if err := s.snd.Start(ctx); err != nil {
			return fmt.Errorf("start sender: %w", err)
		}
		s.db.Queue().SetHandoff(s.snd) // this process's publishes give their deliveries straight to its sender
		if err := s.purger.Start(ctx); err != nil {
			return fmt.Errorf("start purger: %w", err)
		}
	}
	// Every serving process routes delivery changes, so that watchers in any process see what this one commits.
	if err := s.db.Feed().Start(ctx); err != nil {
		return fmt.Errorf("start delivery feed: %w", err)
	}
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          errLog,
	}
	s.srv.Protocols = new(http.Protocols)
	s.srv.Protocols.SetHTTP1(true)
	s.srv.Protocols.SetUnencryptedHTTP2(true) // gRPC over h2c on the same port
	s.serving = true
	go func() { s.errc <- s.srv.Serve(s.ln) }()
	if s.adminLn != nil {
		s.adminSrv = &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
			IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 1 << 20, ErrorLog: errLog}
		s.adminSrv.Protocols = new(http.Protocols)
		s.adminSrv.Protocols.SetHTTP1(true)
		s.adminSrv.Protocols.SetUnencryptedHTTP2(true) // gRPC reflection over h2c
		go func() { s.errc <- s.adminSrv.Serve(s.adminLn) }()
		s.log.Info("admin listener (metrics, reflection, probes)", "admin_addr", s.adminLn.Addr().String())
	}
	s.log.Info("hookd listening", "addr", s.Addr(), "public_url", s.publicURL, "database", s.db.Dialect(),
		"role", s.cfg.Role, "dev", s.cfg.Dev, "version", s.cfg.Version, "startup", time.Since(s.started).Round(time.Millisecond))
	return nil
}

// Run starts the server and serves until ctx ends (or a listener fails), then stops it gracefully.
func (s *Server) Run(ctx context.Context) error {
	defer s.Stop()
	if err := s.Start(ctx); err != nil {
		return err
	}
	select {
	case err := <-s.errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	case <-ctx.Done():
		s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	}
	return nil
}

// Stop shuts the HTTP servers down (waiting up to ShutdownTimeout for requests), stops the sender (it finishes
// or releases in-flight attempts), the purger, the feed and the notifier, closes the store and flushes the
// traces. It is safe to call twice, and before Start.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		if s.serving {
			if err := s.srv.Shutdown(shutdownCtx); err != nil {
				s.log.Warn("http shutdown", "error", err)
			}
			if s.adminSrv != nil {
				_ = s.adminSrv.Shutdown(shutdownCtx)
			}
		} else {
			for _, ln := range []net.Listener{s.ln, s.adminLn} {
				if ln != nil {
					_ = ln.Close()
				}
			}
		}
		if s.snd != nil {
			s.snd.Stop()
		}
		if s.purger != nil {
			s.purger.Stop()
		}
		if s.db != nil {
			s.db.Feed().Stop()
			s.db.Notifier().Stop()
			_ = s.db.Close()
		}
		if err := s.tracing.Shutdown(shutdownCtx); err != nil {
			s.log.Warn("tracing shutdown", "error", err)
		}
	})
}

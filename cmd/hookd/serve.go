package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/hookd/hookd/internal/sender"
	"github.com/hookd/hookd/internal/server"
)

// serveFlags are the flags of `hookd serve`: the database flags and the server's Config.
type serveFlags struct {
	commonFlags
	cfg server.Config
}

func parseServeFlags(args []string) (*serveFlags, error) {
	f := &serveFlags{cfg: server.DefaultConfig()}
	c := &f.cfg
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	f.register(fs)
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address (Connect, gRPC, gRPC-Web and HTTP on one port)")
	fs.BoolVar(&c.Dev, "dev", c.Dev, "development mode: allow http:// and loopback/private webhook targets (never in production)")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "public base URL for action-status links and trigger URLs (default http://<addr>)")
	fs.DurationVar(&c.Retention, "retention", c.Retention, "how long events, deliveries and attempts are kept")
	fs.Var((*stringList)(&c.CORSOrigins), "cors-origin", "browser origin allowed to call the API (repeatable; env: comma-separated)")
	fs.StringVar(&c.Role, "role", c.Role, "what this process runs: all, api or sender")
	fs.StringVar(&c.BootstrapKey, "bootstrap-key", c.BootstrapKey, "make this key an instance admin key of project 'default' (env HOOKD_BOOTSTRAP_KEY)")
	fs.Int64Var(&c.MaxRequestBytes, "max-request-bytes", c.MaxRequestBytes, "maximum API request body size")
	fs.IntVar(&c.MaxPayloadBytes, "max-payload-bytes", c.MaxPayloadBytes, "maximum size of one event payload (JSON)")
	fs.IntVar(&c.Workers, "workers", c.Workers, "concurrent outgoing requests of the sender")
	fs.BoolVar(&c.MetricsPerWebhook, "metrics-per-webhook", c.MetricsPerWebhook, "add /metrics series labelled by webhook id (one set per webhook)")
	fs.IntVar(&c.WebhookConcurrency, "webhook-concurrency", c.WebhookConcurrency, "most concurrent requests to one webhook per process (default half of --workers)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long graceful shutdown waits for requests and attempts")
	fs.DurationVar(&c.Lease, "lease", c.Lease, fmt.Sprintf("how long a claimed delivery is leased; a crashed sender's deliveries are retried after it (must exceed the %s attempt timeout)", sender.DefaultTimeout))
	fs.BoolVar(&c.Console, "console", c.Console, "serve the web console at / (env HOOKD_CONSOLE)")
	fs.StringVar(&c.AdminAddr, "admin-addr", c.AdminAddr, "separate listen address for /metrics, gRPC reflection and probes (e.g. 127.0.0.1:9090); when set they leave --addr")
	fs.DurationVar(&c.MaxStreamLifetime, "max-stream-lifetime", c.MaxStreamLifetime,
		"longest a server stream (WatchDeliveries, ExportDeliveries) or export download may run; the client reconnects")
	fs.IntVar(&c.Quotas.Integrations, "max-integrations", c.Quotas.Integrations, "most integrations per project (0 = unlimited)")
	fs.IntVar(&c.Quotas.Webhooks, "max-webhooks", c.Quotas.Webhooks, "most webhooks per project (0 = unlimited)")
	fs.IntVar(&c.Quotas.Triggers, "max-triggers", c.Quotas.Triggers, "most triggers per project (0 = unlimited)")
	fs.IntVar(&c.Quotas.EventTypes, "max-event-types", c.Quotas.EventTypes, "most event types per project (0 = unlimited)")
	fs.IntVar(&c.Quotas.Subscriptions, "max-subscriptions", c.Quotas.Subscriptions, "most subscriptions per project (0 = unlimited)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// runServe runs `hookd serve`: flags → server.Config → server.New → Run until a signal.
func runServe(ctx context.Context, args []string) error {
	f, err := parseServeFlags(args)
	if err != nil {
		return err
	}
	log, err := f.logger()
	if err != nil {
		return err
	}
	cfg := f.cfg
	cfg.Logger, cfg.Version = log, version
	if cfg.Store, err = f.openConfig(log); err != nil {
		return err
	}
	srv, err := server.New(ctx, cfg)
	if err != nil {
		return err
	}
	if k := srv.CreatedKey(); k != "" {
		fmt.Fprintf(os.Stderr, "\n  First start: created an admin API key for project 'default'. It is shown only once:\n\n    %s\n\n", k)
	}
	return srv.Run(ctx)
}

package server

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/quota"
	"github.com/hookd/hookd/internal/sender"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
)

// What a process runs (Config.Role).
const (
	// RoleAll runs the API server and the sender.
	RoleAll = "all"
	// RoleAPI runs only the API server (another process sends).
	RoleAPI = "api"
	// RoleSender runs only the sender, the purger, the probes and the metrics.
	RoleSender = "sender"
)

// Config is what `hookd serve` runs. Start from DefaultConfig: its zero values are not the defaults (a zero
// quota means unlimited, a zero WebhookConcurrency means half of Workers).
type Config struct {
	// Store selects and opens the database (URL and Keyring are required; Logger defaults to Logger).
	Store storesql.Config
	// Logger receives the server's logs (default slog.Default()).
	Logger *slog.Logger
	// Version is hookd's version: in the startup log line, the spans and the sender's User-Agent.
	Version string
	// Addr is the listen address (Connect, gRPC, gRPC-Web and HTTP on one port); port 0 picks a free one.
	Addr string
	// AdminAddr, when set, is a separate listen address for /metrics, gRPC reflection and probes.
	AdminAddr string
	// PublicURL is the base URL of action-status links and trigger URLs (default http://<listen address>).
	PublicURL string
	// Dev allows http:// and loopback/private webhook targets (never in production).
	Dev bool
	// Role is what the process runs: RoleAll, RoleAPI or RoleSender.
	Role string
	// BootstrapKey, when set, becomes an instance admin key of project "default".
	BootstrapKey string
	// Retention is how long events, deliveries and attempts are kept.
	Retention time.Duration
	// CORSOrigins are the browser origins allowed to call the API.
	CORSOrigins []string
	// MaxRequestBytes caps an API request body.
	MaxRequestBytes int64
	// MaxPayloadBytes caps one event payload (JSON).
	MaxPayloadBytes int
	// Workers is how many outgoing requests the sender makes at once.
	Workers int
	// WebhookConcurrency caps concurrent requests to one webhook per process (0: half of Workers).
	WebhookConcurrency int
	// MetricsPerWebhook adds /metrics series labelled by webhook id.
	MetricsPerWebhook bool
	// ShutdownTimeout is how long a graceful shutdown waits for requests and attempts.
	ShutdownTimeout time.Duration
	// Lease is how long a claimed delivery is leased (it must exceed sender.DefaultTimeout unless Dev).
	Lease time.Duration
	// Console serves the web console at /.
	Console bool
	// Quotas are the per-project object limits (0 = unlimited).
	Quotas quota.Limits
	// MaxStreamLifetime is the longest a server stream or an export download may run.
	MaxStreamLifetime time.Duration
}

// Defaults of Config that no other package owns.
const (
	// DefaultAddr is the default listen address.
	DefaultAddr = "127.0.0.1:8080"
	// DefaultRetention is how long events, deliveries and attempts are kept by default (90 days).
	DefaultRetention = 2160 * time.Hour
	// DefaultMaxRequestBytes is the default cap of an API request body.
	DefaultMaxRequestBytes = 8 << 20
	// DefaultShutdownTimeout is how long a graceful shutdown waits by default.
	DefaultShutdownTimeout = 20 * time.Second
)

// DefaultConfig returns the configuration of `hookd serve` without flags (no database, keyring or logger).
func DefaultConfig() Config {
	return Config{
		Addr:              DefaultAddr,
		Role:              RoleAll,
		Retention:         DefaultRetention,
		MaxRequestBytes:   DefaultMaxRequestBytes,
		MaxPayloadBytes:   store.DefaultMaxPayloadBytes,
		Workers:           sender.DefaultWorkers,
		ShutdownTimeout:   DefaultShutdownTimeout,
		Lease:             sender.DefaultLease,
		Console:           true,
		Quotas:            quota.Defaults(),
		MaxStreamLifetime: auth.DefaultMaxStreamLifetime,
	}
}

// Validate checks the configuration; its errors name the `hookd serve` flags.
func (c *Config) Validate() error {
	for name, v := range map[string]int{"max-integrations": c.Quotas.Integrations, "max-webhooks": c.Quotas.Webhooks, "max-triggers": c.Quotas.Triggers,
		"max-event-types": c.Quotas.EventTypes, "max-subscriptions": c.Quotas.Subscriptions} {
		if v < 0 {
			return fmt.Errorf("--%s must be 0 (unlimited) or more, got %d", name, v)
		}
	}
	if c.Lease <= sender.DefaultTimeout && !c.Dev {
		return fmt.Errorf("--lease must be longer than the %s attempt timeout, got %s", sender.DefaultTimeout, c.Lease)
	}
	if c.WebhookConcurrency < 0 || c.WebhookConcurrency > c.Workers {
		return fmt.Errorf("--webhook-concurrency must be between 1 and --workers (%d), got %d", c.Workers, c.WebhookConcurrency)
	}
	switch c.Role {
	case RoleAll, RoleAPI, RoleSender:
	default:
		return fmt.Errorf("--role: want all, api or sender, got %q", c.Role)
	}
	if c.MaxStreamLifetime <= 0 {
		return fmt.Errorf("--max-stream-lifetime must be positive, got %s", c.MaxStreamLifetime)
	}
	if c.Retention <= 0 {
		return fmt.Errorf("--retention must be positive, got %s", c.Retention)
	}
	if c.Workers < 1 {
		return fmt.Errorf("--workers must be at least 1, got %d", c.Workers)
	}
	if c.MaxPayloadBytes < 1024 {
		return fmt.Errorf("--max-payload-bytes must be at least 1024, got %d", c.MaxPayloadBytes)
	}
	return nil
}

// Package bench is `hookd bench`: it publishes events through the real API into the real sender and loopback
// receivers and measures throughput, latency, memory and database work. The server under test is a spawned
// `hookd serve`, the same server in-process (server.New with server.DefaultConfig), or a running hookd.
package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/server"
	"github.com/hookd/hookd/internal/store/storesql"
)

// Config is what a benchmark does. Start from DefaultConfig.
type Config struct {
	// DatabaseURL is the PostgreSQL URL of the server under test; empty means SQLite in DataDir.
	DatabaseURL string
	// DataDir is the SQLite data directory (empty: a temporary directory removed afterwards).
	DataDir string
	// Events is the number of events to publish.
	Events int
	// Rate publishes at this steady rate (events/s); 0 = as fast as possible.
	Rate int
	// Backlog queues everything first (the server runs the API only), then starts a sender and measures the drain.
	Backlog bool
	// Batch is the events per PublishEvents call (1 = single PublishEvent calls).
	Batch int
	// Publishers is the number of concurrent publishing clients.
	Publishers int
	// PayloadBytes is the approximate JSON payload size.
	PayloadBytes int
	// Webhooks is the number of webhooks (each event goes to one of them, round robin).
	Webhooks int
	// Workers is the sender's workers (spawned and in-process servers).
	Workers int
	// Timeout is how long to wait for the deliveries.
	Timeout time.Duration
	// CPUProfile, when set, is the file the bench process's CPU profile is written to.
	CPUProfile string
	// Server is ServerSpawn, ServerInProc, or the URL of a running hookd (with Key; it must run with --dev).
	Server string
	// Key is an instance admin API key of the server given by URL.
	Key string
	// Protocol is "json" (Connect JSON over HTTP/1.1, as curl sends it) or "proto" (Connect binary).
	Protocol string
	// ServerArgs are extra flags of the spawned server.
	ServerArgs []string
	// Watchers is how many WatchDeliveries streams are open on the bench project while it runs.
	Watchers int
	// NeighborBacklog first queues this many deliveries for another project's slow webhook (fairness).
	NeighborBacklog int
	// Ordered runs the benchmark twice in one server: first to unordered webhooks, then to ordered ones
	// (Webhook.ordered) with the events spread over Keys ordering keys, and prints the ratio of the two.
	Ordered bool
	// Keys is the number of ordering keys of the ordered run (event i has key i mod Keys).
	Keys int
	// Idle, when positive, measures the idle server instead of a delivery run: it creates the Webhooks, waits for the
	// server to settle (IdleSettle; IdleSettlePostgres on PostgreSQL) and then, with nothing published, measures over
	// Idle the server's CPU, the local PostgreSQL cluster's CPU and the bench database's commits per second.
	Idle time.Duration
}

// Where the benchmarked server runs (Config.Server).
const (
	// ServerSpawn is a `hookd serve --dev` child process (like an outside load generator sees it).
	ServerSpawn = "spawn"
	// ServerInProc is the API server and the sender in the bench process (for profiling with CPUProfile).
	ServerInProc = "inproc"
)

// IdleSettle is how long an idle run (Config.Idle) waits after creating its webhooks before it measures: the work
// a server still does after it is ready (its first purge round, opening connections) and the setup requests are
// over by then.
const IdleSettle = 3 * time.Second

// IdleSettlePostgres is IdleSettle on PostgreSQL: a backend that goes idle reports the commits of its last second to
// pg_stat_database only up to 10 s later (PostgreSQL's PGSTAT_IDLE_INTERVAL), so a shorter wait would count some of
// the setup's commits in the idle window.
const IdleSettlePostgres = 11 * time.Second

// maxRequestBytes is the API request limit of the server under test (a batch of large payloads exceeds the default).
const maxRequestBytes = 64 << 20

// DefaultConfig returns the defaults of `hookd bench`.
func DefaultConfig() Config {
	return Config{Events: 20000, Batch: 100, Publishers: 4, PayloadBytes: 1024, Webhooks: 1, Workers: 64,
		Timeout: 5 * time.Minute, Server: ServerSpawn, Protocol: "json", Keys: 1000}
}

// storeURL is what storesql.Open takes: a PostgreSQL URL or the SQLite directory.
func (c *Config) storeURL() string { return cmpOr(c.DatabaseURL, c.DataDir) }

// Run publishes events through the real API into the real sender and loopback receivers and prints delivered
// events/s, publish→receive latency, the server's peak RSS and, on PostgreSQL, commits and PostgreSQL CPU per
// delivered event.
func Run(ctx context.Context, cfg Config) error {
	_, err := Measure(ctx, cfg)
	return err
}

// Result is what one run of a benchmark measured. A figure that was not measured (SQLite has no PostgreSQL
// figures; PostgreSQL's CPU is unknown when it is not a local process) is NaN.
type Result struct {
	// Ordered is true for the run to ordered webhooks (Config.Ordered).
	Ordered bool
	// Delivered is the delivered events per second.
	Delivered float64
	// P99 is the publish→receive latency's 99th percentile.
	P99 time.Duration
	// WALPerEvent is the PostgreSQL WAL bytes written per delivered event. WAL is one stream for the whole cluster:
	// other databases' writes meanwhile count too.
	WALPerEvent float64

	// Idle is the measured window of an idle run (Config.Idle), zero for a delivery run. An idle run sets Idle and
	// the Idle… figures below; its Delivered and P99 are zero and its WALPerEvent NaN.
	Idle time.Duration
	// IdleServerCPU is the server process's CPU in % of one core (with ServerInProc: the whole bench process).
	IdleServerCPU float64
	// IdlePostgresCPU is the CPU of the local PostgreSQL cluster's processes (every database's) in % of one core.
	IdlePostgresCPU float64
	// IdleCommitsPerSecond is the bench database's commits per second.
	IdleCommitsPerSecond float64
}

// Measure is Run returning what it measured: one Result, or two (unordered, then ordered) with Config.Ordered.
func Measure(ctx context.Context, cfg Config) ([]Result, error) {
	if cfg.Events < 1 || cfg.Batch < 1 || cfg.Publishers < 1 || cfg.Webhooks < 1 || cfg.Rate < 0 || cfg.Keys < 1 {
		return nil, errors.New("--events, --batch, --publishers, --webhooks and --keys must be at least 1; --rate not negative")
	}
	if cfg.Protocol != "json" && cfg.Protocol != "proto" {
		return nil, fmt.Errorf("--protocol: want json or proto, got %q", cfg.Protocol)
	}
	if cfg.Idle < 0 {
		return nil, errors.New("--idle must not be negative")
	}
	if cfg.Idle > 0 && (cfg.Backlog || cfg.Ordered || (cfg.Server != ServerSpawn && cfg.Server != ServerInProc)) {
		return nil, errors.New("--idle measures a spawned or in-process server (--server spawn or inproc), without --backlog or --ordered")
	}
	if cfg.CPUProfile != "" {
		pf, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.DatabaseURL == "" && cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "hookd-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cfg.DataDir = dir
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b := &bench{cfg: cfg, log: log, recv: &receiver{}, wal: math.NaN()}
	defer b.close()
	if err := b.startServer(ctx); err != nil {
		return nil, err
	}
	if cfg.Idle > 0 {
		r, err := b.idle(ctx)
		return []Result{r}, err
	}
	if cfg.Ordered {
		fmt.Println("== unordered webhooks")
	}
	if err := b.run(ctx); err != nil || !cfg.Ordered {
		return []Result{{Delivered: b.rate, P99: b.p99, WALPerEvent: b.wal}}, err
	}
	unordered := Result{Delivered: b.rate, P99: b.p99, WALPerEvent: b.wal}
	fmt.Printf("== ordered webhooks, %d ordering keys\n", cfg.Keys)
	b.ordered, b.recv = true, &receiver{}
	if err := b.run(ctx); err != nil {
		return nil, err
	}
	fmt.Printf("ordered/unordered: delivered/s %.0f / %.0f = %.0f %%", b.rate, unordered.Delivered, 100*b.rate/unordered.Delivered)
	if cfg.Rate > 0 && !cfg.Backlog {
		fmt.Printf("; p99 latency %s / %s", b.p99, unordered.P99)
	}
	fmt.Println()
	return []Result{unordered, {Ordered: true, Delivered: b.rate, P99: b.p99, WALPerEvent: b.wal}}, nil
}

type bench struct {
	cfg       Config
	log       *slog.Logger
	baseURL   string
	admin     string // instance admin key
	secretKey string // HOOKD_SECRET_KEY of spawned servers
	key       string // the bench project's admin key
	dialect   string
	inproc    *server.Config // set for --server inproc: the configuration of its servers
	child     *exec.Cmd
	recv      *receiver
	recvSrvs  []*http.Server
	closers   []func()
	ordered   bool          // this run's webhooks are ordered and its events carry ordering keys (Config.Ordered)
	rate      float64       // delivered events/s of the last run
	p99       time.Duration // publish→receive p99 of the last run
	wal       float64       // WAL bytes per delivered event of the last run (NaN: not measured)
}

// startServer starts (or finds) the server under test and creates the bench's project and key.
func (b *bench) startServer(ctx context.Context) error {
	b.dialect = storesql.DialectSQLite
	if storesql.IsPostgresURL(b.cfg.DatabaseURL) {
		b.dialect = storesql.DialectPostgres
	}
	b.admin = b.cfg.Key
	switch b.cfg.Server {
	case ServerInProc:
		if err := b.startInProc(ctx); err != nil {
			return err
		}
	case ServerSpawn:
		if err := b.spawn(ctx); err != nil {
			return err
		}
	default:
		if b.admin == "" {
			return errors.New("--key is required with a server URL")
		}
		b.baseURL = strings.TrimRight(b.cfg.Server, "/")
		b.dialect = "" // unknown: no database statistics
	}
	// A fresh project per run keeps earlier runs' webhooks out of the fan-out.
	adminClient := b.clients(b.admin)
	prj, err := adminClient.projects.CreateProject(ctx, connect.NewRequest(&hookdv1.CreateProjectRequest{Name: "bench-" + randomHex(4)}))
	if err != nil {
		return fmt.Errorf("create project: %w", err)
	}
	k, err := adminClient.keys.CreateApiKey(ctx, connect.NewRequest(&hookdv1.CreateApiKeyRequest{
		Name: "bench", Role: hookdv1.Role_ROLE_ADMIN, ProjectId: prj.Msg.GetProject().GetId()}))
	if err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	b.key = k.Msg.GetKey()
	return nil
}

func (b *bench) startInProc(ctx context.Context) error {
	b.admin = "hk_bench_" + randomHex(16)
	role := server.RoleAll
	if b.cfg.Backlog {
		role = server.RoleAPI
	}
	// What `hookd serve --dev` runs, with the flags spawnProcess passes. The benchmark's database is throwaway:
	// a random keyring (nothing is kept on disk).
	cfg := server.DefaultConfig()
	cfg.Store = storesql.Config{URL: b.cfg.storeURL(), Keyring: secret.NewRandom()}
	cfg.Logger, cfg.Addr, cfg.Dev, cfg.BootstrapKey = b.log, "127.0.0.1:0", true, b.admin
	cfg.Workers, cfg.MaxRequestBytes = b.cfg.Workers, maxRequestBytes
	b.inproc = &cfg
	srv, err := b.startInProcServer(ctx, role)
	if err != nil {
		return err
	}
	b.baseURL = "http://" + srv.Addr()
	return nil
}

// startInProcServer starts an in-process server of role on the in-process configuration.
func (b *bench) startInProcServer(ctx context.Context, role string) (*server.Server, error) {
	cfg := *b.inproc
	cfg.Role = role
	srv, err := server.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, srv.Stop)
	if err := srv.Start(ctx); err != nil {
		return nil, err
	}
	return srv, nil
}

// spawn starts the server under test (`hookd serve --dev`, API only for --backlog) and waits until it is ready.
func (b *bench) spawn(ctx context.Context) error {
	b.admin = "hk_bench_" + randomHex(16)
	role := "all"
	if b.cfg.Backlog {
		role = "api"
	}
	cmd, err := b.spawnProcess(ctx, role)
	if err != nil {
		return err
	}
	b.child = cmd
	return nil
}

// spawnProcess starts `hookd serve --dev --role role` as a child process on a free loopback port, waits until it
// is ready and, for an API process, sets b.baseURL.
func (b *bench) spawnProcess(ctx context.Context, role string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	args := []string{"serve", "--dev", "--role", role, "--addr", addr, "--bootstrap-key", b.admin, "--workers", strconv.Itoa(b.cfg.Workers),
		"--log-level", "warn", "--max-request-bytes", strconv.Itoa(maxRequestBytes), "--public-url", cmpOr(b.baseURL, "http://"+addr)}
	if b.cfg.DatabaseURL != "" {
		args = append(args, "--database-url", b.cfg.DatabaseURL)
	} else {
		args = append(args, "--data-dir", b.cfg.DataDir)
	}
	args = append(args, b.cfg.ServerArgs...)
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// The processes of a run share a throwaway key for secrets at rest (nothing is written to the working directory).
	if b.secretKey == "" {
		b.secretKey = secret.GenerateKey()
	}
	cmd.Env = append(os.Environ(), "HOOKD_BOOTSTRAP_KEY=", secret.EnvVar+"="+b.secretKey)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	b.closers = append(b.closers, func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	if role != "sender" {
		b.baseURL = "http://" + addr
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, errors.New("server did not become ready within 60 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *bench) close() {
	for _, s := range b.recvSrvs {
		_ = s.Close()
	}
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

type benchClients struct {
	projects hookdv1connect.ProjectServiceClient
	keys     hookdv1connect.ApiKeyServiceClient
	webhooks hookdv1connect.WebhookServiceClient
	types    hookdv1connect.EventTypeServiceClient
	events   hookdv1connect.EventServiceClient
}

func (b *bench) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, Proxy: nil}}
}

func (b *bench) clients(key string) benchClients {
	hc := b.httpClient()
	opts := []connect.ClientOption{connect.WithInterceptors(auth.ClientKey(key))}
	if b.cfg.Protocol == "json" {
		opts = append(opts, connect.WithProtoJSON())
	}
	return benchClients{
		projects: hookdv1connect.NewProjectServiceClient(hc, b.baseURL, opts...),
		keys:     hookdv1connect.NewApiKeyServiceClient(hc, b.baseURL, opts...),
		webhooks: hookdv1connect.NewWebhookServiceClient(hc, b.baseURL, opts...),
		types:    hookdv1connect.NewEventTypeServiceClient(hc, b.baseURL, opts...),
		events:   hookdv1connect.NewEventServiceClient(hc, b.baseURL, opts...),
	}
}

// neighborDelay is how long the neighbor's receiver takes to answer.
const neighborDelay = 50 * time.Millisecond

// queueNeighbor creates another project with a webhook of its own (a receiver that answers after neighborDelay)
// and queues n deliveries for it in batches of 100; it returns the count of its deliveries received so far.
func (b *bench) queueNeighbor(ctx context.Context, n int) (*atomic.Int64, error) {
	admin := b.clients(b.admin)
	prj, err := admin.projects.CreateProject(ctx, connect.NewRequest(&hookdv1.CreateProjectRequest{Name: "neighbor-" + randomHex(4)}))
	if err != nil {
		return nil, fmt.Errorf("create neighbor project: %w", err)
	}
	k, err := admin.keys.CreateApiKey(ctx, connect.NewRequest(&hookdv1.CreateApiKeyRequest{
		Name: "neighbor", Role: hookdv1.Role_ROLE_ADMIN, ProjectId: prj.Msg.GetProject().GetId()}))
	if err != nil {
		return nil, fmt.Errorf("create neighbor key: %w", err)
	}
	c := b.clients(k.Msg.GetKey())
	if _, err := c.types.CreateEventType(ctx, connect.NewRequest(&hookdv1.CreateEventTypeRequest{Name: "neighbor.event"})); err != nil {
		return nil, err
	}
	var got atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(neighborDelay) // a slow receiver: the backlog stays while the measured events go out
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = s.Serve(ln) }()
	b.recvSrvs = append(b.recvSrvs, s)
	wh, err := c.webhooks.CreateWebhook(ctx, connect.NewRequest(&hookdv1.CreateWebhookRequest{
		Name: "neighbor receiver", Url: "http://" + ln.Addr().String() + "/hook"}))
	if err != nil {
		return nil, err
	}
	for done := 0; done < n; done += 100 {
		reqs := make([]*hookdv1.PublishEventRequest, min(100, n-done))
		for i := range reqs {
			reqs[i] = &hookdv1.PublishEventRequest{EventType: "neighbor.event", WebhookIds: []string{wh.Msg.GetWebhook().GetId()}}
		}
		if _, err := c.events.PublishEvents(ctx, connect.NewRequest(&hookdv1.PublishEventsRequest{Events: reqs})); err != nil {
			return nil, fmt.Errorf("queue neighbor events: %w", err)
		}
	}
	fmt.Printf("neighbor: %d deliveries queued for another project's webhook (%d sent meanwhile)\n", n, got.Load())
	return &got, nil
}

// watch opens n WatchDeliveries streams (in --protocol) on the bench project; each counts the changes it gets
// until ctx ends. It returns once every stream got its first heartbeat, and a function that reports per stream
// changes received and how it ended.
func (b *bench) watch(ctx context.Context, n int) (func() []watchResult, error) {
	results := make([]watchResult, n)
	var wg sync.WaitGroup
	for i := range n {
		opts := []connect.ClientOption{connect.WithInterceptors(auth.ClientKey(b.key))}
		if b.cfg.Protocol == "json" {
			opts = append(opts, connect.WithProtoJSON())
		}
		c := hookdv1connect.NewDeliveryServiceClient(&http.Client{}, b.baseURL, opts...)
		stream, err := c.WatchDeliveries(ctx, connect.NewRequest(&hookdv1.WatchDeliveriesRequest{}))
		if err != nil {
			return nil, fmt.Errorf("watch deliveries: %w", err)
		}
		if !stream.Receive() {
			return nil, fmt.Errorf("watch deliveries: %w", stream.Err())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer stream.Close()
			for stream.Receive() {
				if stream.Msg().GetDelivery() != nil {
					results[i].changes++
				}
			}
			if ctx.Err() == nil {
				results[i].err = stream.Err()
			}
		}()
	}
	return func() []watchResult { wg.Wait(); return results }, nil
}

type watchResult struct {
	changes int
	err     error
}

// createWebhooks creates the bench's event type (unless a previous run did) and Config.Webhooks webhooks, each
// to a loopback receiver of its own that b.recv answers; it returns the webhooks' IDs.
func (b *bench) createWebhooks(ctx context.Context, c benchClients) ([]string, error) {
	if _, err := c.types.CreateEventType(ctx, connect.NewRequest(&hookdv1.CreateEventTypeRequest{Name: "bench.event"})); err != nil &&
		connect.CodeOf(err) != connect.CodeAlreadyExists { // the second run of --ordered
		return nil, fmt.Errorf("create event type: %w", err)
	}
	var webhookIDs []string
	for i := range b.cfg.Webhooks {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		s := &http.Server{Handler: b.recv, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = s.Serve(ln) }()
		b.recvSrvs = append(b.recvSrvs, s)
		wh, err := c.webhooks.CreateWebhook(ctx, connect.NewRequest(&hookdv1.CreateWebhookRequest{
			Name: fmt.Sprintf("bench receiver %d%s", i, map[bool]string{true: " ordered"}[b.ordered]),
			Url:  "http://" + ln.Addr().String() + "/hook", Ordered: b.ordered}))
		if err != nil {
			return nil, fmt.Errorf("create webhook: %w", err)
		}
		webhookIDs = append(webhookIDs, wh.Msg.GetWebhook().GetId())
	}
	return webhookIDs, nil
}

func (b *bench) run(ctx context.Context) error {
	c := b.clients(b.key)
	webhookIDs, err := b.createWebhooks(ctx, c)
	if err != nil {
		return err
	}

	peak := &rssSampler{pid: os.Getpid()}
	if b.child != nil {
		peak.pid = b.child.Process.Pid
	}
	stopSampling := peak.start()
	defer stopSampling()
	db := newDBStats(ctx, b.dialect, b.cfg.DatabaseURL, b.log)
	defer db.close()
	cpuOf := func() (server, self time.Duration) {
		self = processCPU(os.Getpid())
		if b.child != nil {
			server = processCPU(peak.pid)
		}
		return server, self
	}

	fmt.Printf("hookd bench: %d events, %d B payloads, batch %d, %d publishers, %d webhooks, %d workers, rate %s, backlog %v, %s, server %s, database %s\n",
		b.cfg.Events, b.cfg.PayloadBytes, b.cfg.Batch, b.cfg.Publishers, b.cfg.Webhooks, b.cfg.Workers, rateString(b.cfg.Rate), b.cfg.Backlog,
		b.cfg.Protocol, b.cfg.Server, cmpOr(b.dialect, "unknown"))
	var neighbor *atomic.Int64
	if b.cfg.NeighborBacklog > 0 {
		if neighbor, err = b.queueNeighbor(ctx, b.cfg.NeighborBacklog); err != nil {
			return err
		}
	}
	var watched func() []watchResult
	wctxW, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	if b.cfg.Watchers > 0 {
		if watched, err = b.watch(wctxW, b.cfg.Watchers); err != nil {
			return err
		}
	}
	b.recv.expect(b.cfg.Events)
	db.mark()
	serverCPU0, selfCPU0 := cpuOf()
	pubStart := time.Now()
	pubErrs := b.publish(ctx, c, webhookIDs)
	pubDur := time.Since(pubStart)
	fmt.Printf("published: %d events in %s (%.0f events/s), %d publish errors\n",
		b.cfg.Events, pubDur.Round(time.Millisecond), float64(b.cfg.Events)/pubDur.Seconds(), pubErrs)

	drainStart := pubStart
	if b.cfg.Backlog {
		fmt.Printf("backlog queued: %d deliveries; server peak RSS so far %.1f MiB\n", b.cfg.Events, float64(peak.peak())/(1<<20))
		drainStart = time.Now()
		db.mark()
		selfCPU0 = processCPU(os.Getpid())
		if b.inproc != nil {
			// The server was started with role api; a sender-only server drains what it queued.
			if _, err := b.startInProcServer(ctx, server.RoleSender); err != nil {
				return err
			}
		} else if b.child != nil {
			// The server was started with --role api; a sender process drains what it queued.
			sender, err := b.spawnProcess(ctx, "sender")
			if err != nil {
				return err
			}
			peak.pid = sender.Process.Pid
			serverCPU0 = 0
		}
	}
	wctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	got := b.recv.wait(wctx, b.cfg.Events-pubErrs)
	total := time.Since(drainStart)
	lat := b.recv.latencies()
	fmt.Printf("delivered: %d/%d events in %s: %.0f events/s\n", got, b.cfg.Events-pubErrs, total.Round(time.Millisecond), float64(got)/total.Seconds())
	b.rate = float64(got) / total.Seconds()
	if len(lat) > 0 {
		b.p99 = pct(lat, 99)
	}
	if len(lat) > 0 && !b.cfg.Backlog {
		fmt.Printf("publish→receive latency: p50 %s  p95 %s  p99 %s  max %s\n",
			pct(lat, 50), pct(lat, 95), pct(lat, 99), lat[len(lat)-1].Round(time.Microsecond))
	}
	fmt.Printf("errors: %d publish, %d not delivered, %d duplicate receipts\n", pubErrs, b.cfg.Events-pubErrs-got, b.recv.duplicates.Load())
	what := "server process"
	if b.child == nil {
		what = "whole process: API server, sender, receivers, publishers"
	}
	fmt.Printf("peak RSS: %.1f MiB (%s)\n", float64(peak.peak())/(1<<20), what)
	serverCPU1, selfCPU1 := cpuOf()
	if got > 0 {
		if b.child != nil {
			fmt.Printf("CPU per delivered event: hookd server %.3f ms, bench process (publishers, receivers) %.3f ms\n",
				ms(serverCPU1-serverCPU0)/float64(got), ms(selfCPU1-selfCPU0)/float64(got))
		} else {
			fmt.Printf("CPU per delivered event: bench process (server, sender, publishers, receivers) %.3f ms\n",
				ms(selfCPU1-selfCPU0)/float64(got))
		}
	}
	b.wal = db.report(got)
	if neighbor != nil {
		fmt.Printf("neighbor: %d of its %d deliveries were sent while the measured events were delivered\n", neighbor.Load(), b.cfg.NeighborBacklog)
	}
	if watched != nil {
		stopWatching()
		least, most, dropped := -1, 0, 0
		for _, r := range watched() {
			if least < 0 || r.changes < least {
				least = r.changes
			}
			most = max(most, r.changes)
			if r.err != nil {
				dropped++
			}
		}
		fmt.Printf("watchers: %d streams got %d–%d changes each (%.1f per delivered event), %d ended early\n",
			b.cfg.Watchers, least, most, float64(least)/float64(max(got, 1)), dropped)
	}
	if got < b.cfg.Events-pubErrs {
		return fmt.Errorf("only %d of %d events delivered within %s", got, b.cfg.Events-pubErrs, b.cfg.Timeout)
	}
	return nil
}

// publish sends all events from f.publishers goroutines; it returns how many events failed to publish.
func (b *bench) publish(ctx context.Context, c benchClients, webhookIDs []string) int {
	pad := strings.Repeat("x", max(0, b.cfg.PayloadBytes-80))
	var next, failed atomic.Int64
	var interval time.Duration
	if b.cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(b.cfg.Batch) / float64(b.cfg.Rate))
	}
	hc := b.httpClient()
	start := time.Now()
	var wg sync.WaitGroup
	for range b.cfg.Publishers {
		wg.Go(func() {
			var body bytes.Buffer
			for {
				first := int(next.Add(int64(b.cfg.Batch))) - b.cfg.Batch
				if first >= b.cfg.Events {
					return
				}
				n := min(b.cfg.Batch, b.cfg.Events-first)
				if interval > 0 { // the k-th batch is due at start + k·interval
					if d := time.Until(start.Add(time.Duration(first/b.cfg.Batch) * interval)); d > 0 {
						time.Sleep(d)
					}
				}
				var err error
				if b.cfg.Protocol == "json" {
					err = b.publishJSON(ctx, hc, &body, first, n, pad, webhookIDs)
				} else {
					err = b.publishProto(ctx, c, first, n, pad, webhookIDs)
				}
				if err != nil {
					failed.Add(int64(n))
					b.log.Warn("publish", "error", err)
				}
			}
		})
	}
	wg.Wait()
	return int(failed.Load())
}

// publishJSON posts Connect JSON as curl or an outside load generator would: one PublishEvent call (n = 1) or a
// PublishEvents batch.
func (b *bench) publishJSON(ctx context.Context, hc *http.Client, body *bytes.Buffer, first, n int, pad string, webhookIDs []string) error {
	body.Reset()
	now := strconv.FormatInt(time.Now().UnixNano(), 10)
	event := func(i int) {
		fmt.Fprintf(body, `{"eventType":"bench.event","webhookIds":[%q],"orderingKey":%q,"payload":{"sentAt":%q,"n":%d,"pad":%q}}`,
			webhookIDs[i%len(webhookIDs)], b.orderingKey(i), now, i, pad)
	}
	method := "PublishEvent"
	if n == 1 {
		event(first)
	} else {
		method = "PublishEvents"
		body.WriteString(`{"events":[`)
		for i := range n {
			if i > 0 {
				body.WriteByte(',')
			}
			event(first + i)
		}
		body.WriteString(`]}`)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.baseURL+"/hookd.v1.EventService/"+method, bytes.NewReader(body.Bytes()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+b.key)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %s", method, resp.StatusCode, out)
	}
	return nil
}

func (b *bench) publishProto(ctx context.Context, c benchClients, first, n int, pad string, webhookIDs []string) error {
	reqs := make([]*hookdv1.PublishEventRequest, n)
	now := time.Now().UnixNano()
	for i := range reqs {
		payload, _ := structpb.NewStruct(map[string]any{"sentAt": strconv.FormatInt(now, 10), "n": first + i, "pad": pad})
		reqs[i] = &hookdv1.PublishEventRequest{EventType: "bench.event", Payload: payload,
			WebhookIds: []string{webhookIDs[(first+i)%len(webhookIDs)]}, OrderingKey: b.orderingKey(first + i)}
	}
	if n == 1 {
		_, err := c.events.PublishEvent(ctx, connect.NewRequest(reqs[0]))
		return err
	}
	_, err := c.events.PublishEvents(ctx, connect.NewRequest(&hookdv1.PublishEventsRequest{Events: reqs}))
	return err
}

// orderingKey is the ordering key of event i: one of Config.Keys in an ordered run, none otherwise.
func (b *bench) orderingKey(i int) string {
	if !b.ordered {
		return ""
	}
	return "key-" + strconv.Itoa(i%b.cfg.Keys)
}

// receiver counts deliveries and the publish→receive latency carried in the payload's sentAt.
type receiver struct {
	mu         sync.Mutex
	seen       map[string]bool
	lat        []time.Duration
	want       int
	done       chan struct{}
	duplicates atomic.Int64
}

func (r *receiver) expect(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = make(map[string]bool, n)
	r.lat = make([]time.Duration, 0, n)
	r.want = n
	r.done = make(chan struct{})
}

var sentAtKey = []byte(`"sentAt":"`)

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	now := time.Now()
	id := req.Header.Get("webhook-id")
	var lat time.Duration
	if i := bytes.Index(body, sentAtKey); i >= 0 {
		rest := body[i+len(sentAtKey):]
		if j := bytes.IndexByte(rest, '"'); j > 0 {
			if ns, err := strconv.ParseInt(string(rest[:j]), 10, 64); err == nil {
				lat = now.Sub(time.Unix(0, ns))
			}
		}
	}
	r.mu.Lock()
	if r.seen[id] {
		r.duplicates.Add(1)
	} else {
		r.seen[id] = true
		r.lat = append(r.lat, lat)
		if len(r.seen) == r.want {
			close(r.done)
		}
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// wait blocks until n distinct deliveries arrived or ctx ends and returns how many arrived.
func (r *receiver) wait(ctx context.Context, n int) int {
	r.mu.Lock()
	if n < r.want && len(r.seen) >= n {
		r.mu.Unlock()
		return len(r.seen)
	}
	if n < r.want {
		r.want = n
	}
	done := r.done
	r.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *receiver) latencies() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.lat)
	slices.Sort(out)
	return out
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	i = min(max(i-1, 0), len(sorted)-1)
	return sorted[i].Round(time.Microsecond)
}

func rateString(r int) string {
	if r == 0 {
		return "max"
	}
	return strconv.Itoa(r) + "/s"
}

// rssSampler tracks a process's peak resident set (VmHWM from /proc, sampled VmRSS as a fallback).
type rssSampler struct {
	pid int
	max atomic.Int64
}

func (s *rssSampler) start() func() {
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if v := readStatusKB(s.pid, "VmRSS"); v > s.max.Load() {
					s.max.Store(v)
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(stop) }) }
}

func (s *rssSampler) peak() int64 {
	if hwm := readStatusKB(s.pid, "VmHWM"); hwm > 0 {
		return hwm
	}
	return s.max.Load()
}

// readStatusKB reads a "Name: N kB" line of /proc/<pid>/status in bytes (0 when unavailable).
func readStatusKB(pid int, name string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n << 10
		}
	}
	return 0
}

// dbStats reads PostgreSQL's commit counter of the bench database (pg_stat_database), the cluster's WAL position
// and the CPU time of the local PostgreSQL server's processes (/proc) between mark and report.
type dbStats struct {
	c     *storesql.Commits
	log   *slog.Logger
	at    dbSnapshot // at mark
	start time.Time
}

// dbSnapshot is one reading of dbStats' counters.
type dbSnapshot struct {
	commits int64
	cpu     time.Duration // 0: PostgreSQL is not a local process
	wal     int64         // -1: unknown
}

func newDBStats(ctx context.Context, dialect, url string, log *slog.Logger) *dbStats {
	if dialect != storesql.DialectPostgres {
		return &dbStats{}
	}
	c, err := storesql.OpenCommits(ctx, url)
	if err != nil {
		log.Warn("database statistics unavailable", "error", err)
		return &dbStats{}
	}
	return &dbStats{c: c, log: log}
}

func (d *dbStats) close() {
	if d.c != nil {
		_ = d.c.Close()
	}
}

// read reads the counters now (reading the WAL position is one more commit of the database).
func (d *dbStats) read() dbSnapshot {
	wal, err := d.c.WALBytes(context.Background())
	if err != nil {
		d.log.Warn("read wal position", "error", err)
		wal = -1
	}
	return dbSnapshot{commits: d.readCommits(), cpu: postgresCPU(), wal: wal}
}

func (d *dbStats) readCommits() int64 {
	n, err := d.c.Count(context.Background())
	if err != nil {
		d.log.Warn("read commits", "error", err)
	}
	return n
}

func (d *dbStats) mark() {
	if d.c == nil {
		return
	}
	time.Sleep(600 * time.Millisecond) // let the previous phase's counters reach pg_stat_database
	d.at, d.start = d.read(), time.Now()
}

// report prints the commits, PostgreSQL CPU and WAL per delivered event since mark; it returns the WAL bytes per
// delivered event (NaN when not measured).
func (d *dbStats) report(delivered int) float64 {
	if d.c == nil || delivered == 0 {
		return math.NaN()
	}
	time.Sleep(600 * time.Millisecond)
	now := d.read()
	commits, cpu := now.commits-d.at.commits, now.cpu-d.at.cpu
	elapsed := time.Since(d.start)
	line := fmt.Sprintf("postgres: %.2f commits per delivered event (%d commits); ", float64(commits)/float64(delivered), commits)
	if cpu > 0 {
		line += fmt.Sprintf("CPU %.3f ms per delivered event (%.2f cores over %s)", float64(cpu)/float64(time.Millisecond)/float64(delivered),
			cpu.Seconds()/elapsed.Seconds(), elapsed.Round(time.Millisecond))
	} else {
		line += "CPU unknown (PostgreSQL is not a local process)"
	}
	walPerEvent := math.NaN()
	if now.wal >= 0 && d.at.wal >= 0 {
		wal := float64(now.wal - d.at.wal)
		walPerEvent = wal / float64(delivered)
		line += fmt.Sprintf("; WAL %s per delivered event (%s in all, whole cluster)", byteSize(walPerEvent), byteSize(wal))
	}
	fmt.Println(line)
	return walPerEvent
}

// idle is an idle run (Config.Idle): it creates the webhooks, waits IdleSettle (IdleSettlePostgres on PostgreSQL)
// and measures the server's and PostgreSQL's CPU and the bench database's commits over Config.Idle with nothing
// published. It reads only the commit counter (no WAL position), on a connection it opened before settling: the
// counter then includes 2 commits of its own per window (its readings are transactions too).
func (b *bench) idle(ctx context.Context) (Result, error) {
	if _, err := b.createWebhooks(ctx, b.clients(b.key)); err != nil {
		return Result{}, err
	}
	db := newDBStats(ctx, b.dialect, b.cfg.DatabaseURL, b.log)
	defer db.close()
	if db.c != nil {
		db.readCommits() // a new connection's first readings count more of their own; these do so before the window
	}
	settle := IdleSettle
	if b.dialect == storesql.DialectPostgres {
		settle = IdleSettlePostgres
	}
	fmt.Printf("hookd bench: idle %s, %d webhooks, server %s, database %s; measuring after %s to settle\n",
		b.cfg.Idle, b.cfg.Webhooks, b.cfg.Server, b.dialect, settle)
	if err := sleepCtx(ctx, settle); err != nil {
		return Result{}, err
	}
	pid, what := os.Getpid(), "hookd (in-process: the whole bench process)"
	if b.child != nil {
		pid, what = b.child.Process.Pid, "hookd"
	}
	var commits0 int64
	var pgCPU0 time.Duration
	if db.c != nil {
		commits0, pgCPU0 = db.readCommits(), postgresCPU()
	}
	cpu0, start := processCPU(pid), time.Now()
	if err := sleepCtx(ctx, b.cfg.Idle); err != nil {
		return Result{}, err
	}
	cpu1, elapsed := processCPU(pid), time.Since(start)
	r := Result{Idle: elapsed, WALPerEvent: math.NaN(), IdlePostgresCPU: math.NaN(), IdleCommitsPerSecond: math.NaN(),
		IdleServerCPU: 100 * (cpu1 - cpu0).Seconds() / elapsed.Seconds()}
	line := fmt.Sprintf("idle: %d webhooks over %s: %s %.2f %% of a core", b.cfg.Webhooks, b.cfg.Idle, what, r.IdleServerCPU)
	if db.c != nil {
		r.IdleCommitsPerSecond = float64(db.readCommits()-commits0) / elapsed.Seconds()
		if pgCPU0 > 0 {
			r.IdlePostgresCPU = 100 * (postgresCPU() - pgCPU0).Seconds() / elapsed.Seconds()
			line += fmt.Sprintf(" + PostgreSQL %.2f %% = %.2f %%", r.IdlePostgresCPU, r.IdleServerCPU+r.IdlePostgresCPU)
		} else {
			line += " + PostgreSQL unknown (not a local process)"
		}
		line += fmt.Sprintf("; %.2f commits/s", r.IdleCommitsPerSecond)
	}
	fmt.Println(line)
	return r, nil
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// byteSize formats n bytes as B, KiB or MiB.
func byteSize(n float64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%.0f B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	default:
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// processCPU is the user+system CPU time a process used so far (0 when unknown).
func processCPU(pid int) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	end := bytes.LastIndexByte(stat, ')')
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(u+st) * time.Second / 100 // USER_HZ
}

// postgresCPU sums user+system CPU time of the local processes named postgres (0 if none are visible).
func postgresCPU() time.Duration {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var ticks int64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid … utime(14) stime(15) cutime(16) cstime(17): the postmaster's cutime/cstime hold
		// the CPU of backends that have exited.
		open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || end < open || string(stat[open+1:end]) != "postgres" {
			continue
		}
		fields := strings.Fields(string(stat[end+1:]))
		if len(fields) < 15 {
			continue
		}
		for _, f := range fields[11:15] {
			v, _ := strconv.ParseInt(f, 10, 64)
			ticks += v
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/structpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
)

// benchFlags are the flags of `hookd bench`.
type benchFlags struct {
	commonFlags
	events       int
	rate         int
	backlog      bool
	batch        int
	publishers   int
	payloadBytes int
	webhooks     int
	workers      int
	timeout      time.Duration
	cpuProfile   string
	server       string
	key          string
	protocol     string
	serverArgs   stringList
	watchers     int
	neighbor     int
}

// Where the benchmarked server runs.
const (
	benchSpawn  = "spawn"  // a `hookd serve --dev` child process (like an outside load generator sees it)
	benchInProc = "inproc" // API server and sender in the bench process (for profiling with --cpuprofile)
)

// runBench publishes events through the real API into the real sender and loopback receivers and reports
// delivered events/s, publish→receive latency, the server's peak RSS and, on PostgreSQL, commits and
// PostgreSQL CPU per delivered event.
func runBench(ctx context.Context, args []string) error {
	f := &benchFlags{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	f.register(fs)
	fs.IntVar(&f.events, "events", 20000, "number of events to publish")
	fs.IntVar(&f.rate, "rate", 0, "publish at this steady rate (events/s); 0 = as fast as possible")
	fs.BoolVar(&f.backlog, "backlog", false, "queue everything first (the server runs --role api), then start a sender and measure the drain")
	fs.IntVar(&f.batch, "batch", 100, "events per PublishEvents call (1 = single PublishEvent calls)")
	fs.IntVar(&f.publishers, "publishers", 4, "concurrent publishing clients")
	fs.IntVar(&f.payloadBytes, "payload-bytes", 1024, "approximate JSON payload size")
	fs.IntVar(&f.webhooks, "webhooks", 1, "webhooks (each event goes to one of them, round robin)")
	fs.IntVar(&f.workers, "workers", 64, "sender workers (spawned and in-process servers)")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "give up waiting for deliveries after this long")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the bench process to this file (with --server inproc: the server's too)")
	fs.StringVar(&f.server, "server", benchSpawn, "spawn (a `hookd serve --dev` child process), inproc, or the URL of a running hookd (with --key; it must run with --dev)")
	fs.StringVar(&f.key, "key", "", "an instance admin API key of the server given by URL")
	fs.IntVar(&f.neighbor, "neighbor-backlog", 0, "first queue this many deliveries for another project's webhook, whose receiver takes 50 ms (fairness: the measured project's latency meanwhile)")
	fs.IntVar(&f.watchers, "watchers", 0, "WatchDeliveries streams open on the bench project while it runs (in --protocol, json like the console)")
	fs.StringVar(&f.protocol, "protocol", "json", "json (Connect JSON over HTTP/1.1, as curl sends it) or proto (Connect binary)")
	fs.Var(&f.serverArgs, "server-arg", "extra flag for the spawned server (repeatable), e.g. --server-arg=--lease=30s")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if f.events < 1 || f.batch < 1 || f.publishers < 1 || f.webhooks < 1 || f.rate < 0 {
		return errors.New("--events, --batch, --publishers and --webhooks must be at least 1; --rate not negative")
	}
	if f.protocol != "json" && f.protocol != "proto" {
		return fmt.Errorf("--protocol: want json or proto, got %q", f.protocol)
	}
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if f.databaseURL == "" && !isFlagSet(fs, "data-dir") {
		dir, err := os.MkdirTemp("", "hookd-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		f.dataDir = dir
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b := &bench{f: f, log: log, recv: &receiver{}}
	defer b.close()
	if err := b.startServer(ctx); err != nil {
		return err
	}
	return b.run(ctx)
}

func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

type bench struct {
	f         *benchFlags
	log       *slog.Logger
	baseURL   string
	admin     string // instance admin key
	secretKey string // HOOKD_SECRET_KEY of spawned servers
	key       string // the bench project's admin key
	dialect   string
	inproc    *wiring // set for --server inproc
	child     *exec.Cmd
	recv      *receiver
	recvSrvs  []*http.Server
	closers   []func()
}

// startServer starts (or finds) the server under test and creates the bench's project and key.
func (b *bench) startServer(ctx context.Context) error {
	b.dialect = storesql.DialectSQLite
	if storesql.IsPostgresURL(b.f.databaseURL) {
		b.dialect = storesql.DialectPostgres
	}
	b.admin = b.f.key
	switch b.f.server {
	case benchInProc:
		if err := b.startInProc(ctx); err != nil {
			return err
		}
	case benchSpawn:
		if err := b.spawn(ctx); err != nil {
			return err
		}
	default:
		if b.admin == "" {
			return errors.New("--key is required with a server URL")
		}
		b.baseURL = strings.TrimRight(b.f.server, "/")
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
	// The benchmark's database is throwaway: a random keyring (nothing is kept on disk).
	keys := secret.NewRandom()
	st, err := storesql.Open(ctx, storesql.Config{URL: b.f.storeURL(), Logger: b.log, Keyring: keys})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	b.closers = append(b.closers, func() { st.Close() })
	b.admin = "hk_bench_" + randomHex(16)
	if _, err := auth.Bootstrap(ctx, st, b.admin, b.log); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	b.baseURL = "http://" + ln.Addr().String()
	sf := &serveFlags{dev: true, workers: b.f.workers, maxRequestBytes: 64 << 20, maxPayloadBytes: store.DefaultMaxPayloadBytes}
	b.inproc = &wiring{flags: sf, store: st, keys: keys, clock: clock.Real{}, log: b.log, registry: prometheus.NewRegistry(), publicURL: b.baseURL}
	srv := &http.Server{Handler: b.inproc.handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.closers = append(b.closers, func() { _ = srv.Close() })
	if !b.f.backlog {
		snd := b.inproc.sender()
		if err := snd.Start(ctx); err != nil {
			return err
		}
		b.closers = append(b.closers, snd.Stop)
	}
	return nil
}

// spawn starts the server under test (`hookd serve --dev`, API only for --backlog) and waits until it is ready.
func (b *bench) spawn(ctx context.Context) error {
	b.admin = "hk_bench_" + randomHex(16)
	role := "all"
	if b.f.backlog {
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
	args := []string{"serve", "--dev", "--role", role, "--addr", addr, "--bootstrap-key", b.admin, "--workers", strconv.Itoa(b.f.workers),
		"--log-level", "warn", "--max-request-bytes", strconv.Itoa(64 << 20), "--public-url", cmpOr(b.baseURL, "http://"+addr)}
	if b.f.databaseURL != "" {
		args = append(args, "--database-url", b.f.databaseURL)
	} else {
		args = append(args, "--data-dir", b.f.dataDir)
	}
	args = append(args, b.f.serverArgs...)
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
	opts := []connect.ClientOption{connect.WithInterceptors(bearerInterceptor(key))}
	if b.f.protocol == "json" {
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

// bearerInterceptor sends an API key with unary and streaming calls.
type bearerInterceptor string

func (k bearerInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(k))
		return next(ctx, req)
	}
}

func (k bearerInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(k))
		return conn
	}
}

func (bearerInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
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
		opts := []connect.ClientOption{connect.WithInterceptors(bearerInterceptor(b.key))}
		if b.f.protocol == "json" {
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

func (b *bench) run(ctx context.Context) error {
	c := b.clients(b.key)
	if _, err := c.types.CreateEventType(ctx, connect.NewRequest(&hookdv1.CreateEventTypeRequest{Name: "bench.event"})); err != nil {
		return fmt.Errorf("create event type: %w", err)
	}
	var webhookIDs []string
	for i := range b.f.webhooks {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		s := &http.Server{Handler: b.recv, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = s.Serve(ln) }()
		b.recvSrvs = append(b.recvSrvs, s)
		wh, err := c.webhooks.CreateWebhook(ctx, connect.NewRequest(&hookdv1.CreateWebhookRequest{
			Name: fmt.Sprintf("bench receiver %d", i), Url: "http://" + ln.Addr().String() + "/hook"}))
		if err != nil {
			return fmt.Errorf("create webhook: %w", err)
		}
		webhookIDs = append(webhookIDs, wh.Msg.GetWebhook().GetId())
	}

	peak := &rssSampler{pid: os.Getpid()}
	if b.child != nil {
		peak.pid = b.child.Process.Pid
	}
	stopSampling := peak.start()
	defer stopSampling()
	db := newDBStats(ctx, b.dialect, b.f.databaseURL, b.log)
	defer db.close()
	cpuOf := func() (server, self time.Duration) {
		self = processCPU(os.Getpid())
		if b.child != nil {
			server = processCPU(peak.pid)
		}
		return server, self
	}

	fmt.Printf("hookd bench: %d events, %d B payloads, batch %d, %d publishers, %d webhooks, %d workers, rate %s, backlog %v, %s, server %s, database %s\n",
		b.f.events, b.f.payloadBytes, b.f.batch, b.f.publishers, b.f.webhooks, b.f.workers, rateString(b.f.rate), b.f.backlog,
		b.f.protocol, b.f.server, cmpOr(b.dialect, "unknown"))
	var neighbor *atomic.Int64
	if b.f.neighbor > 0 {
		var err error
		if neighbor, err = b.queueNeighbor(ctx, b.f.neighbor); err != nil {
			return err
		}
	}
	var watched func() []watchResult
	wctxW, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	if b.f.watchers > 0 {
		var err error
		if watched, err = b.watch(wctxW, b.f.watchers); err != nil {
			return err
		}
	}
	b.recv.expect(b.f.events)
	db.mark()
	serverCPU0, selfCPU0 := cpuOf()
	pubStart := time.Now()
	pubErrs := b.publish(ctx, c, webhookIDs)
	pubDur := time.Since(pubStart)
	fmt.Printf("published: %d events in %s (%.0f events/s), %d publish errors\n",
		b.f.events, pubDur.Round(time.Millisecond), float64(b.f.events)/pubDur.Seconds(), pubErrs)

	drainStart := pubStart
	if b.f.backlog {
		fmt.Printf("backlog queued: %d deliveries; server peak RSS so far %.1f MiB\n", b.f.events, float64(peak.peak())/(1<<20))
		drainStart = time.Now()
		db.mark()
		selfCPU0 = processCPU(os.Getpid())
		if b.inproc != nil {
			snd := b.inproc.sender()
			if err := snd.Start(ctx); err != nil {
				return err
			}
			defer snd.Stop()
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
	wctx, cancel := context.WithTimeout(ctx, b.f.timeout)
	defer cancel()
	got := b.recv.wait(wctx, b.f.events-pubErrs)
	total := time.Since(drainStart)
	lat := b.recv.latencies()
	fmt.Printf("delivered: %d/%d events in %s: %.0f events/s\n", got, b.f.events-pubErrs, total.Round(time.Millisecond), float64(got)/total.Seconds())
	if len(lat) > 0 && !b.f.backlog {
		fmt.Printf("publish→receive latency: p50 %s  p95 %s  p99 %s  max %s\n",
			pct(lat, 50), pct(lat, 95), pct(lat, 99), lat[len(lat)-1].Round(time.Microsecond))
	}
	fmt.Printf("errors: %d publish, %d not delivered, %d duplicate receipts\n", pubErrs, b.f.events-pubErrs-got, b.recv.duplicates.Load())
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
	db.report(got)
	if neighbor != nil {
		fmt.Printf("neighbor: %d of its %d deliveries were sent while the measured events were delivered\n", neighbor.Load(), b.f.neighbor)
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
			b.f.watchers, least, most, float64(least)/float64(max(got, 1)), dropped)
	}
	if got < b.f.events-pubErrs {
		return fmt.Errorf("only %d of %d events delivered within %s", got, b.f.events-pubErrs, b.f.timeout)
	}
	return nil
}

// publish sends all events from f.publishers goroutines; it returns how many events failed to publish.
func (b *bench) publish(ctx context.Context, c benchClients, webhookIDs []string) int {
	pad := strings.Repeat("x", max(0, b.f.payloadBytes-80))
	var next, failed atomic.Int64
	var interval time.Duration
	if b.f.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(b.f.batch) / float64(b.f.rate))
	}
	hc := b.httpClient()
	start := time.Now()
	var wg sync.WaitGroup
	for range b.f.publishers {
		wg.Go(func() {
			var body bytes.Buffer
			for {
				first := int(next.Add(int64(b.f.batch))) - b.f.batch
				if first >= b.f.events {
					return
				}
				n := min(b.f.batch, b.f.events-first)
				if interval > 0 { // the k-th batch is due at start + k·interval
					if d := time.Until(start.Add(time.Duration(first/b.f.batch) * interval)); d > 0 {
						time.Sleep(d)
					}
				}
				var err error
				if b.f.protocol == "json" {
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
		fmt.Fprintf(body, `{"eventType":"bench.event","webhookIds":[%q],"payload":{"sentAt":%q,"n":%d,"pad":%q}}`,
			webhookIDs[i%len(webhookIDs)], now, i, pad)
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
			WebhookIds: []string{webhookIDs[(first+i)%len(webhookIDs)]}}
	}
	if n == 1 {
		_, err := c.events.PublishEvent(ctx, connect.NewRequest(reqs[0]))
		return err
	}
	_, err := c.events.PublishEvents(ctx, connect.NewRequest(&hookdv1.PublishEventsRequest{Events: reqs}))
	return err
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

// dbStats reads PostgreSQL's commit counter of the bench database (pg_stat_database) and the CPU time of the
// local PostgreSQL server's processes (/proc) between mark and report.
type dbStats struct {
	c       *storesql.Commits
	log     *slog.Logger
	commits int64
	cpu     time.Duration
	start   time.Time
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
	d.commits, d.cpu, d.start = d.readCommits(), postgresCPU(), time.Now()
}

func (d *dbStats) report(delivered int) {
	if d.c == nil || delivered == 0 {
		return
	}
	time.Sleep(600 * time.Millisecond)
	commits := d.readCommits() - d.commits
	cpu := postgresCPU() - d.cpu
	elapsed := time.Since(d.start)
	fmt.Printf("postgres: %.2f commits per delivered event (%d commits); ", float64(commits)/float64(delivered), commits)
	if cpu > 0 {
		fmt.Printf("CPU %.3f ms per delivered event (%.2f cores over %s)\n", float64(cpu)/float64(time.Millisecond)/float64(delivered),
			cpu.Seconds()/elapsed.Seconds(), elapsed.Round(time.Millisecond))
	} else {
		fmt.Println("CPU unknown (PostgreSQL is not a local process)")
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

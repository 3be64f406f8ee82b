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
	"github.com/hookd/hookd/server/auth"
	"github.com/hookd/hookd/server/clock"
	"github.com/hookd/hookd/server/secret"
	"github.com/hookd/hookd/server/store/storesql"
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
}

// runBench publishes events through the real API into the real sender and loopback receivers and reports
// delivered events/s, publish→receive latency and peak RSS of this process (server, sender, receivers and
// publishers together).
func runBench(ctx context.Context, args []string) error {
	f := &benchFlags{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	f.register(fs)
	fs.IntVar(&f.events, "events", 20000, "number of events to publish")
	fs.IntVar(&f.rate, "rate", 0, "publish at this steady rate (events/s); 0 = as fast as possible")
	fs.BoolVar(&f.backlog, "backlog", false, "publish everything with the sender stopped, then start it and measure the drain")
	fs.IntVar(&f.batch, "batch", 100, "events per PublishEvents call (1 = PublishEvent)")
	fs.IntVar(&f.publishers, "publishers", 4, "concurrent publishing clients")
	fs.IntVar(&f.payloadBytes, "payload-bytes", 1024, "approximate JSON payload size")
	fs.IntVar(&f.webhooks, "webhooks", 1, "webhooks (each event goes to one of them, round robin)")
	fs.IntVar(&f.workers, "workers", 64, "sender workers")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "give up waiting for deliveries after this long")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	if err := parseFlags(fs, args); err != nil {
		return err
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
	if f.events < 1 || f.batch < 1 || f.publishers < 1 || f.webhooks < 1 || f.rate < 0 {
		return errors.New("--events, --batch, --publishers and --webhooks must be at least 1; --rate not negative")
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
	b, err := newBench(ctx, f, log)
	if err != nil {
		return err
	}
	defer b.close()
	return b.run(ctx)
}

func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

type bench struct {
	f        *benchFlags
	log      *slog.Logger
	w        *wiring
	srv      *http.Server
	baseURL  string
	key      string
	recv     *receiver
	recvSrvs []*http.Server
	closers  []func()
}

func newBench(ctx context.Context, f *benchFlags, log *slog.Logger) (*bench, error) {
	b := &bench{f: f, log: log, recv: &receiver{}}
	// The benchmark's database is throwaway: a random keyring (nothing is kept on disk).
	st, err := storesql.Open(ctx, storesql.Config{URL: f.storeURL(), Logger: log, MaxOpenConns: 20, Keyring: secret.NewRandom()})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	b.closers = append(b.closers, func() { st.Close() })
	admin := "hk_bench_" + randomHex(16)
	if _, err := auth.Bootstrap(ctx, st, admin, log); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b.baseURL = "http://" + ln.Addr().String()
	sf := &serveFlags{dev: true, workers: f.workers, maxRequestBytes: 64 << 20, maxPayloadBytes: 256 << 10}
	b.w = &wiring{flags: sf, store: st, clock: clock.Real{}, log: log, registry: prometheus.NewRegistry(), publicURL: b.baseURL}
	b.srv = &http.Server{Handler: b.w.handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.srv.Serve(ln) }()
	b.closers = append(b.closers, func() { _ = b.srv.Close() })

	// A fresh project per run keeps earlier runs' webhooks out of the fan-out.
	adminClient := b.clients(admin)
	prj, err := adminClient.projects.CreateProject(ctx, connect.NewRequest(&hookdv1.CreateProjectRequest{Name: "bench-" + randomHex(4)}))
	if err != nil {
		return nil, fmt.Errorf("create project: %w", err)
	}
	k, err := adminClient.keys.CreateApiKey(ctx, connect.NewRequest(&hookdv1.CreateApiKeyRequest{
		Name: "bench", Role: hookdv1.Role_ROLE_ADMIN, ProjectId: prj.Msg.GetProject().GetId()}))
	if err != nil {
		return nil, fmt.Errorf("create api key: %w", err)
	}
	b.key = k.Msg.GetKey()
	return b, nil
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
	subs     hookdv1connect.SubscriptionServiceClient
	events   hookdv1connect.EventServiceClient
}

func (b *bench) clients(key string) benchClients {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, Proxy: nil}}
	opt := connect.WithInterceptors(bearerInterceptor(key))
	return benchClients{
		projects: hookdv1connect.NewProjectServiceClient(hc, b.baseURL, opt),
		keys:     hookdv1connect.NewApiKeyServiceClient(hc, b.baseURL, opt),
		webhooks: hookdv1connect.NewWebhookServiceClient(hc, b.baseURL, opt),
		types:    hookdv1connect.NewEventTypeServiceClient(hc, b.baseURL, opt),
		subs:     hookdv1connect.NewSubscriptionServiceClient(hc, b.baseURL, opt),
		events:   hookdv1connect.NewEventServiceClient(hc, b.baseURL, opt),
	}
}

func bearerInterceptor(key string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+key)
			return next(ctx, req)
		}
	}
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

	snd := b.w.sender()
	if !b.f.backlog {
		if err := snd.Start(ctx); err != nil {
			return err
		}
		defer snd.Stop()
	}
	peak := &rssSampler{}
	stopSampling := peak.start()
	defer stopSampling()

	fmt.Printf("hookd bench: %d events, %d B payloads, batch %d, %d publishers, %d webhooks, %d workers, rate %s, backlog %v, database %s\n",
		b.f.events, b.f.payloadBytes, b.f.batch, b.f.publishers, b.f.webhooks, b.f.workers, rateString(b.f.rate), b.f.backlog, b.w.store.Dialect())
	b.recv.expect(b.f.events)
	pubStart := time.Now()
	pubErrs := b.publish(ctx, c, webhookIDs)
	pubDur := time.Since(pubStart)
	fmt.Printf("published: %d events in %s (%.0f events/s), %d publish errors\n",
		b.f.events, pubDur.Round(time.Millisecond), float64(b.f.events)/pubDur.Seconds(), pubErrs)

	drainStart := pubStart
	if b.f.backlog {
		fmt.Printf("backlog queued: %d deliveries; peak RSS so far %.1f MiB\n", b.f.events, float64(peak.peak())/(1<<20))
		drainStart = time.Now()
		if err := snd.Start(ctx); err != nil {
			return err
		}
		defer snd.Stop()
	}
	wctx, cancel := context.WithTimeout(ctx, b.f.timeout)
	defer cancel()
	got := b.recv.wait(wctx, b.f.events-pubErrs)
	total := time.Since(drainStart)
	lat := b.recv.latencies()
	fmt.Printf("delivered: %d/%d events in %s: %.0f events/s\n", got, b.f.events-pubErrs, total.Round(time.Millisecond), float64(got)/total.Seconds())
	if len(lat) > 0 {
		fmt.Printf("publish→receive latency: p50 %s  p95 %s  p99 %s  max %s\n",
			pct(lat, 50), pct(lat, 95), pct(lat, 99), lat[len(lat)-1].Round(time.Microsecond))
	}
	fmt.Printf("errors: %d publish, %d not delivered, %d duplicate receipts\n", pubErrs, b.f.events-pubErrs-got, b.recv.duplicates.Load())
	fmt.Printf("peak RSS: %.1f MiB (whole process: API server, sender, receivers, publishers)\n", float64(peak.peak())/(1<<20))
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
	start := time.Now()
	var wg sync.WaitGroup
	for range b.f.publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
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
				reqs := make([]*hookdv1.PublishEventRequest, n)
				now := time.Now().UnixNano()
				for i := range reqs {
					payload, _ := structpb.NewStruct(map[string]any{"sentAt": strconv.FormatInt(now, 10), "n": first + i, "pad": pad})
					reqs[i] = &hookdv1.PublishEventRequest{EventType: "bench.event", Payload: payload,
						WebhookIds: []string{webhookIDs[(first+i)%len(webhookIDs)]}}
				}
				var err error
				if n == 1 {
					_, err = c.events.PublishEvent(ctx, connect.NewRequest(reqs[0]))
				} else {
					_, err = c.events.PublishEvents(ctx, connect.NewRequest(&hookdv1.PublishEventsRequest{Events: reqs}))
				}
				if err != nil {
					failed.Add(int64(n))
					b.log.Warn("publish", "error", err)
				}
			}
		}()
	}
	wg.Wait()
	return int(failed.Load())
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
	r.want = n
	if len(r.seen) >= n {
		r.mu.Unlock()
		return len(r.seen)
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

// rssSampler tracks the process's peak resident set (VmHWM from /proc, sampled as a fallback).
type rssSampler struct{ max atomic.Int64 }

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
				if v := readStatusKB("VmRSS"); v > s.max.Load() {
					s.max.Store(v)
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(stop) }) }
}

func (s *rssSampler) peak() int64 {
	if hwm := readStatusKB("VmHWM"); hwm > 0 {
		return hwm
	}
	return s.max.Load()
}

// readStatusKB reads a "Name: N kB" line of /proc/self/status in bytes (0 when unavailable).
func readStatusKB(name string) int64 {
	b, err := os.ReadFile("/proc/self/status")
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

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

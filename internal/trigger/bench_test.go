package trigger_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/ratelimit"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
	"github.com/hookd/hookd/internal/trigger"
)

// BenchmarkIngest posts 1 KiB JSON bodies to one trigger through the real handler over loopback HTTP from
// HOOKD_BENCH_SENDERS concurrent senders (default 16); each request: trigger lookup, rate-limit token, execution +
// event + delivery stored (group commit: concurrent requests share a transaction). It reports req/s and the mean
// number of requests per transaction (req/batch) and the mean time to write one (ms/batch).
//
//	HOOKD_BENCH_SENDERS=64 go test -run '^$' -bench 'BenchmarkIngest$' -benchtime 10000x ./internal/trigger/
func BenchmarkIngest(b *testing.B) {
	senders := max(benchEnv(b, "HOOKD_BENCH_SENDERS", 16), runtime.GOMAXPROCS(0))
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			st, url, body, client := benchSetup(b, be.open, senders)
			b.SetParallelism(senders / runtime.GOMAXPROCS(0))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := post(client, url, body); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
			st.report(b)
		})
	}
}

// BenchmarkIngestRate sends b.N requests like BenchmarkIngest but open-loop: at HOOKD_BENCH_RATE requests/s
// (default 3,000) whatever the answers' latency, as independent webhook sources do, with up to 1,024 in flight.
// It reports the rate achieved and the latency percentiles, counted from each request's scheduled time (so a
// server that falls behind shows it in the latency rather than by slowing the sender down).
//
//	go test -run '^$' -bench BenchmarkIngestRate -benchtime 30000x ./internal/trigger/
func BenchmarkIngestRate(b *testing.B) {
	rate := benchEnv(b, "HOOKD_BENCH_RATE", 3000)
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			st, url, body, client := benchSetup(b, be.open, 1024)
			inFlight := make(chan struct{}, 1024)
			latency := make([]time.Duration, b.N)
			var wg sync.WaitGroup
			interval := time.Second / time.Duration(rate)
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				due := start.Add(time.Duration(i) * interval)
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
				inFlight <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() { <-inFlight; wg.Done() }()
					if err := post(client, url, body); err != nil {
						b.Error(err)
					}
					latency[i] = time.Since(due)
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(latency)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(rate), "target-req/s")
			b.ReportMetric(float64(latency[b.N/2])/1e6, "p50-ms")
			b.ReportMetric(float64(latency[b.N*99/100])/1e6, "p99-ms")
			st.report(b)
		})
	}
}

// benchBackends are the stores the ingest benchmarks run on.
var benchBackends = []struct {
	name string
	open func(testing.TB) store.Store
}{
	{"sqlite", func(tb testing.TB) store.Store { return storetest.NewSQLite(tb) }},
	{"postgres", func(tb testing.TB) store.Store { return storetest.NewPostgres(tb) }},
}

// post sends one request and checks it was accepted.
func post(client *http.Client, url string, body []byte) error {
	res, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", res.StatusCode)
	}
	return nil
}

// countingStore counts the batches the handler writes and times them (to report mean batch size and duration).
type countingStore struct {
	store.Store
	batches, records, nanos atomic.Int64
}

// Unwrap returns the counted store.
func (s *countingStore) Unwrap() store.Store { return s.Store }

func (s *countingStore) RecordExecutions(ctx context.Context, in []store.ExecutionRecord, now time.Time) ([]*store.PublishResult, error) {
	s.batches.Add(1)
	s.records.Add(int64(len(in)))
	t := time.Now()
	defer func() { s.nanos.Add(int64(time.Since(t))) }()
	return s.Store.RecordExecutions(ctx, in, now)
}

// report checks that every request was recorded and reports the mean batch size and write time.
func (s *countingStore) report(b *testing.B) {
	if got := s.records.Load(); got != int64(b.N) {
		b.Fatalf("%d executions recorded for %d accepted requests", got, b.N)
	}
	if n := s.batches.Load(); n > 0 {
		b.ReportMetric(float64(s.records.Load())/float64(n), "req/batch")
		b.ReportMetric(float64(s.nanos.Load())/float64(n)/1e6, "ms/batch")
	}
}

// benchEnv reads a positive number from the environment variable name, def when it is not set.
func benchEnv(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// benchSetup opens a store (wrapped to count batches), serves a trigger on it and returns the trigger's URL, a
// 1 KiB JSON body and a client keeping up to conns connections.
func benchSetup(b *testing.B, open func(testing.TB) store.Store, conns int) (*countingStore, string, []byte, *http.Client) {
	b.Helper()
	st := &countingStore{Store: open(b)}
	body := benchBody()
	b.SetBytes(int64(len(body)))
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns}}
	return st, benchTrigger(b, st), body, client
}

// benchTrigger stores a project, an event type with one subscribed webhook and a trigger, and serves the handler.
func benchTrigger(b *testing.B, st store.Store) string {
	b.Helper()
	ctx, now := context.Background(), time.Now().UTC()
	p := &store.Project{Name: "bench", CreateTime: now}
	must(b, st.CreateProject(ctx, p))
	must(b, st.CreateEventType(ctx, &store.EventType{ProjectID: p.ID, Name: "order.created", CreateTime: now}))
	w := &store.Webhook{ProjectID: p.ID, Name: "r", SystemName: "r", Method: "POST", URL: "https://example.com/hook", Enabled: true,
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", RetryPolicy: store.RetryPolicy{Kind: store.RetryExponential},
		Timeout: 15 * time.Second, CreateTime: now}
	must(b, st.CreateWebhook(ctx, w))
	must(b, st.CreateSubscription(ctx, &store.Subscription{ProjectID: p.ID, WebhookID: w.ID, EventTypes: []string{"order.created"}, Enabled: true, CreateTime: now}))
	t := &store.Trigger{ProjectID: p.ID, Name: "bench", EventType: "order.created", RateLimitPerSecond: trigger.MaxRateLimit,
		SyncTimeout: trigger.DefaultSyncTimeout, Enabled: true, CreateTime: now}
	must(b, st.CreateTrigger(ctx, t))
	rates := st.(interface{ Unwrap() store.Store }).Unwrap().(ratelimit.Windows)
	srv := httptest.NewServer(trigger.NewHandler(trigger.Config{Store: st, Rates: rates, Clock: clock.Real{}}))
	b.Cleanup(srv.Close)
	return srv.URL + "/t/" + t.ID + "/orders?source=bench"
}

// benchBody is a 1 KiB JSON object.
func benchBody() []byte {
	var sb strings.Builder
	sb.WriteString(`{"type":"order.created","items":[`)
	for i := 0; sb.Len() < 1000; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"sku":"SKU-%04d","qty":%d}`, i, i%7+1)
	}
	sb.WriteString(`],"pad":"`)
	for sb.Len() < 1022 {
		sb.WriteString("x")
	}
	sb.WriteString(`"}`)
	return []byte(sb.String())
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

package storesql_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
	"github.com/hookd/hookd/internal/store/storetest"
)

// BenchmarkPublishDuringErase measures the latency of single-event publishes (another subject, one delivery)
// without and while EraseSubject erases a subject with 100,000 deliveries (10,000 events × 10 webhooks, queued:
// the erase cancels them, then deletes deliveries and events in batches of storesql.EraseBatch):
//
//	go test -run '^$' -bench BenchmarkPublishDuringErase -benchtime 1x ./internal/store/storesql/
func BenchmarkPublishDuringErase(b *testing.B) {
	for _, dialect := range []string{storesql.DialectPostgres, storesql.DialectSQLite} {
		b.Run(dialect, func(b *testing.B) {
			for range b.N {
				var s *storetest.DB
				if dialect == storesql.DialectPostgres {
					s = storetest.NewPostgres(b)
				} else {
					s = storetest.NewSQLite(b)
				}
				ctx := context.Background()
				now := time.Now().UTC()
				p, w := benchWebhook(b, s, now)
				hooks := []string{w.ID}
				for i := 1; i < 10; i++ {
					h := &store.Webhook{ProjectID: p.ID, Name: "w", SystemName: fmt.Sprint("w", i), Method: "POST", URL: "https://example.com/",
						Enabled: true, Secret: w.Secret, RetryPolicy: w.RetryPolicy, Timeout: w.Timeout, CreateTime: now}
					must(b, s.CreateWebhook(ctx, h))
					hooks = append(hooks, h.ID)
				}
				for range 20 { // 20 × 500 events × 10 webhooks
					in := make([]store.PublishInput, 500)
					for i := range in {
						in[i] = store.PublishInput{Event: store.Event{EventType: "e", Subject: "cus_erased", Payload: []byte(`{"n":1}`)},
							WebhookIDs: hooks}
					}
					_, err := s.PublishEvents(ctx, store.PublishEventsParams{ProjectID: p.ID, Events: in, Now: time.Now(), IdempotencyWindow: time.Hour})
					must(b, err)
				}
				publish := func() time.Duration {
					t0 := time.Now()
					_, err := s.PublishEvents(ctx, store.PublishEventsParams{ProjectID: p.ID, Events: []store.PublishInput{{Event: store.Event{EventType: "e", Subject: "cus_other",
						Payload: []byte(`{"n":2}`)}, WebhookIDs: []string{w.ID}}}, Now: time.Now(), IdempotencyWindow: time.Hour})
					must(b, err)
					return time.Since(t0)
				}
				var idle []time.Duration
				for range 1000 {
					idle = append(idle, publish())
				}
				done := make(chan error, 1)
				var res store.EraseResult
				start := time.Now()
				go func() {
					var err error
					res, err = s.EraseSubject(ctx, p.ID, "cus_erased", time.Now(), 0)
					done <- err
				}()
				var busy []time.Duration
				for erasing := true; erasing; {
					select {
					case err := <-done:
						must(b, err)
						erasing = false
					default:
						busy = append(busy, publish())
					}
				}
				took := time.Since(start)
				if res.Deliveries != 100_000 {
					b.Fatalf("erased %d deliveries, want 100000", res.Deliveries)
				}
				b.ReportMetric(quantile(idle, 0.5), "p50-idle-ms")
				b.ReportMetric(quantile(idle, 0.99), "p99-idle-ms")
				b.ReportMetric(quantile(busy, 0.5), "p50-erasing-ms")
				b.ReportMetric(quantile(busy, 0.99), "p99-erasing-ms")
				b.ReportMetric(took.Seconds(), "erase-s")
				b.ReportMetric(float64(len(busy)), "publishes-during-erase")
			}
		})
	}
}

// quantile is the q-quantile of ds in milliseconds.
func quantile(ds []time.Duration, q float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[int(q*float64(len(s)-1))].Microseconds()) / 1000
}

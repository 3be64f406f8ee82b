package storesql_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// BenchmarkQueueCycle measures the store's side of one delivery — publish (event, log row, queue row), claim,
// complete with one attempt — in batches of n, on PostgreSQL:
//
//	go test -run '^$' -bench BenchmarkQueueCycle -benchtime 20000x ./internal/store/storesql/
//
// The books=off runs skip the webhook statistics and health (to measure their cost).
func BenchmarkQueueCycle(b *testing.B) {
	for _, c := range []struct {
		n     int
		books bool
	}{{10, true}, {10, false}, {100, true}, {100, false}} {
		n := c.n
		b.Run(fmt.Sprintf("batch=%d/books=%s", n, map[bool]string{true: "on", false: "off"}[c.books]), func(b *testing.B) {
			s := storetest.NewPostgres(b)
			s.SkipBooks(!c.books)
			ctx := context.Background()
			now := time.Now().UTC()
			p, w := benchWebhook(b, s, now)
			if exp := os.Getenv("HOOKD_BENCH_SQL"); exp != "" { // experiments: e.g. drop an index first
				if _, err := s.Pool().ExecContext(ctx, exp); err != nil {
					b.Fatal(err)
				}
			}
			payload := []byte(`{"pad":"` + strings.Repeat("x", 1000) + `"}`)
			var publish, claim, complete time.Duration
			b.ResetTimer()
			for done := 0; done < b.N; done += n {
				in := make([]store.PublishInput, n)
				for i := range in {
					in[i] = store.PublishInput{Event: store.Event{EventType: "e", Payload: payload}, WebhookIDs: []string{w.ID}}
				}
				t0 := time.Now()
				if _, err := s.PublishEvents(ctx, store.PublishEventsParams{ProjectID: p.ID, Events: in, Now: time.Now(), IdempotencyWindow: time.Hour}); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				res, err := s.ClaimDeliveries(ctx, time.Now(), store.ClaimRequest{Limit: n, Lease: time.Minute, PerWebhook: n})
				if err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				out := make([]store.Outcome, len(res.Deliveries))
				for i, d := range res.Deliveries {
					out[i] = store.Outcome{DeliveryID: d.ID, ClaimToken: d.ClaimToken, Status: store.StatusDone, Attempts: 1,
						LastStatusCode: 200, Attempt: &store.Attempt{StartTime: time.Now(), RequestMethod: "POST",
							RequestURL: "https://example.com/", RequestBody: string(payload), ResponseStatusCode: 200,
							RequestHeaders: []store.Header{{Name: "webhook-id", Value: d.ID}}}}
				}
				if err := s.CompleteDeliveries(ctx, out, time.Now()); err != nil {
					b.Fatal(err)
				}
				publish, claim, complete = publish+t1.Sub(t0), claim+t2.Sub(t1), complete+time.Since(t2)
			}
			per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
			b.ReportMetric(per(publish), "publish_us/op")
			b.ReportMetric(per(claim), "claim_us/op")
			b.ReportMetric(per(complete), "complete_us/op")
		})
	}
}

// benchWebhook creates a project with one webhook.
func benchWebhook(b *testing.B, s *storetest.DB, now time.Time) (*store.Project, *store.Webhook) {
	ctx := context.Background()
	p := &store.Project{Name: "bench", CreateTime: now}
	must(b, s.CreateProject(ctx, p))
	w := &store.Webhook{ProjectID: p.ID, Name: "w", SystemName: "w", Method: "POST", URL: "https://example.com/", Enabled: true,
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", RetryPolicy: store.RetryPolicy{Kind: store.RetryExponential},
		Timeout: 15 * time.Second, CreateTime: now}
	must(b, s.CreateWebhook(ctx, w))
	return p, w
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkGetWebhookStats reads a webhook's statistics over 24 hours (hour buckets) and 3 hours (minute buckets)
// after a month of traffic was counted, on both backends: what a list page pays per row.
//
//	go test -run '^$' -bench BenchmarkGetWebhookStats ./internal/store/storesql/
func BenchmarkGetWebhookStats(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			s := storetest.NewSQLite(b)
			if backend == "postgres" {
				s = storetest.NewPostgres(b)
			}
			ctx := context.Background()
			now := time.Now().UTC()
			p, w := benchWebhook(b, s, now)
			// A delivery finished every 10 minutes for 31 days: every hour bucket and every minute bucket of
			// the last 3 hours that the statistics keep hold counts.
			for at := now.Add(-31 * 24 * time.Hour); at.Before(now); at = at.Add(10 * time.Minute) {
				res, err := s.PublishEvents(ctx, store.PublishEventsParams{ProjectID: p.ID, Events: []store.PublishInput{{Event: store.Event{EventType: "e"}, WebhookIDs: []string{w.ID}}}, Now: at, IdempotencyWindow: time.Hour})
				must(b, err)
				c, err := s.ClaimDeliveries(ctx, at, store.ClaimRequest{Limit: 10, Lease: time.Minute, PerWebhook: 10})
				must(b, err)
				for _, d := range c.Deliveries {
					must(b, s.CompleteDeliveries(ctx, []store.Outcome{{DeliveryID: d.ID, ClaimToken: d.ClaimToken, Status: store.StatusDone,
						Attempts: 1, LastStatusCode: 200, Attempt: &store.Attempt{StartTime: at, Duration: 30 * time.Millisecond}}}, at))
				}
				_ = res
			}
			for _, window := range []time.Duration{3 * time.Hour, 24 * time.Hour, 30 * 24 * time.Hour} {
				b.Run(window.String(), func(b *testing.B) {
					for b.Loop() {
						if _, err := s.GetWebhookStats(ctx, store.WebhookStatsParams{ProjectID: p.ID, WebhookID: w.ID, Window: window, Now: now}); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

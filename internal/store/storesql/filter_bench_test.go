package storesql_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// BenchmarkPublishFilters measures one publish of an event that 100 subscriptions (100 webhooks) receive,
// with no filters and with a CEL filter on each (all matching, so both runs queue 100 deliveries and the
// difference is the filters' evaluation; half=50 matching), on both backends:
//
//	go test -run '^$' -bench BenchmarkPublishFilters -benchtime 200x ./internal/store/storesql/
func BenchmarkPublishFilters(b *testing.B) {
	for _, backend := range []struct {
		name string
		open func(testing.TB) *storetest.DB
	}{{"sqlite", storetest.NewSQLite}, {"postgres", storetest.NewPostgres}} {
		for _, c := range []struct {
			name   string
			filter func(i int) string
			want   int
		}{
			{"filters=none", func(int) string { return "" }, 100},
			{"filters=100", func(i int) string {
				return fmt.Sprintf(`data.amount > %d && subject.startsWith("cus_") && data.items.exists(x, x.sku == "a")`, i%50)
			}, 100},
			{"filters=100/half", func(i int) string { return fmt.Sprintf(`data.amount > %d`, i) }, 50},
		} {
			b.Run(backend.name+"/"+c.name, func(b *testing.B) {
				s := backend.open(b)
				ctx := context.Background()
				now := time.Now().UTC()
				p := &store.Project{Name: "bench", CreateTime: now}
				if err := s.CreateProject(ctx, p); err != nil {
					b.Fatal(err)
				}
				if err := s.CreateEventType(ctx, &store.EventType{ProjectID: p.ID, Name: "order.paid", CreateTime: now}); err != nil {
					b.Fatal(err)
				}
				for i := range 100 {
					w := &store.Webhook{ProjectID: p.ID, Name: fmt.Sprint("w", i), SystemName: fmt.Sprint("w", i), Method: "POST",
						URL: "https://example.com/hook", Enabled: true, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
						RetryPolicy: store.RetryPolicy{Kind: store.RetryExponential}, Timeout: 15 * time.Second, CreateTime: now}
					if err := s.CreateWebhook(ctx, w); err != nil {
						b.Fatal(err)
					}
					if err := s.CreateSubscription(ctx, &store.Subscription{ProjectID: p.ID, WebhookID: w.ID, EventTypes: []string{"order.paid"},
						Filter: c.filter(i), Enabled: true, CreateTime: now}); err != nil {
						b.Fatal(err)
					}
				}
				payload := []byte(`{"amount":50,"currency":"EUR","items":[{"sku":"b"},{"sku":"a"}],"customer":{"id":"cus_1"}}`)
				in := []store.PublishInput{{Event: store.Event{EventType: "order.paid", Subject: "cus_1", Payload: payload}}}
				b.ResetTimer()
				for range b.N {
					res, err := s.PublishEvents(ctx, store.PublishEventsParams{ProjectID: p.ID, Events: in, Now: time.Now(), IdempotencyWindow: time.Hour})
					if err != nil {
						b.Fatal(err)
					}
					if len(res[0].DeliveryIDs) != c.want {
						b.Fatalf("%d deliveries, want %d", len(res[0].DeliveryIDs), c.want)
					}
				}
			})
		}
	}
}

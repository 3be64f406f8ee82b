package trigger_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/server/clock"
	"github.com/hookd/hookd/server/store"
	"github.com/hookd/hookd/server/store/storetest"
	"github.com/hookd/hookd/server/trigger"
)

// BenchmarkIngest posts 1 KiB JSON bodies to one trigger through the real handler over loopback HTTP
// (each request: trigger lookup, rate-limit token, execution + event + delivery in one transaction).
func BenchmarkIngest(b *testing.B) {
	for _, be := range []struct {
		name string
		open func(testing.TB) store.Store
	}{
		{"sqlite", func(tb testing.TB) store.Store { return storetest.NewSQLite(tb) }},
		{"postgres", func(tb testing.TB) store.Store { return storetest.NewPostgres(tb) }},
	} {
		b.Run(be.name, func(b *testing.B) {
			st := be.open(b)
			url := benchTrigger(b, st)
			body := benchBody()
			client := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}
			b.SetBytes(int64(len(body)))
			b.SetParallelism(8) // 8×GOMAXPROCS concurrent senders, like many webhook sources at once
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					res, err := client.Post(url, "application/json", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, res.Body)
					_ = res.Body.Close()
					if res.StatusCode != http.StatusOK {
						b.Errorf("status %d", res.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
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
	srv := httptest.NewServer(trigger.NewHandler(trigger.Config{Store: st, Clock: clock.Real{}}))
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

package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// BenchmarkCreateWebhook measures sequential CreateWebhook calls (Connect over loopback HTTP, auth interceptor,
// validation, one insert) on each backend and reports p50/p99 latency. The issue's figure is 1,000 calls:
//
//	go test -run '^$' -bench BenchmarkCreateWebhook -benchtime 1000x ./internal/api/
func BenchmarkCreateWebhook(b *testing.B) {
	for _, bk := range []struct {
		name string
		open func(testing.TB) *storetest.DB
	}{{"sqlite", storetest.NewSQLite}, {"postgres", storetest.NewPostgres}} {
		b.Run(bk.name, func(b *testing.B) {
			ctx := context.Background()
			st := bk.open(b)
			if err := st.CreateProject(ctx, &store.Project{ID: "bench", Name: "bench"}); err != nil {
				b.Fatal(err)
			}
			key, err := auth.IssueKey(ctx, st, &store.APIKey{ProjectID: "bench", Name: "bench", Role: store.RoleAdmin})
			if err != nil {
				b.Fatal(err)
			}
			mux := http.NewServeMux()
			mux.Handle(hookdv1connect.NewWebhookServiceHandler(api.NewWebhookService(api.Deps{Store: st, Clock: clock.Real{}}, nil),
				connect.WithInterceptors(apierr.NewInterceptor(nil), auth.NewInterceptor(st, auth.DefaultPolicy()))))
			srv := httptest.NewServer(mux)
			defer srv.Close()
			client := hookdv1connect.NewWebhookServiceClient(srv.Client(), srv.URL, connect.WithInterceptors(bearer(key)))
			lat := make([]time.Duration, 0, b.N)
			for i := 0; b.Loop(); i++ {
				t0 := time.Now()
				_, err := client.CreateWebhook(ctx, connect.NewRequest(&hookdv1.CreateWebhookRequest{
					Name: fmt.Sprintf("Order paid %d", i), Url: "https://example.com/hooks/orders",
					Headers: []*hookdv1.Header{{Name: "X-Source", Value: "hookd"}}}))
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99_ms")
		})
	}
}

// bearer sends the API key with every call.
func bearer(key string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, r connect.AnyRequest) (connect.AnyResponse, error) {
			r.Header().Set("Authorization", "Bearer "+key)
			return next(ctx, r)
		}
	}
}

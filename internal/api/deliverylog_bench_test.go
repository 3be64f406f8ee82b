package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
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

// BenchmarkDeliveryLog measures the delivery log on PostgreSQL with many deliveries (HOOKD_BENCH_ROWS,
// default 100,000; the issue's figure uses 1,000,000): ListDeliveries with a filter, GetDelivery, and the
// export's rows/s, through the real Connect handler over loopback HTTP. Opt-in (seeding takes minutes):
//
//	HOOKD_BENCH_ROWS=1000000 go test -run '^$' -bench BenchmarkDeliveryLog -benchtime 2000x ./internal/api/
func BenchmarkDeliveryLog(b *testing.B) {
	rows := 100_000
	if v := os.Getenv("HOOKD_BENCH_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			b.Fatalf("HOOKD_BENCH_ROWS=%q: want a number ≥ 1000", v)
		}
		rows = n
	}
	ctx := context.Background()
	st := storetest.NewPostgres(b)
	clk := clock.NewFake(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if err := st.CreateProject(ctx, &store.Project{ID: "bench", Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	key, err := auth.IssueKey(ctx, st, &store.APIKey{ProjectID: "bench", Name: "bench", Role: store.RoleAdmin})
	if err != nil {
		b.Fatal(err)
	}
	if err := st.CreateEventType(ctx, &store.EventType{ID: "et_bench", ProjectID: "bench", Name: "order.paid"}); err != nil {
		b.Fatal(err)
	}
	var webhooks []string
	for i := range 10 {
		w := &store.Webhook{ID: fmt.Sprintf("wh_bench%02d", i), ProjectID: "bench", Name: fmt.Sprintf("w%d", i),
			SystemName: fmt.Sprintf("w%d", i), Method: "POST", URL: "https://example.com/hook", Enabled: true,
			RetryPolicy: store.RetryPolicy{Kind: store.RetryExponential, MaxRetries: 15}, Timeout: 15 * time.Second, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
		if err := st.CreateWebhook(ctx, w); err != nil {
			b.Fatal(err)
		}
		webhooks = append(webhooks, w.ID)
	}
	seedStart := time.Now()
	var lastID string
	for done := 0; done < rows; {
		n := min(1000, rows-done)
		in := make([]store.PublishInput, n)
		for i := range in {
			in[i] = store.PublishInput{
				Event:      store.Event{EventType: "order.paid", Subject: fmt.Sprintf("cus_%d", (done+i)%5000), Payload: json.RawMessage(`{"amount":42}`)},
				WebhookIDs: []string{webhooks[(done+i)%len(webhooks)]},
			}
		}
		res, err := st.PublishEvents(ctx, store.PublishEventsParams{ProjectID: "bench", Events: in, Now: clk.Now(), IdempotencyWindow: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		lastID = res[len(res)-1].DeliveryIDs[0]
		// Finish most of them: 90% DONE, 10% FAILED, each with one stored attempt.
		res2, err := st.ClaimDeliveries(ctx, clk.Now(), store.ClaimRequest{Limit: n, Lease: time.Minute, PerWebhook: n})
		if err != nil {
			b.Fatal(err)
		}
		claimed := res2.Deliveries
		out := make([]store.Outcome, 0, len(claimed))
		for i, c := range claimed {
			o := store.Outcome{DeliveryID: c.ID, ClaimToken: c.ClaimToken, Status: store.StatusDone, LastStatusCode: 200, Attempts: 1,
				Attempt: &store.Attempt{DeliveryID: c.ID, Number: 1, StartTime: clk.Now(), Duration: 40 * time.Millisecond,
					RequestMethod: "POST", RequestURL: "https://example.com/hook", RequestBody: `{"amount":42}`, ResponseStatusCode: 200, ResponseBody: "ok"}}
			if i%10 == 0 {
				o.Status, o.LastStatusCode, o.Reason = store.StatusFailed, 400, "invalid account"
				o.Attempt.ResponseStatusCode = 400
			}
			out = append(out, o)
		}
		if err := st.CompleteDeliveries(ctx, out, clk.Now()); err != nil {
			b.Fatal(err)
		}
		done += n
		clk.Advance(time.Second)
	}
	b.Logf("seeded %d events/deliveries/attempts in %s", rows, time.Since(seedStart).Round(time.Second))
	if _, err := st.Pool().ExecContext(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}

	deps := api.Deps{Store: st, Clock: clk}
	mux := http.NewServeMux()
	opt := connect.WithInterceptors(apierr.NewInterceptor(nil), auth.NewInterceptor(st, auth.DefaultPolicy()))
	mux.Handle(hookdv1connect.NewDeliveryServiceHandler(api.NewDeliveryService(deps), opt))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := hookdv1connect.NewDeliveryServiceClient(srv.Client(), srv.URL, connect.WithInterceptors(bearer(key)))

	measure := func(b *testing.B, call func(i int) error) {
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			t0 := time.Now()
			if err := call(i); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99_ms")
	}
	b.Run("ListDeliveries/status+webhook", func(b *testing.B) {
		measure(b, func(i int) error {
			_, err := client.ListDeliveries(ctx, connect.NewRequest(&hookdv1.ListDeliveriesRequest{PageSize: 50, Filter: &hookdv1.DeliveryFilter{
				Statuses: []hookdv1.DeliveryStatus{hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED}, WebhookId: webhooks[i%len(webhooks)]}}))
			return err
		})
	})
	b.Run("ListDeliveries/subject", func(b *testing.B) {
		measure(b, func(i int) error {
			_, err := client.ListDeliveries(ctx, connect.NewRequest(&hookdv1.ListDeliveriesRequest{PageSize: 50, Filter: &hookdv1.DeliveryFilter{
				Subject: fmt.Sprintf("cus_%d", i%5000)}}))
			return err
		})
	})
	b.Run("GetDelivery", func(b *testing.B) {
		measure(b, func(int) error {
			_, err := client.GetDelivery(ctx, connect.NewRequest(&hookdv1.GetDeliveryRequest{Id: lastID}))
			return err
		})
	})
	b.Run("ExportCSV", func(b *testing.B) {
		for b.Loop() {
			req := connect.NewRequest(&hookdv1.ExportDeliveriesRequest{Format: hookdv1.ExportFormat_EXPORT_FORMAT_CSV})
			req.Header().Set("Authorization", "Bearer "+key) // unary interceptors do not see streams
			stream, err := client.ExportDeliveries(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			var n int64
			t0 := time.Now()
			for stream.Receive() {
				n += int64(len(stream.Msg().GetData()))
			}
			if err := stream.Err(); err != nil {
				b.Fatal(err)
			}
			_ = stream.Close()
			b.ReportMetric(float64(rows)/time.Since(t0).Seconds(), "rows/s")
			b.ReportMetric(float64(n)/float64(rows), "bytes/row")
		}
	})
}

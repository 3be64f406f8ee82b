package storesql_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// BenchmarkTenantListDeliveries lists one tenant's newest deliveries (ListDeliveries with a tenant filter, page of
// 50) on PostgreSQL in a project of 10,000 tenants with 2 webhooks each and 1,000,000 deliveries, and reports the
// p50 and p99 latency of a call (the issue asks p99 ≤ 50 ms):
//
//	go test -run '^$' -bench BenchmarkTenantListDeliveries -benchtime 2000x ./internal/store/storesql/
func BenchmarkTenantListDeliveries(b *testing.B) {
	const tenants, deliveries = 10_000, 1_000_000
	s := storetest.NewPostgres(b)
	ctx := context.Background()
	now := time.Now().UTC()
	db := s.Pool()
	exec := func(q string, args ...any) {
		b.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			b.Fatal(err)
		}
	}
	exec(`INSERT INTO projects (id, name, create_time, update_time) VALUES ('prj_b', 'bench', $1, $1)`, now)
	exec(`INSERT INTO webhooks (id, project_id, name, system_name, method, url, retry_policy, timeout_ms, secret, tenant_id,
			create_time, update_time)
		SELECT 'wh_' || lpad(g::text, 8, '0'), 'prj_b', 'hook ' || g, 'hook_' || g, 'POST', 'https://example.com/' || g,
			'{"kind":"exponential"}', 15000, 'whsec_x', 'tenant_' || (g % $1), $2, $2
		FROM generate_series(0, $1 * 2 - 1) g`, tenants, now)
	// The day partition of now, through an ordinary publish.
	if _, err := s.PublishEvents(ctx, store.PublishEventsParams{ProjectID: "prj_b", Events: []store.PublishInput{{Event: store.Event{EventType: "order.paid"}}}, Now: now, IdempotencyWindow: time.Hour}); err != nil {
		b.Fatal(err)
	}
	prefix := id.New(id.Delivery, now)[:len("dlv_")+10] // the ULID's time part; the rest counts up
	evt := id.New(id.Event, now)
	exec(`INSERT INTO deliveries (id, project_id, event_id, webhook_id, integration_id, event_type, subject, status, attempts,
			create_time, update_time, tenant_id)
		SELECT $1 || lpad(g::text, 16, '0'), 'prj_b', $2, 'wh_' || lpad((g % ($3 * 2))::text, 8, '0'), '', 'order.paid', '',
			'done', 1, $4, $4, 'tenant_' || ((g % ($3 * 2)) % $3)
		FROM generate_series(1, $5) g`, prefix, evt, tenants, now, deliveries)
	exec(`ANALYZE`)

	rng := rand.New(rand.NewPCG(1, 2))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		ds, err := s.ListDeliveries(ctx, store.ListDeliveriesParams{ProjectID: "prj_b", Filter: store.DeliveryFilter{TenantID: "tenant_" + itoa(rng.IntN(tenants))}, Page: store.Page{Size: 51}})
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		if len(ds) != 51 {
			b.Fatalf("a tenant has %d deliveries on the first page, want 51 (100 each)", len(ds))
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

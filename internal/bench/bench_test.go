package bench_test

import (
	"context"
	"testing"

	"github.com/hookd/hookd/internal/bench"
	"github.com/hookd/hookd/internal/store/storetest"
)

// BenchmarkOrderedDelivery measures, in one in-process server, delivered events/s to an unordered webhook and then
// to an ordered one with 1,000 ordering keys (README "Delivery engine"), on SQLite and PostgreSQL:
//
//	go test -run '^$' -bench BenchmarkOrderedDelivery -benchtime 20000x ./internal/bench/
//
// b.N is the number of events of each run (at least 1,000).
func BenchmarkOrderedDelivery(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run("db="+db, func(b *testing.B) {
			cfg := bench.DefaultConfig()
			cfg.Server, cfg.Events, cfg.Ordered, cfg.Keys = bench.ServerInProc, max(b.N, 1000), true, 1000
			if db == "postgres" {
				cfg.DatabaseURL = storetest.PostgresURL(b)
			}
			res, err := bench.Measure(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res[0].Delivered, "unordered_events/s")
			b.ReportMetric(res[1].Delivered, "ordered_events/s")
			b.ReportMetric(100*res[1].Delivered/res[0].Delivered, "ordered_%")
		})
	}
}

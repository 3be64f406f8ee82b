package bench_test

import (
	"context"
	"math"
	"runtime"
	"testing"
	"time"

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

// TestIdle runs a short idle measurement (Config.Idle) of an in-process server with a few webhooks, on SQLite and
// PostgreSQL, and checks that it reports sane figures: PostgreSQL's only on PostgreSQL.
func TestIdle(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		// Not parallel: in-process, the server's CPU is the whole test process's.
		t.Run("db="+db, func(t *testing.T) {
			cfg := bench.DefaultConfig()
			cfg.Server, cfg.Webhooks, cfg.Idle = bench.ServerInProc, 3, 2*time.Second
			if db == "postgres" {
				cfg.DatabaseURL = storetest.PostgresURL(t)
			}
			res, err := bench.Measure(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 1 {
				t.Fatalf("got %d results, want 1", len(res))
			}
			r := res[0]
			if r.Idle < cfg.Idle {
				t.Errorf("measured window %s, want at least %s", r.Idle, cfg.Idle)
			}
			if r.Delivered != 0 || !math.IsNaN(r.WALPerEvent) {
				t.Errorf("idle run with delivery figures: %+v", r)
			}
			if !sane(r.IdleServerCPU) || r.IdleServerCPU > float64(100*runtime.NumCPU()) {
				t.Errorf("server CPU %v %% of a core", r.IdleServerCPU)
			}
			if db == "sqlite" {
				if !math.IsNaN(r.IdlePostgresCPU) || !math.IsNaN(r.IdleCommitsPerSecond) {
					t.Errorf("PostgreSQL figures on SQLite: %+v", r)
				}
				return
			}
			// PostgreSQL's CPU is NaN when its processes are not visible here (another host or container).
			if !sane(r.IdlePostgresCPU) && !math.IsNaN(r.IdlePostgresCPU) {
				t.Errorf("PostgreSQL CPU %v %% of a core", r.IdlePostgresCPU)
			}
			if !sane(r.IdleCommitsPerSecond) {
				t.Errorf("%v commits/s", r.IdleCommitsPerSecond)
			}
		})
	}
}

// TestBenchWAL runs a short delivery benchmark and checks the WAL per delivered event: positive on PostgreSQL (every
// event is written), NaN (not measured) on SQLite.
func TestBenchWAL(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run("db="+db, func(t *testing.T) {
			cfg := bench.DefaultConfig()
			cfg.Server, cfg.Events = bench.ServerInProc, 200
			if db == "postgres" {
				cfg.DatabaseURL = storetest.PostgresURL(t)
			}
			res, err := bench.Measure(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if w := res[0].WALPerEvent; db == "sqlite" && !math.IsNaN(w) || db == "postgres" && !(sane(w) && w > 0) {
				t.Errorf("WAL per delivered event %v bytes on %s", w, db)
			}
		})
	}
}

// sane reports whether a measured figure is finite and not negative.
func sane(v float64) bool { return v >= 0 && !math.IsInf(v, 0) }

package purge

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// BenchmarkProjectRetentionSize measures what a project's own retention and payload retention cost on PostgreSQL:
// 100,000 events × 10 webhooks = 1,000,000 deliveries over 10 days (1 KB payloads), then one purger round with a
// 5-day retention and a 2-day payload retention. It logs the log tables' sizes (all partitions, with TOAST and
// indexes) and dead tuples before, after the round, and after the VACUUM that autovacuum would run:
//
//	go test -run '^$' -bench BenchmarkProjectRetentionSize -benchtime 1x -v ./internal/purge/
func BenchmarkProjectRetentionSize(b *testing.B) {
	for range b.N {
		st := storetest.NewPostgres(b)
		ctx := context.Background()
		now := time.Now().UTC()
		p := &store.Project{ID: "prj_size", Name: "size"}
		if err := st.CreateProject(ctx, p); err != nil {
			b.Fatal(err)
		}
		var hooks []string
		for i := range 10 {
			w := &store.Webhook{ProjectID: p.ID, Name: "w", SystemName: fmt.Sprint("w", i), Method: "POST", URL: "https://example.com/",
				Enabled: true, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", RetryPolicy: store.RetryPolicy{Kind: store.RetryNone}}
			if err := st.CreateWebhook(ctx, w); err != nil {
				b.Fatal(err)
			}
			hooks = append(hooks, w.ID)
		}
		payload := []byte(`{"pad":"` + strings.Repeat("x", 1000) + `"}`)
		for d := range 10 {
			at := now.Add(-time.Duration(d+1) * 24 * time.Hour)
			for range 20 {
				in := make([]store.PublishInput, 500)
				for i := range in {
					in[i] = store.PublishInput{Event: store.Event{EventType: "e", Subject: "cus", Payload: payload}, WebhookIDs: hooks}
				}
				if _, err := st.PublishEvents(ctx, store.PublishEventsParams{ProjectID: p.ID, Events: in, Now: at, IdempotencyWindow: time.Hour}); err != nil {
					b.Fatal(err)
				}
			}
		}
		// The deliveries are finished (the retention deletes queue rows too, but a real log is mostly finished).
		if _, err := st.Pool().ExecContext(ctx, `UPDATE deliveries SET status = 'done'`); err != nil {
			b.Fatal(err)
		}
		if _, err := st.Pool().ExecContext(ctx, `TRUNCATE delivery_queue`); err != nil {
			b.Fatal(err)
		}
		report := func(when string) {
			if _, err := st.Pool().ExecContext(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
				b.Log(err)
			}
			for _, tbl := range []string{"events", "deliveries"} {
				var size, dead, live int64
				if err := st.Pool().QueryRowContext(ctx, `SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0),
						COALESCE(sum(s.n_dead_tup), 0), COALESCE(sum(s.n_live_tup), 0)
					FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_stat_user_tables s ON s.relid = c.oid
					WHERE i.inhparent = $1::regclass`, tbl).Scan(&size, &dead, &live); err != nil {
					b.Fatal(err)
				}
				b.Logf("%-28s %-10s %8.1f MB  live %8d  dead %8d", when, tbl, float64(size)/(1<<20), live, dead)
			}
		}
		if _, err := st.Pool().ExecContext(ctx, `VACUUM ANALYZE`); err != nil {
			b.Fatal(err)
		}
		report("before")
		p.Retention, p.PayloadRetention = 5*24*time.Hour, 2*24*time.Hour
		if err := st.UpdateProject(ctx, p); err != nil {
			b.Fatal(err)
		}
		pg := New(Config{Store: st, Retention: 30 * 24 * time.Hour, Clock: clock.NewFake(now), Logger: slog.New(slog.DiscardHandler)})
		t0 := time.Now()
		if _, err := pg.runOnce(ctx); err != nil {
			b.Fatal(err)
		}
		b.Logf("purger round: %s", time.Since(t0).Round(time.Millisecond))
		report("after the round")
		if _, err := st.Pool().ExecContext(ctx, `VACUUM ANALYZE`); err != nil {
			b.Fatal(err)
		}
		report("after VACUUM (autovacuum)")
	}
}

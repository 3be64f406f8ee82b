package purge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
	"github.com/hookd/hookd/internal/store/storetest"
)

const project = "prj_purge"

// countingStore records the limits of every Purge call.
type countingStore struct {
	*storetest.DB
	mu     sync.Mutex
	limits []int
	counts []int
}

func (c *countingStore) Purge(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	n, err := c.Store.Purge(ctx, cutoff, limit)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limits, c.counts = append(c.limits, limit), append(c.counts, n)
	return n, err
}

func (c *countingStore) calls() ([]int, []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.limits...), append([]int(nil), c.counts...)
}

// seedStore creates the project and a webhook.
func seedStore(t *testing.T, st *storetest.DB) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, st.CreateProject(ctx, &store.Project{ID: project, Name: "purge"}))
	require.NoError(t, st.CreateWebhook(ctx, &store.Webhook{
		ID: "wh_purge", ProjectID: project, Name: "w", SystemName: "w", Method: "POST", URL: "https://example.com/hook",
		Enabled: true, RetryPolicy: store.RetryPolicy{Kind: store.RetryExponential, MaxRetries: 15}, Timeout: 15 * time.Second,
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	}))
}

// publishAt publishes n events at time at, each with one delivery finished with one attempt; it returns
// the event ids and delivery ids.
func publishAt(t *testing.T, st *storetest.DB, at time.Time, n int) (events, deliveries []string) {
	t.Helper()
	ctx := context.Background()
	in := make([]store.PublishInput, n)
	for i := range in {
		in[i] = store.PublishInput{Event: store.Event{EventType: "order.paid"}, WebhookIDs: []string{"wh_purge"}}
	}
	res, err := st.PublishEvents(ctx, store.PublishEventsParams{ProjectID: project, Events: in, Now: at, IdempotencyWindow: time.Hour})
	require.NoError(t, err)
	for _, r := range res {
		events, deliveries = append(events, r.Event.ID), append(deliveries, r.DeliveryIDs...)
	}
	claimed, err := st.ClaimDeliveries(ctx, at, store.ClaimRequest{Limit: 1000, Lease: time.Minute, PerWebhook: 1000})
	require.NoError(t, err)
	require.Len(t, claimed.Deliveries, n)
	out := make([]store.Outcome, 0, n)
	for _, c := range claimed.Deliveries {
		out = append(out, store.Outcome{DeliveryID: c.ID, ClaimToken: c.ClaimToken, Status: store.StatusDone, LastStatusCode: 200, Attempts: 1,
			Attempt: &store.Attempt{DeliveryID: c.ID, StartTime: at, RequestMethod: "POST", RequestURL: "https://example.com/hook", ResponseStatusCode: 200}})
	}
	require.NoError(t, st.CompleteDeliveries(ctx, out, at))
	return events, deliveries
}

// requireKept checks that events and their deliveries (with attempts) exist, or are gone.
func requireKept(t *testing.T, st store.Store, kept bool, events, deliveries []string) {
	t.Helper()
	ctx := context.Background()
	for _, id := range events {
		_, err := st.GetEvent(ctx, project, id)
		if kept {
			require.NoError(t, err, id)
		} else {
			require.ErrorIs(t, err, store.ErrNotFound, id)
		}
	}
	for _, id := range deliveries {
		_, err := st.GetDelivery(ctx, project, id)
		atts, aerr := st.ListAttempts(ctx, project, id)
		require.NoError(t, aerr)
		if kept {
			require.NoError(t, err, id)
			require.Len(t, atts, 1, id)
		} else {
			require.ErrorIs(t, err, store.ErrNotFound, id)
			require.Empty(t, atts, id)
		}
	}
}

func requirePurgedMetric(t *testing.T, reg *prometheus.Registry, want string) {
	t.Helper()
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP hookd_purged_events_total Events (with their deliveries and attempts) deleted by the retention purge.
# TYPE hookd_purged_events_total counter
hookd_purged_events_total `+want+"\n"), "hookd_purged_events_total"))
}

// TestRunOnceSQLite: SQLite deletes rows older than the cutoff, in small batches.
func TestRunOnceSQLite(t *testing.T) {
	t.Parallel()
	func(t *testing.T, st *storetest.DB) {
		ctx := context.Background()
		seedStore(t, st)
		now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
		cutoff := now.Add(-24 * time.Hour)
		oldEvents, oldDeliveries := publishAt(t, st, cutoff.Add(-30*24*time.Hour), 4)
		e, d := publishAt(t, st, cutoff.Add(-time.Microsecond), 6)
		oldEvents, oldDeliveries = append(oldEvents, e...), append(oldDeliveries, d...)
		edgeEvents, edgeDeliveries := publishAt(t, st, cutoff, 2)
		youngEvents, youngDeliveries := publishAt(t, st, now.Add(-time.Hour), 3)

		// Trigger signatures are remembered until they expire: three have, one has not.
		for i, exp := range []time.Time{now.Add(-time.Hour), now.Add(-time.Minute), now, now.Add(time.Minute)} {
			_, err := st.RememberTriggerSignature(ctx, store.RememberTriggerSignatureParams{TriggerID: "trg_1", Digest: fmt.Sprint("d", i), Expire: exp, Now: exp.Add(-time.Minute)})
			require.NoError(t, err)
		}

		cs := &countingStore{DB: st}
		reg := prometheus.NewRegistry()
		clk := clock.NewFake(now)
		p := New(Config{Store: cs, Retention: 24 * time.Hour, BatchSize: 3, Clock: clk, Logger: slog.New(slog.DiscardHandler), Registerer: reg})
		requirePurgedMetric(t, reg, "0")

		n, err := p.runOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, 10, n)
		limits, counts := cs.calls()
		require.Equal(t, []int{3, 3, 3, 3}, limits, "small batches")
		require.Equal(t, []int{3, 3, 3, 1}, counts)
		var digests []string
		require.NoError(t, st.Pool().SelectContext(ctx, &digests, `SELECT digest FROM trigger_signatures`))
		require.Equal(t, []string{"d3"}, digests, "expired trigger signatures are forgotten")
		requireKept(t, st, false, oldEvents, oldDeliveries)
		requireKept(t, st, true, edgeEvents, edgeDeliveries)
		requireKept(t, st, true, youngEvents, youngDeliveries)
		requirePurgedMetric(t, reg, "10")

		// Nothing more is older than the cutoff.
		n, err = p.runOnce(ctx)
		require.NoError(t, err)
		require.Zero(t, n)
		requirePurgedMetric(t, reg, "10")

		// A microsecond later the events created exactly at the old cutoff are older than the new one.
		clk.Advance(time.Microsecond)
		n, err = p.runOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		requireKept(t, st, false, edgeEvents, edgeDeliveries)
		requireKept(t, st, true, youngEvents, youngDeliveries)
		requirePurgedMetric(t, reg, "12")

		clk.Advance(24 * time.Hour)
		n, err = p.runOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, 3, n)
		requireKept(t, st, false, youngEvents, youngDeliveries)
		requirePurgedMetric(t, reg, "15")
	}(t, storetest.NewSQLite(t))
}

// TestRunOncePostgres: PostgreSQL drops the day partitions of the log tables once the whole day is older than
// the retention, creates partitions a week ahead, and deletes no rows one by one.
func TestRunOncePostgres(t *testing.T) {
	t.Parallel()
	st := storetest.NewPostgres(t)
	ctx := context.Background()
	seedStore(t, st)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	cutoff := now.Add(-24 * time.Hour) // 2026-05-31 12:00
	oldEvents, oldDeliveries := publishAt(t, st, cutoff.Add(-30*24*time.Hour), 4)
	e, d := publishAt(t, st, time.Date(2026, 5, 30, 23, 59, 59, 0, time.UTC), 3) // the day before the cutoff's
	oldEvents, oldDeliveries = append(oldEvents, e...), append(oldDeliveries, d...)
	sameDayEvents, sameDayDeliveries := publishAt(t, st, cutoff.Add(-time.Microsecond), 2) // the cutoff's day: kept
	youngEvents, youngDeliveries := publishAt(t, st, now.Add(-time.Hour), 3)

	cs := &countingStore{DB: st}
	clk := clock.NewFake(now)
	reg := prometheus.NewRegistry()
	p := New(Config{Store: cs, Retention: 24 * time.Hour, BatchSize: 3, Clock: clk, Logger: slog.New(slog.DiscardHandler), Registerer: reg})
	_, err := p.runOnce(ctx)
	require.NoError(t, err)
	_, counts := cs.calls()
	require.Equal(t, []int{0}, counts, "no rows are deleted one by one")
	requireKept(t, st, false, oldEvents, oldDeliveries)
	requireKept(t, st, true, sameDayEvents, sameDayDeliveries)
	requireKept(t, st, true, youngEvents, youngDeliveries)
	require.Equal(t, 2.0, testutil.ToFloat64(p.days), "two days dropped")
	partitions := func() []string {
		var names []string
		require.NoError(t, st.Pool().Select(&names, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events' ORDER BY 1`))
		return names
	}
	got := partitions()
	require.NotContains(t, got, "events_p20260430")
	require.NotContains(t, got, "events_p20260530")
	require.Contains(t, got, "events_p20260531")
	require.Contains(t, got, "events_p20260608", "partitions exist a week ahead")
	depth, err := st.QueueDepth(ctx)
	require.NoError(t, err)
	require.Zero(t, depth)

	// Once the cutoff passes the end of 2026-05-31, that day goes too; nothing newer is touched.
	clk.Set(time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC))
	_, err = p.runOnce(ctx)
	require.NoError(t, err)
	requireKept(t, st, false, sameDayEvents, sameDayDeliveries)
	requireKept(t, st, true, youngEvents, youngDeliveries)
	require.NotContains(t, partitions(), "events_p20260531")
}

// failingStore fails every call.
type failingStore struct{}

func (failingStore) Purge(context.Context, time.Time, int) (int, error) {
	return 0, errors.New("database is down")
}
func (failingStore) DropPartitionsBefore(context.Context, time.Time) ([]time.Time, error) {
	return nil, errors.New("database is down")
}
func (failingStore) EnsurePartitions(context.Context, time.Time, time.Time) error {
	return errors.New("database is down")
}
func (failingStore) ExpireIdempotencyKeys(context.Context, time.Time, int) (int, error) {
	return 0, errors.New("database is down")
}
func (failingStore) ExpireTriggerSignatures(context.Context, time.Time, int) (int, error) {
	return 0, errors.New("database is down")
}
func (failingStore) VacuumQueue(context.Context) error { return errors.New("database is down") }
func (failingStore) ExpireStats(context.Context, time.Time) (int, error) {
	return 0, errors.New("database is down")
}
func (failingStore) ProjectLifecycles(context.Context) ([]store.ProjectLifecycle, error) {
	return nil, errors.New("database is down")
}
func (failingStore) PurgeProject(context.Context, string, time.Time, int) (int, error) {
	return 0, errors.New("database is down")
}
func (failingStore) ExpirePayloads(context.Context, string, time.Time, time.Time, int, func(context.Context) error) (int, error) {
	return 0, errors.New("database is down")
}

func TestRunOnceError(t *testing.T) {
	t.Parallel()
	p := New(Config{Store: failingStore{}, Logger: slog.New(slog.DiscardHandler)})
	_, err := p.runOnce(context.Background())
	require.ErrorContains(t, err, "database is down")
	require.Zero(t, testutil.ToFloat64(p.purged))
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	p := New(Config{Interval: -time.Second, BatchSize: -1, Retention: -time.Hour})
	require.Equal(t, time.Minute, p.cfg.Interval)
	require.Equal(t, 500, p.cfg.BatchSize)
	require.Equal(t, 90*24*time.Hour, p.cfg.Retention)
	require.NotNil(t, p.cfg.Clock)
}

func TestStartStop(t *testing.T) {
	t.Parallel()
	storetest.ForEachStoreParallel(t, func(t *testing.T, st *storetest.DB) {
		ctx := context.Background()
		seedStore(t, st)
		now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
		oldEvents, oldDeliveries := publishAt(t, st, now.Add(-72*time.Hour), 5)
		youngEvents, youngDeliveries := publishAt(t, st, now.Add(-time.Hour), 2)
		reg := prometheus.NewRegistry()
		signals := &TestSignals{}
		signals.Round.Init()
		p := New(Config{Store: st, Retention: 24 * time.Hour, Interval: time.Hour, BatchSize: 2, Clock: clock.NewFake(now),
			Logger: slog.New(slog.DiscardHandler), Registerer: reg, Signals: signals})

		p.Stop() // before Start: nothing to stop
		require.NoError(t, p.Start(ctx))
		require.ErrorContains(t, p.Start(ctx), "already started")
		// The first round runs at once, not after the interval.
		signals.Round.Wait(t)
		if st.Dialect() == storesql.DialectPostgres {
			require.Equal(t, 1.0, testutil.ToFloat64(p.days), "PostgreSQL: their day")
		} else {
			require.Equal(t, 5.0, testutil.ToFloat64(p.purged), "SQLite: 5 events in small batches")
		}
		p.Stop()
		p.Stop()
		requireKept(t, st, false, oldEvents, oldDeliveries)
		requireKept(t, st, true, youngEvents, youngDeliveries)

		// Stopped, it can start again; concurrent Stops are safe.
		require.NoError(t, p.Start(ctx))
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(p.Stop)
		}
		wg.Wait()
		require.NoError(t, p.Start(ctx))
		p.Stop()
	})
}

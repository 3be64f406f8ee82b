package storesql_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
	"github.com/hookd/hookd/internal/store/storetest"
)

// erasedSubject and keptSubject are unusual enough that finding them in a database file means a row holds them.
const (
	erasedSubject = "cus_Erase-Me-7f3a9c"
	keptSubject   = "cus_Keep-Me-41b2d8"
)

// TestEraseSubject (issue 26): a subject with events in three day partitions, a queued, a retrying, a done and a
// failed delivery (whose hookd.delivery.failed event names it and was delivered), an idempotency key and a trigger
// execution is erased in small batches: afterwards no row anywhere holds the subject (the SQLite files after a
// checkpoint, a pg_dump and every table's rows as text), the other subject and the other project are intact, and
// hookd.subject.erased carries only the subject's hash.
func TestEraseSubject(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{storesql.DialectSQLite, storesql.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			var url, dir string
			if dialect == storesql.DialectSQLite {
				dir = t.TempDir()
				url = dir
			} else {
				url = storetest.PostgresURL(t)
			}
			db, err := storesql.Open(ctx, storesql.Config{URL: url, Keyring: secret.NewRandom(), Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			s := storetest.Wrap(db)
			f := setup(t, s)
			ops := f.newWebhook(t, f.project.ID, "ops")
			f.subscribe(t, f.project.ID, ops.ID, "", health.EventDeliveryFailed, health.EventSubjectErased)
			other := f.newProject(t, "other")
			otherHook := f.newWebhook(t, other.ID, "other-orders")
			f.newEventType(t, other.ID, "user.created")
			f.subscribe(t, other.ID, otherHook.ID, "", "user.created")

			day := 24 * time.Hour
			publish := func(projectID, subject string, at time.Time, key string) store.PublishResult {
				res, err := s.PublishEvents(ctx, store.PublishEventsParams{ProjectID: projectID, Events: []store.PublishInput{{Event: store.Event{EventType: "user.created",
					Subject: subject, IdempotencyKey: key, Payload: []byte(`{"customer":"` + subject + `"}`)}}}, Now: at, IdempotencyWindow: 3 * day})
				require.NoError(t, err)
				return res[0]
			}
			var erased, kept []store.PublishResult
			for i, at := range []time.Time{t0.Add(-2 * day), t0.Add(-day), t0} { // three day partitions
				erased = append(erased, publish(f.project.ID, erasedSubject, at, fmt.Sprintf("order-%s-%d", erasedSubject, i)))
				kept = append(kept, publish(f.project.ID, keptSubject, at, fmt.Sprintf("order-%s-%d", keptSubject, i)))
			}
			otherEvent := publish(other.ID, erasedSubject, t0, "")
			trg := &store.Trigger{ProjectID: f.project.ID, Name: "crm", EventType: "user.created", Enabled: true, CreateTime: t0}
			require.NoError(t, s.CreateTrigger(ctx, trg))
			exe := &store.Execution{ProjectID: f.project.ID, TriggerID: trg.ID, ReceiveTime: t0, Method: "POST",
				RawBody: `{"customer":"` + erasedSubject + `"}`, Status: 200, Subject: erasedSubject}
			res, err := s.RecordExecution(ctx, exe, &store.PublishInput{Event: store.Event{EventType: "user.created",
				Subject: erasedSubject, Payload: []byte(`{"customer":"` + erasedSubject + `"}`)}}, t0)
			require.NoError(t, err)
			erased = append(erased, *res)

			// Outcomes: the first day's delivery is done, the second's retrying, the third's failed for good; the
			// execution's is done; the other subject's are done. Every attempt's bodies hold the subject.
			outcome := map[string]store.Status{erased[0].DeliveryIDs[0]: store.StatusDone, erased[1].DeliveryIDs[0]: store.StatusRetrying,
				erased[2].DeliveryIDs[0]: store.StatusFailed, erased[3].DeliveryIDs[0]: store.StatusDone}
			complete := func(now time.Time) {
				var out []store.Outcome
				for _, c := range f.claim(t, now, 100) {
					st := cmpStatus(outcome[c.ID], store.StatusDone)
					next := time.Time{}
					if st == store.StatusRetrying {
						next = now.Add(time.Hour)
					}
					out = append(out, store.Outcome{DeliveryID: c.ID, ClaimToken: c.ClaimToken, Status: st, Attempts: 1,
						NextAttemptTime: next, LastStatusCode: map[bool]int{true: 200, false: 500}[st == store.StatusDone],
						WebhookID: c.WebhookID, Attempt: &store.Attempt{DeliveryID: c.ID, StartTime: now, RequestMethod: "POST",
							RequestURL: "https://example.com/orders", RequestBody: string(c.EventPayload), ResponseStatusCode: 200,
							ResponseBody: "ok " + c.Subject}})
				}
				require.NotEmpty(t, out)
				require.NoError(t, s.CompleteDeliveries(ctx, out, now))
			}
			complete(t0)
			complete(t0.Add(time.Second))                                                            // the hookd.delivery.failed delivery to ops
			erased = append(erased, publish(f.project.ID, erasedSubject, t0.Add(2*time.Second), "")) // stays QUEUED

			failed, err := s.ListEvents(ctx, f.project.ID, store.EventFilter{EventType: health.EventDeliveryFailed}, store.Page{Size: 10})
			require.NoError(t, err)
			require.Len(t, failed, 1)
			require.Contains(t, string(failed[0].Payload), erasedSubject, "the operational event names the subject")
			contents := dump(t, s, dir, url)
			require.True(t, strings.Contains(contents, erasedSubject), "the dump sees the subject before the erase")

			got, err := s.EraseSubject(ctx, f.project.ID, erasedSubject, t0.Add(3*time.Second), 2)
			require.NoError(t, err)
			assert.Equal(t, store.EraseResult{Cancelled: 2, Events: 5, Deliveries: 6, Attempts: 5, Executions: 1,
				IdempotencyKeys: 3, OperationalEvents: 1}, got)

			for _, r := range erased {
				_, err := s.GetEvent(ctx, f.project.ID, r.Event.ID)
				assert.ErrorIs(t, err, store.ErrNotFound)
			}
			for _, r := range kept {
				ev, err := s.GetEvent(ctx, f.project.ID, r.Event.ID)
				require.NoError(t, err)
				assert.Equal(t, store.DeliveryCounts{store.StatusDone: 1}, ev.Counts)
				atts, err := s.ListAttempts(ctx, f.project.ID, r.DeliveryIDs[0])
				require.NoError(t, err)
				assert.Len(t, atts, 1)
			}
			_, err = s.GetEvent(ctx, other.ID, otherEvent.Event.ID)
			require.NoError(t, err, "another project's events about the same subject stay")
			require.True(t, strings.Contains(dump(t, s, dir, url), erasedSubject), "the other project's rows")
			otherRes, err := s.EraseSubject(ctx, other.ID, erasedSubject, t0.Add(3*time.Second), 2)
			require.NoError(t, err)
			assert.Equal(t, store.EraseResult{Events: 1, Deliveries: 1, Attempts: 1}, otherRes)
			contents = dump(t, s, dir, url)
			if i := strings.Index(contents, erasedSubject); i >= 0 {
				t.Errorf("a row still holds the erased subject: …%q…", contents[max(0, i-300):min(len(contents), i+100)])
			}
			assert.True(t, strings.Contains(contents, keptSubject), "the other subject is still there")

			rec, err := s.ListEvents(ctx, f.project.ID, store.EventFilter{EventType: health.EventSubjectErased}, store.Page{Size: 10})
			require.NoError(t, err)
			require.Len(t, rec, 1)
			sum := sha256.Sum256([]byte(erasedSubject))
			assert.JSONEq(t, `{"subjectSha256":"`+hex.EncodeToString(sum[:])+`","events":5,"deliveries":6,"attempts":5,
				"executions":1,"cancelledDeliveries":2,"idempotencyKeys":3,"operationalEvents":1}`, string(rec[0].Payload))
			assert.Empty(t, rec[0].Subject)

			// A second erase finds nothing left (and records that too).
			again, err := s.EraseSubject(ctx, f.project.ID, erasedSubject, t0.Add(4*time.Second), 2)
			require.NoError(t, err)
			assert.Equal(t, store.EraseResult{}, again)
		})
	}
}

// cmpStatus returns st, or def when st is empty.
func cmpStatus(st, def store.Status) store.Status {
	if st == "" {
		return def
	}
	return st
}

// dump returns everything the database holds as text: on SQLite the bytes of its files after a checkpoint, on
// PostgreSQL a pg_dump (when the tool is installed) and every table's rows as text.
func dump(t *testing.T, s *storetest.DB, dir, url string) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	if s.Dialect() == storesql.DialectSQLite {
		var busy, logFrames, checkpointed int
		require.NoError(t, s.Pool().QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &checkpointed))
		require.Zero(t, busy, "the checkpoint is complete")
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			require.NoError(t, err)
			b.Write(bytes.ToValidUTF8(data, []byte{'?'}))
		}
		return b.String()
	}
	if path, err := exec.LookPath("pg_dump"); err == nil {
		out, err := exec.CommandContext(ctx, path, "--data-only", url).Output()
		require.NoError(t, err)
		b.Write(out)
	} else {
		t.Log("pg_dump is not installed: reading the tables only")
	}
	var tables []string
	require.NoError(t, s.Pool().SelectContext(ctx, &tables, `SELECT c.relname FROM pg_class c
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition`))
	for _, tbl := range tables {
		var rows []string
		require.NoError(t, s.Pool().SelectContext(ctx, &rows, fmt.Sprintf(`SELECT t::text FROM %s t`, pq.QuoteIdentifier(tbl))))
		b.WriteString(strings.Join(rows, "\n"))
	}
	return b.String()
}

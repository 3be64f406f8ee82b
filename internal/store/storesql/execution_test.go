package storesql_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

func TestRecordExecutions(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		other := f.newProject(t, "other")
		otherHook := f.newWebhook(t, other.ID, "other-hook")
		f.newEventType(t, other.ID, "user.created")
		f.subscribe(t, other.ID, otherHook.ID, "", "user.created")
		trgA := &store.Trigger{ProjectID: f.project.ID, Name: "a", EventType: "user.created", Enabled: true, CreateTime: t0}
		require.NoError(t, s.CreateTrigger(f.ctx, trgA))
		trgB := &store.Trigger{ProjectID: other.ID, Name: "b", EventType: "user.created", Enabled: true, CreateTime: t0}
		require.NoError(t, s.CreateTrigger(f.ctx, trgB))

		exe := func(trg *store.Trigger, body string) *store.Execution {
			return &store.Execution{ProjectID: trg.ProjectID, TriggerID: trg.ID, ReceiveTime: f.next(), Method: "POST",
				Headers: []store.Header{{Name: "X-N", Value: body}}, RawBody: body, Status: 200}
		}
		pub := func(subject string) *store.PublishInput {
			return &store.PublishInput{Event: store.Event{EventType: "user.created", Subject: subject, Payload: []byte(`{"s":"` + subject + `"}`)}}
		}
		in := []store.ExecutionRecord{
			{Execution: exe(trgA, "a1"), Publish: pub("a1")},
			{Execution: exe(trgB, "b1"), Publish: pub("b1")},
			{Execution: exe(trgA, "a2")}, // recorded only (e.g. a rejected request)
			{Execution: exe(trgB, "b2"), Publish: pub("b2")},
			{Execution: exe(trgA, "a3"), Publish: pub("a3")},
		}
		res, err := s.RecordExecutions(f.ctx, in, t0)
		require.NoError(t, err)
		require.Len(t, res, len(in))

		hookOf := map[string]string{f.project.ID: f.webhook.ID, other.ID: otherHook.ID}
		for i, r := range in {
			e := r.Execution
			require.NotEmpty(t, e.ID)
			got, err := s.GetExecution(f.ctx, e.ProjectID, e.ID)
			require.NoError(t, err, "execution %d", i)
			assert.Equal(t, e.RawBody, got.RawBody)
			assert.Equal(t, e.Headers, got.Headers)
			assert.Equal(t, e.TriggerID, got.TriggerID)
			if r.Publish == nil {
				assert.Nil(t, res[i])
				assert.Empty(t, got.EventID)
				continue
			}
			require.NotNil(t, res[i], "execution %d", i)
			assert.Equal(t, res[i].Event.ID, got.EventID, "the stored execution names its event")
			assert.Equal(t, res[i].Event.ID, e.EventID, "the input execution is updated")
			assert.Equal(t, "user.created", got.EventType)
			ev, err := s.GetEvent(f.ctx, e.ProjectID, got.EventID)
			require.NoError(t, err, "event of execution %d is in the execution's project", i)
			assert.Equal(t, r.Publish.Event.Subject, ev.Subject)
			assert.Equal(t, store.DeliveryCounts{store.StatusQueued: 1}, ev.Counts)
			require.Len(t, res[i].DeliveryIDs, 1)
			d, err := s.GetDelivery(f.ctx, e.ProjectID, res[i].DeliveryIDs[0])
			require.NoError(t, err)
			assert.Equal(t, hookOf[e.ProjectID], d.WebhookID, "each project's events go to its own subscriptions")
		}
		for _, trg := range []*store.Trigger{trgA, trgB} {
			list, err := s.ListExecutions(f.ctx, trg.ProjectID, trg.ID, store.Page{Size: 10})
			require.NoError(t, err)
			assert.Len(t, list, map[string]int{trgA.ID: 3, trgB.ID: 2}[trg.ID])
		}

		// One execution naming a trigger of another project fails the whole batch: nothing is stored.
		bad := []store.ExecutionRecord{
			{Execution: exe(trgA, "ok"), Publish: pub("ok")},
			{Execution: &store.Execution{ProjectID: f.project.ID, TriggerID: trgB.ID, Method: "POST"}, Publish: pub("bad")},
		}
		_, err = s.RecordExecutions(f.ctx, bad, t0)
		require.True(t, errors.Is(err, store.ErrNotFound), "got %v", err)
		list, err := s.ListExecutions(f.ctx, f.project.ID, trgA.ID, store.Page{Size: 10})
		require.NoError(t, err)
		assert.Len(t, list, 3, "the failed batch stored nothing")

		// RecordExecution is the one-record case.
		one := exe(trgB, "single")
		r, err := s.RecordExecution(f.ctx, one, pub("single"), t0.Add(time.Second))
		require.NoError(t, err)
		require.NotNil(t, r)
		assert.Equal(t, r.Event.ID, one.EventID)
		got, err := s.GetExecution(f.ctx, other.ID, one.ID)
		require.NoError(t, err)
		assert.Equal(t, r.Event.ID, got.EventID)
	})
}

// TestRecordExecutionsValues round-trips awkward values through the batch inserts (on PostgreSQL they travel as
// binary arrays): quotes, backslashes, braces, commas, NULL-like text, non-ASCII, empty strings, a NULL body,
// base64 flags and microsecond times.
func TestRecordExecutionsValues(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		trg := &store.Trigger{ProjectID: f.project.ID, Name: "v", EventType: "user.created", Enabled: true, CreateTime: t0}
		require.NoError(t, s.CreateTrigger(f.ctx, trg))
		awkward := []string{``, `"`, `\`, `\"`, `{a,b}`, `NULL`, `null`, `{"x":"\\u00e9"}`, "héllo ✓ 😀", "tab\tnew\nline", strings.Repeat("é", 5000)}
		var in []store.ExecutionRecord
		for i, v := range awkward {
			e := &store.Execution{ProjectID: trg.ProjectID, TriggerID: trg.ID, ReceiveTime: t0.Add(time.Duration(i)*time.Second + 123456*time.Microsecond),
				Method: "PATCH", Headers: []store.Header{{Name: "X-V", Value: v, Private: i%2 == 0}}, QueryParameters: []store.Header{{Name: v, Value: v}},
				PathFragment: v, RawBody: v, RawBodyBase64: i%3 == 0, ContentType: v, Status: 200 + i}
			if i%2 == 1 {
				b, err := json.Marshal(map[string]string{"v": v})
				require.NoError(t, err)
				e.Body = b
			}
			payload, err := json.Marshal(map[string]any{"data": v})
			require.NoError(t, err)
			in = append(in, store.ExecutionRecord{Execution: e, Publish: &store.PublishInput{Event: store.Event{EventType: "user.created", Subject: v, Payload: payload}}})
		}
		res, err := s.RecordExecutions(f.ctx, in, t0)
		require.NoError(t, err)
		for i, r := range in {
			want := *r.Execution
			got, err := s.GetExecution(f.ctx, want.ProjectID, want.ID)
			require.NoError(t, err, "value %d", i)
			assert.True(t, want.ReceiveTime.Equal(got.ReceiveTime), "value %d: receive time %v, want %v", i, got.ReceiveTime, want.ReceiveTime)
			got.ReceiveTime = want.ReceiveTime
			if want.Body == nil {
				assert.Nil(t, got.Body, "value %d: no parsed body stays NULL", i)
			} else {
				assert.JSONEq(t, string(want.Body), string(got.Body), "value %d", i)
			}
			got.Body, want.Body = nil, nil
			assert.Equal(t, want, *got, "value %d", i)
			ev, err := s.GetEvent(f.ctx, want.ProjectID, res[i].Event.ID)
			require.NoError(t, err)
			assert.Equal(t, awkward[i], ev.Subject)
			assert.JSONEq(t, string(r.Publish.Event.Payload), string(ev.Payload), "value %d", i)
		}
	})
}

// A trigger signature is remembered once until it expires; then it may be remembered again, and the purger's
// ExpireTriggerSignatures deletes expired rows only.
func TestRememberTriggerSignature(t *testing.T) {
	storetest.ForEachStoreParallel(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		expire := t0.Add(5 * time.Minute)
		fresh, err := s.RememberTriggerSignature(f.ctx, store.RememberTriggerSignatureParams{TriggerID: "trg_a", Digest: "d1", Expire: expire, Now: t0})
		require.NoError(t, err)
		assert.True(t, fresh)
		fresh, err = s.RememberTriggerSignature(f.ctx, store.RememberTriggerSignatureParams{TriggerID: "trg_a", Digest: "d1", Expire: expire, Now: t0.Add(time.Minute)})
		require.NoError(t, err)
		assert.False(t, fresh, "a replay within the window")
		fresh, err = s.RememberTriggerSignature(f.ctx, store.RememberTriggerSignatureParams{TriggerID: "trg_b", Digest: "d1", Expire: expire, Now: t0})
		require.NoError(t, err)
		assert.True(t, fresh, "another trigger's signatures are apart")
		fresh, err = s.RememberTriggerSignature(f.ctx, store.RememberTriggerSignatureParams{TriggerID: "trg_a", Digest: "d1", Expire: expire.Add(5 * time.Minute), Now: expire})
		require.NoError(t, err)
		assert.True(t, fresh, "an expired row is taken over")
		_, err = s.RememberTriggerSignature(f.ctx, store.RememberTriggerSignatureParams{TriggerID: "trg_a", Digest: "d2", Expire: t0.Add(time.Minute), Now: t0})
		require.NoError(t, err)

		n, err := s.ExpireTriggerSignatures(f.ctx, t0.Add(2*time.Minute), 100)
		require.NoError(t, err)
		assert.Equal(t, 1, n, "d2 of trg_a expired")
		n, err = s.ExpireTriggerSignatures(f.ctx, expire.Add(time.Hour), 1)
		require.NoError(t, err)
		assert.Equal(t, 1, n, "limited")
		n, err = s.ExpireTriggerSignatures(f.ctx, expire.Add(time.Hour), 100)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
	})
}

package storesql_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storesql"
)

// TestUpgradeTo0011DataLifecycle fills a database of the 0009 schema with a project, an event with a delivery, an
// attempt and an execution about a subject, migrates it with Open, and checks that 0011_data_lifecycle left every
// payload in place (nothing expired, no retention of the project's own) and that the subject can be erased.
func TestUpgradeTo0011DataLifecycle(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{storesql.DialectSQLite, storesql.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			old := openOldSchema(t, dialect, 9)
			now := time.Now().UTC().Truncate(time.Minute)
			evt, dlv, exe := id.New(id.Event, now), id.New(id.Delivery, now), id.New(id.Execution, now)
			exec := old.exec
			exec(`INSERT INTO projects (id, name, create_time, update_time) VALUES ('prj_1', 'acme', ?, ?)`, now, now)
			exec(`INSERT INTO triggers (id, project_id, name, create_time, update_time) VALUES ('trg_1', 'prj_1', 'crm', ?, ?)`, now, now)
			exec(`INSERT INTO events (id, project_id, event_type, subject, payload, create_time)
				VALUES (?, 'prj_1', 'order.paid', 'cus_1', '{"total":1}', ?)`, evt, now)
			exec(`INSERT INTO deliveries (id, project_id, event_id, webhook_id, event_type, subject, status, attempts, create_time, update_time)
				VALUES (?, 'prj_1', ?, 'wh_1', 'order.paid', 'cus_1', 'done', 1, ?, ?)`, dlv, evt, now, now)
			exec(`INSERT INTO attempts (delivery_id, number, start_time, request_body, response_body) VALUES (?, 1, ?, 'req', 'resp')`, dlv, now)
			exec(`INSERT INTO executions (id, project_id, trigger_id, receive_time, method, raw_body, subject)
				VALUES (?, 'prj_1', 'trg_1', ?, 'POST', 'raw', 'cus_1')`, exe, now)

			s := old.upgrade(ctx)
			p, err := s.GetProject(ctx, "prj_1")
			require.NoError(t, err)
			assert.Zero(t, p.Retention)
			assert.Zero(t, p.PayloadRetention)
			ev, err := s.GetEvent(ctx, "prj_1", evt)
			require.NoError(t, err)
			assert.False(t, ev.PayloadExpired)
			assert.JSONEq(t, `{"total":1}`, string(ev.Payload))
			atts, err := s.ListAttempts(ctx, "prj_1", dlv)
			require.NoError(t, err)
			require.Len(t, atts, 1)
			assert.False(t, atts[0].PayloadExpired)
			assert.Equal(t, "resp", atts[0].ResponseBody)
			e, err := s.GetExecution(ctx, "prj_1", exe)
			require.NoError(t, err)
			assert.False(t, e.PayloadExpired)
			assert.Equal(t, "raw", e.RawBody)
			ls, err := s.ProjectLifecycles(ctx)
			require.NoError(t, err)
			assert.Empty(t, ls)

			res, err := s.EraseSubject(ctx, "prj_1", "cus_1", now, 0)
			require.NoError(t, err)
			assert.Equal(t, store.EraseResult{Events: 1, Deliveries: 1, Attempts: 1, Executions: 1}, res)
		})
	}
}

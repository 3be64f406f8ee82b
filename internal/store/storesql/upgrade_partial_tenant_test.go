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

// TestUpgradeTo0016PartialTenantIndexes fills a database of the 0015 schema with events and deliveries of a tenant
// and of none, migrates it with Open, and checks that the tenant indexes became partial (rows of a tenant only)
// and that lists by tenant, and unfiltered, still find exactly what they found before.
func TestUpgradeTo0016PartialTenantIndexes(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{storesql.DialectSQLite, storesql.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			old := openOldSchema(t, dialect, 15)
			now := time.Now().UTC().Truncate(time.Minute)
			exec := old.exec
			exec(`INSERT INTO projects (id, name, create_time, update_time) VALUES ('prj_1', 'acme', ?, ?)`, now, now)
			exec(`INSERT INTO webhooks (id, project_id, name, system_name, method, url, retry_policy, timeout_ms, secret,
				tenant_id, create_time, update_time)
				VALUES ('wh_1', 'prj_1', 'Orders', 'orders', 'POST', 'https://example.com/hook', '{"kind":"exponential"}', 15000,
				'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', '', ?, ?)`, now, now)
			var tenantEvents, tenantDeliveries []string
			for i, tenant := range []string{"", "t1", "", "t1", "t2"} {
				at := now.Add(time.Duration(i) * time.Millisecond)
				evt, dlv := id.New(id.Event, at), id.New(id.Delivery, at)
				exec(`INSERT INTO events (id, project_id, event_type, subject, payload, tenant_id, create_time)
					VALUES (?, 'prj_1', 'order.paid', 'cus_1', '{"total":1}', ?, ?)`, evt, tenant, at)
				exec(`INSERT INTO deliveries (id, project_id, event_id, webhook_id, event_type, subject, status, attempts, tenant_id,
					create_time, update_time)
					VALUES (?, 'prj_1', ?, 'wh_1', 'order.paid', 'cus_1', 'done', 1, ?, ?, ?)`, dlv, evt, tenant, at, at)
				if tenant == "t1" {
					tenantEvents, tenantDeliveries = append([]string{evt}, tenantEvents...), append([]string{dlv}, tenantDeliveries...)
				}
			}

			s := old.upgrade(ctx)
			for _, index := range []string{"events_project_id_tenant_id_idx", "deliveries_project_id_tenant_id_idx"} {
				var def string
				q := `SELECT indexdef FROM pg_indexes WHERE indexname = $1 AND schemaname = current_schema()`
				if dialect == storesql.DialectSQLite {
					q = `SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`
				}
				require.NoError(t, s.Pool().GetContext(ctx, &def, q, index))
				assert.Contains(t, def, "WHERE", "%s is partial", index)
			}
			ds, err := s.ListDeliveries(ctx, store.ListDeliveriesParams{ProjectID: "prj_1", Filter: store.DeliveryFilter{TenantID: "t1"}, Page: store.Page{Size: 10}})
			require.NoError(t, err)
			assert.Equal(t, tenantDeliveries, ids(ds, func(d store.Delivery) string { return d.ID }))
			ds, err = s.ListDeliveries(ctx, store.ListDeliveriesParams{ProjectID: "prj_1", Page: store.Page{Size: 10}})
			require.NoError(t, err)
			assert.Len(t, ds, 5)
			es, err := s.ListEvents(ctx, "prj_1", store.EventFilter{TenantID: "t1"}, store.Page{Size: 10})
			require.NoError(t, err)
			assert.Equal(t, tenantEvents, ids(es, func(e store.Event) string { return e.ID }))
		})
	}
}

-- 0016_partial_tenant_indexes: the tenant indexes of events and deliveries (0012) hold only rows of a tenant.
-- Lists filter by tenant only for a named tenant (tenant_id = 'x', never ''), which a partial index answers; rows
-- without a tenant — most, in projects that do not use tenants — no longer cost an index entry each to write (issue
-- 28: ~0.5 KB of WAL per event and delivery).
SET LOCAL lock_timeout = '10s';

DROP INDEX events_project_id_tenant_id_idx;
CREATE INDEX events_project_id_tenant_id_idx ON events (project_id, tenant_id, id DESC) WHERE tenant_id <> '';

DROP INDEX deliveries_project_id_tenant_id_idx;
CREATE INDEX deliveries_project_id_tenant_id_idx ON deliveries (project_id, tenant_id, id DESC) WHERE tenant_id <> '';

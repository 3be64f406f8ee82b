-- 0016_partial_tenant_indexes: the tenant indexes of events and deliveries (0012) hold only rows of a tenant.
-- Lists filter by tenant only for a named tenant (tenant_id = 'x', never ''), which a partial index answers; rows
-- without a tenant no longer cost an index entry each to write.
DROP INDEX events_project_id_tenant_id_idx;
CREATE INDEX events_project_id_tenant_id_idx ON events (project_id, tenant_id, id DESC) WHERE tenant_id <> '';

DROP INDEX deliveries_project_id_tenant_id_idx;
CREATE INDEX deliveries_project_id_tenant_id_idx ON deliveries (project_id, tenant_id, id DESC) WHERE tenant_id <> '';

-- 0012_tenants: tenants (a project's customers) own webhooks, events and deliveries (issue 23), and portal sessions
-- confine a short-lived token to one tenant.

-- tenant_id '' is "no tenant": the project's own webhooks, events without a tenant and their deliveries.
ALTER TABLE webhooks ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
CREATE INDEX webhooks_project_id_tenant_id_idx ON webhooks (project_id, tenant_id, id DESC);

ALTER TABLE events ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
CREATE INDEX events_project_id_tenant_id_idx ON events (project_id, tenant_id, id DESC);

-- A delivery's tenant is its webhook's: what a tenant's portal lists, from this index.
ALTER TABLE deliveries ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
CREATE INDEX deliveries_project_id_tenant_id_idx ON deliveries (project_id, tenant_id, id DESC);

-- The fan-out index carries the subscribed webhook's tenant.
ALTER TABLE subscription_event_types ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
CREATE INDEX subscription_event_types_project_id_tenant_id_idx
    ON subscription_event_types (project_id, tenant_id, event_type, subscription_id);

-- portal_sessions are the tenants' portal tokens (only the SHA-256 hash of a token is kept).
CREATE TABLE portal_sessions (
    id              TEXT     NOT NULL,
    project_id      TEXT     NOT NULL,
    tenant_id       TEXT     NOT NULL,
    role            TEXT     NOT NULL,
    hash            BLOB     NOT NULL,
    allowed_origins TEXT     NOT NULL DEFAULT '[]',
    event_types     TEXT     NOT NULL DEFAULT '[]',
    title           TEXT     NOT NULL DEFAULT '',
    accent_color    TEXT     NOT NULL DEFAULT '',
    create_time     DATETIME NOT NULL,
    expire_time     DATETIME NOT NULL,
    revoke_time     DATETIME,
    CONSTRAINT portal_sessions_pkey PRIMARY KEY (id),
    CONSTRAINT portal_sessions_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE,
    CONSTRAINT portal_sessions_hash_key UNIQUE (hash),
    CONSTRAINT portal_sessions_role_check CHECK (role IN ('member', 'viewer'))
);
CREATE INDEX portal_sessions_project_id_tenant_id_idx ON portal_sessions (project_id, tenant_id);
CREATE INDEX portal_sessions_expire_time_idx ON portal_sessions (expire_time);

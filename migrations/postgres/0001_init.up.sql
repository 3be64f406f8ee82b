-- 0001_init: hookd's whole schema. Runs in one transaction under the migration advisory lock.
-- Never wait long for a lock held by a live server: fail the migration and let the operator retry.
SET LOCAL lock_timeout = '10s';

-- Identifier and key columns use the "C" collation: they compare bytewise (as hookd's page tokens do), and index
-- maintenance on them costs memcmp rather than locale-aware comparison.

-- schema_migrations records every applied migration version.
CREATE TABLE schema_migrations (
    version    bigint      NOT NULL,
    name       text        NOT NULL,
    apply_time timestamptz NOT NULL,
    CONSTRAINT schema_migrations_pkey PRIMARY KEY (version)
);

CREATE TABLE projects (
    id          text COLLATE "C" NOT NULL,
    name        text        NOT NULL,
    create_time timestamptz NOT NULL,
    update_time timestamptz NOT NULL,
    CONSTRAINT projects_pkey PRIMARY KEY (id),
    CONSTRAINT projects_name_key UNIQUE (name)
);

CREATE TABLE api_keys (
    id             text COLLATE "C" NOT NULL,
    project_id     text COLLATE "C" NOT NULL,
    name           text        NOT NULL,
    role           text        NOT NULL,
    instance_admin boolean     NOT NULL DEFAULT false,
    prefix         text        NOT NULL,
    hash           bytea       NOT NULL,
    create_time    timestamptz NOT NULL,
    update_time    timestamptz NOT NULL,
    revoke_time    timestamptz,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE,
    CONSTRAINT api_keys_hash_key UNIQUE (hash),
    CONSTRAINT api_keys_role_check CHECK (role IN ('admin', 'member', 'viewer'))
);
CREATE INDEX api_keys_project_id_idx ON api_keys (project_id, id DESC);

CREATE TABLE integrations (
    id                    text COLLATE "C" NOT NULL,
    project_id            text COLLATE "C" NOT NULL,
    name                  text        NOT NULL,
    base_url              text        NOT NULL DEFAULT '',
    rate_limit_per_second integer     NOT NULL DEFAULT 0,
    headers               jsonb       NOT NULL DEFAULT '[]',
    create_time           timestamptz NOT NULL,
    update_time           timestamptz NOT NULL,
    CONSTRAINT integrations_pkey PRIMARY KEY (id),
    CONSTRAINT integrations_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE,
    CONSTRAINT integrations_rate_limit_check CHECK (rate_limit_per_second >= 0)
);
CREATE INDEX integrations_project_id_idx ON integrations (project_id, id DESC);

CREATE TABLE webhooks (
    id                          text COLLATE "C" NOT NULL,
    project_id                  text COLLATE "C" NOT NULL,
    integration_id              text COLLATE "C",
    name                        text        NOT NULL,
    system_name                 text        NOT NULL,
    description                 text        NOT NULL DEFAULT '',
    method                      text        NOT NULL,
    url                         text        NOT NULL DEFAULT '',
    path                        text        NOT NULL DEFAULT '',
    integration_headers         jsonb       NOT NULL DEFAULT '[]',
    headers                     jsonb       NOT NULL DEFAULT '[]',
    body_template               text        NOT NULL DEFAULT '',
    retry_policy                jsonb       NOT NULL DEFAULT '{}',
    timeout_ms                  bigint      NOT NULL DEFAULT 0,
    async_status                boolean     NOT NULL DEFAULT false,
    async_timeout_ms            bigint      NOT NULL DEFAULT 0,
    enabled                     boolean     NOT NULL DEFAULT true,
    secret                      text        NOT NULL,
    previous_secret             text        NOT NULL DEFAULT '',
    previous_secret_expire_time timestamptz,
    create_time                 timestamptz NOT NULL,
    update_time                 timestamptz NOT NULL,
    CONSTRAINT webhooks_pkey PRIMARY KEY (id),
    CONSTRAINT webhooks_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE,
    CONSTRAINT webhooks_integration_id_fkey FOREIGN KEY (integration_id) REFERENCES integrations (id),
    CONSTRAINT webhooks_project_id_system_name_key UNIQUE (project_id, system_name)
);
CREATE INDEX webhooks_project_id_idx ON webhooks (project_id, id DESC);
CREATE INDEX webhooks_integration_id_idx ON webhooks (integration_id, id DESC) WHERE integration_id IS NOT NULL;

CREATE TABLE event_types (
    id             text COLLATE "C" NOT NULL,
    project_id     text COLLATE "C" NOT NULL,
    name           text        NOT NULL,
    description    text        NOT NULL DEFAULT '',
    schema         jsonb,
    sample_payload jsonb,
    create_time    timestamptz NOT NULL,
    update_time    timestamptz NOT NULL,
    CONSTRAINT event_types_pkey PRIMARY KEY (id),
    CONSTRAINT event_types_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE,
    CONSTRAINT event_types_project_id_name_key UNIQUE (project_id, name)
);
CREATE INDEX event_types_project_id_idx ON event_types (project_id, id DESC);

CREATE TABLE subscriptions (
    id             text COLLATE "C" NOT NULL,
    project_id     text COLLATE "C" NOT NULL,
    webhook_id     text COLLATE "C" NOT NULL,
    event_types    jsonb       NOT NULL DEFAULT '[]',
    subject_filter text        NOT NULL DEFAULT '',
    enabled        boolean     NOT NULL DEFAULT true,
    create_time    timestamptz NOT NULL,
    update_time    timestamptz NOT NULL,
    CONSTRAINT subscriptions_pkey PRIMARY KEY (id),
    CONSTRAINT subscriptions_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE,
    CONSTRAINT subscriptions_webhook_id_fkey FOREIGN KEY (webhook_id) REFERENCES webhooks (id) ON DELETE CASCADE
);
CREATE INDEX subscriptions_project_id_idx ON subscriptions (project_id, id DESC);
CREATE INDEX subscriptions_webhook_id_idx ON subscriptions (webhook_id, id DESC);

-- subscription_event_types is the fan-out index: one row per (subscription, event type or '*').
CREATE TABLE subscription_event_types (
    subscription_id text COLLATE "C" NOT NULL,
    project_id      text COLLATE "C" NOT NULL,
    event_type      text COLLATE "C" NOT NULL,
    CONSTRAINT subscription_event_types_pkey PRIMARY KEY (subscription_id, event_type),
    CONSTRAINT subscription_event_types_subscription_id_fkey
        FOREIGN KEY (subscription_id) REFERENCES subscriptions (id) ON DELETE CASCADE
);
CREATE INDEX subscription_event_types_project_id_event_type_idx
    ON subscription_event_types (project_id, event_type, subscription_id);

CREATE TABLE events (
    id              text COLLATE "C" NOT NULL,
    project_id      text COLLATE "C" NOT NULL,
    event_type      text COLLATE "C" NOT NULL,
    subject         text COLLATE "C" NOT NULL DEFAULT '',
    payload         json        NOT NULL,
    idempotency_key text COLLATE "C" NOT NULL DEFAULT '',
    create_time     timestamptz NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (id),
    CONSTRAINT events_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
);
CREATE INDEX events_project_id_idx ON events (project_id, id DESC);
CREATE INDEX events_project_id_event_type_idx ON events (project_id, event_type, id DESC);
CREATE INDEX events_project_id_subject_idx ON events (project_id, subject, id DESC) WHERE subject <> '';
CREATE INDEX events_create_time_idx ON events (create_time);
CREATE UNIQUE INDEX events_project_id_idempotency_key_idx
    ON events (project_id, idempotency_key) WHERE idempotency_key <> '';

-- deliveries is the queue and the delivery log. A claimed delivery carries a claim_token and lease_time, the
-- end of its lease: a crashed sender's delivery becomes due again when the lease expires.
CREATE TABLE deliveries (
    id                text COLLATE "C" NOT NULL,
    project_id        text COLLATE "C" NOT NULL,
    event_id          text COLLATE "C" NOT NULL,
    webhook_id        text COLLATE "C" NOT NULL,
    integration_id    text COLLATE "C" NOT NULL DEFAULT '',
    event_type        text COLLATE "C" NOT NULL,
    subject           text COLLATE "C" NOT NULL DEFAULT '',
    status            text COLLATE "C" NOT NULL,
    attempts          integer     NOT NULL DEFAULT 0,
    next_attempt_time timestamptz NOT NULL,
    last_status_code  integer     NOT NULL DEFAULT 0,
    reason            text        NOT NULL DEFAULT '',
    resent            boolean     NOT NULL DEFAULT false,
    action_token      text COLLATE "C" NOT NULL,
    claim_token       text COLLATE "C" NOT NULL DEFAULT '',
    lease_time        timestamptz,
    create_time       timestamptz NOT NULL,
    update_time       timestamptz NOT NULL,
    CONSTRAINT deliveries_pkey PRIMARY KEY (id),
    CONSTRAINT deliveries_event_id_fkey FOREIGN KEY (event_id) REFERENCES events (id) ON DELETE CASCADE,
    CONSTRAINT deliveries_action_token_key UNIQUE (action_token),
    CONSTRAINT deliveries_status_check
        CHECK (status IN ('queued', 'retrying', 'waiting', 'done', 'failed', 'cancelled'))
);
-- Due work: small, because finished deliveries leave it.
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_time) WHERE status IN ('queued', 'retrying');
CREATE INDEX deliveries_waiting_idx ON deliveries (next_attempt_time) WHERE status = 'waiting';
CREATE INDEX deliveries_project_queue_idx ON deliveries (project_id, next_attempt_time, id)
    WHERE status IN ('queued', 'retrying', 'waiting');
-- Delivery log filters (newest first).
CREATE INDEX deliveries_project_id_idx ON deliveries (project_id, id DESC);
CREATE INDEX deliveries_project_id_webhook_id_idx ON deliveries (project_id, webhook_id, id DESC);
CREATE INDEX deliveries_project_id_integration_id_idx ON deliveries (project_id, integration_id, id DESC)
    WHERE integration_id <> '';
CREATE INDEX deliveries_project_id_event_type_idx ON deliveries (project_id, event_type, id DESC);
CREATE INDEX deliveries_project_id_status_idx ON deliveries (project_id, status, id DESC);
CREATE INDEX deliveries_project_id_subject_idx ON deliveries (project_id, subject, id DESC) WHERE subject <> '';
CREATE INDEX deliveries_event_id_idx ON deliveries (event_id);
-- The queue churns: vacuum it early so that dead entries do not pile up in deliveries_due_idx.
ALTER TABLE deliveries SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_limit = 2000,
    autovacuum_vacuum_cost_delay = 1,
    fillfactor = 90
);

CREATE TABLE attempts (
    delivery_id          text COLLATE "C" NOT NULL,
    number               integer     NOT NULL,
    start_time           timestamptz NOT NULL,
    duration_us          bigint      NOT NULL DEFAULT 0,
    request_method       text        NOT NULL DEFAULT '',
    request_url          text        NOT NULL DEFAULT '',
    request_headers      json        NOT NULL DEFAULT '[]',
    request_body         text        NOT NULL DEFAULT '',
    response_status_code integer     NOT NULL DEFAULT 0,
    response_headers     json        NOT NULL DEFAULT '[]',
    response_body        text        NOT NULL DEFAULT '',
    error                text        NOT NULL DEFAULT '',
    CONSTRAINT attempts_pkey PRIMARY KEY (delivery_id, number),
    CONSTRAINT attempts_delivery_id_fkey FOREIGN KEY (delivery_id) REFERENCES deliveries (id) ON DELETE CASCADE
);

-- rate_buckets are token buckets shared by every process (integration and trigger rate limits). UNLOGGED:
-- taking a token writes no WAL, so its commit does not wait for a disk flush while holding the bucket's row
-- lock; after a crash the buckets start full again, which is harmless.
CREATE UNLOGGED TABLE rate_buckets (
    key            text COLLATE "C" NOT NULL,
    tokens         double precision NOT NULL,
    updated_micros bigint           NOT NULL,
    granted        double precision NOT NULL DEFAULT 0,
    CONSTRAINT rate_buckets_pkey PRIMARY KEY (key)
);
ALTER TABLE rate_buckets SET (autovacuum_vacuum_scale_factor = 0.05, fillfactor = 70);

CREATE TABLE triggers (
    id                    text COLLATE "C" NOT NULL,
    project_id            text COLLATE "C" NOT NULL,
    name                  text        NOT NULL,
    event_type            text COLLATE "C" NOT NULL DEFAULT '',
    api_key_header        text        NOT NULL DEFAULT '',
    api_key               text        NOT NULL DEFAULT '',
    response_status       integer     NOT NULL DEFAULT 0,
    response_type         text        NOT NULL DEFAULT '',
    response_body         text        NOT NULL DEFAULT '',
    sync                  boolean     NOT NULL DEFAULT false,
    sync_timeout_ms       bigint      NOT NULL DEFAULT 0,
    rate_limit_per_second integer     NOT NULL DEFAULT 0,
    routes                jsonb       NOT NULL DEFAULT '[]',
    signature             jsonb       NOT NULL DEFAULT '{}',
    max_body_bytes        bigint      NOT NULL DEFAULT 0,
    enabled               boolean     NOT NULL DEFAULT true,
    create_time           timestamptz NOT NULL,
    update_time           timestamptz NOT NULL,
    CONSTRAINT triggers_pkey PRIMARY KEY (id),
    CONSTRAINT triggers_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
);
CREATE INDEX triggers_project_id_idx ON triggers (project_id, id DESC);

-- An execution keeps the request as received; its JSON columns are json, not jsonb: stored as sent, cheaper to
-- write, never queried inside.
CREATE TABLE executions (
    id               text COLLATE "C" NOT NULL,
    project_id       text COLLATE "C" NOT NULL,
    trigger_id       text COLLATE "C" NOT NULL,
    receive_time     timestamptz NOT NULL,
    method           text        NOT NULL,
    headers          json        NOT NULL DEFAULT '[]',
    query_parameters json        NOT NULL DEFAULT '[]',
    path_fragment    text        NOT NULL DEFAULT '',
    raw_body         text        NOT NULL DEFAULT '',
    raw_body_base64  boolean     NOT NULL DEFAULT false,
    body             json,
    content_type     text        NOT NULL DEFAULT '',
    status           integer     NOT NULL DEFAULT 0,
    event_id         text COLLATE "C" NOT NULL DEFAULT '',
    event_type       text COLLATE "C" NOT NULL DEFAULT '',
    CONSTRAINT executions_pkey PRIMARY KEY (id),
    CONSTRAINT executions_trigger_id_fkey FOREIGN KEY (trigger_id) REFERENCES triggers (id) ON DELETE CASCADE
);
CREATE INDEX executions_project_id_idx ON executions (project_id, id DESC);
CREATE INDEX executions_trigger_id_idx ON executions (trigger_id, id DESC);
CREATE INDEX executions_receive_time_idx ON executions (receive_time);

-- Large values (event payloads, request bodies and headers, attempt bodies) are compressed with lz4 rather than
-- the default pglz: several times cheaper in CPU per stored row. Servers built without lz4 keep pglz.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE events ALTER COLUMN payload SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE executions ALTER COLUMN headers SET COMPRESSION lz4, ALTER COLUMN raw_body SET COMPRESSION lz4,
        ALTER COLUMN body SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE attempts ALTER COLUMN request_body SET COMPRESSION lz4, ALTER COLUMN response_body SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 compression is not available: keeping pglz';
END $$;

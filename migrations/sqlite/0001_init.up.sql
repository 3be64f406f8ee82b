-- 0001_init: hookd's whole schema for the embedded SQLite database (same tables and semantics as PostgreSQL).
-- Times are DATETIME text in UTC ("2006-01-02 15:04:05.999999+00:00": text order is time order), JSON is TEXT,
-- booleans are 0/1.

-- schema_migrations records every applied migration version.
CREATE TABLE schema_migrations (
    version    INTEGER  NOT NULL,
    name       TEXT     NOT NULL,
    apply_time DATETIME NOT NULL,
    CONSTRAINT schema_migrations_pkey PRIMARY KEY (version)
);

CREATE TABLE projects (
    id          TEXT     NOT NULL,
    name        TEXT     NOT NULL,
    create_time DATETIME NOT NULL,
    update_time DATETIME NOT NULL,
    CONSTRAINT projects_pkey PRIMARY KEY (id),
    CONSTRAINT projects_name_key UNIQUE (name)
);

CREATE TABLE api_keys (
    id             TEXT     NOT NULL,
    project_id     TEXT     NOT NULL,
    name           TEXT     NOT NULL,
    role           TEXT     NOT NULL,
    instance_admin BOOLEAN  NOT NULL DEFAULT FALSE,
    prefix         TEXT     NOT NULL,
    hash           BLOB     NOT NULL,
    create_time    DATETIME NOT NULL,
    update_time    DATETIME NOT NULL,
    revoke_time    DATETIME,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE,
    CONSTRAINT api_keys_hash_key UNIQUE (hash),
    CONSTRAINT api_keys_role_check CHECK (role IN ('admin', 'member', 'viewer'))
);
CREATE INDEX api_keys_project_id_idx ON api_keys (project_id, id DESC);

CREATE TABLE integrations (
    id                    TEXT     NOT NULL,
    project_id            TEXT     NOT NULL,
    name                  TEXT     NOT NULL,
    base_url              TEXT     NOT NULL DEFAULT '',
    rate_limit_per_second INTEGER  NOT NULL DEFAULT 0,
    headers               TEXT     NOT NULL DEFAULT '[]',
    create_time           DATETIME NOT NULL,
    update_time           DATETIME NOT NULL,
    CONSTRAINT integrations_pkey PRIMARY KEY (id),
    CONSTRAINT integrations_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE,
    CONSTRAINT integrations_rate_limit_check CHECK (rate_limit_per_second >= 0)
);
CREATE INDEX integrations_project_id_idx ON integrations (project_id, id DESC);

CREATE TABLE webhooks (
    id                          TEXT     NOT NULL,
    project_id                  TEXT     NOT NULL,
    integration_id              TEXT,
    name                        TEXT     NOT NULL,
    system_name                 TEXT     NOT NULL,
    description                 TEXT     NOT NULL DEFAULT '',
    method                      TEXT     NOT NULL,
    url                         TEXT     NOT NULL DEFAULT '',
    path                        TEXT     NOT NULL DEFAULT '',
    integration_headers         TEXT     NOT NULL DEFAULT '[]',
    headers                     TEXT     NOT NULL DEFAULT '[]',
    body_template               TEXT     NOT NULL DEFAULT '',
    retry_policy                TEXT     NOT NULL DEFAULT '{}',
    timeout_ms                  INTEGER  NOT NULL DEFAULT 0,
    async_status                BOOLEAN  NOT NULL DEFAULT FALSE,
    async_timeout_ms            INTEGER  NOT NULL DEFAULT 0,
    enabled                     BOOLEAN  NOT NULL DEFAULT TRUE,
    secret                      TEXT     NOT NULL,
    previous_secret             TEXT     NOT NULL DEFAULT '',
    previous_secret_expire_time DATETIME,
    create_time                 DATETIME NOT NULL,
    update_time                 DATETIME NOT NULL,
    CONSTRAINT webhooks_pkey PRIMARY KEY (id),
    CONSTRAINT webhooks_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE,
    CONSTRAINT webhooks_integration_id_fkey FOREIGN KEY (integration_id) REFERENCES integrations (id),
    CONSTRAINT webhooks_project_id_system_name_key UNIQUE (project_id, system_name)
);
CREATE INDEX webhooks_project_id_idx ON webhooks (project_id, id DESC);
CREATE INDEX webhooks_integration_id_idx ON webhooks (integration_id, id DESC) WHERE integration_id IS NOT NULL;

CREATE TABLE event_types (
    id             TEXT     NOT NULL,
    project_id     TEXT     NOT NULL,
    name           TEXT     NOT NULL,
    description    TEXT     NOT NULL DEFAULT '',
    schema         TEXT,
    sample_payload TEXT,
    create_time    DATETIME NOT NULL,
    update_time    DATETIME NOT NULL,
    CONSTRAINT event_types_pkey PRIMARY KEY (id),
    CONSTRAINT event_types_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE,
    CONSTRAINT event_types_project_id_name_key UNIQUE (project_id, name)
);
CREATE INDEX event_types_project_id_idx ON event_types (project_id, id DESC);

CREATE TABLE subscriptions (
    id             TEXT     NOT NULL,
    project_id     TEXT     NOT NULL,
    webhook_id     TEXT     NOT NULL,
    event_types    TEXT     NOT NULL DEFAULT '[]',
    subject_filter TEXT     NOT NULL DEFAULT '',
    enabled        BOOLEAN  NOT NULL DEFAULT TRUE,
    create_time    DATETIME NOT NULL,
    update_time    DATETIME NOT NULL,
    CONSTRAINT subscriptions_pkey PRIMARY KEY (id),
    CONSTRAINT subscriptions_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE,
    CONSTRAINT subscriptions_webhook_id_fkey FOREIGN KEY (webhook_id) REFERENCES webhooks (id) ON DELETE CASCADE
);
CREATE INDEX subscriptions_project_id_idx ON subscriptions (project_id, id DESC);
CREATE INDEX subscriptions_webhook_id_idx ON subscriptions (webhook_id, id DESC);

-- subscription_event_types is the fan-out index: one row per (subscription, event type or '*').
CREATE TABLE subscription_event_types (
    subscription_id TEXT NOT NULL,
    project_id      TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    CONSTRAINT subscription_event_types_pkey PRIMARY KEY (subscription_id, event_type),
    CONSTRAINT subscription_event_types_subscription_id_fkey
        FOREIGN KEY (subscription_id) REFERENCES subscriptions (id) ON DELETE CASCADE
);
CREATE INDEX subscription_event_types_project_id_event_type_idx
    ON subscription_event_types (project_id, event_type, subscription_id);

CREATE TABLE events (
    id              TEXT     NOT NULL,
    project_id      TEXT     NOT NULL,
    event_type      TEXT     NOT NULL,
    subject         TEXT     NOT NULL DEFAULT '',
    payload         TEXT     NOT NULL,
    idempotency_key TEXT     NOT NULL DEFAULT '',
    create_time     DATETIME NOT NULL,
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
    id                TEXT     NOT NULL,
    project_id        TEXT     NOT NULL,
    event_id          TEXT     NOT NULL,
    webhook_id        TEXT     NOT NULL,
    integration_id    TEXT     NOT NULL DEFAULT '',
    event_type        TEXT     NOT NULL,
    subject           TEXT     NOT NULL DEFAULT '',
    status            TEXT     NOT NULL,
    attempts          INTEGER  NOT NULL DEFAULT 0,
    next_attempt_time DATETIME NOT NULL,
    last_status_code  INTEGER  NOT NULL DEFAULT 0,
    reason            TEXT     NOT NULL DEFAULT '',
    resent            BOOLEAN  NOT NULL DEFAULT FALSE,
    action_token      TEXT     NOT NULL,
    claim_token       TEXT     NOT NULL DEFAULT '',
    lease_time        DATETIME,
    create_time       DATETIME NOT NULL,
    update_time       DATETIME NOT NULL,
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

CREATE TABLE attempts (
    delivery_id          TEXT     NOT NULL,
    number               INTEGER  NOT NULL,
    start_time           DATETIME NOT NULL,
    duration_us          INTEGER  NOT NULL DEFAULT 0,
    request_method       TEXT     NOT NULL DEFAULT '',
    request_url          TEXT     NOT NULL DEFAULT '',
    request_headers      TEXT     NOT NULL DEFAULT '[]',
    request_body         TEXT     NOT NULL DEFAULT '',
    response_status_code INTEGER  NOT NULL DEFAULT 0,
    response_headers     TEXT     NOT NULL DEFAULT '[]',
    response_body        TEXT     NOT NULL DEFAULT '',
    error                TEXT     NOT NULL DEFAULT '',
    CONSTRAINT attempts_pkey PRIMARY KEY (delivery_id, number),
    CONSTRAINT attempts_delivery_id_fkey FOREIGN KEY (delivery_id) REFERENCES deliveries (id) ON DELETE CASCADE
);

-- rate_buckets are token buckets shared by every process (integration and trigger rate limits).
CREATE TABLE rate_buckets (
    key            TEXT    NOT NULL,
    tokens         REAL    NOT NULL,
    updated_micros INTEGER NOT NULL,
    granted        REAL    NOT NULL DEFAULT 0,
    CONSTRAINT rate_buckets_pkey PRIMARY KEY (key)
);

CREATE TABLE triggers (
    id                    TEXT     NOT NULL,
    project_id            TEXT     NOT NULL,
    name                  TEXT     NOT NULL,
    event_type            TEXT     NOT NULL DEFAULT '',
    api_key_header        TEXT     NOT NULL DEFAULT '',
    api_key               TEXT     NOT NULL DEFAULT '',
    response_status       INTEGER  NOT NULL DEFAULT 0,
    response_type         TEXT     NOT NULL DEFAULT '',
    response_body         TEXT     NOT NULL DEFAULT '',
    sync                  BOOLEAN  NOT NULL DEFAULT FALSE,
    sync_timeout_ms       INTEGER  NOT NULL DEFAULT 0,
    rate_limit_per_second INTEGER  NOT NULL DEFAULT 0,
    routes                TEXT     NOT NULL DEFAULT '[]',
    signature             TEXT     NOT NULL DEFAULT '{}',
    max_body_bytes        INTEGER  NOT NULL DEFAULT 0,
    enabled               BOOLEAN  NOT NULL DEFAULT TRUE,
    create_time           DATETIME NOT NULL,
    update_time           DATETIME NOT NULL,
    CONSTRAINT triggers_pkey PRIMARY KEY (id),
    CONSTRAINT triggers_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
);
CREATE INDEX triggers_project_id_idx ON triggers (project_id, id DESC);

CREATE TABLE executions (
    id               TEXT     NOT NULL,
    project_id       TEXT     NOT NULL,
    trigger_id       TEXT     NOT NULL,
    receive_time     DATETIME NOT NULL,
    method           TEXT     NOT NULL,
    headers          TEXT     NOT NULL DEFAULT '[]',
    query_parameters TEXT     NOT NULL DEFAULT '[]',
    path_fragment    TEXT     NOT NULL DEFAULT '',
    raw_body         TEXT     NOT NULL DEFAULT '',
    raw_body_base64  BOOLEAN     NOT NULL DEFAULT FALSE,
    body         TEXT,
    content_type TEXT    NOT NULL DEFAULT '',
    status       INTEGER NOT NULL DEFAULT 0,
    event_id     TEXT    NOT NULL DEFAULT '',
    event_type   TEXT    NOT NULL DEFAULT '',
    CONSTRAINT executions_pkey PRIMARY KEY (id),
    CONSTRAINT executions_trigger_id_fkey FOREIGN KEY (trigger_id) REFERENCES triggers (id) ON DELETE CASCADE
);
CREATE INDEX executions_project_id_idx ON executions (project_id, id DESC);
CREATE INDEX executions_trigger_id_idx ON executions (trigger_id, id DESC);
CREATE INDEX executions_receive_time_idx ON executions (receive_time);


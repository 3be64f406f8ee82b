-- 0002_queue_partitions: the queue leaves the log (same tables as PostgreSQL, which also partitions the log
-- tables by day; SQLite keeps one table each and deletes old rows in small batches).
-- * delivery_queue holds one narrow row per unfinished delivery; deliveries is the log only.
-- * idempotency_keys holds the keys of recent publishes (the unique index on events goes away).
-- * The log tables no longer reference each other with foreign keys; action-status tokens are derived, not stored
--   (action_tokens keeps the hashes of the tokens of unfinished deliveries created before this migration).
-- SQLite cannot drop a UNIQUE column in place, so events, deliveries and attempts are rebuilt.

CREATE TABLE events_new (
    id              TEXT     NOT NULL,
    project_id      TEXT     NOT NULL,
    event_type      TEXT     NOT NULL,
    subject         TEXT     NOT NULL DEFAULT '',
    payload         TEXT     NOT NULL,
    idempotency_key TEXT     NOT NULL DEFAULT '',
    create_time     DATETIME NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (id)
);
INSERT INTO events_new (id, project_id, event_type, subject, payload, idempotency_key, create_time)
    SELECT id, project_id, event_type, subject, payload, idempotency_key, create_time FROM events;

CREATE TABLE idempotency_keys (
    project_id  TEXT     NOT NULL,
    key         TEXT     NOT NULL,
    event_id    TEXT     NOT NULL,
    create_time DATETIME NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (project_id, key)
);
CREATE INDEX idempotency_keys_create_time_idx ON idempotency_keys (create_time);
INSERT INTO idempotency_keys (project_id, key, event_id, create_time)
    SELECT project_id, idempotency_key, id, create_time FROM events WHERE idempotency_key <> '';

CREATE TABLE deliveries_new (
    id               TEXT     NOT NULL,
    project_id       TEXT     NOT NULL,
    event_id         TEXT     NOT NULL,
    webhook_id       TEXT     NOT NULL,
    integration_id   TEXT     NOT NULL DEFAULT '',
    event_type       TEXT     NOT NULL,
    subject          TEXT     NOT NULL DEFAULT '',
    status           TEXT     NOT NULL,
    attempts         INTEGER  NOT NULL DEFAULT 0,
    last_status_code INTEGER  NOT NULL DEFAULT 0,
    reason           TEXT     NOT NULL DEFAULT '',
    resent           BOOLEAN  NOT NULL DEFAULT FALSE,
    resends          INTEGER  NOT NULL DEFAULT 0,
    create_time      DATETIME NOT NULL,
    update_time      DATETIME NOT NULL,
    CONSTRAINT deliveries_pkey PRIMARY KEY (id),
    CONSTRAINT deliveries_status_check
        CHECK (status IN ('queued', 'retrying', 'waiting', 'done', 'failed', 'cancelled'))
);
INSERT INTO deliveries_new (id, project_id, event_id, webhook_id, integration_id, event_type, subject, status, attempts,
        last_status_code, reason, resent, resends, create_time, update_time)
    SELECT id, project_id, event_id, webhook_id, integration_id, event_type, subject, status, attempts,
        last_status_code, reason, resent, 0, create_time, update_time FROM deliveries;

-- delivery_queue: see the PostgreSQL migration. due_time is when the sender may claim the row (next attempt,
-- WAITING deadline, or the end of a claim's lease); next_attempt_time is what the API shows.
CREATE TABLE delivery_queue (
    delivery_id       TEXT     NOT NULL,
    project_id        TEXT     NOT NULL,
    webhook_id        TEXT     NOT NULL,
    event_id          TEXT     NOT NULL,
    status            TEXT     NOT NULL,
    attempts          INTEGER  NOT NULL DEFAULT 0,
    resends           INTEGER  NOT NULL DEFAULT 0,
    due_time          DATETIME NOT NULL,
    next_attempt_time DATETIME NOT NULL,
    claim_token       TEXT,
    CONSTRAINT delivery_queue_pkey PRIMARY KEY (delivery_id),
    CONSTRAINT delivery_queue_status_check
        CHECK (status IN ('queued', 'retrying', 'waiting', 'done', 'failed', 'cancelled'))
);
CREATE INDEX delivery_queue_lane_idx ON delivery_queue (webhook_id, due_time);
CREATE INDEX delivery_queue_due_idx ON delivery_queue (due_time);
CREATE INDEX delivery_queue_project_idx ON delivery_queue (project_id, next_attempt_time, delivery_id);
INSERT INTO delivery_queue (delivery_id, project_id, webhook_id, event_id, status, attempts, resends, due_time, next_attempt_time)
    SELECT id, project_id, webhook_id, event_id, status, attempts, 0,
        MAX(next_attempt_time, COALESCE(lease_time, next_attempt_time)), next_attempt_time
    FROM deliveries WHERE status IN ('queued', 'retrying', 'waiting');

CREATE TABLE action_tokens (
    hash        BLOB NOT NULL,
    delivery_id TEXT NOT NULL,
    CONSTRAINT action_tokens_pkey PRIMARY KEY (hash)
);
CREATE INDEX action_tokens_delivery_id_idx ON action_tokens (delivery_id);
-- hookd_sha256 is registered by hookd (SQLite has no SHA-256 function of its own).
INSERT INTO action_tokens (hash, delivery_id)
    SELECT hookd_sha256(action_token), id FROM deliveries
    WHERE status IN ('queued', 'retrying', 'waiting') AND action_token <> '';

CREATE TABLE attempts_new (
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
    CONSTRAINT attempts_pkey PRIMARY KEY (delivery_id, number)
);
INSERT INTO attempts_new (delivery_id, number, start_time, duration_us, request_method, request_url, request_headers,
        request_body, response_status_code, response_headers, response_body, error)
    SELECT delivery_id, number, start_time, duration_us, request_method, request_url, request_headers,
        request_body, response_status_code, response_headers, response_body, error FROM attempts;

-- Children first: dropping a parent table deletes its rows, which would cascade.
DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
ALTER TABLE deliveries_new RENAME TO deliveries;
ALTER TABLE attempts_new RENAME TO attempts;

CREATE INDEX events_project_id_idx ON events (project_id, id DESC);
CREATE INDEX events_project_id_event_type_idx ON events (project_id, event_type, id DESC);
CREATE INDEX events_project_id_subject_idx ON events (project_id, subject, id DESC) WHERE subject <> '';
CREATE INDEX events_create_time_idx ON events (create_time);

CREATE INDEX deliveries_project_id_idx ON deliveries (project_id, id DESC);
CREATE INDEX deliveries_project_id_webhook_id_idx ON deliveries (project_id, webhook_id, id DESC);
CREATE INDEX deliveries_project_id_integration_id_idx ON deliveries (project_id, integration_id, id DESC)
    WHERE integration_id <> '';
CREATE INDEX deliveries_project_id_event_type_idx ON deliveries (project_id, event_type, id DESC);
CREATE INDEX deliveries_project_id_status_idx ON deliveries (project_id, status, id DESC);
CREATE INDEX deliveries_project_id_subject_idx ON deliveries (project_id, subject, id DESC) WHERE subject <> '';
CREATE INDEX deliveries_event_id_idx ON deliveries (event_id);

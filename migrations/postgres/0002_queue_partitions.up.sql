-- 0002_queue_partitions: the queue leaves the log, and the log tables are partitioned by day.
--
-- * delivery_queue holds one narrow row per unfinished delivery (QUEUED, RETRYING, WAITING): what the sender
--   claims, leases and completes. The log (deliveries, attempts) keeps only what the log views read and the
--   indexes of their filters.
-- * events, deliveries, attempts and executions are partitioned by RANGE of their id (ULIDs: the id starts with
--   its creation time), one partition per UTC day, so that a lookup by id reads one partition and retention
--   drops whole partitions (DETACH … CONCURRENTLY, then DROP) instead of deleting rows. A delivery's attempts live
--   in the partition of the delivery's id, its event in the partition of the same day.
-- * Uniqueness of idempotency keys moves to idempotency_keys (a unique index on a partitioned table must contain
--   the partition key).
-- * The log tables no longer reference each other with foreign keys: rows of one day are created together and
--   dropped together, and the checks cost a lookup per inserted row.
-- * Action-status tokens are no longer stored: they are derived (an HMAC of the delivery id). The tokens handed
--   out before this migration for unfinished deliveries keep working through action_tokens (SHA-256 hashes).
-- The existing rows are copied into the new tables in this transaction.
SET LOCAL lock_timeout = '10s';

-- hookd_ulid_prefix is the 10-character time part of a lowercase ULID for t (48-bit Unix milliseconds in
-- Crockford base32): the id bound of the partition that starts at t.
CREATE FUNCTION hookd_ulid_prefix(t timestamptz) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    ms  bigint := floor(extract(epoch FROM t) * 1000);
    out text   := '';
BEGIN
    FOR i IN 1..10 LOOP
        out := substr('0123456789abcdefghjkmnpqrstvwxyz', (ms % 32)::int + 1, 1) || out;
        ms := ms / 32;
    END LOOP;
    RETURN out;
END $$;

-- hookd_id_day is the UTC day encoded in a hookd id (prefix_ULID): the day partition the row belongs to. Missing
-- characters count as zeros; NULL when the time part is not Crockford base32.
CREATE FUNCTION hookd_id_day(id text) RETURNS date
    LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    part text    := rpad(substr(id, strpos(id, '_') + 1, 10), 10, '0');
    ms   numeric := 0;
    c    int;
BEGIN
    FOR i IN 1..10 LOOP
        c := strpos('0123456789abcdefghjkmnpqrstvwxyz', substr(part, i, 1)) - 1;
        IF c < 0 THEN
            RETURN NULL;
        END IF;
        ms := ms * 32 + c;
    END LOOP;
    RETURN (to_timestamp(ms / 1000) AT TIME ZONE 'UTC')::date;
END $$;

-- hookd_create_day_partitions creates (when missing) the partitions of every log table for the UTC day d. A
-- partition is created as a plain table and then attached, which locks the parent only in SHARE UPDATE
-- EXCLUSIVE mode: readers and writers are not blocked.
CREATE FUNCTION hookd_create_day_partitions(d date) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    t      record;
    name   text;
    lo     text := hookd_ulid_prefix(d::timestamp AT TIME ZONE 'UTC');
    hi     text := hookd_ulid_prefix((d + 1)::timestamp AT TIME ZONE 'UTC');
BEGIN
    FOR t IN SELECT * FROM (VALUES ('events', 'evt_'), ('deliveries', 'dlv_'), ('attempts', 'dlv_'),
            ('executions', 'exe_')) AS v(tbl, prefix) LOOP
        name := t.tbl || '_p' || to_char(d, 'YYYYMMDD');
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMPRESSION)',
                name, t.tbl);
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                t.tbl, name, t.prefix || lo, t.prefix || hi);
        END IF;
    END LOOP;
END $$;

-- The 0001 tables make room for their successors: tables and indexes get a _0001 suffix.
ALTER TABLE attempts RENAME TO attempts_0001;
ALTER TABLE deliveries RENAME TO deliveries_0001;
ALTER TABLE events RENAME TO events_0001;
ALTER TABLE executions RENAME TO executions_0001;
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid IN ('attempts_0001'::regclass, 'deliveries_0001'::regclass, 'events_0001'::regclass,
                'executions_0001'::regclass) LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', r.relname, r.relname || '_0001');
    END LOOP;
END $$;

CREATE TABLE events (
    id              text COLLATE "C" NOT NULL,
    project_id      text COLLATE "C" NOT NULL,
    event_type      text COLLATE "C" NOT NULL,
    subject         text COLLATE "C" NOT NULL DEFAULT '',
    payload         json        NOT NULL,
    idempotency_key text COLLATE "C" NOT NULL DEFAULT '',
    create_time     timestamptz NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (id)
) PARTITION BY RANGE (id);
CREATE INDEX events_project_id_idx ON events (project_id, id DESC);
CREATE INDEX events_project_id_event_type_idx ON events (project_id, event_type, id DESC);
CREATE INDEX events_project_id_subject_idx ON events (project_id, subject, id DESC) WHERE subject <> '';

-- deliveries is the delivery log: status and outcome of every delivery. An unfinished delivery also has a row in
-- delivery_queue. resends counts manual resends (each one gets a new action-status token).
CREATE TABLE deliveries (
    id               text COLLATE "C" NOT NULL,
    project_id       text COLLATE "C" NOT NULL,
    event_id         text COLLATE "C" NOT NULL,
    webhook_id       text COLLATE "C" NOT NULL,
    integration_id   text COLLATE "C" NOT NULL DEFAULT '',
    event_type       text COLLATE "C" NOT NULL,
    subject          text COLLATE "C" NOT NULL DEFAULT '',
    status           text COLLATE "C" NOT NULL,
    attempts         integer     NOT NULL DEFAULT 0,
    last_status_code integer     NOT NULL DEFAULT 0,
    reason           text        NOT NULL DEFAULT '',
    resent           boolean     NOT NULL DEFAULT false,
    resends          integer     NOT NULL DEFAULT 0,
    create_time      timestamptz NOT NULL,
    update_time      timestamptz NOT NULL,
    CONSTRAINT deliveries_pkey PRIMARY KEY (id),
    CONSTRAINT deliveries_status_check
        CHECK (status IN ('queued', 'retrying', 'waiting', 'done', 'failed', 'cancelled'))
) PARTITION BY RANGE (id);
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
    CONSTRAINT attempts_pkey PRIMARY KEY (delivery_id, number)
) PARTITION BY RANGE (delivery_id);

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
) PARTITION BY RANGE (id);
CREATE INDEX executions_project_id_idx ON executions (project_id, id DESC);
CREATE INDEX executions_trigger_id_idx ON executions (trigger_id, id DESC);

-- Large values are compressed with lz4 where the server has it (partitions copy the setting).
DO $$
BEGIN
    EXECUTE 'ALTER TABLE events ALTER COLUMN payload SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE executions ALTER COLUMN headers SET COMPRESSION lz4, ALTER COLUMN raw_body SET COMPRESSION lz4,
        ALTER COLUMN body SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE attempts ALTER COLUMN request_body SET COMPRESSION lz4, ALTER COLUMN response_body SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 compression is not available: keeping pglz';
END $$;

-- Partitions for the week ahead (hookd keeps creating them ahead) and for every day that has rows.
DO $$
DECLARE
    d date := current_date - 1;
BEGIN
    WHILE d <= current_date + 7 LOOP
        PERFORM hookd_create_day_partitions(d);
        d := d + 1;
    END LOOP;
    FOR d IN SELECT DISTINCT hookd_id_day(id) FROM events_0001
            UNION SELECT DISTINCT hookd_id_day(id) FROM deliveries_0001
            UNION SELECT DISTINCT hookd_id_day(id) FROM executions_0001 LOOP
        IF d IS NULL THEN
            RAISE EXCEPTION 'a log row has an id that is not <prefix>_<ULID>: it has no day partition';
        END IF;
        PERFORM hookd_create_day_partitions(d);
    END LOOP;
END $$;

INSERT INTO events (id, project_id, event_type, subject, payload, idempotency_key, create_time)
    SELECT id, project_id, event_type, subject, payload, idempotency_key, create_time FROM events_0001;

-- idempotency_keys holds the idempotency keys of recent publishes (24 h; hookd deletes older ones).
CREATE TABLE idempotency_keys (
    project_id  text COLLATE "C" NOT NULL,
    key         text COLLATE "C" NOT NULL,
    event_id    text COLLATE "C" NOT NULL,
    create_time timestamptz NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (project_id, key)
);
CREATE INDEX idempotency_keys_create_time_idx ON idempotency_keys (create_time);
INSERT INTO idempotency_keys (project_id, key, event_id, create_time)
    SELECT project_id, idempotency_key, id, create_time FROM events_0001 WHERE idempotency_key <> '';

INSERT INTO deliveries (id, project_id, event_id, webhook_id, integration_id, event_type, subject, status, attempts,
        last_status_code, reason, resent, resends, create_time, update_time)
    SELECT id, project_id, event_id, webhook_id, integration_id, event_type, subject, status, attempts,
        last_status_code, reason, resent, 0, create_time, update_time FROM deliveries_0001;

-- delivery_queue is the queue: one row per unfinished delivery. due_time is when the sender may claim the row:
-- its next attempt, its WAITING deadline, or the end of a claim's lease (an abandoned claim is due again then).
-- next_attempt_time is the scheduled time the API shows. claim_token identifies the current claim; completions
-- must present it. status may be a final status while an attempt is in flight (a callback or a cancel came
-- first): the attempt's completion then records the attempt and keeps that status.
CREATE TABLE delivery_queue (
    delivery_id       text COLLATE "C" NOT NULL,
    project_id        text COLLATE "C" NOT NULL,
    webhook_id        text COLLATE "C" NOT NULL,
    event_id          text COLLATE "C" NOT NULL,
    status            text COLLATE "C" NOT NULL,
    attempts          integer     NOT NULL DEFAULT 0,
    resends           integer     NOT NULL DEFAULT 0,
    due_time          timestamptz NOT NULL,
    next_attempt_time timestamptz NOT NULL,
    claim_token       text COLLATE "C",
    CONSTRAINT delivery_queue_pkey PRIMARY KEY (delivery_id),
    CONSTRAINT delivery_queue_status_check
        CHECK (status IN ('queued', 'retrying', 'waiting', 'done', 'failed', 'cancelled'))
);
-- Claims visit webhooks ("lanes") in turn and take each one's due rows in due order.
CREATE INDEX delivery_queue_lane_idx ON delivery_queue (webhook_id, due_time);
-- The earliest due time: how long an idle sender sleeps.
CREATE INDEX delivery_queue_due_idx ON delivery_queue (due_time);
-- The queue view of a project.
CREATE INDEX delivery_queue_project_idx ON delivery_queue (project_id, next_attempt_time, delivery_id);
-- The queue churns (every delivery inserts, claims and deletes a row): keep it vacuumed. hookd also vacuums it
-- itself when autovacuum is off.
ALTER TABLE delivery_queue SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 5000,
    autovacuum_analyze_scale_factor = 0.05,
    autovacuum_vacuum_cost_limit = 10000,
    autovacuum_vacuum_cost_delay = 0,
    fillfactor = 70
);
INSERT INTO delivery_queue (delivery_id, project_id, webhook_id, event_id, status, attempts, resends, due_time, next_attempt_time)
    SELECT id, project_id, webhook_id, event_id, status, attempts, 0,
        GREATEST(next_attempt_time, COALESCE(lease_time, next_attempt_time)), next_attempt_time
    FROM deliveries_0001 WHERE status IN ('queued', 'retrying', 'waiting');

-- action_tokens keeps the tokens of unfinished deliveries created before this migration (hashed), so that their
-- receivers' action-status links keep working.
CREATE TABLE action_tokens (
    hash        bytea NOT NULL,
    delivery_id text COLLATE "C" NOT NULL,
    CONSTRAINT action_tokens_pkey PRIMARY KEY (hash)
);
CREATE INDEX action_tokens_delivery_id_idx ON action_tokens (delivery_id);
INSERT INTO action_tokens (hash, delivery_id)
    SELECT sha256(convert_to(action_token, 'UTF8')), id FROM deliveries_0001
    WHERE status IN ('queued', 'retrying', 'waiting') AND action_token <> '';

INSERT INTO attempts (delivery_id, number, start_time, duration_us, request_method, request_url, request_headers,
        request_body, response_status_code, response_headers, response_body, error)
    SELECT delivery_id, number, start_time, duration_us, request_method, request_url, request_headers,
        request_body, response_status_code, response_headers, response_body, error FROM attempts_0001;

INSERT INTO executions (id, project_id, trigger_id, receive_time, method, headers, query_parameters, path_fragment,
        raw_body, raw_body_base64, body, content_type, status, event_id, event_type)
    SELECT id, project_id, trigger_id, receive_time, method, headers, query_parameters, path_fragment,
        raw_body, raw_body_base64, body, content_type, status, event_id, event_type FROM executions_0001;

DROP TABLE attempts_0001, deliveries_0001, events_0001, executions_0001;

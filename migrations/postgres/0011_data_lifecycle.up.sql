-- 0011_data_lifecycle: per-project retention and payload retention, and expired payloads (issue 26).
-- Only columns with constant defaults are added: no row is rewritten, and the log tables' columns reach every day
-- partition, present and future.
SET LOCAL lock_timeout = '10s';

-- retention_seconds: how long the project's log is kept (0: the instance's --retention; never longer than it).
-- payload_retention_seconds: after it, event payloads, attempt bodies and execution bodies are dropped (0: kept for
-- the whole retention). payload_expire_time: the payloads of the project's log rows whose ids were made before it
-- are dropped already (the purger moves it forward in bounded batches; NULL: nothing dropped yet).
ALTER TABLE projects
    ADD COLUMN retention_seconds         bigint NOT NULL DEFAULT 0,
    ADD COLUMN payload_retention_seconds bigint NOT NULL DEFAULT 0,
    ADD COLUMN payload_expire_time       timestamptz,
    -- version counts the updates (UpdateProject writes over the version it read, like the other Update RPCs).
    ADD COLUMN version                   bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT projects_retention_check CHECK (retention_seconds >= 0 AND payload_retention_seconds >= 0);

-- payload_expired marks a row whose payload (events), request and response bodies (attempts) or received body
-- (executions) were dropped after the project's payload retention.
ALTER TABLE events ADD COLUMN payload_expired boolean NOT NULL DEFAULT false;
ALTER TABLE attempts ADD COLUMN payload_expired boolean NOT NULL DEFAULT false;
ALTER TABLE executions ADD COLUMN payload_expired boolean NOT NULL DEFAULT false;

-- EraseSubject finds a subject's executions as it finds its events and deliveries. (Built while the migration
-- holds the lock: inbound trigger requests wait for it; on a large executions table, create the index beforehand
-- with CREATE INDEX CONCURRENTLY on each partition.)
CREATE INDEX executions_project_id_subject_idx ON executions (project_id, subject, id DESC) WHERE subject <> '';

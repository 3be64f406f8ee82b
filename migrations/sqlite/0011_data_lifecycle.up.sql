-- 0011_data_lifecycle: per-project retention and payload retention, and expired payloads (issue 26).

-- retention_seconds: how long the project's log is kept (0: the instance's --retention; never longer than it).
-- payload_retention_seconds: after it, event payloads, attempt bodies and execution bodies are dropped (0: kept for
-- the whole retention). payload_expire_time: the payloads of the project's log rows whose ids were made before it
-- are dropped already (the purger moves it forward in bounded batches; NULL: nothing dropped yet).
ALTER TABLE projects ADD COLUMN retention_seconds INTEGER NOT NULL DEFAULT 0 CHECK (retention_seconds >= 0);
ALTER TABLE projects ADD COLUMN payload_retention_seconds INTEGER NOT NULL DEFAULT 0 CHECK (payload_retention_seconds >= 0);
ALTER TABLE projects ADD COLUMN payload_expire_time DATETIME;
-- version counts the updates (UpdateProject writes over the version it read, like the other Update RPCs).
ALTER TABLE projects ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

-- payload_expired marks a row whose payload (events), request and response bodies (attempts) or received body
-- (executions) were dropped after the project's payload retention.
ALTER TABLE events ADD COLUMN payload_expired BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE attempts ADD COLUMN payload_expired BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE executions ADD COLUMN payload_expired BOOLEAN NOT NULL DEFAULT FALSE;

-- EraseSubject finds a subject's executions as it finds its events and deliveries.
CREATE INDEX executions_project_id_subject_idx ON executions (project_id, subject, id DESC) WHERE subject <> '';

-- 0003_security: encryption at rest, trigger payload filters, truncated execution bodies.
SET LOCAL lock_timeout = '10s';

-- secret_keys lists the ids of the keys that encrypted stored secrets (the keys themselves are never stored).
-- A process whose keyring lacks an active key id refuses to start: a cluster must share its keys.
-- retire_time is set by `hookd secrets rotate` once nothing is encrypted under that key any more.
CREATE TABLE secret_keys (
    key_id      text COLLATE "C" NOT NULL,
    create_time timestamptz NOT NULL,
    retire_time timestamptz,
    CONSTRAINT secret_keys_pkey PRIMARY KEY (key_id)
);

-- drop_headers and drop_query_parameters are removed from the payload of a trigger's events, besides the
-- credential headers that are always removed.
ALTER TABLE triggers ADD COLUMN drop_headers jsonb NOT NULL DEFAULT '[]';
ALTER TABLE triggers ADD COLUMN drop_query_parameters jsonb NOT NULL DEFAULT '[]';

-- body_truncated marks an execution whose raw_body is a prefix of what was received (rejected requests).
ALTER TABLE executions ADD COLUMN body_truncated boolean NOT NULL DEFAULT false;

-- The bootstrap key is chosen by the operator: its first characters are no display prefix but part of the
-- secret. Keys store a prefix only when hookd generated them.
UPDATE api_keys SET prefix = '' WHERE name = 'bootstrap' AND instance_admin;

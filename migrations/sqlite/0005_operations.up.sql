-- 0005_operations: endpoint health, per-webhook statistics and the registry of live delivery watchers (see the
-- PostgreSQL migration).
ALTER TABLE webhooks ADD COLUMN failure_threshold INTEGER NOT NULL DEFAULT 0 CHECK (failure_threshold >= 0);
ALTER TABLE webhooks ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN warned_percent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN disabled_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN disable_time DATETIME;
ALTER TABLE webhooks ADD COLUMN last_success_time DATETIME;
ALTER TABLE webhooks ADD COLUMN last_failure_time DATETIME;
UPDATE webhooks SET disabled_reason = 'disabled before hookd kept reasons', disable_time = update_time WHERE NOT enabled;

-- latency is a JSON array of counts (SQLite has no arrays).
CREATE TABLE webhook_stats (
    webhook_id TEXT     NOT NULL,
    resolution TEXT     NOT NULL,
    bucket     DATETIME NOT NULL,
    done       INTEGER  NOT NULL DEFAULT 0,
    failed     INTEGER  NOT NULL DEFAULT 0,
    cancelled  INTEGER  NOT NULL DEFAULT 0,
    attempts   INTEGER  NOT NULL DEFAULT 0,
    latency    TEXT     NOT NULL,
    CONSTRAINT webhook_stats_pkey PRIMARY KEY (webhook_id, resolution, bucket),
    CONSTRAINT webhook_stats_resolution_check CHECK (resolution IN ('minute', 'hour'))
);
CREATE INDEX webhook_stats_bucket_idx ON webhook_stats (resolution, bucket);

CREATE TABLE delivery_watchers (
    origin      TEXT     NOT NULL,
    project_id  TEXT     NOT NULL,
    expire_time DATETIME NOT NULL,
    CONSTRAINT delivery_watchers_pkey PRIMARY KEY (origin, project_id)
);

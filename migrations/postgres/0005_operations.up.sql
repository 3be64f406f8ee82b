-- 0005_operations: endpoint health, per-webhook statistics and the registry of live delivery watchers.
SET LOCAL lock_timeout = '10s';

-- A webhook's health: consecutive FAILED deliveries since the last DONE one, the highest failing warning sent in
-- this streak (0, 50, 70 or 90 %), why and when it was disabled, and its last success and failure.
ALTER TABLE webhooks
    ADD COLUMN failure_threshold    integer     NOT NULL DEFAULT 0,
    ADD COLUMN consecutive_failures integer     NOT NULL DEFAULT 0,
    ADD COLUMN warned_percent       integer     NOT NULL DEFAULT 0,
    ADD COLUMN disabled_reason      text        NOT NULL DEFAULT '',
    ADD COLUMN disable_time         timestamptz,
    ADD COLUMN last_success_time    timestamptz,
    ADD COLUMN last_failure_time    timestamptz,
    ADD CONSTRAINT webhooks_failure_threshold_check CHECK (failure_threshold >= 0);
UPDATE webhooks SET disabled_reason = 'disabled before hookd kept reasons', disable_time = update_time WHERE NOT enabled;

-- webhook_stats counts a webhook's outcomes per minute (kept 3 hours) and per hour (kept 31 days): deliveries that
-- became DONE, FAILED or CANCELLED, attempts, and a histogram of attempt durations (the bounds are in hookd:
-- store.LatencyBounds). GetWebhookStats adds up a window's buckets instead of reading the log.
CREATE TABLE webhook_stats (
    webhook_id text COLLATE "C" NOT NULL,
    resolution text COLLATE "C" NOT NULL,
    bucket     timestamptz NOT NULL,
    done       bigint      NOT NULL DEFAULT 0,
    failed     bigint      NOT NULL DEFAULT 0,
    cancelled  bigint      NOT NULL DEFAULT 0,
    attempts   bigint      NOT NULL DEFAULT 0,
    latency    bigint[]    NOT NULL,
    CONSTRAINT webhook_stats_pkey PRIMARY KEY (webhook_id, resolution, bucket),
    CONSTRAINT webhook_stats_resolution_check CHECK (resolution IN ('minute', 'hour'))
);
CREATE INDEX webhook_stats_bucket_idx ON webhook_stats (resolution, bucket);
ALTER TABLE webhook_stats SET (fillfactor = 70);

-- delivery_watchers lists the projects watched (WatchDeliveries) by some process, so that processes publish
-- delivery changes only while someone watches. Each watching process refreshes its rows before they expire.
CREATE TABLE delivery_watchers (
    origin      text COLLATE "C" NOT NULL,
    project_id  text COLLATE "C" NOT NULL,
    expire_time timestamptz NOT NULL,
    CONSTRAINT delivery_watchers_pkey PRIMARY KEY (origin, project_id)
);

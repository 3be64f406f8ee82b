-- 0013_filters_windows_signatures: subscription filters, rolling-window rate limits and configurable signature
-- headers (issue 24, parts 2-4). Configuration tables only gain columns with constant defaults: no row is rewritten.
SET LOCAL lock_timeout = '10s';

-- filter is a subscription's CEL expression over type, subject, tenant_id and data ('' = every event of its types).
ALTER TABLE subscriptions ADD COLUMN filter text NOT NULL DEFAULT '';

-- The signing headers' names ('' = the Standard Webhooks names) and the signature style ('' = standard_webhooks,
-- or hex_body: sha256=<hex HMAC-SHA256 of the body>, as GitHub sends it).
ALTER TABLE webhooks
    ADD COLUMN signature_header text NOT NULL DEFAULT '',
    ADD COLUMN id_header text NOT NULL DEFAULT '',
    ADD COLUMN timestamp_header text NOT NULL DEFAULT '',
    ADD COLUMN signature_style text NOT NULL DEFAULT '';

-- Rate limits are a sliding-window log: at most `rate` admissions in any rolling second, across processes.
-- rate_windows holds, per key, the sequence number of the next admission (its row is the lock that serializes
-- processes) and the time of the last one; rate_window_log the times of the latest admissions (at most `rate`
-- rows per key: admission seq may be granted when admission seq - rate is a second old or gone). UNLOGGED, as
-- the token buckets were: no WAL flush while the key's row is locked; after a crash the windows start empty.
CREATE UNLOGGED TABLE rate_windows (
    key         text COLLATE "C" NOT NULL,
    next_seq    bigint           NOT NULL,
    last_micros bigint           NOT NULL,
    CONSTRAINT rate_windows_pkey PRIMARY KEY (key)
);
CREATE UNLOGGED TABLE rate_window_log (
    key       text COLLATE "C" NOT NULL,
    seq       bigint           NOT NULL,
    at_micros bigint           NOT NULL,
    CONSTRAINT rate_window_log_pkey PRIMARY KEY (key, seq)
);
ALTER TABLE rate_windows SET (autovacuum_vacuum_scale_factor = 0.05, fillfactor = 70);
ALTER TABLE rate_window_log SET (autovacuum_vacuum_scale_factor = 0.05);

-- The token buckets they replace.
DROP TABLE rate_buckets;

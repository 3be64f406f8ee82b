-- 0013_filters_windows_signatures: subscription filters, rolling-window rate limits and configurable signature
-- headers (issue 24, parts 2-4; see the PostgreSQL migration).
ALTER TABLE subscriptions ADD COLUMN filter TEXT NOT NULL DEFAULT '';

ALTER TABLE webhooks ADD COLUMN signature_header TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN id_header TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN timestamp_header TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN signature_style TEXT NOT NULL DEFAULT '';

CREATE TABLE rate_windows (
    key         TEXT    NOT NULL,
    next_seq    INTEGER NOT NULL,
    last_micros INTEGER NOT NULL,
    CONSTRAINT rate_windows_pkey PRIMARY KEY (key)
);
CREATE TABLE rate_window_log (
    key       TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    at_micros INTEGER NOT NULL,
    CONSTRAINT rate_window_log_pkey PRIMARY KEY (key, seq)
);

DROP TABLE rate_buckets;

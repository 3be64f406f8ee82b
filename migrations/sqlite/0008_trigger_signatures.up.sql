-- 0008_trigger_signatures: HMAC_SHA256_TIMESTAMPED trigger signatures are accepted once (issue 21 item 14).

-- trigger_signatures remembers each signature an HMAC_SHA256_TIMESTAMPED trigger accepted (a SHA-256 of the
-- signature, never the signature) until its timestamp leaves the trigger's tolerance window: the same signed
-- request sent again within the window is refused as a replay; after it, its timestamp is refused. The purger
-- deletes expired rows.
CREATE TABLE trigger_signatures (
    trigger_id  TEXT     NOT NULL,
    digest      TEXT     NOT NULL,
    expire_time DATETIME NOT NULL,
    CONSTRAINT trigger_signatures_pkey PRIMARY KEY (trigger_id, digest)
);
CREATE INDEX trigger_signatures_expire_time_idx ON trigger_signatures (expire_time);

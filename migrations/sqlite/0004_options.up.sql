-- 0004_options: the product documents' rules as options (issue 17) and ed25519 signatures (issue 14).
-- Written against the 0001 schema; the log table (executions) only gains a column.

-- success_status_codes: the statuses that count as success (empty = any 2xx). signing_algorithm: 'hmac_sha256'
-- (v1 signatures with a whsec_ secret) or 'ed25519' (v1a with the whsk_ private key kept in secret);
-- public_key and previous_public_key are the whpk_ keys of secret and previous_secret (empty for HMAC).
ALTER TABLE webhooks ADD COLUMN success_status_codes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE webhooks ADD COLUMN signing_algorithm TEXT NOT NULL DEFAULT 'hmac_sha256'
    CONSTRAINT webhooks_signing_algorithm_check CHECK (signing_algorithm IN ('hmac_sha256', 'ed25519'));
ALTER TABLE webhooks ADD COLUMN public_key TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN previous_public_key TEXT NOT NULL DEFAULT '';

-- subject picks the subject of a trigger's events: {"header": …} or {"json_field": …}, {} for none.
ALTER TABLE triggers ADD COLUMN subject TEXT NOT NULL DEFAULT '{}';

-- subject is the subject the execution's event was published with.
ALTER TABLE executions ADD COLUMN subject TEXT NOT NULL DEFAULT '';

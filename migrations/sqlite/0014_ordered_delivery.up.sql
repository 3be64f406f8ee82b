-- 0014_ordered_delivery: ordered delivery per key (issue 25); see the PostgreSQL migration. A held queue row's
-- due_time is far in the future (9999-12-31), so that claims never see it.
ALTER TABLE webhooks ADD COLUMN ordered BOOLEAN NOT NULL DEFAULT 0;

ALTER TABLE deliveries ADD COLUMN ordering_key TEXT NOT NULL DEFAULT '';

ALTER TABLE delivery_queue ADD COLUMN blocked_by TEXT;
CREATE INDEX delivery_queue_blocked_by_idx ON delivery_queue (blocked_by) WHERE blocked_by IS NOT NULL;

CREATE TABLE ordering_keys (
    webhook_id           TEXT NOT NULL,
    ordering_key         TEXT NOT NULL,
    last_delivery_id     TEXT NOT NULL,
    previous_delivery_id TEXT NOT NULL DEFAULT '',
    CONSTRAINT ordering_keys_pkey PRIMARY KEY (webhook_id, ordering_key),
    CONSTRAINT ordering_keys_webhook_id_fkey FOREIGN KEY (webhook_id) REFERENCES webhooks (id) ON DELETE CASCADE
);

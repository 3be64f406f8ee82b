-- 0014_ordered_delivery: ordered delivery per key (issue 25). For a webhook with ordered = true, the deliveries of
-- events with the same non-empty ordering_key form a chain in publish (commit) order: each waits in the queue,
-- held, until the one before it is DONE, FAILED or CANCELLED. New columns have constant defaults or are nullable:
-- no row is rewritten.
SET LOCAL lock_timeout = '10s';

-- ordered makes the deliveries of events with the same ordering_key go one at a time, in publish order.
ALTER TABLE webhooks ADD COLUMN ordered boolean NOT NULL DEFAULT false;

-- ordering_key is the key of the delivery's event ('' = none), shown by the log.
ALTER TABLE deliveries ADD COLUMN ordering_key text COLLATE "C" NOT NULL DEFAULT '';

-- blocked_by is the delivery of the same key this one waits for (NULL: not held). A held row's due_time is
-- far in the future (9999-12-31), so that claims never see it; when its predecessor leaves the queue, the same transaction releases it
-- (blocked_by = NULL, due_time = next_attempt_time).
ALTER TABLE delivery_queue ADD COLUMN blocked_by text COLLATE "C";
CREATE INDEX delivery_queue_blocked_by_idx ON delivery_queue (blocked_by) WHERE blocked_by IS NOT NULL;

-- ordering_keys holds the tail of each key's chain: last_delivery_id is the latest delivery published with the
-- key, previous_delivery_id the one it followed (what an upsert returns). A publish locks its keys' rows, so that
-- the chain's order is the commit order of the publishes.
CREATE TABLE ordering_keys (
    webhook_id           text COLLATE "C" NOT NULL,
    ordering_key         text COLLATE "C" NOT NULL,
    last_delivery_id     text COLLATE "C" NOT NULL,
    previous_delivery_id text COLLATE "C" NOT NULL DEFAULT '',
    CONSTRAINT ordering_keys_pkey PRIMARY KEY (webhook_id, ordering_key),
    CONSTRAINT ordering_keys_webhook_id_fkey FOREIGN KEY (webhook_id) REFERENCES webhooks (id) ON DELETE CASCADE
);

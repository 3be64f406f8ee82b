-- 0007_write_guards: private webhook header values bound to their origin, and versioned updates (issue 21).
-- Configuration tables only gain columns with constant defaults: no row is rewritten.
SET LOCAL lock_timeout = '10s';

-- private_origin is the origin (scheme://host:port) the webhook's private header values were saved for: the
-- sender sends them to that origin only. Rows of older versions get it at the first start (storesql fills it from
-- the webhook's url or its integration's base_url).
ALTER TABLE webhooks
    ADD COLUMN private_origin text NOT NULL DEFAULT '',
    ADD COLUMN version bigint NOT NULL DEFAULT 0;

-- version counts a record's updates: an Update writes only over the version it read (compare-and-swap), so two
-- concurrent updates never lose one another's change.
ALTER TABLE integrations ADD COLUMN version bigint NOT NULL DEFAULT 0;
ALTER TABLE event_types ADD COLUMN version bigint NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN version bigint NOT NULL DEFAULT 0;
ALTER TABLE triggers ADD COLUMN version bigint NOT NULL DEFAULT 0;

-- 0007_write_guards: private webhook header values bound to their origin, and versioned updates (issue 21; see
-- the PostgreSQL migration).
ALTER TABLE webhooks ADD COLUMN private_origin TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE integrations ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE event_types ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE triggers ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

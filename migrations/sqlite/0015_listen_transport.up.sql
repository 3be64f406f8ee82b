-- 0015_listen_transport: a webhook's transport (issue 27; see the PostgreSQL migration).
ALTER TABLE webhooks ADD COLUMN transport TEXT NOT NULL DEFAULT '';

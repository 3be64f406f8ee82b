-- 0015_listen_transport: a webhook's transport (issue 27): '' = HTTP (dial the URL), 'listen' = hand the built
-- and signed request to a connected `hookd listen` client. A constant default: no row is rewritten.
SET LOCAL lock_timeout = '10s';

ALTER TABLE webhooks ADD COLUMN transport text NOT NULL DEFAULT '';

-- 0009_attempt_health: a webhook's health counts failing attempts, not only finished deliveries (issue 21 item 11):
-- a webhook failing every attempt of deliveries that are still retrying is not "healthy" for two days.
SET LOCAL lock_timeout = '10s';

-- failed_attempt_streak counts failed attempts since the last successful one (consecutive_failures, which
-- failure_threshold reads, still counts FAILED deliveries).
ALTER TABLE webhooks ADD COLUMN failed_attempt_streak integer NOT NULL DEFAULT 0;

-- failed_attempts counts the bucket's attempts that failed (attempts counts them all).
ALTER TABLE webhook_stats ADD COLUMN failed_attempts bigint NOT NULL DEFAULT 0;

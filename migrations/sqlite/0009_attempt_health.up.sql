-- 0009_attempt_health: a webhook's health counts failing attempts, not only finished deliveries (issue 21 item 11).

-- failed_attempt_streak counts failed attempts since the last successful one (consecutive_failures, which
-- failure_threshold reads, still counts FAILED deliveries).
ALTER TABLE webhooks ADD COLUMN failed_attempt_streak INTEGER NOT NULL DEFAULT 0;

-- failed_attempts counts the bucket's attempts that failed (attempts counts them all).
ALTER TABLE webhook_stats ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;

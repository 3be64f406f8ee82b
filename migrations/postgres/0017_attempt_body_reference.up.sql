-- 0017_attempt_body_reference: an attempt whose request body is the default envelope keeps it without the event's
-- payload (the envelope's data), and request_body_payload_at says where the payload goes back when it is read: the
-- payload is stored once, with its event, not again with every attempt (issue 28: ~1.2 KB of WAL and of table per
-- attempt of a 1 KiB event). 0: the body is stored whole (every attempt made before this migration).
ALTER TABLE attempts ADD COLUMN request_body_payload_at integer NOT NULL DEFAULT 0;

-- 0017_attempt_body_reference: an attempt whose request body is the default envelope keeps it without the event's
-- payload (the envelope's data), and request_body_payload_at says where the payload goes back when it is read: the
-- payload is stored once, with its event. 0: the body is stored whole (every attempt made before this migration).
ALTER TABLE attempts ADD COLUMN request_body_payload_at INTEGER NOT NULL DEFAULT 0;

-- Ingest hardening: the content digest of each stored batch, so that a batch re-sent
-- with the same (device_id, seq) but other content is seen (and dead-lettered as
-- `seq_conflict`), and a counter of messages dropped because telemetry consent is
-- withdrawn. Batches stored before this migration have no digest and never conflict.
ALTER TABLE batches ADD COLUMN digest bytea;

ALTER TABLE pipeline_health ADD COLUMN dropped_no_consent bigint NOT NULL DEFAULT 0;

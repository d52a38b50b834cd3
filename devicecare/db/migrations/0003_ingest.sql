-- Ingest: a feed of stored batches for the detectors, device status, offer answers and
-- the pipeline-health table that Grafana reads.

-- Every stored batch gets an ever-increasing ingest_id: detectors read new batches past
-- their watermark (and are woken by NOTIFY devicecare_ingest); first_ts/last_ts let them
-- fetch the batch's rows from the hypertables by time range.
ALTER TABLE batches
    ADD COLUMN ingest_id bigint GENERATED ALWAYS AS IDENTITY,
    ADD COLUMN first_ts timestamptz,
    ADD COLUMN last_ts timestamptz;
UPDATE batches SET first_ts = sent_at, last_ts = sent_at WHERE first_ts IS NULL;
ALTER TABLE batches ALTER COLUMN first_ts SET NOT NULL, ALTER COLUMN last_ts SET NOT NULL;
CREATE UNIQUE INDEX batches_ingest_idx ON batches (ingest_id);

ALTER TABLE devices
    ADD COLUMN status_at timestamptz,
    ADD COLUMN status_detail jsonb NOT NULL DEFAULT '{}';

-- Owners' answers to offers, as they arrive from devices; the notifier processes them.
CREATE TABLE offer_responses (
    device_id    text NOT NULL REFERENCES devices ON DELETE CASCADE,
    offer_id     text NOT NULL,
    answer       text NOT NULL CHECK (answer IN ('accept', 'dismiss', 'wrong')),
    answered_at  timestamptz NOT NULL,
    comment      text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    PRIMARY KEY (device_id, offer_id, answered_at)
);
CREATE INDEX offer_responses_pending_idx ON offer_responses (received_at) WHERE processed_at IS NULL;

-- One row per ingest worker, refreshed every few seconds.
CREATE TABLE pipeline_health (
    worker            text PRIMARY KEY,
    started_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    received          bigint NOT NULL DEFAULT 0,
    stored_samples    bigint NOT NULL DEFAULT 0,
    stored_events     bigint NOT NULL DEFAULT 0,
    batches           bigint NOT NULL DEFAULT 0,
    duplicates        bigint NOT NULL DEFAULT 0,
    dead_lettered     bigint NOT NULL DEFAULT 0,
    flushes           bigint NOT NULL DEFAULT 0,
    last_flush_ms     real,
    lag_ms            real,
    queued_messages   integer NOT NULL DEFAULT 0,
    database_up       boolean NOT NULL DEFAULT true
);

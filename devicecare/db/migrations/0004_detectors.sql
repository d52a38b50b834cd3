-- Detectors: a feed position that never skips a batch, partition leases and checkpoints,
-- and each device's health figures for cohorts, support and Grafana.

-- The transaction that stored each batch. A detector reads batches whose transaction id
-- is below the oldest transaction still running (pg_snapshot_xmin of its snapshot):
-- those are all committed (or rolled back) for good, so a batch committed late by a
-- slower ingest worker is never skipped, as an ever-increasing id alone could be.
ALTER TABLE batches ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX batches_xid_idx ON batches (xid);

-- The partition of a device: the first 28 bits of md5(device_id) modulo the number of
-- partitions; the detectors compute the same in Python.
CREATE FUNCTION device_partition(device_id text, partitions integer) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (('x' || substr(md5(device_id), 1, 7))::bit(28)::integer) % partitions;

-- A checkpoint holds a partition's device states (compressed) and its feed position; a
-- worker owns a partition while its lease runs and renews it with every checkpoint.
ALTER TABLE detector_checkpoints
    ADD COLUMN position xid8,
    ADD COLUMN lease_until timestamptz;

-- The latest health figures of each device, written by the detectors.
CREATE TABLE device_health (
    device_id      text PRIMARY KEY REFERENCES devices ON DELETE CASCADE,
    data_at        timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    figures        jsonb NOT NULL DEFAULT '{}',
    open_findings  text[] NOT NULL DEFAULT '{}'
);

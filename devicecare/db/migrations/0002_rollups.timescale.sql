-- Timescale edition: the rollups are real-time continuous aggregates (same names and
-- columns as the apache edition's views), raw chunks are compressed after a week, and
-- retention_policies become TimescaleDB retention jobs.

CREATE MATERIALIZED VIEW samples_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    device_id,
    time_bucket(INTERVAL '1 hour', ts) AS bucket,
    count(*) AS samples,
    avg(battery_pct) AS battery_pct_avg,
    min(battery_pct) AS battery_pct_min,
    max(battery_pct) AS battery_pct_max,
    avg(battery_temp_c) AS battery_temp_c_avg,
    max(battery_temp_c) AS battery_temp_c_max,
    avg(battery_full_wh / NULLIF(battery_design_wh, 0)) * 100 AS battery_health_pct_avg,
    max(battery_cycles) AS battery_cycles_max,
    avg(cpu_temp_c) AS cpu_temp_c_avg,
    max(cpu_temp_c) AS cpu_temp_c_max,
    avg(cpu_load_pct) AS cpu_load_pct_avg,
    count(*) FILTER (WHERE thermal_throttled) AS throttled_samples,
    min(storage_free_bytes) AS storage_free_bytes_min,
    max(storage_total_bytes) AS storage_total_bytes_max,
    max(flash_wear_pct) AS flash_wear_pct_max
FROM samples
GROUP BY device_id, bucket
WITH NO DATA;

CREATE MATERIALIZED VIEW events_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    device_id,
    time_bucket(INTERVAL '1 day', ts) AS bucket,
    kind,
    count(*) AS events
FROM events
GROUP BY device_id, bucket, kind
WITH NO DATA;

SELECT add_continuous_aggregate_policy('samples_hourly',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '30 minutes');
SELECT add_continuous_aggregate_policy('events_daily',
    start_offset => INTERVAL '7 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '1 hour');

ALTER TABLE samples SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'device_id',
    timescaledb.compress_orderby = 'ts DESC'
);
SELECT add_compression_policy('samples', INTERVAL '7 days');
ALTER TABLE events SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'device_id',
    timescaledb.compress_orderby = 'ts DESC'
);
SELECT add_compression_policy('events', INTERVAL '30 days');

SELECT add_retention_policy(hypertable, drop_after) FROM retention_policies;

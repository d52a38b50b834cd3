-- Dashboards: rollup tables that fleet panels read instead of raw samples, the same on
-- both editions. The apache edition has no continuous aggregates, so samples_hourly is a
-- view over raw samples there; these are plain tables, refreshed by
-- `devicecare dashboards refresh-rollups` (once, or in a loop), which recomputes only
-- the buckets that batches stored since its last run touched.

-- One row per device and UTC day: the figures fleet panels compare across cohorts.
CREATE TABLE device_daily (
    bucket               timestamptz NOT NULL,
    device_id            text NOT NULL,
    samples              integer NOT NULL,
    reporting_hours      smallint NOT NULL,
    crash_hours          smallint NOT NULL,
    crashes              integer NOT NULL,
    battery_health_pct   real,
    battery_temp_c_max   real,
    cpu_temp_c_max       real,
    throttled_samples    integer NOT NULL,
    storage_used_pct     real,
    flash_wear_pct       real,
    PRIMARY KEY (bucket, device_id)
);
CREATE INDEX device_daily_device_idx ON device_daily (device_id, bucket DESC);

-- One row per hour and cohort (model, OS version): fleet time series read a few
-- thousand rows for 30 days instead of millions of samples.
CREATE TABLE cohort_hourly (
    bucket                   timestamptz NOT NULL,
    model                    text NOT NULL,
    os_version               text NOT NULL,
    devices                  integer NOT NULL,
    samples                  integer NOT NULL,
    crashed_devices          integer NOT NULL,
    crashes                  integer NOT NULL,
    battery_health_pct_avg   real,
    battery_temp_c_avg       real,
    cpu_temp_c_avg           real,
    throttled_samples        integer NOT NULL,
    storage_used_pct_avg     real,
    storage_pressure_devices integer NOT NULL,
    flash_wear_pct_avg       real,
    PRIMARY KEY (bucket, model, os_version)
);

-- Where each rollup's refresh stands in the batch feed (same transaction-id position as
-- the detectors use, so a batch committed late is never missed).
CREATE TABLE rollup_state (
    name          text PRIMARY KEY,
    position      xid8 NOT NULL,
    refreshed_at  timestamptz NOT NULL,
    refreshed_from timestamptz
);

-- Pipeline panels count batches by arrival time.
CREATE INDEX batches_received_idx ON batches (received_at);

-- Recompute both rollups for [from_ts, to_ts), widened to whole days. A device's cohort
-- is its current model and OS version; devices not (yet) registered count as 'unknown'.
CREATE FUNCTION refresh_dashboard_rollups(from_ts timestamptz, to_ts timestamptz)
    RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz := time_bucket(INTERVAL '1 day', from_ts);
    hi timestamptz := time_bucket(INTERVAL '1 day', to_ts) + INTERVAL '1 day';
BEGIN
    DELETE FROM device_daily WHERE bucket >= lo AND bucket < hi;
    DELETE FROM cohort_hourly WHERE bucket >= lo AND bucket < hi;

    CREATE TEMPORARY TABLE rollup_device_hours ON COMMIT DROP AS
    SELECT
        s.device_id,
        time_bucket(INTERVAL '1 hour', s.ts) AS hour,
        count(*) AS samples,
        avg(s.battery_full_wh / NULLIF(s.battery_design_wh, 0)) * 100 AS battery_health_pct,
        avg(s.battery_temp_c) AS battery_temp_c_avg,
        max(s.battery_temp_c) AS battery_temp_c_max,
        avg(s.cpu_temp_c) AS cpu_temp_c_avg,
        max(s.cpu_temp_c) AS cpu_temp_c_max,
        count(*) FILTER (WHERE s.thermal_throttled) AS throttled_samples,
        max(100 - 100.0 * s.storage_free_bytes / NULLIF(s.storage_total_bytes, 0)) AS storage_used_pct,
        max(s.flash_wear_pct) AS flash_wear_pct
    FROM samples s
    WHERE s.ts >= lo AND s.ts < hi
    GROUP BY 1, 2;

    CREATE TEMPORARY TABLE rollup_crash_hours ON COMMIT DROP AS
    SELECT device_id, time_bucket(INTERVAL '1 hour', ts) AS hour, count(*) AS crashes
    FROM events
    WHERE ts >= lo AND ts < hi AND kind <> 'reboot'
    GROUP BY 1, 2;

    INSERT INTO device_daily
    SELECT
        time_bucket(INTERVAL '1 day', h.hour),
        h.device_id,
        sum(h.samples),
        count(*),
        count(c.crashes),
        coalesce(sum(c.crashes), 0),
        avg(h.battery_health_pct),
        max(h.battery_temp_c_max),
        max(h.cpu_temp_c_max),
        sum(h.throttled_samples),
        max(h.storage_used_pct),
        max(h.flash_wear_pct)
    FROM rollup_device_hours h
    LEFT JOIN rollup_crash_hours c USING (device_id, hour)
    GROUP BY 1, 2;

    INSERT INTO cohort_hourly
    SELECT
        h.hour,
        coalesce(d.model, 'unknown'),
        coalesce(d.os_version, 'unknown'),
        count(*),
        sum(h.samples),
        count(c.crashes),
        coalesce(sum(c.crashes), 0),
        avg(h.battery_health_pct),
        avg(h.battery_temp_c_avg),
        avg(h.cpu_temp_c_avg),
        sum(h.throttled_samples),
        avg(h.storage_used_pct),
        count(*) FILTER (WHERE h.storage_used_pct >= 90),
        avg(h.flash_wear_pct)
    FROM rollup_device_hours h
    LEFT JOIN rollup_crash_hours c USING (device_id, hour)
    LEFT JOIN devices d USING (device_id)
    GROUP BY 1, 2, 3;

    DROP TABLE rollup_device_hours;
    DROP TABLE rollup_crash_hours;
END $$;

-- Apache edition: no continuous aggregates, compression or policies. The rollups are
-- plain views with the same names and columns as the timescale edition's continuous
-- aggregates, so every read query works on both; retention runs in `devicecare db maintain`.

CREATE VIEW samples_hourly AS
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
GROUP BY device_id, bucket;

CREATE VIEW events_daily AS
SELECT
    device_id,
    time_bucket(INTERVAL '1 day', ts) AS bucket,
    kind,
    count(*) AS events
FROM events
GROUP BY device_id, bucket, kind;

"""Fleet health: is the fleet reporting, and which cohort (model, OS version) stands out.

Time series and distributions read the rollups `cohort_hourly` and `device_daily`
(migration 0009), never raw samples, so 30 days stay fast on a large fleet.
"""

from __future__ import annotations

from dashboards.builder import Dashboard, barchart, stat, table, timeseries
from dashboards.variables import MODEL, OS_VERSION

COHORT = "model IN ($model) AND os_version IN ($os_version)"
DEVICE_COHORT = (
    "device_id IN (SELECT device_id FROM devices WHERE model IN ($model)"
    " AND os_version IN ($os_version))"
)


def _cohort_series(expression: str) -> str:
    """A per-cohort time series of `expression` over cohort_hourly rows."""
    return f"""
SELECT $__timeGroupAlias(bucket, $__interval), model || ' ' || os_version AS metric,
       {expression} AS value
FROM cohort_hourly
WHERE $__timeFilter(bucket) AND {COHORT}
GROUP BY 1, 2
ORDER BY 1, 2
"""


def build() -> Dashboard:
    return Dashboard(
        uid="devicecare-fleet",
        title="DeviceCare / Fleet health",
        description="Devices reporting, battery, thermal, storage and crashes by cohort.",
        variables=(MODEL, OS_VERSION),
        time_from="now-30d",
        panels=(
            stat(
                "Devices reporting / silent (24 h)",
                f"""
SELECT count(*) FILTER (WHERE last_seen_at >= now() - INTERVAL '1 day') AS reporting,
       count(*) FILTER (WHERE last_seen_at IS NULL
                        OR last_seen_at < now() - INTERVAL '1 day') AS silent
FROM devices
WHERE {COHORT}
""",
                width=8,
                height=6,
            ),
            timeseries(
                "Devices reporting per hour",
                _cohort_series("sum(devices)::float8 / count(DISTINCT bucket)"),
                width=16,
                height=6,
                stacked=True,
            ),
            barchart(
                "Battery health by cohort (p10 / median / p90)",
                """
SELECT d.model || ' ' || d.os_version AS cohort,
       percentile_cont(0.1) WITHIN GROUP (ORDER BY h.health) AS p10,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY h.health) AS median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY h.health) AS p90
FROM (SELECT device_id, avg(battery_health_pct) AS health
      FROM device_daily
      WHERE $__timeFilter(bucket) AND battery_health_pct IS NOT NULL
      GROUP BY device_id) h
JOIN devices d USING (device_id)
WHERE d.model IN ($model) AND d.os_version IN ($os_version)
GROUP BY 1
ORDER BY 1
""",
                unit="percent",
            ),
            timeseries(
                "Battery health (full / design)",
                _cohort_series("avg(battery_health_pct_avg)"),
                unit="percent",
            ),
            timeseries(
                "Thermal throttling share of samples",
                _cohort_series("100.0 * sum(throttled_samples) / NULLIF(sum(samples), 0)"),
                unit="percent",
            ),
            timeseries(
                "Storage pressure: devices at 90% full or more",
                _cohort_series("100.0 * sum(storage_pressure_devices) / NULLIF(sum(devices), 0)"),
                unit="percent",
            ),
            barchart(
                "Flash wear by cohort (mean / worst device)",
                """
SELECT d.model || ' ' || d.os_version AS cohort,
       avg(w.wear) AS mean, max(w.wear) AS worst
FROM (SELECT device_id, max(flash_wear_pct) AS wear
      FROM device_daily
      WHERE $__timeFilter(bucket)
      GROUP BY device_id) w
JOIN devices d USING (device_id)
WHERE d.model IN ($model) AND d.os_version IN ($os_version)
GROUP BY 1
ORDER BY 1
""",
                unit="percent",
            ),
            timeseries(
                "Crash-free device hours",
                _cohort_series("100.0 - 100.0 * sum(crashed_devices) / NULLIF(sum(devices), 0)"),
                unit="percent",
            ),
            table(
                "Outliers: devices furthest from their cohort",
                f"""
WITH per_device AS (
    SELECT device_id,
           avg(battery_health_pct) AS health,
           100.0 * sum(throttled_samples) / NULLIF(sum(samples), 0) AS throttled,
           max(storage_used_pct) AS storage,
           100.0 * sum(crash_hours) / NULLIF(sum(reporting_hours), 0) AS crash_hours
    FROM device_daily
    WHERE $__timeFilter(bucket) AND {DEVICE_COHORT}
    GROUP BY device_id
), scored AS (
    SELECT p.*, d.model, d.os_version,
           avg(health) OVER c AS cohort_health,
           avg(throttled) OVER c AS cohort_throttled,
           avg(crash_hours) OVER c AS cohort_crash_hours,
           greatest(
               coalesce((avg(health) OVER c - health) / NULLIF(stddev(health) OVER c, 0), 0),
               coalesce((throttled - avg(throttled) OVER c)
                        / NULLIF(stddev(throttled) OVER c, 0), 0),
               coalesce((crash_hours - avg(crash_hours) OVER c)
                        / NULLIF(stddev(crash_hours) OVER c, 0), 0)
           ) AS z
    FROM per_device p JOIN devices d USING (device_id)
    WINDOW c AS (PARTITION BY d.model, d.os_version)
)
SELECT device_id, model, os_version, round(z::numeric, 1) AS z_score,
       round(health::numeric, 1) AS battery_health, round(cohort_health::numeric, 1) AS cohort,
       round(throttled::numeric, 2) AS throttled_pct,
       round(cohort_throttled::numeric, 2) AS cohort_throttled_pct,
       round(crash_hours::numeric, 2) AS crash_hours_pct,
       round(cohort_crash_hours::numeric, 2) AS cohort_crash_hours_pct,
       round(storage::numeric, 1) AS storage_used_pct
FROM scored
ORDER BY z DESC NULLS LAST, device_id
LIMIT 25
""",
                width=24,
                height=10,
            ),
        ),
    )

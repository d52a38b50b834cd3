"""Device: one device over time, every metric with its findings and offers as annotations.

Per-device queries read raw samples through the `(device_id, ts)` index: a week of one
device is a few hundred rows.
"""

from __future__ import annotations

from dashboards.builder import Annotation, Dashboard, table, timeseries
from dashboards.variables import DEVICE, MODEL

ONE = "device_id = '$device'"


def _metrics(expressions: str) -> str:
    return f"""
SELECT $__timeGroupAlias(ts, $__interval), {expressions}
FROM samples
WHERE {ONE} AND $__timeFilter(ts)
GROUP BY 1
ORDER BY 1
"""


def build() -> Dashboard:
    return Dashboard(
        uid="devicecare-device",
        title="DeviceCare / Device",
        description="One device: metrics, findings, offers, timeline and consent.",
        variables=(MODEL, DEVICE),
        time_from="now-7d",
        annotations=(
            Annotation(
                "Findings",
                f"""
SELECT detected_at AS time, coalesce(resolved_at, detected_at) AS timeend,
       fault_kind || ' (' || severity || ', ' || status || '): ' || reason AS text,
       fault_kind AS tags
FROM findings
WHERE {ONE} AND $__timeFilter(detected_at)
ORDER BY 1
""",
                "red",
            ),
            Annotation(
                "Offers",
                f"""
SELECT coalesce(sent_at, created_at) AS time, coalesce(answered_at, sent_at, created_at)
       AS timeend, kind || ': ' || status || coalesce(' (' || answer || ')', '') AS text,
       'offer' AS tags
FROM offers
WHERE {ONE} AND $__timeFilter(created_at)
ORDER BY 1
""",
                "blue",
            ),
        ),
        panels=(
            table(
                "Device and consent",
                f"""
SELECT device_id, model, os_name, os_version, agent_version, status, last_seen_at,
       consent_telemetry, consent_care_offers, consent_email, consent_changed_at
FROM devices
WHERE {ONE}
""",
                width=24,
                height=4,
            ),
            timeseries(
                "Battery charge and health",
                _metrics(
                    "avg(battery_pct) AS charge_pct,"
                    " avg(100 * battery_full_wh / NULLIF(battery_design_wh, 0)) AS health_pct"
                ),
                unit="percent",
            ),
            timeseries(
                "Battery temperature, voltage and current",
                _metrics(
                    "avg(battery_temp_c) AS temp_c, avg(battery_voltage_v) AS voltage_v,"
                    " avg(battery_current_a) AS current_a, max(battery_cycles) AS cycles"
                ),
            ),
            timeseries(
                "CPU temperature, load and throttling",
                _metrics(
                    "avg(cpu_temp_c) AS cpu_temp_c, avg(cpu_load_pct) AS load_pct,"
                    " 100.0 * avg(thermal_throttled::int) AS throttled_pct"
                ),
            ),
            timeseries(
                "Storage used and flash wear",
                _metrics(
                    "avg(100 - 100.0 * storage_free_bytes / NULLIF(storage_total_bytes, 0))"
                    " AS storage_used_pct, max(flash_wear_pct) AS flash_wear_pct,"
                    " max(flash_pre_eol) AS pre_eol"
                ),
                unit="percent",
            ),
            timeseries(
                "Crashes and reboots",
                f"""
SELECT $__timeGroupAlias(ts, $__interval), kind AS metric, count(*) AS events
FROM events
WHERE {ONE} AND $__timeFilter(ts)
GROUP BY 1, 2
ORDER BY 1, 2
""",
                stacked=True,
            ),
            table(
                "Findings",
                f"""
SELECT detected_at, fault_kind, severity, status, round(confidence::numeric, 2) AS confidence,
       onset_at, resolved_at, detector, reason
FROM findings
WHERE {ONE}
ORDER BY detected_at DESC
LIMIT 50
""",
            ),
            table(
                "Offers",
                f"""
SELECT created_at, kind, severity, status, channel, sent_at, answered_at, answer
FROM offers
WHERE {ONE}
ORDER BY created_at DESC
LIMIT 50
""",
                width=24,
            ),
            table(
                "Timeline",
                f"""
SELECT ts, touchpoint, kind, actor, summary
FROM interactions
WHERE {ONE} AND $__timeFilter(ts)
ORDER BY ts DESC
LIMIT 200
""",
                width=24,
                height=10,
            ),
        ),
    )

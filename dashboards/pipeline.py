"""Pipeline: ingest rate and lag, duplicates and dead letters, detector partitions and
notifier deliveries."""

from __future__ import annotations

from dashboards.builder import Dashboard, barchart, stat, table, timeseries


def build() -> Dashboard:
    return Dashboard(
        uid="devicecare-pipeline",
        title="DeviceCare / Pipeline",
        description="Ingest, dead letters, detector partitions and notifier deliveries.",
        time_from="now-24h",
        refresh="1m",
        panels=(
            timeseries(
                "Ingest rate (rows per second)",
                """
SELECT $__timeGroupAlias(received_at, $__interval), channel AS metric,
       sum(rows) * 1000.0 / $__interval_ms AS rows_per_s
FROM batches
WHERE $__timeFilter(received_at)
GROUP BY 1, 2
ORDER BY 1, 2
""",
                unit="rps",
            ),
            timeseries(
                "Lag: batch received after its last sample",
                """
SELECT $__timeGroupAlias(received_at, $__interval),
       avg(extract(epoch FROM received_at - last_ts)) AS mean_s,
       max(extract(epoch FROM received_at - last_ts)) AS max_s
FROM batches
WHERE $__timeFilter(received_at)
GROUP BY 1
ORDER BY 1
""",
                unit="s",
            ),
            stat(
                "Ingest totals (all workers)",
                """
SELECT sum(received) AS received, sum(batches) AS batches, sum(duplicates) AS duplicates,
       sum(dead_lettered) AS dead_lettered, max(lag_ms) AS lag_ms,
       sum(queued_messages) AS queued
FROM pipeline_health
""",
                width=24,
                height=4,
            ),
            table(
                "Ingest workers",
                """
SELECT worker, database_up, extract(epoch FROM now() - updated_at)::int AS seen_s_ago,
       received, stored_samples, stored_events, batches, duplicates, dead_lettered,
       last_flush_ms, lag_ms, queued_messages, started_at
FROM pipeline_health
ORDER BY worker
""",
                width=24,
                height=6,
            ),
            timeseries(
                "Dead letters by reason",
                """
SELECT $__timeGroupAlias(received_at, $__interval), reason AS metric, count(*) AS messages
FROM dead_letters
WHERE $__timeFilter(received_at)
GROUP BY 1, 2
ORDER BY 1, 2
""",
                stacked=True,
            ),
            barchart(
                "Dead letters by reason (range)",
                """
SELECT reason, count(*) AS messages
FROM dead_letters
WHERE $__timeFilter(received_at)
GROUP BY 1
ORDER BY 2 DESC, 1
""",
            ),
            table(
                "Detector partitions and checkpoint age",
                """
SELECT profile, partition, owner, devices,
       extract(epoch FROM now() - updated_at)::int AS checkpoint_age_s,
       extract(epoch FROM now() - watermark)::int AS data_age_s,
       lease_until > now() AS leased
FROM detector_checkpoints
ORDER BY profile, partition
""",
            ),
            timeseries(
                "Notifier delivery attempts",
                """
SELECT $__timeGroupAlias(at, $__interval),
       channel || CASE WHEN ok THEN ' ok' ELSE ' failed' END AS metric,
       count(*) AS attempts
FROM offer_attempts
WHERE $__timeFilter(at)
GROUP BY 1, 2
ORDER BY 1, 2
""",
                stacked=True,
            ),
            table(
                "Notifier failures",
                """
SELECT at, channel, purpose, attempt, permanent, round(duration_ms::numeric, 1) AS ms,
       detail, retry_at
FROM offer_attempts
WHERE NOT ok AND $__timeFilter(at)
ORDER BY at DESC
LIMIT 50
""",
                width=24,
            ),
        ),
    )

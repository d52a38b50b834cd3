"""Dashboard query speed on a fleet of realistic size, one run.

Starts the local stack in a temporary folder, fills 1,000 simulated devices x 60 days
(`dashboards.seed`: the simulator's device model, copied in with COPY; not timed),
refreshes the rollups (timed), then runs every panel, variable and annotation query of
the committed dashboards, expanded as Grafana would, over each dashboard's default time
range: each query three times, the median counts. Baseline, in the same run: the fleet
throttling panel computed from raw samples (through `samples_hourly`, a plain view over
the raw hypertable on the apache edition) instead of the `cohort_hourly` rollup.

    .venv/bin/python -P bench/dashboards.py [--devices 1000] [--days 60]

(`-P`: the script shares its name with the `dashboards` package, so its folder must
not come first on the import path.)

The last line is one JSON object: panels, p50_ms, p95_ms, max_ms, slowest, and the
baseline ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from dashboards import catalog, checks, rollups, seed
from dashboards.macros import TimeRange, VariableValue, expand
from devicecare.config import load_settings
from devicecare.db.migrate import migrate
from devicecare.endpoints import database_url
from devstack import local

RUNS = 3
SECOND_MS = 1000
RAW_THROTTLING = """
SELECT $__timeGroupAlias(h.bucket, $__interval), d.model || ' ' || d.os_version AS metric,
       100.0 * sum(h.throttled_samples) / NULLIF(sum(h.samples), 0) AS value
FROM samples_hourly h JOIN devices d USING (device_id)
WHERE $__timeFilter(h.bucket) AND d.model IN ($model) AND d.os_version IN ($os_version)
GROUP BY 1, 2
ORDER BY 1, 2
"""


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(conn: psycopg.Connection, now: datetime) -> list[checks.QueryRun]:
    """Every query of every dashboard RUNS times; each run keeps the median time."""
    dashboards = catalog.load()
    device = conn.execute(
        "SELECT device_id FROM findings ORDER BY detected_at DESC LIMIT 1"
    ).fetchone()
    overrides = {"device": device[0]} if device else None
    rounds = [checks.run(conn, dashboards, now=now, overrides=overrides) for _ in range(RUNS)]
    merged = rounds[0]
    for i, run in enumerate(merged):
        run.ms = statistics.median(r[i].ms for r in rounds)
    return merged


def baseline_ms(conn: psycopg.Connection, now: datetime) -> tuple[float, float]:
    """The throttling panel from raw samples vs from the rollup, median of RUNS each."""
    time_range = TimeRange.last("now-30d", now)
    models = [r[0] for r in conn.execute("SELECT DISTINCT model FROM devices").fetchall()]
    versions = [r[0] for r in conn.execute("SELECT DISTINCT os_version FROM devices").fetchall()]
    variables = {
        "model": VariableValue(tuple(models), multi=True, include_all=True),
        "os_version": VariableValue(tuple(versions), multi=True, include_all=True),
    }
    fleet = next(d for d in catalog.all_dashboards() if d.uid == "devicecare-fleet")
    rollup_sql = next(p for p in fleet.panels if p.title.startswith("Thermal")).queries[0].sql
    timings = []
    for sql in (RAW_THROTTLING, rollup_sql):
        expanded = expand(sql, time_range, variables)
        samples = []
        for _ in range(RUNS):
            started = time.perf_counter()
            conn.execute(expanded).fetchall()  # type: ignore[arg-type]  # panel SQL
            samples.append((time.perf_counter() - started) * 1000)
        timings.append(statistics.median(samples))
    return timings[0], timings[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--days", type=float, default=60)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="devicecare-bench-dashboards-"))
    work.chmod(0o755)
    settings = load_settings(state_dir=work / "state")
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        local.up(settings)
        url = database_url(settings)
        migrate(url)
        started = time.perf_counter()
        with psycopg.connect(url) as conn:
            filled = seed.seed(
                conn,
                devices=args.devices,
                days=args.days,
                now=now,
                progress=lambda s, n: print(f"\rseeding {s}/{n}", end="", file=sys.stderr),
            )
        seed_s = time.perf_counter() - started
        print(f"\nseeded {filled.samples} samples in {seed_s:.0f} s", file=sys.stderr)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            started = time.perf_counter()
            rollups.refresh(conn, full=True)
            refresh_s = time.perf_counter() - started
            conn.execute("VACUUM ANALYZE")
            runs = measure(conn, now)
            raw_ms, rollup_ms = baseline_ms(conn, now)
            edition = conn.execute("SHOW timescaledb.license").fetchone()
    finally:
        local.down(settings)
        shutil.rmtree(work, ignore_errors=True)
    panels = [r for r in runs if r.item.startswith("panel")]
    for run in sorted(runs, key=lambda r: -r.ms):
        print(f"{run.ms:9.1f} ms {run.rows:6d} rows  {run.dashboard} / {run.item}")
    failed = [str(p) for p in checks.problems(runs, need_rows=False)]
    times = [r.ms for r in panels]
    slowest = max(panels, key=lambda r: r.ms)
    summary = {
        "devices": args.devices,
        "days": args.days,
        "samples": filled.samples,
        "edition": edition[0] if edition else None,
        "seed_s": round(seed_s, 1),
        "rollup_refresh_full_s": round(refresh_s, 1),
        "panels": len(panels),
        "queries": len(runs),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(_percentile(times, 0.95), 1),
        "max_ms": round(max(times), 1),
        "slowest": f"{slowest.dashboard} / {slowest.item}",
        "over_1s": sum(t > SECOND_MS for t in times),
        "failed": failed,
        "baseline_raw_throttling_ms": round(raw_ms, 1),
        "rollup_throttling_ms": round(rollup_ms, 1),
        "raw_over_rollup": round(raw_ms / rollup_ms, 1) if rollup_ms else None,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

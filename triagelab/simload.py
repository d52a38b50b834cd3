"""A simulated fleet straight into the database (COPY), for triage evaluation and benches.

This skips the broker and ingest on purpose: the triage evaluation measures the triage
rules, not the pipeline, and needs months of telemetry in seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import psycopg

from devicecare.contracts.payloads import SAMPLE_METRICS
from simulator.fleet import Fleet


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def load_fleet(conn: psycopg.Connection, fleet: Fleet, *, days: float, interval_s: int) -> int:
    """Register the fleet's devices and store `days` of its samples and events; returns
    the number of samples stored."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO devices (device_id, model, os_name, os_version, consent_telemetry,"
            " consent_care_offers, agent_version) VALUES (%s, %s, %s, %s, true, true, 'sim')",
            [
                (device_id, model.name, model.os_name, version)
                for device_id, model, version in zip(
                    fleet.ids, fleet.models, fleet.os_versions, strict=True
                )
            ],
        )
    metrics = list(SAMPLE_METRICS)
    columns = ", ".join(["ts", "device_id", "seq", *metrics])
    steps = int(days * 86400 / interval_s)
    stored = 0
    ids = fleet.ids
    with conn.cursor() as cur, cur.copy(f"COPY samples ({columns}) FROM STDIN") as copy:
        events: list[tuple] = []
        for step in range(steps):
            t_ms = fleet.start_ms + step * interval_s * 1000
            tick = fleet.step(t_ms, interval_s)
            ts = _at(t_ms)
            table = [_column(m, tick.readings.get(m), len(ids)) for m in metrics]
            for device_id, *row in zip(ids, *table, strict=True):
                copy.write_row((ts, device_id, step, *row))
            stored += len(ids)
            events += [
                (_at(e.ts), fleet.ids[d], step, e.kind.value, e.process, e.signature, e.app_version)
                for d, e in tick.events
            ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO events (ts, device_id, seq, kind, process, signature, app_version)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            events,
        )
    return stored


_BOOLEAN = {"battery_charging", "thermal_throttled"}
_INTEGER = {"battery_cycles", "storage_total_bytes", "storage_free_bytes", "flash_pre_eol"}


def _column(metric: str, values: np.ndarray | None, n: int) -> list[object]:
    """One metric of one step as database values: None where the device lacks it."""
    if values is None:
        return [None] * n
    convert = bool if metric in _BOOLEAN else int if metric in _INTEGER else float
    return [None if v != v else convert(v) for v in values.tolist()]  # noqa: PLR0124 - NaN

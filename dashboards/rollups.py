"""Refresh the dashboard rollups (`device_daily`, `cohort_hourly`, migration 0009).

The same on both TimescaleDB editions: a refresh reads the batches stored since the
previous one through the transaction-id position the detectors use (batches below
`pg_snapshot_xmin` are committed for good, so a batch committed late is not skipped),
and recomputes the whole days their samples and events fall in. Run it once after a
bulk load, or in a loop (`devicecare dashboards refresh-rollups --every 300`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

NAME = "dashboards"


@dataclass(frozen=True)
class Refresh:
    """What one refresh did: the time range recomputed (None when nothing was new)."""

    start: datetime | None
    end: datetime | None
    batches: int


def refresh(conn: psycopg.Connection, *, full: bool = False) -> Refresh:
    """Recompute the days touched by batches stored since the last refresh (or every day
    with data when `full`), in one transaction."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('devicecare.rollups'))")
        row = conn.execute(
            "SELECT position FROM rollup_state WHERE name = %s FOR UPDATE", (NAME,)
        ).fetchone()
        since = "0" if full or row is None else str(row[0])
        upto = conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())").fetchone()
        assert upto is not None
        span = conn.execute(
            "SELECT min(first_ts), max(last_ts), count(*) FROM batches"
            " WHERE xid >= %s::xid8 AND xid < %s::xid8",
            (since, upto[0]),
        ).fetchone()
        assert span is not None
        start, end, count = span
        if start is not None:
            conn.execute("SELECT refresh_dashboard_rollups(%s, %s)", (start, end))
        conn.execute(
            "INSERT INTO rollup_state (name, position, refreshed_at, refreshed_from)"
            " VALUES (%s, %s, now(), %s) ON CONFLICT (name) DO UPDATE SET"
            " position = excluded.position, refreshed_at = excluded.refreshed_at,"
            " refreshed_from = excluded.refreshed_from",
            (NAME, upto[0], start),
        )
    return Refresh(start, end, count)

"""Every panel, variable and annotation query runs on the real TimescaleDB, as Grafana
would send it, and returns what its panel needs on a seeded fleet."""

from __future__ import annotations

import psycopg
import pytest

from dashboards import catalog, checks
from tests.dashboards.conftest import NOW

pytestmark = pytest.mark.integration


def _device_with_history(conn: psycopg.Connection) -> str:
    row = conn.execute(
        "SELECT device_id FROM interactions WHERE ts >= %(now)s - INTERVAL '7 days'"
        " INTERSECT SELECT device_id FROM events WHERE ts >= %(now)s - INTERVAL '7 days'"
        " ORDER BY device_id LIMIT 1",
        {"now": NOW},
    ).fetchone()
    assert row is not None
    return row[0]


def test_every_query_runs_and_returns_rows(seeded: psycopg.Connection) -> None:
    dashboards = catalog.load()
    device = _device_with_history(seeded)
    runs = checks.run(seeded, dashboards, now=NOW, overrides={"device": device})
    problems = checks.problems(runs)
    assert not problems, "\n".join(map(str, problems))
    panels = sum(len(d["panels"]) for d in dashboards.values())
    assert sum(r.item.startswith("panel") for r in runs) == panels


def test_fleet_panels_never_scan_raw_samples(seeded: psycopg.Connection) -> None:
    """Fleet panels read the rollups: no chunk of `samples` or `events` in any plan."""
    raw_chunks = {
        name
        for (name,) in seeded.execute(
            "SELECT chunk_name FROM timescaledb_information.chunks"
            " WHERE hypertable_name IN ('samples', 'events')"
        ).fetchall()
    }
    assert raw_chunks
    fleet = {"fleet.json": catalog.load()["fleet.json"]}
    runs = [r for r in checks.run(seeded, fleet, now=NOW) if r.item.startswith("panel")]
    assert runs
    for run in runs:
        plan = "\n".join(r[0] for r in seeded.execute(f"EXPLAIN {run.sql}").fetchall())
        touched = {c for c in raw_chunks if c in plan} | ({"samples"} & set(plan.split()))
        assert not touched, f"{run.item} scans {sorted(touched)[:3]}"

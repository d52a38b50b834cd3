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

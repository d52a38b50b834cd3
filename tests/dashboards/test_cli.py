"""`devicecare dashboards check` names a failing panel; `push` reports an unreachable or
wrong server plainly; the rollups refresh only what changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import psycopg
import pytest

from dashboards import catalog, rollups
from dashboards.errors import DashboardError
from dashboards.push import push
from tests.support.grafana_stand_in import grafana_stand_in

pytestmark = pytest.mark.integration  # the command line in subprocesses against the real database


def _cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEVICECARE_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "cli", "dashboards", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_check_passes_on_the_seeded_fleet(seeded_url: str) -> None:
    result = _cli("check", url=seeded_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all ran" in result.stdout


def test_check_names_a_failing_panel_and_an_unknown_variable(
    seeded_url: str, tmp_path: Path
) -> None:
    dashboard = json.loads((catalog.JSON_DIR / "pipeline.json").read_text())
    dashboard["panels"][0]["targets"][0]["rawSql"] = "SELECT nosuch FROM batches"
    dashboard["panels"][1]["targets"][0]["rawSql"] = "SELECT $nosuch AS x"
    (tmp_path / "pipeline.json").write_text(json.dumps(dashboard))
    result = _cli("check", "--dir", str(tmp_path), url=seeded_url)
    assert result.returncode == 1
    assert "DeviceCare / Pipeline / panel 'Ingest rate (rows per second)'" in result.stderr
    assert "nosuch" in result.stderr
    assert "unknown variable $nosuch" in result.stderr


def test_check_rejects_a_file_that_is_not_json(seeded_url: str, tmp_path: Path) -> None:
    (tmp_path / "fleet.json").write_text("{")
    result = _cli("check", "--dir", str(tmp_path), url=seeded_url)
    assert result.returncode == 1
    assert "fleet.json: not valid JSON" in result.stderr


def test_refresh_recomputes_only_new_days(db: psycopg.Connection) -> None:
    db.execute("INSERT INTO devices (device_id, model, os_version) VALUES ('d1', 'M', '1')")
    db.execute(
        "INSERT INTO samples (ts, device_id, seq, cpu_temp_c, thermal_throttled)"
        " VALUES ('2026-01-01 10:10Z', 'd1', 0, 50, true), ('2026-01-01 10:40Z', 'd1', 0, 60,"
        " false)"
    )
    db.execute(
        "INSERT INTO batches (device_id, seq, channel, sent_at, rows, first_ts, last_ts)"
        " VALUES ('d1', 0, 'telemetry', '2026-01-01 11:00Z', 2, '2026-01-01 10:10Z',"
        " '2026-01-01 10:40Z')"
    )
    first = rollups.refresh(db)
    assert first.batches == 1
    row = db.execute(
        "SELECT devices, samples, throttled_samples, cpu_temp_c_avg FROM cohort_hourly"
    ).fetchone()
    assert row == (1, 2, 1, 55.0)
    assert rollups.refresh(db).batches == 0
    db.execute(
        "INSERT INTO samples (ts, device_id, seq, cpu_temp_c)"
        " VALUES ('2026-01-03 1:00Z', 'd1', 1, 70)"
    )
    db.execute(
        "INSERT INTO batches (device_id, seq, channel, sent_at, rows, first_ts, last_ts)"
        " VALUES ('d1', 1, 'telemetry', '2026-01-03 2:00Z', 1, '2026-01-03 1:00Z',"
        " '2026-01-03 1:00Z')"
    )
    second = rollups.refresh(db)
    assert second.batches == 1
    days = db.execute("SELECT bucket::date::text, samples FROM device_daily ORDER BY 1").fetchall()
    assert days == [("2026-01-01", 2), ("2026-01-03", 1)]


class _NotGrafana(BaseHTTPRequestHandler):
    """A web server that is not Grafana: every path is 404."""

    def do_GET(self) -> None:
        self.send_response(404)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def not_grafana() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _NotGrafana)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_push_to_an_unreachable_server_is_a_clear_error() -> None:
    server = HTTPServer(("127.0.0.1", 0), _NotGrafana)
    port = server.server_address[1]
    server.server_close()
    with pytest.raises(DashboardError, match="cannot reach Grafana"):
        push(f"http://127.0.0.1:{port}", "token", catalog.load())


def test_push_to_a_server_that_is_not_grafana(not_grafana: str) -> None:
    with pytest.raises(DashboardError, match="answered 404"):
        push(not_grafana, "token", catalog.load())


def test_push_creates_the_folder_and_overwrites_its_own_dashboards() -> None:
    dashboards = catalog.load()
    with grafana_stand_in("tok") as (url, state):
        first = push(url, "tok", dashboards)
        assert state.folders == {"devicecare": "DeviceCare"}
        assert {p.uid for p in first} == {d["uid"] for d in dashboards.values()}
        second = push(url, "tok", dashboards)
        assert {p.version for p in second} == {2}
        assert all(s["folderUid"] == "devicecare" for s in state.dashboards.values())


def test_push_leaves_a_foreign_dashboard_alone_without_force() -> None:
    dashboards = catalog.load()
    with grafana_stand_in("tok") as (url, state):
        state.dashboards["devicecare-fleet"] = {
            "dashboard": {"uid": "devicecare-fleet", "title": "Someone else's"},
            "folderUid": "team-x",
            "version": 7,
        }
        with pytest.raises(DashboardError, match="use --force"):
            push(url, "tok", dashboards)
        assert state.dashboards["devicecare-fleet"]["version"] == 7
        push(url, "tok", dashboards, force=True)
        assert state.dashboards["devicecare-fleet"]["folderUid"] == "devicecare"


def test_push_with_a_wrong_token_is_a_clear_error() -> None:
    with (
        grafana_stand_in("right") as (url, _),
        pytest.raises(DashboardError, match="refused the token"),
    ):
        push(url, "wrong", catalog.load())

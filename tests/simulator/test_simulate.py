"""`devicecare simulate`: deterministic uploads, and a small fleet through broker and ingest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from devicecare.config import Settings
from simulator.fleet import Fleet
from simulator.run import Plan, simulate, start_of
from simulator.sessions import Upload
from tests.support.ingest_process import IngestWorkers
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration  # the simulator against the real broker and ingest

NOW = 1_790_000_000_000


def uploads(seed: int) -> list[Upload]:
    plan = Plan(devices=8, days=1, seed=seed, upload_hours=2)
    fleet = Fleet(8, seed=seed, start_ms=start_of(plan, NOW), days=1)
    sent: list[Upload] = []
    simulate(plan, fleet, dict.fromkeys(fleet.ids, "pw"), sent.append)
    return sent


def test_the_same_seed_uploads_the_same_bytes() -> None:
    first, again = uploads(5), uploads(5)
    assert len(first) > 8
    assert first[:50] == again[:50]
    assert first != uploads(6)


def test_every_device_introduces_itself_and_numbers_its_batches() -> None:
    sent = uploads(5)
    by_device: dict[str, list[Upload]] = {}
    for upload in sent:
        by_device.setdefault(upload.device_id, []).append(upload)
    for device_uploads in by_device.values():
        channels = [c.value for c, _, _ in device_uploads[0].messages]
        assert channels[:2] == ["status", "consent"]
    assert sum(u.samples for u in sent) == 8 * 96


def test_speed_paces_simulated_time_against_the_wall_clock() -> None:
    """At --speed X a simulated day takes 86,400 / X wall seconds, progress follows it."""
    plan = Plan(devices=2, days=0.25, seed=1, upload_hours=1, speed=6 * 3600 / 1.5)
    fleet = Fleet(2, seed=1, start_ms=start_of(plan, NOW), days=plan.days)
    seen: list[tuple[float, int]] = []
    outcome = simulate(
        plan,
        fleet,
        dict.fromkeys(fleet.ids, "pw"),
        lambda _upload: None,
        lambda _step, _samples, sim_ms: seen.append((time.perf_counter(), sim_ms)),
    )
    assert outcome.wall_s >= 1.5 * 0.95, "six simulated hours took 1.5 s of wall time"
    (wall0, sim0), (wall1, sim1) = seen[0], seen[-1]
    assert (wall1 - wall0) >= (sim1 - sim0) / 1000 / plan.speed * 0.95


def test_a_small_fleet_lands_in_the_database(stack: Settings, db_url: str, tmp_path: Path) -> None:
    workers = IngestWorkers(stack, db_url, tmp_path)
    workers.start()
    try:
        env = os.environ | {"DEVICECARE_STATE_DIR": str(stack.state_dir)}
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "cli",
                "simulate",
                "--devices",
                "12",
                "--days",
                "2",
                "--seed",
                "9",
                "--truth",
                str(tmp_path / "truth.json"),
                "--summary-json",
                str(tmp_path / "summary.json"),
                "--faults",
                "all=20",
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-2000:]
        summary = json.loads((tmp_path / "summary.json").read_text())
        assert json.loads(result.stdout.strip().splitlines()[-1]) == summary
        assert summary["samples"] == 12 * 2 * 96
        assert {"devices", "samples", "faults", "wall_s", "samples_per_s"} <= summary.keys()
        truth = json.loads((tmp_path / "truth.json").read_text())
        assert len(truth["faults"]) == summary["faults"] > 0

        def stored() -> int:
            with psycopg.connect(db_url) as conn:
                return int(conn.execute("SELECT count(*) FROM samples").fetchone()[0])

        wait_for(lambda: stored() == summary["samples"], 60, "every simulated sample")
        with psycopg.connect(db_url) as conn:
            models = conn.execute(
                "SELECT count(*) FROM devices WHERE model IS NOT NULL AND consent_telemetry"
            ).fetchone()[0]
        assert models == 12
    finally:
        workers.stop_all()

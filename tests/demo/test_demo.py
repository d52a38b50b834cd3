"""`devicecare demo`, small: through the real broker, ingest, TimescaleDB, detectors and
notifier, checked against the simulator's ground truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from devicecare.config import Settings
from devicecare.endpoints import database_url

pytestmark = pytest.mark.integration


def test_a_small_demo_offers_care_before_every_call(stack: Settings, tmp_path: Path) -> None:
    """Tens of devices over three weeks with many faults. Capacity fade is left out: its
    signature takes longer than the run to build. Every fault whose owner would call
    within the run gets an offer before that; no heavy-usage or hot week gets a repair."""
    database = f"test_demo_{uuid.uuid4().hex[:8]}"
    env = os.environ | {"DEVICECARE_STATE_DIR": str(stack.state_dir)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "demo",
            "--devices",
            "40",
            "--days",
            "21",
            "--seed",
            "3",
            "--faults",
            "all=12,battery_fade=0",
            "--database",
            database,
            "--json",
            str(tmp_path / "figures.json"),
            "--truth",
            str(tmp_path / "truth.json"),
            "--html",
            str(tmp_path / "report.html"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=280,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "DeviceCare demo" in result.stdout
    figures = json.loads((tmp_path / "figures.json").read_text())
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert {"devices", "samples", "faults", "faults_found", "recall"} <= figures.keys()
    assert {"false_per_1000_device_days", "median_lead_days", "offers_sent"} <= figures.keys()
    assert figures["samples"] == figures["samples_published"] == 40 * 21 * 96
    assert figures["faults"] == len(truth["faults"]) >= 10
    assert figures["false_findings"] == 0

    url = database_url(stack).rsplit("/", 1)[0] + "/" + database
    with psycopg.connect(url) as conn:
        reached = dict(
            conn.execute(
                "SELECT device_id || '/' || fault_kind,"
                " min(extract(epoch FROM coalesce(delivered_at, sent_at)) * 1000)::bigint"
                " FROM offers WHERE sent_at IS NOT NULL GROUP BY 1"
            ).fetchall()
        )
    called = [f for f in truth["faults"] if f["visible_ms"] <= truth["end_ms"]]
    assert len(called) >= 5
    for fault in called:
        key = f"{fault['device_id']}/{fault['kind']}"
        assert key in reached, f"no offer for {key}"
        assert reached[key] < fault["visible_ms"], f"{key}: the offer came after the call"
    for kind, tally in figures["non_faults"].items():
        assert tally["device_periods"] > 0
        assert tally["repair_offer"] == 0, f"{kind} led to a repair offer"
    page = (tmp_path / "report.html").read_text()
    assert page.count("<svg") >= 3

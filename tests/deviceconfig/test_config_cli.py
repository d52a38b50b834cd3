"""`devicecare config`: layers stored, published retained, applied by the real agent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from agent.consent import Consent, record
from devicecare.config import Settings
from devicecare.contracts import Channel, topics
from devicecare.endpoints import mqtt_endpoint
from deviceconfig import publish, store
from deviceconfig.layers import Scope
from devstack import local
from tests.support.agent_process import AgentProcess, fake_device, write_config
from tests.support.ingest_process import IngestWorkers
from tests.support.mqtt_clients import connect
from tests.support.notifier_support import add_owner
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration


def _cli(stack: Settings, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "DEVICECARE_STATE_DIR": str(stack.state_dir),
        "DEVICECARE_DATABASE_URL": db_url,
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "cli", "config", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def test_a_cohort_layer_reaches_its_devices_retained_and_not_the_others(
    stack: Settings, db_url: str, db: psycopg.Connection, device_id: str
) -> None:
    pixel, galaxy = f"{device_id}-p", f"{device_id}-g"
    add_owner(db, pixel, model="Pixel 7")
    add_owner(db, galaxy, model="Galaxy S23")
    local.provision_devices(stack, [pixel, galaxy])

    done = _cli(
        stack,
        db_url,
        "set",
        "--model",
        "Pixel 7",
        "--collector",
        "battery=15",
        "--reason",
        "bad-cell suspicion",
    )
    assert done.returncode == 0, done.stderr
    assert "sent to 1 device(s)" in done.stdout

    # Retained: a device that connects afterwards still gets it.
    device = connect(mqtt_endpoint(stack, pixel), pixel)
    try:
        device.subscribe(topics.topic(pixel, Channel.CONFIG))
        messages = device.drain(2.0)
    finally:
        device.close()
    assert len(messages) == 1 and messages[0].retain
    body = json.loads(messages[0].payload)
    assert body["collectors"]["battery"]["interval_s"] == 15
    assert body["collectors"]["battery"].get("enabled", True) is True
    sent = db.execute("SELECT device_id, revision FROM device_config_sent").fetchall()
    assert [d for d, _ in sent] == [pixel]
    kinds = db.execute("SELECT kind FROM interactions WHERE device_id = %s", (pixel,)).fetchall()
    assert ("config_sent",) in kinds

    again = publish.apply(db, stack, Scope.FLEET, at=datetime.now(UTC))
    assert again == [], "a device that has its revision is not sent it again"


def test_bad_requests_are_refused_clearly(stack: Settings, db_url: str) -> None:
    for args, expected in [
        (["set", "--fleet", "--upload-interval", "5"], "invalid config"),
        (["set", "--fleet", "--model", "X", "--upload-interval", "60"], "exactly one"),
        (["set", "--device", "nobody", "--upload-interval", "60"], "unknown device"),
        (["set", "--fleet", "--collector", "battery=fast"], "NAME=SECONDS"),
        (["set", "--fleet", "--high-res", "5"], "go together"),
        (["show", "--device", "nobody"], "unknown device"),
    ]:
        done = _cli(stack, db_url, *args)
        assert done.returncode != 0, args
        assert expected in done.stdout + done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr


def test_the_agent_applies_a_device_layer_and_show_reports_its_revision(
    stack: Settings, db_url: str, db: psycopg.Connection, device_id: str, tmp_path: Path
) -> None:
    add_owner(db, device_id)
    local.provision_devices(stack, [device_id])
    config = write_config(
        tmp_path / "agent" / "agent.toml",
        device_id,
        mqtt_endpoint(stack, device_id),
        fake_device(tmp_path / "device"),
    )
    agent = AgentProcess(config, tmp_path / "agent.log")
    record(agent.store(), device_id, Consent(telemetry=True, care_offers=False, email=False))
    workers = IngestWorkers(stack, db_url, tmp_path)
    workers.start()
    agent.start()
    try:
        done = _cli(stack, db_url, "set", "--device", device_id, "--high-res", "10", "--for", "2h")
        assert done.returncode == 0, done.stderr
        revision = store.targets(db, Scope.DEVICE, device_id=device_id)[0].sent_revision
        assert revision is not None

        def reported() -> dict:
            shown = _cli(stack, db_url, "show", "--device", device_id, "--json")
            assert shown.returncode == 0, shown.stderr
            return json.loads(shown.stdout)

        wait_for(lambda: reported()["reported_revision"] == revision, what="the agent's report")
    finally:
        agent.stop()
        workers.stop_all()
    report = reported()
    assert report["effective"]["high_res"]["interval_s"] == 10
    assert report["config_error"] is None
    assert [la["scope"] for la in report["layers"]] == ["device"]

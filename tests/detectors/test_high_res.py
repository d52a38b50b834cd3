"""High-resolution sampling on suspicion, live: the detector worker over real TimescaleDB
raises a device whose evidence is building, the device (as itself, on the real broker)
receives the retained config with `high_res`, the timeline says so, and after the raise's
time the layer ends and the normal config goes out."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from care import store as care_store
from detectors.live.sampling import ACTOR, SamplingRaiser
from detectors.live.service import DetectService
from devicecare.config import DetectSettings, HighResSettings, Settings
from devicecare.contracts import Channel, topics
from devicecare.endpoints import mqtt_endpoint
from devstack import local
from tests.detectors.test_detect_service import fleet_uploads
from tests.detectors.test_detect_service import store as store_uploads
from tests.support.mqtt_clients import connect

pytestmark = pytest.mark.integration

HIGH_RES = HighResSettings(budget_pct=100, rest_hours=0, sweep_interval_s=0.001, interval_s=15)
CFG = DetectSettings(partitions=4, checkpoint_interval_s=3600, idle_wait_s=0.1, read_batches=40)


def _retained_config(stack: Settings, device_id: str) -> dict:
    """What the device gets when it subscribes to its `config` topic: the retained one."""
    device = connect(mqtt_endpoint(stack, device_id), device_id)
    try:
        device.subscribe(topics.topic(device_id, Channel.CONFIG))
        messages = device.drain(2.0)
    finally:
        device.close()
    assert len(messages) == 1 and messages[0].retain
    return json.loads(messages[0].payload)


def _timeline(conn: psycopg.Connection, device_id: str) -> list[dict]:
    """The device's timeline as the API reads it."""
    none = dict.fromkeys(("touchpoints", "since", "until", "after_ts", "after_key"))
    return care_store.timeline(conn, 50, device_id=device_id, **none)


def test_evidence_building_raises_sampling_until_it_expires(stack: Settings, db_url: str) -> None:
    uploads, _ = fleet_uploads(12, 20, seed=23, faults="all=20")
    store_uploads(db_url, uploads)
    clock = [datetime.now(UTC).replace(microsecond=0)]
    raiser = SamplingRaiser(stack, HIGH_RES, clock=lambda: clock[0])
    DetectService(db_url, CFG, sampling=raiser).run(threading.Event(), until_idle=True)

    with psycopg.connect(db_url, autocommit=True) as conn:
        layers = conn.execute(
            "SELECT revision, device_id, settings, reason, expires_at FROM device_config_layers"
            " WHERE actor = %s ORDER BY revision",
            (ACTOR,),
        ).fetchall()
        assert layers, "some device's evidence built up before its finding opened"
        revision, device_id, settings, reason, expires_at = layers[0]
        until = clock[0] + timedelta(hours=HIGH_RES.hours)
        assert expires_at == until
        assert settings["high_res"] == {
            "until": int(until.timestamp() * 1000),
            "interval_s": 15,
            "collectors": settings["high_res"]["collectors"],
        }
        assert settings["high_res"]["collectors"], "the signals concerned are named"
        assert reason.startswith("evidence building (")
        assert len({d for _, d, *_ in layers}) == len(layers), "one raise per device at a time"

        local.provision_devices(stack, [device_id])
        sent = _retained_config(stack, device_id)
        assert sent["revision"] == revision
        assert sent["high_res"] == settings["high_res"]

        entries = _timeline(conn, device_id)
        raised = [e for e in entries if e["kind"] == "sampling_raised"]
        assert len(raised) == 1
        assert raised[0]["summary"].startswith("sampling raised for ")
        assert f"until {until:%Y-%m-%d %H:%M} UTC: evidence building (" in raised[0]["summary"]
        assert " at level " in raised[0]["summary"]

        clock[0] = until - timedelta(minutes=1)
        assert raiser.sweep(conn) == [], "not before its time"
        clock[0] = until + timedelta(minutes=1)
        ended = raiser.sweep(conn)
        assert device_id in ended
        ended_revision = conn.execute(
            "SELECT ended_revision FROM device_config_layers WHERE revision = %s", (revision,)
        ).fetchone()[0]
        assert ended_revision is not None and ended_revision > revision
        normal = _retained_config(stack, device_id)
        assert normal["revision"] == ended_revision
        assert "high_res" not in normal, "back to the normal config"
        kinds = [e["kind"] for e in _timeline(conn, device_id)]
        assert "sampling_restored" in kinds
        assert raiser.sweep(conn) == [], "an ended raise is not ended twice"

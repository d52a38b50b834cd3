"""What survives a broker crash or restart (issue 11, items 4 and 9).

Each test runs its own Mosquitto from the local stack's configuration (the session's
database is shared), so that it can be killed without touching other tests' broker.
The figures printed here are the ones docs/design.md quotes.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from devicecare.config import Settings, load_settings
from devicecare.contracts import Channel, topics
from devicecare.contracts.accounts import ServiceAccount
from devicecare.endpoints import database_url, mqtt_endpoint
from devstack import local, processes
from devstack.mosquitto import AUTOSAVE_CHANGES
from devstack.state import read_state
from tests.support.ingest_process import IngestWorkers, telemetry
from tests.support.mqtt_clients import BrokerClient, connect
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration

SAMPLES = 20

MAX_LOST_ON_CRASH = AUTOSAVE_CHANGES
"""The documented bound (design.md): the broker acknowledges before it writes and writes
after AUTOSAVE_CHANGES changes, each queued message being at least one, so a kill -9
loses at most that many acknowledged messages."""


@pytest.fixture
def broker(stack: Settings) -> Iterator[Settings]:
    """Settings of a broker of this test's own, using the session's database server."""
    root = Path(tempfile.mkdtemp(prefix="devicecare-test-broker-"))
    root.chmod(0o755)
    settings = load_settings(state_dir=root, database_url=database_url(stack))
    local.up(settings)
    try:
        yield local.fill(settings)
    finally:
        local.down(settings, purge=True)
        shutil.rmtree(root, ignore_errors=True)


def crash(settings: Settings) -> None:
    """kill -9 the broker and start it again on the same port, from what it had on disk."""
    state = read_state(settings)
    assert state is not None
    processes.stop(state["mosquitto"]["pid"], "mosquitto", signal.SIGKILL, timeout_s=5)
    local.up(settings)


def restart(settings: Settings) -> None:
    """Stop the broker cleanly (SIGTERM: it saves everything) and start it again."""
    local.down(settings, only=("mosquitto",))
    local.up(settings)


def test_a_broker_kill_9_loses_at_most_one_save_interval_of_acknowledged_batches(
    broker: Settings,
) -> None:
    device_id = f"dev-{uuid.uuid4().hex[:10]}"
    local.provision_devices(broker, [device_id])
    ingest_id = ServiceAccount.INGEST.client_id("durability")
    ingest_at = mqtt_endpoint(broker, ServiceAccount.INGEST)
    ingest = connect(ingest_at, ingest_id, session_expiry_s=600)
    assert ingest.subscribe(topics.topic(device_id, Channel.TELEMETRY)) == "Granted QoS 1"
    ingest.close()  # ingest is stopped: the broker alone holds what devices send
    device = connect(mqtt_endpoint(broker, device_id), device_id)
    sent = [f"batch-{i}".encode() for i in range(200)]
    topic = topics.topic(device_id, Channel.TELEMETRY)
    acked = [p for p in sent if device.publish(topic, p) == "Success"]
    device.close()
    assert acked == sent

    crash(broker)  # right after the last PUBACK: the worst moment

    back = connect(ingest_at, ingest_id, session_expiry_s=600)
    survived = [m.payload for m in back.drain(2.0)]
    back.close()
    print(f"broker kill -9: {len(survived)} of {len(acked)} acknowledged batches survived")
    assert len(survived) >= len(sent) - MAX_LOST_ON_CRASH
    assert survived == sent[: len(survived)], "what survives is the oldest, in order"


def _publish_until_acknowledged(
    device: BrokerClient, device_id: str, seqs: range, acked: list[int]
) -> None:
    """What an agent does: keep each batch and re-send it (same seq) until the broker took it."""
    topic = topics.topic(device_id, Channel.TELEMETRY)
    for seq in seqs:
        payload = telemetry(device_id, seq, SAMPLES)
        while True:
            try:
                if device.publish(topic, payload) == "Success":
                    break
            except TimeoutError:
                pass
            time.sleep(0.2)
        acked.append(seq)


def _stored(url: str, device_id: str) -> tuple[int, int, int]:
    """Batches, sample rows and distinct sample timestamps stored for the device."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM batches WHERE device_id = %(d)s),"
            " count(*), count(DISTINCT ts) FROM samples WHERE device_id = %(d)s",
            {"d": device_id},
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def test_broker_restarts_and_a_kill_9_mid_run_lose_and_duplicate_nothing(
    broker: Settings, db_url: str, tmp_path: Path
) -> None:
    device_id = f"dev-{uuid.uuid4().hex[:10]}"
    local.provision_devices(broker, [device_id])
    workers = IngestWorkers(broker, db_url, tmp_path)
    workers.start()
    try:
        device = connect(mqtt_endpoint(broker, device_id), device_id, session_expiry_s=600)
        total = 400
        acked: list[int] = []
        sender = threading.Thread(
            target=_publish_until_acknowledged, args=(device, device_id, range(total), acked)
        )
        sender.start()
        wait_for(lambda: _stored(db_url, device_id)[0] >= total // 4, what="a quarter stored")
        restart(broker)
        wait_for(lambda: _stored(db_url, device_id)[0] >= total // 2, what="half stored")
        crash(broker)
        sender.join()
        wait_for(lambda: _stored(db_url, device_id)[0] == total, what="every batch", timeout_s=60)
        time.sleep(1)  # a late duplicate would land now
        batches, rows, distinct = _stored(db_url, device_id)
        device.close()
    finally:
        workers.stop_all()
    lost = total - batches
    duplicated = rows - distinct
    print(f"broker restart + kill -9 mid-run: {total} sent, {lost} lost, {duplicated} duplicated")
    assert len(acked) == total
    assert (lost, duplicated, rows) == (0, 0, total * SAMPLES)

"""A clean `devicecare ingest` shutdown is quiet: the broker's "Normal disconnection" on
SIGTERM is no warning, so an operator reading the log sees only real trouble."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from devicecare.config import Settings
from devicecare.contracts import Channel, topics
from devicecare.endpoints import mqtt_endpoint
from devstack import local
from tests.support.ingest_process import IngestWorkers, telemetry
from tests.support.mqtt_clients import connect
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration


def test_a_clean_shutdown_logs_no_warning(
    stack: Settings, db_url: str, device_id: str, tmp_path: Path
) -> None:
    workers = IngestWorkers(stack, db_url, tmp_path)
    workers.start()
    try:
        local.provision_devices(stack, [device_id])
        client = connect(mqtt_endpoint(stack, device_id), device_id)
        assert client.publish(topics.topic(device_id, Channel.TELEMETRY), telemetry(device_id, 1))
        client.close()

        def stored() -> bool:
            with psycopg.connect(db_url) as conn:
                row = conn.execute("SELECT count(*) FROM batches").fetchone()
            return row is not None and row[0] == 1

        wait_for(stored, what="the batch to be stored")
    finally:
        assert workers.stop() == 0
    log = (tmp_path / "ingest-0.log").read_text()
    assert "disconnected from the broker" in log, log
    assert "WARNING" not in log, log
    assert "ERROR" not in log, log

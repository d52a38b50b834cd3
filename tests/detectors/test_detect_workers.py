"""The live detector worker's `/metrics`, scraped from the real endpoint while it runs,
and telemetry consent: a device whose consent is withdrawn gets no findings and keeps the
ones it had (nothing resolved on missing data)."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from detectors.live.service import DetectService
from devicecare.config import DetectSettings
from devicecare.contracts.vocabulary import FindingStatus
from devstack import processes
from simulator.sessions import Upload
from tests.detectors.test_detect_service import findings, fleet_uploads, store
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fleet() -> tuple[list[Upload], dict]:
    return fleet_uploads(30, 24, seed=21, faults="all=12")


def scrape(port: int) -> dict[str, float]:
    """Every sample on the endpoint, by name (labels left out; these have none)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def reachable(port: int) -> dict[str, float]:
    """What `scrape` finds, or nothing while the worker has not yet bound its port."""
    try:
        return scrape(port)
    except urllib.error.URLError:
        return {}


@pytest.fixture
def running(db_url: str) -> Iterator[tuple[DetectService, int]]:
    port = processes.free_port("127.0.0.1")
    cfg = DetectSettings(
        partitions=8, checkpoint_interval_s=0.5, idle_wait_s=0.1, metrics_port=port
    )
    service = DetectService(db_url, cfg)
    stop = threading.Event()
    worker = threading.Thread(target=service.run, args=(stop,))
    worker.start()
    yield service, port
    stop.set()
    worker.join(timeout=60)
    assert not worker.is_alive()


def test_the_live_worker_serves_its_counters_on_metrics(
    db_url: str, fleet: tuple[list[Upload], dict], running: tuple[DetectService, int]
) -> None:
    uploads, _ = fleet
    service, port = running
    store(db_url, uploads)
    expected = sum(u.samples for u in uploads)
    wait_for(
        lambda: reachable(port).get("devicecare_detect_samples_scored_total") == expected,
        timeout_s=120,
        what="every stored sample scored",
    )
    wait_for(
        lambda: scrape(port)["devicecare_detect_checkpoint_age_seconds"] > 0,
        what="a checkpoint after the read",
    )
    metrics = scrape(port)
    assert metrics["devicecare_detect_partitions_held"] == 8
    assert metrics["devicecare_detect_findings_opened_total"] == len(findings(db_url)) > 0
    assert metrics["devicecare_detect_batches_read_total"] == service.progress.batches > 0


def withdraw(url: str, devices: list[str]) -> None:
    """Store a telemetry withdrawal as ingest does (explicit false, with its time)."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE devices SET consent_telemetry = false, consent_changed_at = now()"
            " WHERE device_id = ANY(%s)",
            (devices,),
        )


def test_a_device_without_telemetry_consent_gets_no_findings(
    db_url: str, fleet: tuple[list[Upload], dict]
) -> None:
    uploads, truth = fleet
    store(db_url, uploads)
    faulty = sorted({f["device_id"] for f in truth["faults"]})
    withdrawn = faulty[: len(faulty) // 2]
    withdraw(db_url, withdrawn)
    progress = DetectService(db_url, DetectSettings(partitions=8)).run(
        threading.Event(), until_idle=True
    )
    found = {d for d, _, _ in findings(db_url)}
    assert found, "the devices that kept their consent get their findings"
    assert not found & set(withdrawn)
    kept = sum(u.samples for u in uploads if u.device_id not in withdrawn)
    assert progress.samples == kept


def test_a_withdrawal_keeps_open_findings_open(
    db_url: str, fleet: tuple[list[Upload], dict]
) -> None:
    uploads, _ = fleet
    half = len(uploads) // 2
    cfg = DetectSettings(partitions=8)
    store(db_url, uploads[:half])
    DetectService(db_url, cfg).run(threading.Event(), until_idle=True)
    before = {(d, k): s for d, k, s in findings(db_url)}
    open_devices = sorted({d for (d, _), s in before.items() if s == FindingStatus.OPEN})
    assert open_devices, "the first half opens findings"
    withdraw(db_url, open_devices)
    store(db_url, uploads[half:])
    DetectService(db_url, cfg).run(threading.Event(), until_idle=True)
    after = {(d, k): s for d, k, s in findings(db_url)}
    assert {key: after[key] for key in before if key[0] in open_devices} == {
        key: s for key, s in before.items() if key[0] in open_devices
    }
    assert not {key for key in after if key[0] in open_devices} - set(before)

"""Ingest against the real broker and database: validation, exactly once, no loss, scale-out."""

from __future__ import annotations

import gzip
import json
import shutil
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from devicecare.config import Settings, load_settings
from devicecare.contracts import Channel, topics
from devicecare.db.migrate import migrate
from devicecare.endpoints import database_url, mqtt_endpoint
from devstack import local, processes
from devstack.state import read_state
from tests.support.ingest_process import FIXED_MS, IngestWorkers, telemetry
from tests.support.mqtt_clients import BrokerClient, connect
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration


def scalar(url: str, query: str, params: tuple = ()) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return row[0]


@pytest.fixture
def workers(stack: Settings, db_url: str, tmp_path: Path) -> Iterator[IngestWorkers]:
    w = IngestWorkers(stack, db_url, tmp_path)
    yield w
    w.stop_all()


def device(settings: Settings, device_id: str) -> BrokerClient:
    local.provision_devices(settings, [device_id])
    return connect(mqtt_endpoint(settings, device_id), device_id)


def publish_all(client: BrokerClient, device_id: str, seqs: list[int], samples: int = 20) -> None:
    topic = topics.topic(device_id, Channel.TELEMETRY)
    for seq in seqs:
        assert client.publish(topic, telemetry(device_id, seq, samples)) == "Success"


def stored_batches(url: str, device_id: str) -> int:
    return int(scalar(url, "SELECT count(*) FROM batches WHERE device_id = %s", (device_id,)))


def assert_stored_exactly_once(url: str, device_id: str, batches: int, samples: int) -> None:
    with psycopg.connect(url) as conn:
        n_batches, n_rows, distinct = conn.execute(
            "SELECT (SELECT count(*) FROM batches WHERE device_id = %(d)s),"
            " count(*), count(DISTINCT ts) FROM samples WHERE device_id = %(d)s",
            {"d": device_id},
        ).fetchone()
    assert n_batches == batches
    assert n_rows == distinct == batches * samples


BAD: dict[str, tuple[bytes, str]] = {
    "malformed JSON": (b'{"v": 1, "device_id": ', "malformed"),
    "NaN": (
        f'{{"v":1,"device_id":"D","seq":1,"sent_at":{FIXED_MS},"samples":[{{"ts":{FIXED_MS},'
        '"battery_pct":NaN}]}'.encode(),
        "malformed",
    ),
    "wrong types": (
        json.dumps(
            {
                "v": 1,
                "device_id": "D",
                "seq": "7",
                "sent_at": FIXED_MS,
                "samples": [{"ts": FIXED_MS}],
            }
        ).encode(),
        "invalid",
    ),
    "huge value": (
        json.dumps(
            {
                "v": 1,
                "device_id": "D",
                "seq": 8,
                "sent_at": FIXED_MS,
                "samples": [{"ts": FIXED_MS, "battery_temp_c": 1e300}],
            }
        ).encode(),
        "invalid",
    ),
    "empty batch": (
        json.dumps(
            {"v": 1, "device_id": "D", "seq": 9, "sent_at": FIXED_MS, "samples": []}
        ).encode(),
        "invalid",
    ),
    "wrong version": (
        json.dumps(
            {
                "v": 2,
                "device_id": "D",
                "seq": 10,
                "sent_at": FIXED_MS,
                "samples": [{"ts": FIXED_MS}],
            }
        ).encode(),
        "unsupported_version",
    ),
    "spoofed device id": (
        json.dumps(
            {
                "v": 1,
                "device_id": "someone-else",
                "seq": 11,
                "sent_at": FIXED_MS,
                "samples": [{"ts": FIXED_MS}],
            }
        ).encode(),
        "device_mismatch",
    ),
    "10 MB payload": (b"{" + b" " * (10 * 1024 * 1024) + b"}", "oversized"),
    "zip bomb": (gzip.compress(b"[" + b"0," * (50 * 1024 * 1024) + b"0]"), "oversized"),
    "broken gzip": (b"\x1f\x8b\x08\x00garbage", "undecompressible"),
    "clock far ahead": (
        json.dumps(
            {
                "v": 1,
                "device_id": "D",
                "seq": 12,
                "sent_at": FIXED_MS,
                "samples": [{"ts": FIXED_MS + 10**10}],
            }
        ).encode(),
        "clock_future",
    ),
}


def test_bad_payloads_become_dead_letters_and_good_ones_around_them_are_stored(
    stack: Settings, db_url: str, workers: IngestWorkers, device_id: str
) -> None:
    workers.start()
    client = device(stack, device_id)
    topic = topics.topic(device_id, Channel.TELEMETRY)
    seq = 100
    for payload, _ in BAD.values():
        publish_all(client, device_id, [seq])
        seq += 1
        assert (
            client.publish(topic, payload.replace(b'"D"', json.dumps(device_id).encode()))
            == "Success"
        )
    publish_all(client, device_id, [seq])
    good = len(BAD) + 1

    wait_for(lambda: stored_batches(db_url, device_id) == good, what="the good batches")
    wait_for(
        lambda: (
            scalar(db_url, "SELECT count(*) FROM dead_letters WHERE topic = %s", (topic,))
            == len(BAD)
        ),
        what="one dead letter per bad payload",
    )
    with psycopg.connect(db_url) as conn:
        letters = conn.execute(
            "SELECT reason, payload_size, octet_length(payload_head) FROM dead_letters"
            " WHERE topic = %s ORDER BY dead_letter_id",
            (topic,),
        ).fetchall()
    assert [r[0] for r in letters] == [reason for _, reason in BAD.values()]
    assert all(head <= 1024 for _, _, head in letters)
    assert max(size for _, size, _ in letters) > 10 * 1024 * 1024
    assert_stored_exactly_once(db_url, device_id, good, 20)
    assert workers.procs[0].poll() is None, "the worker survived every bad input"
    client.close()


def test_a_resent_batch_is_stored_once(
    stack: Settings, db_url: str, workers: IngestWorkers, device_id: str
) -> None:
    workers.start()
    client = device(stack, device_id)
    publish_all(client, device_id, [1, 2, 2, 3, 1, 3, 3])
    wait_for(lambda: stored_batches(db_url, device_id) == 3, what="three batches")
    time.sleep(1)
    assert_stored_exactly_once(db_url, device_id, 3, 20)
    client.close()


def test_kill_9_mid_stream_then_restart_stores_every_batch_once(
    stack: Settings, db_url: str, workers: IngestWorkers, device_id: str
) -> None:
    workers.start()
    client = device(stack, device_id)
    total = 400
    sender = threading.Thread(target=publish_all, args=(client, device_id, list(range(total))))
    sender.start()
    wait_for(lambda: stored_batches(db_url, device_id) >= total // 4, what="a quarter stored")
    workers.kill()
    time.sleep(1)
    workers.start()
    sender.join()
    wait_for(lambda: stored_batches(db_url, device_id) == total, what="every batch")
    time.sleep(1)
    assert_stored_exactly_once(db_url, device_id, total, 20)
    client.close()


def test_two_workers_share_the_stream_and_store_each_batch_once(
    stack: Settings, db_url: str, workers: IngestWorkers, device_id: str
) -> None:
    workers.group = f"g{uuid.uuid4().hex[:8]}"
    workers.start(0)
    workers.start(1)
    client = device(stack, device_id)
    total = 300
    publish_all(client, device_id, list(range(total)))
    wait_for(lambda: stored_batches(db_url, device_id) == total, what="every batch")
    assert_stored_exactly_once(db_url, device_id, total, 20)
    workers.stop_all()
    with psycopg.connect(db_url) as conn:
        shares = [r[0] for r in conn.execute("SELECT batches FROM pipeline_health ORDER BY worker")]
    assert len(shares) == 2
    assert sum(shares) == total
    assert all(shares), f"both workers took a share: {shares}"
    client.close()


def test_status_consent_and_offer_answers_reach_the_device_record(
    stack: Settings, db_url: str, workers: IngestWorkers, device_id: str
) -> None:
    workers.start()
    client = device(stack, device_id)
    now = int(time.time() * 1000)

    def send(channel: Channel, doc: dict) -> None:
        payload = json.dumps({"v": 1, "device_id": device_id} | doc).encode()
        assert client.publish(topics.topic(device_id, channel), payload) == "Success"

    send(
        Channel.STATUS,
        {
            "state": "online",
            "ts": now,
            "agent_version": "9.9",
            "model": "Pixel 8",
            "os_version": "14",
        },
    )
    send(Channel.CONSENT, {"ts": now, "telemetry": False, "care_offers": False, "email": False})
    send(Channel.OFFER_RESPONSES, {"offer_id": "o-1", "answer": "wrong", "ts": now})
    send(Channel.STATUS, {"state": "offline", "ts": now + 1000})
    send(Channel.STATUS, {"state": "online", "ts": now - 5000})  # late: older than what is known

    wait_for(
        lambda: (
            scalar(
                db_url, "SELECT count(*) FROM offer_responses WHERE device_id = %s", (device_id,)
            )
            == 1
        ),
        what="the offer answer",
    )
    time.sleep(1)
    with psycopg.connect(db_url) as conn:
        status, version, telemetry, seen, model, os_version = conn.execute(
            "SELECT status, agent_version, consent_telemetry, last_seen_at, model, os_version"
            " FROM devices"
            " WHERE device_id = %s",
            (device_id,),
        ).fetchone()
        timeline = conn.execute(
            "SELECT touchpoint, kind, summary FROM interactions WHERE device_id = %s", (device_id,)
        ).fetchall()
    assert (status, version, telemetry) == ("offline", "9.9", False)
    assert (model, os_version) == ("Pixel 8", "14")
    assert seen is not None
    assert timeline == [("device_app", "consent_changed", "consent: withdrawn from everything")]
    client.close()


def test_unknown_devices_can_be_refused(
    stack: Settings, db_url: str, workers: IngestWorkers, device_id: str
) -> None:
    workers.extra_env["DEVICECARE_INGEST__UNKNOWN_DEVICES"] = "dead_letter"
    workers.start()
    client = device(stack, device_id)
    known = device_id + "-known"
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO devices (device_id) VALUES (%s)", (known,))
    known_client = device(stack, known)
    publish_all(client, device_id, [1])
    publish_all(known_client, known, [1])
    wait_for(lambda: stored_batches(db_url, known) == 1, what="the known device's batch")
    wait_for(
        lambda: (
            scalar(
                db_url,
                "SELECT count(*) FROM dead_letters WHERE reason = 'unknown_device' AND topic = %s",
                (topics.topic(device_id, Channel.TELEMETRY),),
            )
            == 1
        ),
        what="the unknown device's dead letter",
    )
    assert stored_batches(db_url, device_id) == 0
    client.close()
    known_client.close()


def test_metrics_endpoint_counts(
    stack: Settings, db_url: str, workers: IngestWorkers, device_id: str
) -> None:
    port = processes.free_port("127.0.0.1")
    workers.extra_env["DEVICECARE_INGEST__METRICS_PORT"] = str(port)
    workers.start()
    client = device(stack, device_id)
    publish_all(client, device_id, [1, 2, 2])
    wait_for(lambda: stored_batches(db_url, device_id) == 2, what="two batches")

    def metric(name: str) -> float:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        return sum(
            float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")
        )

    wait_for(lambda: metric("devicecare_ingest_samples_stored_total") == 40, what="the counter")
    assert metric("devicecare_ingest_batches_stored_total") == 2
    # The re-sent batch may come in a later flush than its first copy.
    wait_for(lambda: metric("devicecare_ingest_duplicates_total") == 1, what="the duplicate")
    assert metric("devicecare_ingest_received_total") >= 3  # plus retained statuses of others
    client.close()


@pytest.fixture
def own_stack() -> Iterator[Settings]:
    """A stack of its own, whose database a test may stop."""
    root = Path(tempfile.mkdtemp(prefix="devicecare-test-db-"))
    root.chmod(0o755)
    settings = load_settings(state_dir=root)
    local.up(settings)
    settings = local.fill(settings)
    migrate(database_url(settings))
    try:
        yield settings
    finally:
        local.down(settings, purge=True)
        shutil.rmtree(root, ignore_errors=True)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_a_database_outage_loses_nothing_and_memory_stays_bounded(
    own_stack: Settings, tmp_path: Path, device_id: str
) -> None:
    url = database_url(own_stack)
    workers = IngestWorkers(own_stack, url, tmp_path)
    workers.extra_env["DEVICECARE_INGEST__QUEUE_MAX_MESSAGES"] = "200"
    workers.start()
    client = device(own_stack, device_id)
    try:
        publish_all(client, device_id, list(range(100)))
        wait_for(lambda: stored_batches(url, device_id) == 100, what="batches before the outage")
        pid = read_state(own_stack)["postgres"]["pid"]  # type: ignore[index]
        local.down(own_stack, only=["postgres"])
        assert not processes.alive(pid, "postgres")
        publish_all(client, device_id, list(range(100, 1100)))  # 20,000 samples while down
        time.sleep(2)
        during = rss_mb(workers.procs[0].pid)
        assert workers.procs[0].poll() is None, "the worker waits; it does not die"
        local.up(own_stack)
        wait_for(lambda: stored_batches(url, device_id) == 1100, timeout_s=90, what="the backlog")
        assert_stored_exactly_once(url, device_id, 1100, 20)
        assert during < 200, f"ingest held {during:.0f} MB while the database was down"
    finally:
        workers.stop_all()
        client.close()


def test_sigterm_writes_what_was_received_before_exiting(
    stack: Settings, db_url: str, workers: IngestWorkers, device_id: str
) -> None:
    workers.extra_env["DEVICECARE_INGEST__FLUSH_INTERVAL_MS"] = "60000"  # only size or exit
    workers.start()
    client = device(stack, device_id)
    publish_all(client, device_id, list(range(30)))
    time.sleep(1)
    assert stored_batches(db_url, device_id) == 0, "nothing is flushed before the deadline"
    assert workers.stop() == 0
    assert_stored_exactly_once(db_url, device_id, 30, 20)
    client.close()

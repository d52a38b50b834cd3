"""Soak: two minutes of steady traffic, hostile payloads mixed in; memory and queue stay flat.

One device publishes batches at a fixed rate (the pacing is the load, not an assertion)
with a hostile payload of the corpus every tenth message. Every few seconds the
worker's resident memory (/proc) and its queue depth (its Prometheus gauge) are
sampled. Afterwards every valid batch is stored exactly once, every hostile payload is
one dead letter, memory in the last third of the run is not above the first third's
(plus a margin for allocator noise), and the queue never held more than a few seconds
of traffic.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from statistics import median

import pytest

from devicecare.config import Settings
from devicecare.contracts import Channel, topics
from devstack import processes
from tests.ingest.test_ingest import assert_stored_exactly_once, device, rss_mb, stored_batches
from tests.ingest.test_ingest_hostile import dead_letters
from tests.support.hostile_payloads import corpus
from tests.support.ingest_process import IngestWorkers, telemetry
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration

SOAK_S = 120
RATE_PER_S = 40
"""Messages per second; 20 samples each, so 800 samples/s: a steady, sustainable load."""
PROBE_EVERY_S = 5
HOSTILE_EVERY = 10
SAMPLES = 20


@pytest.fixture
def workers(stack: Settings, db_url: str, tmp_path: Path) -> Iterator[IngestWorkers]:
    w = IngestWorkers(stack, db_url, tmp_path)
    yield w
    w.stop_all()


def queued(port: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    line = next(x for x in text.splitlines() if x.startswith("devicecare_ingest_queued_messages "))
    return float(line.split()[-1])


def test_a_two_minute_soak_keeps_memory_and_queue_bounded(
    stack: Settings, db_url: str, workers: IngestWorkers, device_id: str
) -> None:
    port = processes.free_port("127.0.0.1")
    workers.extra_env["DEVICECARE_INGEST__METRICS_PORT"] = str(port)
    workers.extra_env["DEVICECARE_INGEST__HEALTH_INTERVAL_S"] = "1"
    proc = workers.start()
    client = device(stack, device_id)
    hostile = corpus(device_id, int(time.time() * 1000))
    topic = topics.topic(device_id, Channel.TELEMETRY)
    probes: list[tuple[float, float]] = []
    seq = bad = 0
    start = time.monotonic()
    next_probe = start
    for n in range(SOAK_S * RATE_PER_S):
        pause = start + n / RATE_PER_S - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        if n % HOSTILE_EVERY == HOSTILE_EVERY - 1:
            entry = hostile[bad % len(hostile)]
            bad += 1
            assert (
                client.publish(topics.topic(device_id, entry.channel), entry.payload) == "Success"
            )
        else:
            assert client.publish(topic, telemetry(device_id, seq, SAMPLES)) == "Success"
            seq += 1
        if time.monotonic() >= next_probe:
            probes.append((rss_mb(proc.pid), queued(port)))
            next_probe += PROBE_EVERY_S
    elapsed = time.monotonic() - start

    wait_for(lambda: stored_batches(db_url, device_id) == seq, timeout_s=120, what="every batch")
    wait_for(lambda: len(dead_letters(db_url, device_id)) == bad, what="every dead letter")
    assert_stored_exactly_once(db_url, device_id, seq, SAMPLES)
    assert proc.poll() is None, "the worker ran through the whole soak"

    memory = [m for m, _ in probes]
    third = len(memory) // 3
    early, late = median(memory[1 : third + 1]), median(memory[-third:])
    depth = max(q for _, q in probes)
    print(  # the figures, for the record (pytest -s)
        json.dumps(
            {
                "soak_s": round(elapsed, 1),
                "batches": seq,
                "hostile": bad,
                "probes": len(probes),
                "rss_mb_early_median": round(early, 1),
                "rss_mb_late_median": round(late, 1),
                "rss_mb_max": round(max(memory), 1),
                "queue_max": depth,
            }
        )
    )
    assert len(probes) >= 12
    assert late <= early * 1.2 + 8, f"memory grew: {early:.1f} MB early, {late:.1f} MB late"
    assert max(memory) < 250
    assert depth <= 2 * PROBE_EVERY_S * RATE_PER_S, f"the queue held {depth:.0f} messages"
    client.close()

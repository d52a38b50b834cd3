"""The agent's on-disk queue: budget, sequence numbers, consent gate, withdrawal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.consent import Consent, record
from agent.store import EVENTS, GAUGES, Store

BODY = b"x" * 100


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "agent.db", budget_bytes=64 * 1024)
    s.set("consent", json.dumps({"telemetry": True}))
    return s


def build(seq: int, bodies: list[bytes]) -> bytes:
    return json.dumps({"seq": seq, "n": len(bodies)}).encode()


def test_nothing_is_queued_without_consent(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.db", budget_bytes=1 << 20)
    store.add((1, BODY), [("k", 1, BODY)])
    assert store.queued(GAUGES) == store.queued(EVENTS) == 0
    assert not store.seen("k")


def test_over_budget_drops_oldest_gauges_first_and_keeps_events(store: Store) -> None:
    for i in range(50):
        store.add(None, [(f"crash-{i}", i, BODY)])
    for i in range(1000):
        store.add((i, BODY), [])
    assert store.queued_bytes() <= store.budget_bytes
    assert store.queued(EVENTS) == 50, "events are kept longest"
    kept = [ts for (ts,) in store.db.execute("SELECT ts FROM samples ORDER BY id")]
    assert kept == list(range(1000 - len(kept), 1000)), "the oldest gauges went first"
    counters = store.counters()
    assert counters["dropped_samples"] == 1000 - len(kept)
    assert counters["dropped_events"] == 0
    assert counters["enqueued_samples"] == 1000


def test_unsent_telemetry_batches_go_before_events(store: Store) -> None:
    for i in range(200):
        store.add((i, BODY), [(f"e{i}", i, BODY)])
    store.form_batch(GAUGES, 200, newest=False, build=lambda s, b: BODY * len(b))
    for i in range(600):
        store.add(None, [(f"more{i}", 1000 + i, BODY)])
    assert store.queued_bytes() <= store.budget_bytes
    assert not [e for e in store.outbox() if e.channel == "telemetry"]
    assert store.counters()["dropped_samples"] == 200
    dropped = store.counters()["dropped_events"]
    assert dropped > 0
    (oldest,) = store.db.execute("SELECT min(ts) FROM events").fetchone()
    assert oldest == dropped, "the oldest events went first"


def test_batches_share_one_sequence_and_survive_a_restart(store: Store) -> None:
    for i in range(5):
        store.add((i, BODY), [(f"e{i}", i, BODY)])
    first = store.form_batch(GAUGES, 3, newest=False, build=build)
    second = store.form_batch(EVENTS, 10, newest=False, build=build)
    assert first is not None
    assert second is not None
    assert (first.seq, first.rows, second.seq, second.rows) == (0, 3, 1, 5)
    assert store.queued(GAUGES) == 2
    assert store.queued(EVENTS) == 0

    reopened = Store(store.path, store.budget_bytes)
    assert [(e.seq, e.payload) for e in reopened.outbox()] == [
        (0, b'{"seq": 0, "n": 3}'),
        (1, b'{"seq": 1, "n": 5}'),
    ]
    third = reopened.form_batch(GAUGES, 10, newest=True, build=build)
    assert third is not None
    assert third.seq == 2

    reopened.acknowledge(reopened.outbox()[0], accepted=True)
    assert [e.seq for e in reopened.outbox()] == [1, 2]
    assert reopened.counters()["published_batches"] == 1


def test_a_failed_build_leaves_the_rows_queued(store: Store) -> None:
    store.add((1, BODY), [])

    def refuse(_seq: int, _bodies: list[bytes]) -> bytes:
        raise ValueError("too big")

    with pytest.raises(ValueError, match="too big"):
        store.form_batch(GAUGES, 10, newest=False, build=refuse)
    assert store.queued(GAUGES) == 1
    assert store.outbox() == []
    assert store.get("next_seq") is None


def test_the_newest_rows_form_the_fresh_batch_in_time_order(store: Store) -> None:
    for i in range(10):
        store.add((i, str(i).encode()), [])
    seen: list[list[bytes]] = []
    store.form_batch(GAUGES, 3, newest=True, build=lambda s, b: seen.append(b) or b"p")
    assert seen == [[b"7", b"8", b"9"]]


def test_withdrawing_consent_deletes_what_was_collected(store: Store) -> None:
    for i in range(5):
        store.add((i, BODY), [(f"e{i}", i, BODY)])
    store.form_batch(GAUGES, 2, newest=False, build=build)
    store.set("collector.crash.baselined", "1")

    record(store, "phone-1", Consent())

    assert store.queued(GAUGES) == store.queued(EVENTS) == 0
    assert store.get("collector.crash.baselined") is None
    assert not store.seen("e1")
    (message,) = store.outbox()
    assert message.channel == "consent"
    assert json.loads(message.payload) | {"ts": 0} == {
        "v": 1,
        "device_id": "phone-1",
        "ts": 0,
        "telemetry": False,
        "care_offers": False,
        "email": False,
    }
    store.add((9, BODY), [])
    assert store.queued(GAUGES) == 0

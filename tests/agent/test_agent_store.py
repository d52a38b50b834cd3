"""The agent's outbox and its file: budget, sequence numbers, consent gate, withdrawal,
batches built from the stored bytes, and a file of an earlier agent migrated."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import msgspec
import pytest

from agent.consent import Consent, record
from agent.outbox import Outbox, Row
from agent.store import Store, now_ms
from devicecare.contracts import (
    Channel,
    Event,
    EventBatch,
    EventKind,
    Sample,
    TelemetryBatch,
    decode,
    limits,
    topics,
)

DEVICE = "phone-1"
BODY = b"x" * 100


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "agent.db", budget_bytes=64 * 1024)
    s.set("consent", json.dumps({"telemetry": True}))
    return s


@pytest.fixture
def outbox(store: Store) -> Outbox:
    return Outbox(store, DEVICE)


def sample(ts: int) -> Row:
    return Row(Channel.TELEMETRY, ts, msgspec.json.encode(Sample(ts=ts, battery_pct=50.0)))


def event(ts: int, key: str | None = None) -> Row:
    body = msgspec.json.encode(Event(ts=ts, kind=EventKind.REBOOT))
    return Row(Channel.EVENTS, ts, body, key or f"e{ts}")


def rows_of(outbox: Outbox, channel: Channel) -> list[int]:
    return [ts for (ts,) in outbox.db.execute("SELECT ts FROM queue WHERE channel = ?", (channel,))]


def test_nothing_is_queued_without_consent(tmp_path: Path) -> None:
    outbox = Outbox(Store(tmp_path / "agent.db", budget_bytes=1 << 20), DEVICE)
    assert not outbox.add([sample(1), event(1, "k")])
    assert outbox.queued(Channel.TELEMETRY) == outbox.queued(Channel.EVENTS) == 0
    assert not outbox.store.seen("k")


def test_over_budget_drops_oldest_gauges_first_and_keeps_events(outbox: Outbox) -> None:
    for i in range(50):
        outbox.add([Row(Channel.EVENTS, i, BODY, f"crash-{i}")])
    for i in range(1000):
        outbox.add([Row(Channel.TELEMETRY, i, BODY)])
    assert outbox.size_bytes() <= outbox.store.budget_bytes
    assert outbox.queued(Channel.EVENTS) == 50, "events are kept longest"
    kept = rows_of(outbox, Channel.TELEMETRY)
    assert kept == list(range(1000 - len(kept), 1000)), "the oldest gauges went first"
    counters = outbox.store.counters()
    assert counters["dropped_samples"] == 1000 - len(kept)
    assert counters["dropped_events"] == 0
    assert counters["enqueued_samples"] == 1000


def test_unsent_telemetry_batches_go_before_events(outbox: Outbox) -> None:
    for i in range(200):
        outbox.add([Row(Channel.TELEMETRY, i, BODY), Row(Channel.EVENTS, i, BODY, f"e{i}")])
    assert outbox.batch(Channel.TELEMETRY, 200, newest=False) is not None
    for i in range(600):
        outbox.add([Row(Channel.EVENTS, 1000 + i, BODY, f"more{i}")])
    assert outbox.size_bytes() <= outbox.store.budget_bytes
    assert not [e for e in outbox.pending() if e.channel is Channel.TELEMETRY]
    assert outbox.store.counters()["dropped_samples"] == 200
    dropped = outbox.store.counters()["dropped_events"]
    assert dropped > 0
    added = [*range(200), *range(1000, 1600)]
    assert rows_of(outbox, Channel.EVENTS) == added[dropped:], "the oldest events went first"


def test_batches_share_one_sequence_and_survive_a_restart(outbox: Outbox) -> None:
    for i in range(5):
        outbox.add([sample(i), event(i)])
    first = outbox.batch(Channel.TELEMETRY, 3, newest=False)
    second = outbox.batch(Channel.EVENTS, 10, newest=False)
    assert first is not None
    assert second is not None
    assert (first.seq, first.rows, second.seq, second.rows) == (0, 3, 1, 5)
    assert outbox.queued(Channel.TELEMETRY) == 2
    assert outbox.queued(Channel.EVENTS) == 0

    reopened = Outbox(Store(outbox.store.path, outbox.store.budget_bytes), DEVICE)
    assert [(e.channel, e.seq, e.payload) for e in reopened.pending()] == [
        (Channel.TELEMETRY, 0, first.payload),
        (Channel.EVENTS, 1, second.payload),
    ]
    third = reopened.batch(Channel.TELEMETRY, 10, newest=True)
    assert third is not None
    assert third.seq == 2

    reopened.accept(reopened.pending()[0])
    reopened.reject(reopened.pending()[0])
    assert [e.seq for e in reopened.pending()] == [2]
    counters = reopened.store.counters()
    assert (counters["published_batches"], counters["rejected_batches"]) == (1, 1)


def test_a_batch_is_the_contract_message_around_the_stored_bytes(outbox: Outbox) -> None:
    start = now_ms() - 60_000
    rows = [sample(start + i) for i in range(3)]
    outbox.add([*rows, event(start)])
    telemetry = outbox.batch(Channel.TELEMETRY, 10, newest=False)
    events = outbox.batch(Channel.EVENTS, 10, newest=False)
    assert telemetry is not None
    assert events is not None
    where = topics.parse(topics.topic(DEVICE, Channel.TELEMETRY))
    batch = decode(where, telemetry.payload)
    assert isinstance(batch, TelemetryBatch)
    assert (batch.device_id, batch.seq) == (DEVICE, 0)
    assert [msgspec.json.encode(s) for s in batch.samples] == [r.body for r in rows]
    where = topics.parse(topics.topic(DEVICE, Channel.EVENTS))
    assert isinstance(decode(where, events.payload), EventBatch)


def test_a_batch_over_the_wire_limit_is_formed_from_fewer_rows(outbox: Outbox) -> None:
    outbox.store.budget_bytes = 1 << 30
    noise = [msgspec.json.encode(str(i * 7919)) for i in range(40_000)]
    big = [
        Row(Channel.TELEMETRY, i, b'{"ts":%d,"x":[%s]}' % (i, b",".join(noise))) for i in range(4)
    ]
    outbox.add(big)
    entry = outbox.batch(Channel.TELEMETRY, 4, newest=False)
    assert entry is not None
    assert len(entry.payload) <= limits.MAX_WIRE_BYTES
    assert entry.rows < 4
    assert outbox.queued(Channel.TELEMETRY) == 4 - entry.rows


def test_the_newest_rows_form_the_fresh_batch_in_time_order(outbox: Outbox) -> None:
    start = now_ms() - 60_000
    outbox.add(sample(start + i) for i in range(10))
    entry = outbox.batch(Channel.TELEMETRY, 3, newest=True)
    assert entry is not None
    where = topics.parse(topics.topic(DEVICE, Channel.TELEMETRY))
    batch = decode(where, entry.payload)
    assert isinstance(batch, TelemetryBatch)
    assert [s.ts - start for s in batch.samples] == [7, 8, 9]
    assert rows_of(outbox, Channel.TELEMETRY) == [start + i for i in range(7)]


def test_withdrawing_consent_deletes_what_was_collected(outbox: Outbox) -> None:
    store = outbox.store
    for i in range(5):
        outbox.add([sample(i), event(i)])
    outbox.batch(Channel.TELEMETRY, 2, newest=False)
    store.set("collector.crash.baselined", "1")

    record(store, DEVICE, Consent())

    assert outbox.queued(Channel.TELEMETRY) == outbox.queued(Channel.EVENTS) == 0
    assert store.get("collector.crash.baselined") is None
    assert not store.seen("e1")
    (message,) = outbox.pending()
    assert message.channel is Channel.CONSENT
    assert json.loads(message.payload) | {"ts": 0} == {
        "v": 1,
        "device_id": DEVICE,
        "ts": 0,
        "telemetry": False,
        "care_offers": False,
        "email": False,
    }
    assert not outbox.add([sample(9)])
    assert outbox.queued(Channel.TELEMETRY) == 0


def test_a_file_of_the_earlier_agent_is_migrated_with_its_queue_in_order(tmp_path: Path) -> None:
    """Version 0 kept samples and events in tables of their own."""
    path = tmp_path / "agent.db"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE samples (id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts INTEGER NOT NULL, body BLOB NOT NULL);
        CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts INTEGER NOT NULL, body BLOB NOT NULL);
        CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,
            channel TEXT NOT NULL, seq INTEGER UNIQUE, rows INTEGER NOT NULL,
            payload BLOB NOT NULL, created_ms INTEGER NOT NULL);
        CREATE TABLE seen (key TEXT PRIMARY KEY, seen_ms INTEGER NOT NULL);
        CREATE TABLE offers (offer_id TEXT PRIMARY KEY, body BLOB NOT NULL,
            received_ms INTEGER NOT NULL, answer TEXT, answered_ms INTEGER);
        INSERT INTO meta VALUES ('next_seq', '7'), ('consent', '{"telemetry": true}');
        INSERT INTO outbox VALUES (1, 'telemetry', 6, 2, x'00', 0);
        """
    )
    for ts in (1, 2, 3):
        old.execute("INSERT INTO samples (ts, body) VALUES (?, ?)", (ts, sample(ts).body))
    old.execute("INSERT INTO events (ts, body) VALUES (?, ?)", (4, event(4).body))
    old.commit()
    old.close()

    outbox = Outbox(Store(path, budget_bytes=1 << 20), DEVICE)
    assert rows_of(outbox, Channel.TELEMETRY) == [1, 2, 3]
    assert rows_of(outbox, Channel.EVENTS) == [4]
    assert [(e.channel, e.seq) for e in outbox.pending()] == [(Channel.TELEMETRY, 6)]
    entry = outbox.batch(Channel.TELEMETRY, 10, newest=False)
    assert entry is not None
    assert entry.seq == 7, "the sequence goes on where the earlier agent left it"
    reopened = Store(path, budget_bytes=1 << 20)
    assert reopened.db.execute("PRAGMA user_version").fetchone() == (1,)

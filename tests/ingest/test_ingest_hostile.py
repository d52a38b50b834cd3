"""Hostile input through the real broker and database: one bad message never stops ingest."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from devicecare.config import Settings
from devicecare.contracts import Channel, topics
from tests.ingest.test_ingest import device, scalar, stored_batches
from tests.ingest.test_intake_hostile import nested
from tests.support.hostile_payloads import corpus, valid
from tests.support.ingest_process import FIXED_MS, IngestWorkers, telemetry
from tests.support.mqtt_clients import BrokerClient
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def workers(stack: Settings, db_url: str, tmp_path: Path) -> Iterator[IngestWorkers]:
    w = IngestWorkers(stack, db_url, tmp_path)
    yield w
    w.stop_all()


def send(client: BrokerClient, device_id: str, channel: Channel, doc: dict | bytes) -> None:
    """Publish a document (or raw bytes) as the device; the broker must accept it."""
    payload = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    assert client.publish(topics.topic(device_id, channel), payload) == "Success"


def dead_letters(url: str, device_id: str) -> list[tuple[str, str | None, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT reason, device_id, topic FROM dead_letters"
            " WHERE topic LIKE %s ORDER BY dead_letter_id",
            (f"%/{device_id}/%",),
        ).fetchall()


def test_a_deeply_nested_status_is_dead_lettered_and_the_next_status_stored(
    stack: Settings, db_url: str, workers: IngestWorkers, device_id: str
) -> None:
    workers.start()
    client = device(stack, device_id)
    now = int(time.time() * 1000)
    send(client, device_id, Channel.STATUS, nested(1000))
    send(
        client,
        device_id,
        Channel.STATUS,
        {"v": 1, "device_id": device_id, "state": "online", "ts": now},
    )
    send(client, device_id, Channel.TELEMETRY, telemetry(device_id, 1))
    wait_for(lambda: stored_batches(db_url, device_id) == 1, what="the batch after it")
    wait_for(
        lambda: (
            scalar(db_url, "SELECT status FROM devices WHERE device_id = %s", (device_id,))
            == "online"
        ),
        what="the valid status",
    )
    assert dead_letters(db_url, device_id) == [
        ("too_deep", device_id, topics.topic(device_id, Channel.STATUS))
    ]
    assert workers.procs[0].poll() is None, "the worker is still running"
    client.close()


def test_a_refused_row_in_a_new_devices_first_flush_does_not_poison_it(
    stack: Settings, db_url: str, db: psycopg.Connection, workers: IngestWorkers, device_id: str
) -> None:
    """The database refuses one offer answer (a constraint of this test's own database)
    in the flush that also registers two new devices: both must still be registered."""
    db.execute(
        "ALTER TABLE offer_responses ADD CONSTRAINT test_refuses_poison"
        " CHECK (comment IS DISTINCT FROM 'poison')"
    )
    workers.extra_env["DEVICECARE_INGEST__FLUSH_INTERVAL_MS"] = "3000"  # one flush for all
    workers.start()
    other = device_id + "-b"
    client, other_client = device(stack, device_id), device(stack, other)
    now = int(time.time() * 1000)

    def online(c: BrokerClient, d: str) -> None:
        send(c, d, Channel.STATUS, {"v": 1, "device_id": d, "state": "online", "ts": now})

    def answer(offer: str, comment: str) -> None:
        doc = {"v": 1, "device_id": device_id, "offer_id": offer, "answer": "accept"}
        send(client, device_id, Channel.OFFER_RESPONSES, doc | {"ts": now, "comment": comment})

    online(client, device_id)
    answer("o-1", "poison")
    online(other_client, other)
    wait_for(lambda: dead_letters(db_url, device_id) != [], what="the refused answer")
    assert dead_letters(db_url, device_id) == [
        ("database_rejected", device_id, topics.topic(device_id, Channel.OFFER_RESPONSES))
    ]
    # Only this test's devices: retained statuses of earlier tests' devices may arrive too.
    statuses = dict(
        db.execute(
            "SELECT device_id, status FROM devices WHERE device_id = ANY(%s)", ([device_id, other],)
        ).fetchall()
    )
    assert statuses == {device_id: "online", other: "online"}

    answer("o-2", "fine")
    wait_for(
        lambda: (
            scalar(
                db_url, "SELECT count(*) FROM offer_responses WHERE device_id = %s", (device_id,)
            )
            == 1
        ),
        what="the next answer of the same device",
    )
    assert len(dead_letters(db_url, device_id)) == 1
    client.close()
    other_client.close()


def test_a_resent_seq_with_other_content_keeps_the_first_and_is_dead_lettered(
    stack: Settings, db_url: str, workers: IngestWorkers, device_id: str
) -> None:
    workers.start()
    client = device(stack, device_id)
    send(client, device_id, Channel.TELEMETRY, telemetry(device_id, 1))
    wait_for(lambda: stored_batches(db_url, device_id) == 1, what="the first batch")
    send(client, device_id, Channel.TELEMETRY, telemetry(device_id, 1, samples=3))
    send(client, device_id, Channel.TELEMETRY, telemetry(device_id, 1))  # a true repeat
    send(client, device_id, Channel.TELEMETRY, telemetry(device_id, 2))
    wait_for(lambda: stored_batches(db_url, device_id) == 2, what="the next batch")
    wait_for(lambda: dead_letters(db_url, device_id) != [], what="the conflict")
    assert dead_letters(db_url, device_id) == [
        ("seq_conflict", device_id, topics.topic(device_id, Channel.TELEMETRY))
    ]
    rows = scalar(db_url, "SELECT count(*) FROM samples WHERE device_id = %s", (device_id,))
    assert rows == 40, "the first content of batch 1 is kept, once"
    client.close()


def consent(client: BrokerClient, device_id: str, ts: int, *, telemetry: bool) -> None:
    doc = {"v": 1, "device_id": device_id, "ts": ts, "telemetry": telemetry}
    send(client, device_id, Channel.CONSENT, doc | {"care_offers": telemetry, "email": False})


def crashes(device_id: str, seq: int) -> dict:
    ts = FIXED_MS + seq * 1000
    event = {"ts": ts, "kind": "app_crash", "process": "com.example"}
    return {"v": 1, "device_id": device_id, "seq": seq, "sent_at": ts, "events": [event]}


def test_telemetry_and_events_after_a_consent_withdrawal_are_dropped_and_counted(
    stack: Settings, db_url: str, workers: IngestWorkers, device_id: str
) -> None:
    workers.start()
    client = device(stack, device_id)
    now = int(time.time() * 1000)
    consent(client, device_id, now - 60_000, telemetry=True)
    send(client, device_id, Channel.TELEMETRY, telemetry(device_id, 1))
    wait_for(lambda: stored_batches(db_url, device_id) == 1, what="the batch with consent")

    consent(client, device_id, now, telemetry=False)
    for seq in range(2, 12):
        send(client, device_id, Channel.TELEMETRY, telemetry(device_id, seq))
    send(client, device_id, Channel.EVENTS, crashes(device_id, 12))
    send(client, device_id, Channel.STATUS, {"v": 1, "device_id": device_id, "state": "offline"})
    wait_for(
        lambda: (
            scalar(db_url, "SELECT status FROM devices WHERE device_id = %s", (device_id,))
            == "offline"
        ),
        what="the status sent after the batches",
    )
    assert workers.stop() == 0
    with psycopg.connect(db_url) as conn:
        events = conn.execute(
            "SELECT count(*) FROM events WHERE device_id = %s", (device_id,)
        ).fetchone()
        dropped, dead = conn.execute(
            "SELECT dropped_no_consent, dead_lettered FROM pipeline_health"
        ).fetchone()
    assert (stored_batches(db_url, device_id), events) == (1, (0,))
    assert (dropped, dead) == (11, 0)
    assert dead_letters(db_url, device_id) == []

    workers.start()
    consent(client, device_id, now + 1000, telemetry=True)
    send(client, device_id, Channel.TELEMETRY, telemetry(device_id, 13))
    wait_for(lambda: stored_batches(db_url, device_id) == 2, what="the batch after consent")
    client.close()


def test_the_hostile_corpus_on_every_channel_is_dead_lettered_and_each_next_message_stored(
    stack: Settings, db_url: str, workers: IngestWorkers, device_id: str
) -> None:
    workers.start()
    client = device(stack, device_id)
    now = int(time.time() * 1000)
    entries = corpus(device_id, now)
    last: dict[Channel, dict] = {}
    for n, entry in enumerate(entries, start=1):
        send(client, device_id, entry.channel, entry.payload)
        last[entry.channel] = valid(entry.channel, device_id, n, now)
        send(client, device_id, entry.channel, last[entry.channel])
    per_channel = Counter(e.channel for e in entries)

    wait_for(
        lambda: len(dead_letters(db_url, device_id)) == len(entries),
        timeout_s=60,
        what="one dead letter per hostile payload",
    )
    letters = dead_letters(db_url, device_id)
    assert [(r, t) for r, _, t in letters] == [
        (e.reason, topics.topic(device_id, e.channel)) for e in entries
    ]
    assert {d for _, d, _ in letters} == {device_id}
    wait_for(
        lambda: (
            stored_batches(db_url, device_id)
            == per_channel[Channel.TELEMETRY] + per_channel[Channel.EVENTS]
        ),
        what="every valid batch",
    )
    with psycopg.connect(db_url) as conn:
        answers, consents, status_ts = conn.execute(
            "SELECT (SELECT count(*) FROM offer_responses WHERE device_id = %(d)s),"
            " (SELECT count(*) FROM interactions WHERE device_id = %(d)s"
            "  AND kind = 'consent_changed'),"
            " (SELECT (status_detail->>'ts')::bigint FROM devices WHERE device_id = %(d)s)",
            {"d": device_id},
        ).fetchone()
        channels = dict(
            conn.execute(
                "SELECT channel, count(*) FROM batches WHERE device_id = %s GROUP BY channel",
                (device_id,),
            ).fetchall()
        )
    assert channels == {
        "telemetry": per_channel[Channel.TELEMETRY],
        "events": per_channel[Channel.EVENTS],
    }
    assert answers == per_channel[Channel.OFFER_RESPONSES]
    assert consents == per_channel[Channel.CONSENT]
    assert status_ts == last[Channel.STATUS]["ts"]
    assert workers.procs[0].poll() is None, "the worker survived the whole corpus"
    client.close()

"""The agent's durable memory: one SQLite file in WAL mode.

Samples and events are written here before any network work. Batches are formed from
them inside a transaction that assigns the device's next sequence number, stores the
finished payload in the outbox and deletes the rows it took, so a batch is either still
rows or already an outbox entry, never both or neither. An outbox entry goes only when
the broker acknowledges it; after a crash the same payload (same sequence number) is
sent again and the server stores it once.

The queue keeps to a byte budget: when over, it drops the oldest gauge samples first,
then the oldest unsent telemetry batches, and events (crashes) last; drops are counted.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL, seq INTEGER UNIQUE, rows INTEGER NOT NULL,
    payload BLOB NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, seen_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS offers (offer_id TEXT PRIMARY KEY, body BLOB NOT NULL,
    received_ms INTEGER NOT NULL, answer TEXT, answered_ms INTEGER);
"""

CONSENT_KEY = "consent"
"""Meta key of the owner's consent (JSON per purpose); see agent.consent."""
GAUGES = "samples"
EVENTS = "events"
BATCH_CHANNELS = {GAUGES: "telemetry", EVENTS: "events"}
COUNTERS = (
    "enqueued_samples",
    "enqueued_events",
    "dropped_samples",
    "dropped_events",
    "published_batches",
    "rejected_batches",
)


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    channel: str
    seq: int | None
    rows: int
    payload: bytes


def _now_ms() -> int:
    return int(time.time() * 1000)


class Store:
    def __init__(self, path: Path, budget_bytes: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.budget_bytes = budget_bytes
        self.db = sqlite3.connect(path, isolation_level=None, timeout=10)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        path.chmod(0o600)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- small key-value memory: counters, consent, config, collector state

    def get(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def delete(self, key: str) -> None:
        self.db.execute("DELETE FROM meta WHERE key = ?", (key,))

    def _incr(self, key: str, by: int) -> None:
        if by:
            self.db.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key)"
                " DO UPDATE SET value = CAST(value AS INTEGER) + excluded.value",
                (key, by),
            )

    def counters(self) -> dict[str, int]:
        rows = dict(
            self.db.execute(
                f"SELECT key, value FROM meta WHERE key IN ({','.join('?' * len(COUNTERS))})",  # noqa: S608
                COUNTERS,
            ).fetchall()
        )
        return {name: int(rows.get(name, 0)) for name in COUNTERS}

    # --- crash de-duplication

    def seen(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM seen WHERE key = ?", (key,)).fetchone() is not None

    def remember(self, keys: Iterable[str]) -> None:
        now = _now_ms()
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?)", ((key, now) for key in keys))

    # --- the queue

    def add(
        self,
        sample: tuple[int, bytes] | None,
        events: Iterable[tuple[str, int, bytes]] = (),
    ) -> None:
        """Queue one sample (ts, body) and events (key, ts, body) in one transaction.

        Nothing is queued while telemetry consent is off, checked inside the transaction
        so that a withdrawal in another process cannot race with a collection.
        """
        now = _now_ms()
        with self.transaction() as db:
            consent = self.get(CONSENT_KEY)
            if consent is None or not json.loads(consent).get("telemetry"):
                return
            if sample is not None:
                db.execute("INSERT INTO samples (ts, body) VALUES (?, ?)", sample)
                self._incr("enqueued_samples", 1)
            added = 0
            for key, ts, body in events:
                db.execute("INSERT INTO events (ts, body) VALUES (?, ?)", (ts, body))
                db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (key, now))
                added += 1
            self._incr("enqueued_events", added)
            self._enforce_budget()

    def queued_bytes(self) -> int:
        (total,) = self.db.execute(
            "SELECT (SELECT coalesce(sum(length(body)), 0) FROM samples)"
            " + (SELECT coalesce(sum(length(body)), 0) FROM events)"
            " + (SELECT coalesce(sum(length(payload)), 0) FROM outbox)"
        ).fetchone()
        return int(total)

    def queued(self, table: str) -> int:
        (count,) = self.db.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
        return int(count)

    def _enforce_budget(self) -> None:
        excess = self.queued_bytes() - self.budget_bytes
        steps = (
            ("SELECT id, length(body), 1 FROM samples ORDER BY id", "samples", "dropped_samples"),
            (
                "SELECT id, length(payload), rows FROM outbox WHERE channel = 'telemetry'"
                " ORDER BY id",
                "outbox",
                "dropped_samples",
            ),
            ("SELECT id, length(body), 1 FROM events ORDER BY id", "events", "dropped_events"),
            (
                "SELECT id, length(payload), rows FROM outbox WHERE channel = 'events' ORDER BY id",
                "outbox",
                "dropped_events",
            ),
        )
        for query, table, counter in steps:
            if excess <= 0:
                return
            victims, dropped = [], 0
            for row_id, size, rows in self.db.execute(query):
                victims.append((row_id,))
                dropped += rows
                excess -= size
                if excess <= 0:
                    break
            self.db.executemany(f"DELETE FROM {table} WHERE id = ?", victims)  # noqa: S608
            self._incr(counter, dropped)

    def form_batch(
        self, table: str, limit: int, *, newest: bool, build: Callable[[int, list[bytes]], bytes]
    ) -> OutboxEntry | None:
        """Move up to `limit` rows (the newest, or the oldest) into one outbox batch.

        `build(seq, bodies)` makes the payload; rows go in time order.
        """
        order = "DESC" if newest else "ASC"
        with self.transaction() as db:
            rows = db.execute(
                f"SELECT id, body FROM {table} ORDER BY id {order} LIMIT ?",  # noqa: S608
                (limit,),
            ).fetchall()
            if not rows:
                return None
            rows.sort()
            seq = int(self.get("next_seq") or 0)
            payload = build(seq, [body for _, body in rows])
            cursor = db.execute(
                "INSERT INTO outbox (channel, seq, rows, payload, created_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                (BATCH_CHANNELS[table], seq, len(rows), payload, _now_ms()),
            )
            db.executemany(f"DELETE FROM {table} WHERE id = ?", ((i,) for i, _ in rows))  # noqa: S608
            self.set("next_seq", str(seq + 1))
            assert cursor.lastrowid is not None
            return OutboxEntry(cursor.lastrowid, BATCH_CHANNELS[table], seq, len(rows), payload)

    def add_message(self, channel: str, payload: bytes) -> None:
        """Queue a single message (consent update, offer answer) for the next connection."""
        self.db.execute(
            "INSERT INTO outbox (channel, seq, rows, payload, created_ms)"
            " VALUES (?, NULL, 1, ?, ?)",
            (channel, payload, _now_ms()),
        )

    def unsent(self) -> tuple[int, int]:
        """(batches, single messages) in the outbox, without reading their payloads."""
        batches, messages = self.db.execute(
            "SELECT count(seq), count(*) - count(seq) FROM outbox"
        ).fetchone()
        return int(batches), int(messages)

    def outbox(self) -> list[OutboxEntry]:
        return [
            OutboxEntry(*row)
            for row in self.db.execute(
                "SELECT id, channel, seq, rows, payload FROM outbox ORDER BY id"
            )
        ]

    def acknowledge(self, entry: OutboxEntry, *, accepted: bool) -> None:
        """The broker took (or refused) an outbox entry: it leaves the queue either way."""
        with self.transaction() as db:
            gone = db.execute("DELETE FROM outbox WHERE id = ?", (entry.id,)).rowcount
            if gone and entry.seq is not None:
                self._incr("published_batches" if accepted else "rejected_batches", 1)

    def clear_collected(self) -> None:
        """Delete everything collected and what collectors remembered (consent withdrawn).

        Messages still to send (the withdrawal itself) stay. The file is compacted and its
        write-ahead log truncated so the deleted data does not linger on disk.
        """
        with self.transaction() as db:
            db.execute("DELETE FROM samples")
            db.execute("DELETE FROM events")
            db.execute("DELETE FROM outbox WHERE seq IS NOT NULL")
            db.execute("DELETE FROM seen")
            db.execute("DELETE FROM meta WHERE key LIKE 'collector.%'")
        self.db.execute("VACUUM")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # --- offers shown on the device

    def save_offer(self, offer_id: str, body: bytes) -> bool:
        """Keep an offer; False when it was known already (a re-delivery)."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO offers (offer_id, body, received_ms) VALUES (?, ?, ?)",
            (offer_id, body, _now_ms()),
        )
        return cursor.rowcount == 1

    def offers(self) -> list[tuple[str, bytes, int, str | None]]:
        return self.db.execute(
            "SELECT offer_id, body, received_ms, answer FROM offers ORDER BY received_ms"
        ).fetchall()

    def answer_offer(self, offer_id: str, answer: str) -> bool:
        cursor = self.db.execute(
            "UPDATE offers SET answer = ?, answered_ms = ? WHERE offer_id = ?",
            (answer, _now_ms(), offer_id),
        )
        return cursor.rowcount == 1

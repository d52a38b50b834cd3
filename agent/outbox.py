"""The agent's outbox: a buffer of bytes ready to send, in the shape add / batch / accept / reject.

Rows (one encoded sample or event each) are added under their wire channel, before any
network work. `batch` turns the oldest or newest rows of a channel into one batch inside
a transaction that takes the device's next sequence number (shared by telemetry and
events), stores the finished payload and deletes the rows: rows are either queued or in
a batch, never both or neither. The payload is built around the stored bytes as they are
(`msgspec.Raw`): a row is encoded once, when it is added. A batch leaves only when the
broker acknowledges it (`accept`) or refuses it (`reject`); after a crash the same payload
with the same sequence number is sent again and the server stores it once.

The buffer keeps to a byte budget: when over, it drops the oldest gauge samples first,
then the oldest unsent telemetry batches, and events (crashes) last; drops are counted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import msgspec

from agent.store import Store, now_ms
from devicecare.contracts import Channel, EventBatch, TelemetryBatch, encode, limits

log = logging.getLogger(__name__)

BATCHED: Final = (Channel.TELEMETRY, Channel.EVENTS)
"""Channels whose rows travel in numbered batches; others go as single messages."""
_COUNTERS: Final = {
    Channel.TELEMETRY: ("enqueued_samples", "dropped_samples"),
    Channel.EVENTS: ("enqueued_events", "dropped_events"),
}
_DROP_ORDER: Final = (
    ("queue", Channel.TELEMETRY),
    ("outbox", Channel.TELEMETRY),
    ("queue", Channel.EVENTS),
    ("outbox", Channel.EVENTS),
)


@dataclass(frozen=True)
class Row:
    """One sample or event, encoded; `key` marks a crash report as reported (see `add`)."""

    channel: Channel
    ts: int
    body: bytes
    key: str | None = None


@dataclass(frozen=True)
class OutboxEntry:
    """A batch (with its sequence number) or a single message, ready to publish."""

    id: int
    channel: Channel
    seq: int | None
    rows: int
    payload: bytes


class Outbox:
    def __init__(self, store: Store, device_id: str) -> None:
        self.store = store
        self.db = store.db
        self.device_id = device_id

    # --- add

    def add(self, rows: Iterable[Row]) -> bool:
        """Queue rows in one transaction; False (nothing queued) without telemetry consent.

        Consent is checked inside the transaction, so a withdrawal in another process
        cannot race with a collection. A row's `key` is remembered in the same
        transaction, so a crash is reported once across restarts.
        """
        now = now_ms()
        with self.store.transaction() as db:
            if not self.store.telemetry_consented():
                return False
            for row in rows:
                if row.channel not in BATCHED:
                    raise ValueError(f"{row.channel} is not a batched channel")
                db.execute(
                    "INSERT INTO queue (channel, ts, body) VALUES (?, ?, ?)",
                    (row.channel, row.ts, row.body),
                )
                if row.key is not None:
                    db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (row.key, now))
                self.store.incr(_COUNTERS[row.channel][0], 1)
            self._enforce_budget()
        return True

    def add_message(self, channel: Channel, payload: bytes) -> None:
        """Queue a single message (consent update, offer answer) for the next connection."""
        self.db.execute(
            "INSERT INTO outbox (channel, seq, rows, payload, created_ms)"
            " VALUES (?, NULL, 1, ?, ?)",
            (channel, payload, now_ms()),
        )

    # --- batch

    def batch(self, channel: Channel, limit: int, *, newest: bool) -> OutboxEntry | None:
        """Move up to `limit` rows of `channel` (the newest, or the oldest) into one batch.

        Rows go in time order. A payload above the wire limit is formed again from half
        the rows; None when nothing is queued (or a single row exceeds the limit).
        """
        order = "DESC" if newest else "ASC"
        with self.store.transaction() as db:
            rows = db.execute(
                f"SELECT id, body FROM queue WHERE channel = ? ORDER BY id {order} LIMIT ?",  # noqa: S608 - fixed words
                (channel, limit),
            ).fetchall()
            rows.sort()
            seq = int(self.store.get("next_seq") or 0)
            payload = b""
            while rows:
                payload = self._payload(channel, seq, [body for _, body in rows])
                if len(payload) <= limits.MAX_WIRE_BYTES:
                    break
                half = len(rows) // 2
                rows = rows[len(rows) - half :] if newest else rows[:half]
                if not rows:
                    log.error("a single %s row exceeds the wire limit; it stays queued", channel)
            if not rows:
                return None
            cursor = db.execute(
                "INSERT INTO outbox (channel, seq, rows, payload, created_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                (channel, seq, len(rows), payload, now_ms()),
            )
            db.executemany("DELETE FROM queue WHERE id = ?", ((i,) for i, _ in rows))
            self.store.set("next_seq", str(seq + 1))
            assert cursor.lastrowid is not None
            return OutboxEntry(cursor.lastrowid, channel, seq, len(rows), payload)

    def _payload(self, channel: Channel, seq: int, bodies: list[bytes]) -> bytes:
        raw = [msgspec.Raw(body) for body in bodies]
        head = {"v": 1, "device_id": self.device_id, "seq": seq, "sent_at": now_ms()}
        message = (
            TelemetryBatch(**head, samples=raw)  # type: ignore[arg-type]
            if channel is Channel.TELEMETRY
            else EventBatch(**head, events=raw)  # type: ignore[arg-type]
        )
        return encode(message)

    # --- what is waiting

    def pending(self) -> list[OutboxEntry]:
        """Batches and messages awaiting an acknowledgement, oldest first."""
        return [
            OutboxEntry(id_, Channel(channel), seq, rows, payload)
            for id_, channel, seq, rows, payload in self.db.execute(
                "SELECT id, channel, seq, rows, payload FROM outbox ORDER BY id"
            )
        ]

    def unsent(self) -> tuple[int, int]:
        """(batches, single messages) awaiting acknowledgement, without reading payloads."""
        batches, messages = self.db.execute(
            "SELECT count(seq), count(*) - count(seq) FROM outbox"
        ).fetchone()
        return int(batches), int(messages)

    def queued(self, channel: Channel) -> int:
        """Rows of `channel` not yet in a batch."""
        (count,) = self.db.execute(
            "SELECT count(*) FROM queue WHERE channel = ?", (channel,)
        ).fetchone()
        return int(count)

    def queued_rows(self, channel: Channel) -> int:
        """Rows of `channel` not yet acknowledged: queued, or in a batch awaiting its PUBACK."""
        (in_batches,) = self.db.execute(
            "SELECT coalesce(sum(rows), 0) FROM outbox WHERE channel = ?", (channel,)
        ).fetchone()
        return self.queued(channel) + int(in_batches)

    def size_bytes(self) -> int:
        (total,) = self.db.execute(
            "SELECT (SELECT coalesce(sum(length(body)), 0) FROM queue)"
            " + (SELECT coalesce(sum(length(payload)), 0) FROM outbox)"
        ).fetchone()
        return int(total)

    # --- accept / reject

    def accept(self, entry: OutboxEntry) -> None:
        """The broker took the entry: it leaves the buffer."""
        self._remove(entry, "published_batches")

    def reject(self, entry: OutboxEntry) -> None:
        """The broker refused the entry: it leaves the buffer too (sending it again would
        only be refused again), counted apart."""
        self._remove(entry, "rejected_batches")

    def _remove(self, entry: OutboxEntry, counter: str) -> None:
        with self.store.transaction() as db:
            gone = db.execute("DELETE FROM outbox WHERE id = ?", (entry.id,)).rowcount
            if gone and entry.seq is not None:
                self.store.incr(counter, 1)

    def clear(self) -> None:
        """Delete every queued row and unsent batch (consent withdrawn); messages stay."""
        with self.store.transaction() as db:
            db.execute("DELETE FROM queue")
            db.execute("DELETE FROM outbox WHERE seq IS NOT NULL")

    def _enforce_budget(self) -> None:
        excess = self.size_bytes() - self.store.budget_bytes
        for table, channel in _DROP_ORDER:
            if excess <= 0:
                return
            query = (
                "SELECT id, length(body), 1 FROM queue WHERE channel = ? ORDER BY id"
                if table == "queue"
                else "SELECT id, length(payload), rows FROM outbox WHERE channel = ? ORDER BY id"
            )
            victims, dropped = [], 0
            for row_id, size, rows in self.db.execute(query, (channel,)):
                victims.append((row_id,))
                dropped += rows
                excess -= size
                if excess <= 0:
                    break
            self.db.executemany(f"DELETE FROM {table} WHERE id = ?", victims)  # noqa: S608 - fixed names
            self.store.incr(_COUNTERS[channel][1], dropped)

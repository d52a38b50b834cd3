"""The agent's durable memory: one SQLite file in WAL mode.

The file holds the queue and outbox (used through `agent.outbox.Outbox`), consent, the
remote config, counters, collector memory, crash keys already reported and the offers
received. The schema carries a version (`PRAGMA user_version`); a file written by an
earlier agent is migrated when it is opened, in one transaction, so an update loses
nothing that was queued.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from devicecare.contracts import Channel

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL, ts INTEGER NOT NULL, body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS queue_by_channel ON queue (channel, id);
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL, seq INTEGER UNIQUE, rows INTEGER NOT NULL,
    payload BLOB NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, seen_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS offers (offer_id TEXT PRIMARY KEY, body BLOB NOT NULL,
    received_ms INTEGER NOT NULL, answer TEXT, answered_ms INTEGER);
"""

LEGACY_QUEUES = {"samples": Channel.TELEMETRY, "events": Channel.EVENTS}
"""Version 0 kept one table per kind of row; version 1 keeps one queue with the channel."""

CONSENT_KEY = "consent"
"""Meta key of the owner's consent (JSON per purpose); see agent.consent."""
COUNTERS = (
    "enqueued_samples",
    "enqueued_events",
    "dropped_samples",
    "dropped_events",
    "published_batches",
    "rejected_batches",
)


def now_ms() -> int:
    return int(time.time() * 1000)


class Store:
    def __init__(self, path: Path, budget_bytes: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.budget_bytes = budget_bytes
        self.db = sqlite3.connect(path, isolation_level=None, timeout=10)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self._migrate()
        path.chmod(0o600)

    def _migrate(self) -> None:
        """Bring the file to `SCHEMA_VERSION`: version 0's `samples` and `events` tables
        move into the one queue, in their order, their channel named."""
        with self.transaction() as db:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            if version >= SCHEMA_VERSION:
                return
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
            for table, channel in LEGACY_QUEUES.items():
                if table in tables:
                    db.execute(
                        f"INSERT INTO queue (channel, ts, body)"  # noqa: S608 - fixed names
                        f" SELECT ?, ts, body FROM {table} ORDER BY id",
                        (channel.value,),
                    )
                    db.execute(f"DROP TABLE {table}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; nested use joins the outer one."""
        if self.db.in_transaction:
            yield self.db
            return
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

    def incr(self, key: str, by: int) -> None:
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

    def telemetry_consented(self) -> bool:
        """The owner's telemetry consent as stored now (read inside a caller's transaction
        so that a withdrawal in another process cannot race with a collection)."""
        consent = self.get(CONSENT_KEY)
        return consent is not None and bool(json.loads(consent).get("telemetry"))

    # --- crash de-duplication

    def seen(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM seen WHERE key = ?", (key,)).fetchone() is not None

    def remember(self, keys: Iterable[str]) -> None:
        now = now_ms()
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?)", ((key, now) for key in keys))

    def forget_collected(self) -> None:
        """Forget what the collectors remembered (consent withdrawn): crash keys, state."""
        with self.transaction() as db:
            db.execute("DELETE FROM seen")
            db.execute("DELETE FROM meta WHERE key LIKE 'collector.%'")

    def compact(self) -> None:
        """Rewrite the file and truncate its write-ahead log, so deleted data does not
        linger on disk."""
        self.db.execute("VACUUM")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # --- offers shown on the device

    def save_offer(self, offer_id: str, body: bytes) -> bool:
        """Keep an offer; False when it was known already (a re-delivery)."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO offers (offer_id, body, received_ms) VALUES (?, ?, ?)",
            (offer_id, body, now_ms()),
        )
        return cursor.rowcount == 1

    def offers(self) -> list[tuple[str, bytes, int, str | None]]:
        return self.db.execute(
            "SELECT offer_id, body, received_ms, answer FROM offers ORDER BY received_ms"
        ).fetchall()

    def answer_offer(self, offer_id: str, answer: str) -> bool:
        cursor = self.db.execute(
            "UPDATE offers SET answer = ?, answered_ms = ? WHERE offer_id = ?",
            (answer, now_ms(), offer_id),
        )
        return cursor.rowcount == 1

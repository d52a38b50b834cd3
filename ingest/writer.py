"""Writing one flush to TimescaleDB in one transaction, exactly once per batch.

The batch keys of a flush are copied into a temporary table and inserted into `batches`
with ON CONFLICT DO NOTHING RETURNING: one round trip tells which batches are new, and
only their rows are copied (binary COPY) into the hypertables. A batch re-sent by a
device, or delivered twice by the broker, is thus stored once without a per-row check,
also when two ingest workers race (the second waits on the first's key and skips it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
import psycopg
from psycopg.types.json import Jsonb, set_json_dumps

from devicecare.contracts import EventBatch, TelemetryBatch
from ingest.intake import DeadLetter, Flush

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOTIFY_CHANNEL = "devicecare_ingest"

_TEMP = """
CREATE TEMP TABLE IF NOT EXISTS incoming_batches (
    device_id text NOT NULL, seq bigint NOT NULL, channel text NOT NULL,
    sent_at timestamptz NOT NULL, rows integer NOT NULL,
    first_ts timestamptz NOT NULL, last_ts timestamptz NOT NULL
) ON COMMIT DELETE ROWS
"""
_BATCH_COLUMNS = "device_id, seq, channel, sent_at, rows, first_ts, last_ts"
_BATCH_TYPES = ["text", "int8", "text", "timestamptz", "int4", "timestamptz", "timestamptz"]
_EVENT_COLUMNS = ["ts", "device_id", "seq", "kind", "process", "signature", "app_version", "detail"]


def at(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True)
class Written:
    samples: int = 0
    events: int = 0
    batches: int = 0
    duplicates: int = 0
    dead: int = 0


class Writer:
    """One connection; `write` is all or nothing, and raises psycopg errors to the caller."""

    def __init__(self, url: str, *, register_unknown: bool) -> None:
        self.url = url
        self.register_unknown = register_unknown
        self.conn: psycopg.Connection | None = None
        self.known: set[str] = set()
        self.sample_columns: list[str] = []
        self.sample_types: list[str] = []
        self.event_types: list[str] = []

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _connect(self) -> psycopg.Connection:
        if self.conn is not None and not self.conn.closed:
            return self.conn
        conn = psycopg.connect(self.url, connect_timeout=5)
        set_json_dumps(msgspec.json.encode, context=conn)
        conn.execute(_TEMP)
        self.sample_columns, self.sample_types = self._columns(conn, "samples")
        columns, self.event_types = self._columns(conn, "events")
        if columns != _EVENT_COLUMNS:
            raise RuntimeError(f"events table has columns {columns}, expected {_EVENT_COLUMNS}")
        conn.commit()
        self.conn = conn
        return conn

    @staticmethod
    def _columns(conn: psycopg.Connection, table: str) -> tuple[list[str], list[str]]:
        rows = conn.execute(
            "SELECT column_name, udt_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s"
            " ORDER BY ordinal_position",
            (table,),
        ).fetchall()
        return [r[0] for r in rows], [r[1] for r in rows]

    def write(self, flush: Flush) -> Written:
        conn = self._connect()
        try:
            with conn.transaction():
                self._admit_devices(conn, flush)
                fresh = self._claim(conn, flush)
                stored = fresh - self._withdrawn(conn, flush, fresh)
                samples, events = self._copy_rows(conn, flush, stored)
                self._side_effects(conn, flush)
                self._dead_letters(conn, flush.dead)
                if fresh:
                    conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
        except psycopg.OperationalError:
            self.close()
            raise
        return Written(
            samples=samples,
            events=events,
            batches=len(fresh),
            duplicates=len(flush.batches) - len(fresh) + flush.repeats,
            dead=len(flush.dead),
        )

    def _admit_devices(self, conn: psycopg.Connection, flush: Flush) -> None:
        """Register devices seen for the first time, or dead-letter them (policy)."""
        unseen = sorted(flush.devices() - self.known)
        if not unseen:
            return
        if self.register_unknown:
            conn.execute(
                "INSERT INTO devices (device_id) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
                (unseen,),
            )
            self.known.update(unseen)
            return
        known = {
            r[0]
            for r in conn.execute(
                "SELECT device_id FROM devices WHERE device_id = ANY(%s)", (unseen,)
            )
        }
        self.known |= known
        flush.reject_devices(set(unseen) - known)

    @staticmethod
    def _withdrawn(
        conn: psycopg.Connection, flush: Flush, fresh: set[tuple[str, int]]
    ) -> set[tuple[str, int]]:
        """Telemetry batches of devices whose owner withdrew telemetry consent (through the
        API or the device): claimed, so a re-send is not stored later, but not stored."""
        keys = [k for k in fresh if isinstance(flush.batches[k][1], TelemetryBatch)]
        if not keys:
            return set()
        withdrawn = {
            r[0]
            for r in conn.execute(
                "SELECT device_id FROM devices WHERE device_id = ANY(%s)"
                " AND NOT consent_telemetry AND consent_changed_at IS NOT NULL",
                (sorted({d for d, _ in keys}),),
            )
        }
        return {k for k in keys if k[0] in withdrawn}

    def _claim(self, conn: psycopg.Connection, flush: Flush) -> set[tuple[str, int]]:
        """Insert the flush's batch keys; return those not stored before."""
        if not flush.batches:
            return set()
        with conn.cursor() as cur:
            with cur.copy(
                f"COPY incoming_batches ({_BATCH_COLUMNS}) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(_BATCH_TYPES)
                for (device_id, seq), (_, batch) in flush.batches.items():
                    if isinstance(batch, TelemetryBatch):
                        channel, stamps = "telemetry", [s.ts for s in batch.samples]
                    else:
                        channel, stamps = "events", [e.ts for e in batch.events]
                    copy.write_row(
                        (
                            device_id,
                            seq,
                            channel,
                            at(batch.sent_at),
                            len(stamps),
                            at(min(stamps)),
                            at(max(stamps)),
                        )
                    )
            cur.execute(
                f"INSERT INTO batches ({_BATCH_COLUMNS}) SELECT {_BATCH_COLUMNS}"  # noqa: S608
                " FROM incoming_batches ON CONFLICT (device_id, seq) DO NOTHING"
                " RETURNING device_id, seq"
            )
            return {(r[0], r[1]) for r in cur.fetchall()}

    def _copy_rows(
        self, conn: psycopg.Connection, flush: Flush, fresh: set[tuple[str, int]]
    ) -> tuple[int, int]:
        samples = events = 0
        telemetry = [
            b for k, (_, b) in flush.batches.items() if k in fresh and isinstance(b, TelemetryBatch)
        ]
        if telemetry:
            columns = ", ".join(self.sample_columns)
            astuple = msgspec.structs.astuple
            with conn.cursor().copy(f"COPY samples ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(self.sample_types)
                write = copy.write_row
                for batch in telemetry:
                    device_id, seq = batch.device_id, batch.seq
                    for sample in batch.samples:
                        values = astuple(sample)
                        detail = values[-1]
                        write(
                            (
                                at(values[0]),
                                device_id,
                                seq,
                                *values[1:-1],
                                None if detail is None else Jsonb(detail),
                            )
                        )
                    samples += len(batch.samples)
        crashes = [
            b for k, (_, b) in flush.batches.items() if k in fresh and isinstance(b, EventBatch)
        ]
        if crashes:
            columns = ", ".join(_EVENT_COLUMNS)
            with conn.cursor().copy(f"COPY events ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(self.event_types)
                for batch in crashes:
                    for e in batch.events:
                        copy.write_row(
                            (
                                at(e.ts),
                                batch.device_id,
                                batch.seq,
                                e.kind.value,
                                e.process,
                                e.signature,
                                e.app_version,
                                None if e.detail is None else Jsonb(e.detail),
                            )
                        )
                    events += len(batch.events)
        return samples, events

    def _side_effects(self, conn: psycopg.Connection, flush: Flush) -> None:
        """Last seen, status, consent and offer answers: set-based, one statement each."""
        seen: dict[str, datetime] = {}
        for (device_id, _), (_, batch) in flush.batches.items():
            seen[device_id] = max(seen.get(device_id, EPOCH), at(batch.sent_at))
        if seen:
            conn.execute(
                "UPDATE devices d SET last_seen_at = greatest(d.last_seen_at, s.at)"
                " FROM unnest(%s::text[], %s::timestamptz[]) AS s(device_id, at)"
                " WHERE d.device_id = s.device_id",
                (list(seen), list(seen.values())),
            )
        with conn.cursor() as cur:
            if flush.statuses:
                cur.executemany(
                    "UPDATE devices SET status = %(state)s, status_at = %(at)s,"
                    " agent_version = coalesce(%(version)s, agent_version),"
                    " model = coalesce(%(model)s, model),"
                    " os_name = coalesce(%(os_name)s, os_name),"
                    " os_version = coalesce(%(os_version)s, os_version),"
                    " status_detail = %(detail)s,"
                    " last_seen_at = greatest(last_seen_at, %(at)s)"
                    " WHERE device_id = %(device_id)s"
                    " AND (status_at IS NULL OR status_at <= %(at)s)",
                    [
                        {
                            "state": s.state.value,
                            "at": at(s.ts) if s.ts else datetime.now(UTC),
                            "version": s.agent_version,
                            "model": s.model,
                            "os_name": s.os_name,
                            "os_version": s.os_version,
                            "detail": Jsonb(s),
                            "device_id": s.device_id,
                        }
                        for _, s in flush.statuses
                    ],
                )
            if flush.consents:
                cur.executemany(
                    "WITH changed AS (UPDATE devices SET consent_telemetry = %(telemetry)s,"
                    " consent_care_offers = %(care_offers)s, consent_email = %(email)s,"
                    " consent_changed_at = %(at)s WHERE device_id = %(device_id)s"
                    " AND (consent_changed_at IS NULL OR consent_changed_at <= %(at)s)"
                    " RETURNING device_id, customer_id)"
                    " INSERT INTO interactions (ts, customer_id, device_id, touchpoint, kind,"
                    " actor, summary, detail)"
                    " SELECT %(at)s, customer_id, device_id, 'device_app', 'consent_changed',"
                    " 'owner', %(summary)s, %(detail)s FROM changed",
                    [
                        {
                            "telemetry": c.telemetry,
                            "care_offers": c.care_offers,
                            "email": c.email,
                            "at": at(c.ts),
                            "device_id": c.device_id,
                            "summary": _consent_summary(c.telemetry, c.care_offers, c.email),
                            "detail": Jsonb(c),
                        }
                        for _, c in flush.consents
                    ],
                )
            if flush.responses:
                cur.executemany(
                    "INSERT INTO offer_responses"
                    " (device_id, offer_id, answer, answered_at, comment)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    [
                        (r.device_id, r.offer_id, r.answer.value, at(r.ts), r.comment)
                        for _, r in flush.responses
                    ],
                )

    @staticmethod
    def _dead_letters(conn: psycopg.Connection, dead: list[DeadLetter]) -> None:
        if not dead:
            return
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO dead_letters (topic, device_id, reason, detail, payload_size,"
                " payload_head) VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (d.topic, d.device_id, d.reason, d.detail, d.payload_size, d.payload_head)
                    for d in dead
                ],
            )


def _consent_summary(telemetry: bool, care_offers: bool, email: bool) -> str:
    granted = [
        n
        for n, on in (("telemetry", telemetry), ("care offers", care_offers), ("e-mail", email))
        if on
    ]
    return "consent: " + (", ".join(granted) if granted else "withdrawn from everything")

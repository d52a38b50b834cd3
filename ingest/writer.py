"""Writing one flush to TimescaleDB in one transaction, exactly once per batch.

The batch keys of a flush are copied into a temporary table and inserted into `batches`
with ON CONFLICT DO NOTHING RETURNING: one round trip tells which batches are new, and
only their rows are copied (binary COPY) into the hypertables. A batch re-sent by a
device, or delivered twice by the broker, is thus stored once without a per-row check,
also when two ingest workers race (the second waits on the first's key and skips it).
A batch whose key was stored before with another content digest is not a repeat but a
conflict: the first stays, the later one becomes a `seq_conflict` dead letter.
"""

from __future__ import annotations

import logging
from dataclasses import astuple, dataclass, replace
from datetime import UTC, datetime

import msgspec
import psycopg
from psycopg.types.json import Jsonb, set_json_dumps

from devicecare.contracts import EventBatch, TelemetryBatch
from devicecare.contracts.vocabulary import NotifyChannel
from devicecare.timeconv import EPOCH, from_ms
from ingest.intake import SEQ_CONFLICT, DeadLetter, Flush, conflict

log = logging.getLogger(__name__)


_TEMP = """
CREATE TEMP TABLE IF NOT EXISTS incoming_batches (
    device_id text NOT NULL, seq bigint NOT NULL, channel text NOT NULL,
    sent_at timestamptz NOT NULL, rows integer NOT NULL,
    first_ts timestamptz NOT NULL, last_ts timestamptz NOT NULL, digest bytea NOT NULL
) ON COMMIT DELETE ROWS
"""
_BATCH_COLUMNS = "device_id, seq, channel, sent_at, rows, first_ts, last_ts, digest"
_BATCH_TYPES = [
    "text",
    "int8",
    "text",
    "timestamptz",
    "int4",
    "timestamptz",
    "timestamptz",
    "bytea",
]
_EVENT_COLUMNS = ["ts", "device_id", "seq", "kind", "process", "signature", "app_version", "detail"]


@dataclass(frozen=True)
class Written:
    samples: int = 0
    events: int = 0
    batches: int = 0
    duplicates: int = 0
    dead: int = 0
    dropped_no_consent: int = 0
    """Telemetry and event messages of devices whose telemetry consent is withdrawn."""

    def __add__(self, other: Written) -> Written:
        return Written(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


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
                admitted = self._admit_devices(conn, flush)
                self._consents(conn, flush)
                kept, dropped = self._with_consent(conn, flush)
                fresh, conflicts, repeats = self._claim(conn, kept)
                samples, events = self._copy_rows(conn, kept, fresh)
                self._side_effects(conn, kept)
                self._dead_letters(conn, [*flush.dead, *conflicts])
                if fresh:
                    conn.execute(f"NOTIFY {NotifyChannel.INGEST}")
        except psycopg.OperationalError:
            self.close()
            raise
        self.known |= admitted
        flush.dead += conflicts
        return Written(
            samples=samples,
            events=events,
            batches=len(fresh),
            duplicates=repeats + kept.repeats,
            dead=len(flush.dead),
            dropped_no_consent=dropped,
        )

    def _admit_devices(self, conn: psycopg.Connection, flush: Flush) -> set[str]:
        """Register devices seen for the first time, or dead-letter them (policy).

        Returns the devices that the known-device cache may learn, but only once the
        transaction has committed: a rolled-back registration must be tried again.
        """
        unseen = sorted(flush.devices() - self.known)
        if not unseen:
            return set()
        if self.register_unknown:
            conn.execute(
                "INSERT INTO devices (device_id) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
                (unseen,),
            )
            return set(unseen)
        known = {
            r[0]
            for r in conn.execute(
                "SELECT device_id FROM devices WHERE device_id = ANY(%s)", (unseen,)
            )
        }
        flush.reject_devices(set(unseen) - known)
        return known

    @staticmethod
    def _with_consent(conn: psycopg.Connection, flush: Flush) -> tuple[Flush, int]:
        """The flush without the batches of devices whose telemetry consent is withdrawn.

        Withdrawn means an explicit `telemetry: false` is stored (`consent_changed_at`
        set): a device that never sent a consent message is not affected. Consent
        changes of this flush are already stored, so a withdrawal also drops the
        telemetry that arrived with it. The dropped messages are counted, not
        dead-lettered: they are not faulty, only not wanted.
        """
        devices = sorted({device_id for device_id, _ in flush.batches})
        if not devices:
            return flush, 0
        withdrawn = {
            r[0]
            for r in conn.execute(
                "SELECT device_id FROM devices WHERE device_id = ANY(%s)"
                " AND NOT consent_telemetry AND consent_changed_at IS NOT NULL",
                (devices,),
            )
        }
        if not withdrawn:
            return flush, 0
        batches = {k: v for k, v in flush.batches.items() if k[0] not in withdrawn}
        dropped = sum(
            1 + len(flush.variants.get(k, [])) for k in flush.batches if k[0] in withdrawn
        )
        variants = {k: v for k, v in flush.variants.items() if k in batches}
        return replace(flush, batches=batches, variants=variants), dropped

    def _claim(
        self, conn: psycopg.Connection, flush: Flush
    ) -> tuple[set[tuple[str, int]], list[DeadLetter], int]:
        """Insert the flush's batch keys; return those not stored before, and the conflicts.

        Every message of a batch is compared with the content stored for its key (by
        this flush or before): equal is a repeat, different a conflict. Batches stored
        before digests existed (NULL) conflict with nothing. The count returned is that
        of the repeats, the flush's own (`flush.repeats`) aside.
        """
        if not flush.batches:
            return set(), [], 0
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
                            from_ms(batch.sent_at),
                            len(stamps),
                            from_ms(min(stamps)),
                            from_ms(max(stamps)),
                            flush.digests[device_id, seq],
                        )
                    )
            cur.execute(
                f"INSERT INTO batches ({_BATCH_COLUMNS}) SELECT {_BATCH_COLUMNS}"  # noqa: S608
                " FROM incoming_batches ON CONFLICT (device_id, seq) DO NOTHING"
                " RETURNING device_id, seq"
            )
            fresh = {(r[0], r[1]) for r in cur.fetchall()}
            stored: dict[tuple[str, int], bytes | None] = {k: flush.digests[k] for k in fresh}
            if len(fresh) < len(flush.batches):
                cur.execute(
                    "SELECT i.device_id, i.seq, b.digest FROM incoming_batches i"
                    " JOIN batches b USING (device_id, seq)"
                )
                stored = {(r[0], r[1]): r[2] for r in cur.fetchall()} | stored
        conflicts: list[DeadLetter] = []
        repeats = 0
        for key, (inbound, _) in flush.batches.items():
            for message, digest in [(inbound, flush.digests[key]), *flush.variants.get(key, [])]:
                kept = stored.get(key)
                if kept is None or kept == digest:
                    repeats += message is not inbound or key not in fresh
                else:
                    conflicts.append(DeadLetter.of(message, SEQ_CONFLICT, conflict(key), key[0]))
        return fresh, conflicts, repeats

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
                                from_ms(values[0]),
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
                                from_ms(e.ts),
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
        """Last seen, status and offer answers: set-based, one statement each."""
        seen: dict[str, datetime] = {}
        for (device_id, _), (_, batch) in flush.batches.items():
            seen[device_id] = max(seen.get(device_id, EPOCH), from_ms(batch.sent_at))
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
                            "at": from_ms(s.ts) if s.ts else datetime.now(UTC),
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
            if flush.responses:
                cur.executemany(
                    "INSERT INTO offer_responses"
                    " (device_id, offer_id, answer, answered_at, comment)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    [
                        (r.device_id, r.offer_id, r.answer.value, from_ms(r.ts), r.comment)
                        for _, r in flush.responses
                    ],
                )

    @staticmethod
    def _consents(conn: psycopg.Connection, flush: Flush) -> None:
        """Store consent changes first, so that a withdrawal applies to this flush too."""
        if not flush.consents:
            return
        with conn.cursor() as cur:
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
                        "at": from_ms(c.ts),
                        "device_id": c.device_id,
                        "summary": _consent_summary(c.telemetry, c.care_offers, c.email),
                        "detail": Jsonb(c),
                    }
                    for _, c in flush.consents
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

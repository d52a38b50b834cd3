"""What the detectors keep in TimescaleDB: findings, device health, checkpoints, leases.

Findings are written as they change, each change idempotent (opening a finding that is
already open updates it), because after a restart the batches since the last checkpoint
are processed again. Opening and resolving a finding also goes on the device's timeline
(`interactions`, touch point `system`). The notifier wakes on the findings rows
themselves: a trigger on `findings` (migration 0005) sends `NotifyChannel.NOTIFIER` when
the transaction commits, whoever wrote them. A checkpoint is a partition's device
states, pickled and compressed, with the feed position they reflect; the lease says which
worker owns the partition. Verdicts on findings (`finding_feedback`) are read back
with the device's cohort, for the detectors to learn from.
"""

from __future__ import annotations

import io
import math
import pickle
import zlib

import psycopg
from psycopg.types.json import Jsonb

from detectors.live.cohorts import Cohorts
from detectors.live.device import DeviceState
from detectors.live.findings import Change
from detectors.live.verdicts import Verdict
from devicecare.contracts.vocabulary import FeedbackVerdict, TouchPoint
from devicecare.timeconv import from_seconds

_OPEN = """
INSERT INTO findings (device_id, fault_kind, status, severity, confidence, onset_at,
                      detected_at, updated_at, detector, reason, evidence)
VALUES (%(device_id)s, %(kind)s, 'open', %(severity)s, %(confidence)s, %(onset_at)s,
        %(detected_at)s, %(updated_at)s, %(detector)s, %(reason)s, %(evidence)s)
ON CONFLICT (device_id, fault_kind) WHERE status = 'open' DO UPDATE SET
    severity = excluded.severity, confidence = excluded.confidence,
    updated_at = excluded.updated_at, reason = excluded.reason, evidence = excluded.evidence
RETURNING finding_id, (xmax = 0) AS inserted
"""
_UPDATE = """
UPDATE findings SET severity = %(severity)s, confidence = %(confidence)s,
    updated_at = %(updated_at)s, reason = %(reason)s, evidence = %(evidence)s
WHERE device_id = %(device_id)s AND fault_kind = %(kind)s AND status = 'open'
RETURNING finding_id, false
"""
_RESOLVE = """
UPDATE findings SET status = 'resolved', resolved_at = %(resolved_at)s,
    updated_at = %(updated_at)s
WHERE device_id = %(device_id)s AND fault_kind = %(kind)s AND status = 'open'
RETURNING finding_id, true
"""
_TIMELINE = """
INSERT INTO interactions (ts, customer_id, device_id, touchpoint, kind, finding_id, actor,
                          summary, detail)
SELECT %(ts)s, customer_id, device_id, %(touchpoint)s, %(what)s, %(finding_id)s, 'detectors',
       %(summary)s, %(detail)s
FROM devices WHERE device_id = %(device_id)s
"""


def write_changes(conn: psycopg.Connection, changes: list[Change]) -> int:
    """Write finding changes (in the caller's transaction); returns findings opened."""
    opened = 0
    for change in changes:
        f = change.finding
        params = {
            "device_id": f.device_id,
            "kind": f.kind,
            "severity": f.severity.value,
            "confidence": f.confidence,
            "onset_at": from_seconds(f.onset_at),
            "detected_at": from_seconds(f.detected_at),
            "updated_at": from_seconds(f.updated_at),
            "resolved_at": from_seconds(f.resolved_at),
            "detector": f.detector,
            "reason": f.reason,
            "evidence": Jsonb(f.evidence),
        }
        query = {"opened": _OPEN, "updated": _UPDATE, "resolved": _RESOLVE}[change.what]
        row = conn.execute(query, params).fetchone()
        if row is None or not row[1]:
            continue
        opened += change.what == "opened"
        conn.execute(
            _TIMELINE,
            {
                "ts": from_seconds(f.resolved_at if change.what == "resolved" else f.detected_at),
                "touchpoint": TouchPoint.SYSTEM,
                "what": f"finding_{change.what}",
                "finding_id": row[0],
                "summary": f.reason if change.what == "opened" else f"{f.kind} cleared",
                "detail": Jsonb({"fault_kind": f.kind, "severity": f.severity.value}),
                "device_id": f.device_id,
            },
        )
    return opened


_VERDICTS = """
SELECT v.feedback_id, extract(epoch FROM v.ts)::float8, v.device_id, v.fault_kind, v.detector,
       v.verdict, d.model, d.os_version, extract(epoch FROM f.detected_at)::float8
FROM finding_feedback v
LEFT JOIN devices d ON d.device_id = v.device_id
LEFT JOIN findings f ON f.finding_id = v.finding_id
"""
_VERDICTS_SINCE = _VERDICTS + "WHERE v.feedback_id > %s ORDER BY v.feedback_id"


def verdicts_since(conn: psycopg.Connection, since: int) -> list[Verdict]:
    """Verdicts with ids above `since`, oldest first."""
    return _verdicts(conn.execute(_VERDICTS_SINCE, (since,)).fetchall())


def _verdicts(rows: list[tuple]) -> list[Verdict]:
    return [
        Verdict(
            feedback_id=r[0],
            ts=r[1],
            device_id=r[2],
            kind=r[3],
            detector=r[4],
            verdict=FeedbackVerdict(r[5]),
            cohort=Cohorts.key(r[6], r[7]),
            detected_at=math.nan if r[8] is None else r[8],
        )
        for r in rows
    ]


def write_health(conn: psycopg.Connection, states: list[DeviceState]) -> None:
    rows = [
        (s.device_id, from_seconds(s.last_ts), Jsonb(s.figures()), sorted(s.open_findings()))
        for s in states
        if s.last_ts > 0
    ]
    if not rows:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO device_health (device_id, data_at, figures, open_findings)"
            " SELECT %s, %s, %s, %s WHERE EXISTS (SELECT 1 FROM devices WHERE device_id = %s)"
            " ON CONFLICT (device_id) DO UPDATE SET data_at = excluded.data_at,"
            " updated_at = now(), figures = excluded.figures,"
            " open_findings = excluded.open_findings",
            [(*row, row[0]) for row in rows],
        )


def claim(
    conn: psycopg.Connection, profile: str, wanted: list[int], owner: str, lease_s: float
) -> list[int]:
    """Take or renew the lease of each wanted partition that nobody else holds."""
    conn.execute(
        "INSERT INTO detector_checkpoints (profile, partition, state)"
        " SELECT %s, p, ''::bytea FROM unnest(%s::int[]) AS p ON CONFLICT DO NOTHING",
        (profile, wanted),
    )
    rows = conn.execute(
        "UPDATE detector_checkpoints SET owner = %(owner)s,"
        " lease_until = now() + make_interval(secs => %(lease)s)"
        " WHERE profile = %(profile)s AND partition = ANY(%(wanted)s)"
        " AND (owner IS NULL OR owner = %(owner)s OR lease_until < now())"
        " RETURNING partition",
        {"owner": owner, "lease": lease_s, "profile": profile, "wanted": wanted},
    ).fetchall()
    return sorted(r[0] for r in rows)


def release(conn: psycopg.Connection, profile: str, partitions: list[int], owner: str) -> None:
    conn.execute(
        "UPDATE detector_checkpoints SET owner = NULL, lease_until = NULL"
        " WHERE profile = %s AND partition = ANY(%s) AND owner = %s",
        (profile, partitions, owner),
    )


def load(
    conn: psycopg.Connection, profile: str, partition: int
) -> tuple[dict[str, DeviceState], int | None]:
    row = conn.execute(
        "SELECT state, position::text::bigint FROM detector_checkpoints"
        " WHERE profile = %s AND partition = %s",
        (profile, partition),
    ).fetchone()
    if row is None or not row[0]:
        return {}, None
    return loads(row[0]), row[1]


def loads(blob: bytes) -> dict[str, DeviceState]:
    """A checkpoint's device states; one written by an older version loads too."""
    return _Unpickler(io.BytesIO(zlib.decompress(blob))).load()


class Retired:
    """Stands in, when a checkpoint is loaded, for a detector class that no longer
    exists (a rule replaced since the checkpoint was written); the state that holds it
    is of an older version and drops its rules (`DeviceState.__setstate__`)."""

    def __setstate__(self, state: object) -> None:
        self.state = state


class _Unpickler(pickle.Unpickler):
    """Our own checkpoints, where a retired detector class loads as `Retired`."""

    def find_class(self, module: str, name: str) -> type:
        try:
            return super().find_class(module, name)
        except AttributeError:
            if module.startswith("detectors."):
                return Retired
            raise


def save(
    conn: psycopg.Connection,
    *,
    profile: str,
    partition: int,
    owner: str,
    states: dict[str, DeviceState],
    position: int,
    lease_s: float,
) -> bool:
    """Store a partition's checkpoint; False when the lease was lost to another worker."""
    blob = zlib.compress(pickle.dumps(states, protocol=pickle.HIGHEST_PROTOCOL), 1)
    watermark = max((s.last_ts for s in states.values()), default=0.0)
    row = conn.execute(
        "UPDATE detector_checkpoints SET state = %(state)s, position = %(position)s::text::xid8,"
        " devices = %(devices)s, watermark = %(watermark)s, updated_at = now(),"
        " lease_until = now() + make_interval(secs => %(lease)s)"
        " WHERE profile = %(profile)s AND partition = %(partition)s AND owner = %(owner)s"
        " RETURNING partition",
        {
            "state": blob,
            "position": position,
            "devices": len(states),
            "watermark": from_seconds(watermark) if watermark > 0 else None,
            "lease": lease_s,
            "profile": profile,
            "partition": partition,
            "owner": owner,
        },
    ).fetchone()
    return row is not None

"""The detectors' live feed: validated, de-duplicated rows from TimescaleDB.

Ingest records every stored batch in `batches` with the id of the transaction that stored
it (`xid`). A read takes the batches with `position <= xid < horizon`, where the horizon
is the oldest transaction still running: everything below it has committed (or rolled
back) for good, so no batch can appear there later, which an ever-increasing id alone
would not promise when ingest workers commit out of order. The rows of those batches
are then fetched by (device, seq) and time range, grouped per device into blocks.
Batches of a device whose telemetry consent is withdrawn (an explicit `telemetry: false`
stored, as ingest reads it) are left out at read time (also
those stored before the withdrawal), so the detectors neither learn from its data nor
open or resolve its findings; the position still moves past them.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import psycopg

from detectors.block import METRICS, Block, EventRow

_BOOLEAN = {"battery_charging", "thermal_throttled"}
SAMPLE_COLUMNS = ", ".join(
    f"coalesce(s.{m}::int::float8, 'NaN')" if m in _BOOLEAN else f"coalesce(s.{m}::float8, 'NaN')"
    for m in METRICS
)

_BATCHES = """
SELECT b.device_id, b.seq, b.channel, b.xid::text::bigint, b.first_ts, b.last_ts
FROM batches b
WHERE b.xid >= %(lo)s::text::xid8 AND b.xid < %(hi)s::text::xid8
  AND device_partition(b.device_id, %(partitions)s) = ANY(%(owned)s)
  AND NOT EXISTS (SELECT 1 FROM devices d
                  WHERE d.device_id = b.device_id AND NOT d.consent_telemetry
                    AND d.consent_changed_at IS NOT NULL)
ORDER BY b.xid, b.ingest_id
LIMIT %(limit)s
"""
_SAMPLES = f"""
SELECT s.device_id, extract(epoch FROM s.ts)::float8, {SAMPLE_COLUMNS}
FROM unnest(%(devices)s::text[], %(seqs)s::bigint[], %(firsts)s::timestamptz[],
            %(lasts)s::timestamptz[]) AS k(device_id, seq, first_ts, last_ts)
JOIN samples s ON s.device_id = k.device_id AND s.seq = k.seq
              AND s.ts BETWEEN k.first_ts AND k.last_ts
ORDER BY s.device_id, s.ts
"""  # noqa: S608 - the columns are the contract's metric names
_EVENTS = """
SELECT e.device_id, extract(epoch FROM e.ts)::float8, e.kind, e.process, e.signature,
       e.app_version, e.detail->>'reason'
FROM unnest(%(devices)s::text[], %(seqs)s::bigint[], %(firsts)s::timestamptz[],
            %(lasts)s::timestamptz[]) AS k(device_id, seq, first_ts, last_ts)
JOIN events e ON e.device_id = k.device_id AND e.seq = k.seq
             AND e.ts BETWEEN k.first_ts AND k.last_ts
ORDER BY e.device_id, e.ts
"""


def partition_of(device_id: str, partitions: int) -> int:
    """The same as SQL `device_partition(device_id, partitions)`."""
    return int(hashlib.md5(device_id.encode()).hexdigest()[:7], 16) % partitions  # noqa: S324


@dataclass
class Read:
    """One read of the feed: blocks per device, and how far the read got."""

    blocks: dict[str, Block] = field(default_factory=dict)
    batches: int = 0
    samples: int = 0
    next_position: int = 0
    complete: bool = True
    """False when the read stopped at its batch limit and more is waiting."""


def horizon(conn: psycopg.Connection) -> int:
    """The oldest transaction id still running: batches below it are final."""
    row = conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").fetchone()
    assert row is not None
    return int(row[0])


def read(
    conn: psycopg.Connection,
    *,
    position: int,
    until: int,
    partitions: int,
    owned: list[int],
    limit: int = 5000,
    skip: dict[int, int] | None = None,
) -> Read:
    """Batches with `position <= xid < until` of the owned partitions, as blocks.

    A read ends at a transaction boundary: when `limit` batches are reached, the last
    transaction's batches are left for the next read (unless it is the only one).
    `skip` maps a partition to a position its checkpoint is already past.
    """
    rows = conn.execute(
        _BATCHES,
        {
            "lo": position,
            "hi": until,
            "partitions": partitions,
            "owned": owned,
            "limit": limit,
        },
    ).fetchall()
    result = Read(next_position=until)
    if len(rows) == limit:
        last_xid = rows[-1][3]
        cut = [r for r in rows if r[3] != last_xid]
        if cut:
            rows = cut
        result.next_position = rows[-1][3] + 1
        result.complete = False
    if skip:
        rows = [r for r in rows if r[3] >= skip.get(partition_of(r[0], partitions), 0)]
    result.batches = len(rows)
    telemetry = [r for r in rows if r[2] == "telemetry"]
    events = [r for r in rows if r[2] == "events"]
    columns: dict[str, list[tuple]] = defaultdict(list)
    if telemetry:
        for row in conn.execute(_SAMPLES, _keys(telemetry), binary=True):
            columns[row[0]].append(row[1:])
    found: dict[str, list[EventRow]] = defaultdict(list)
    if events:
        for device_id, ts, kind, process, signature, version, reason in conn.execute(
            _EVENTS, _keys(events)
        ):
            found[device_id].append(EventRow(ts, kind, process, signature, version, reason))
    for device_id in columns.keys() | found.keys():
        data = columns.get(device_id)
        if data:
            matrix = np.array(data, dtype=np.float64)
            block = Block.from_columns(
                matrix[:, 0], {m: matrix[:, i + 1] for i, m in enumerate(METRICS)}
            )
            result.samples += len(block)
        else:
            block = Block.empty()
        block.events = found.get(device_id, [])
        result.blocks[device_id] = block
    return result


def _keys(rows: list[tuple]) -> dict[str, list]:
    return {
        "devices": [r[0] for r in rows],
        "seqs": [r[1] for r in rows],
        "firsts": [r[4] for r in rows],
        "lasts": [r[5] for r in rows],
    }

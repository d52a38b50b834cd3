"""Replaying one device's stored telemetry through the live detector code.

`devicecare detect replay --device ID --since ... --until ...` reads the device's samples
and events from TimescaleDB, hands them to a fresh `DeviceState` in blocks of
`block_hours` (as uploads would arrive), with the device's cohort taken from the
`device_health` figures of its peers, and returns the finding changes it would have
made. Nothing is written.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import psycopg

from detectors.block import METRICS, Block, EventRow
from detectors.live.cohorts import Cohorts
from detectors.live.device import DEVICE_PROFILES, DeviceState
from detectors.live.feed import SAMPLE_COLUMNS
from detectors.live.findings import Change
from devicecare.errors import DeviceCareError

HOUR = 3600.0

_SAMPLES = f"""
SELECT extract(epoch FROM s.ts)::float8, {SAMPLE_COLUMNS}
FROM samples s WHERE s.device_id = %s AND s.ts >= %s AND s.ts < %s ORDER BY s.ts
"""  # noqa: S608 - the columns are the contract's metric names
_EVENTS = """
SELECT extract(epoch FROM ts)::float8, kind, process, signature, app_version,
       detail->>'reason'
FROM events WHERE device_id = %s AND ts >= %s AND ts < %s ORDER BY ts
"""


class UnknownDeviceError(DeviceCareError):
    """Replay of a device the database does not know."""


def replay_device(
    conn: psycopg.Connection,
    device_id: str,
    since: datetime,
    until: datetime,
    *,
    profile: str = "device",
    block_hours: float = 6.0,
) -> tuple[list[Change], int]:
    """The finding changes a replay makes, and the number of samples it read."""
    row = conn.execute(
        "SELECT model, os_version, os_name FROM devices WHERE device_id = %s", (device_id,)
    ).fetchone()
    if row is None:
        raise UnknownDeviceError(f"no device {device_id!r} in the database")
    state = DeviceState(device_id, DEVICE_PROFILES[profile])
    state.describe(row[0], row[1], os_name=row[2])
    cohorts = _cohorts(conn, state)
    rows = conn.execute(_SAMPLES, (device_id, since, until), binary=True).fetchall()
    events = [EventRow(*e) for e in conn.execute(_EVENTS, (device_id, since, until)).fetchall()]
    matrix = np.array(rows, dtype=np.float64).reshape(len(rows), len(METRICS) + 1)
    changes: list[Change] = []
    start, end = since.timestamp(), until.timestamp()
    step = block_hours * HOUR
    for lo in np.arange(start, end, step):
        hi = lo + step
        chunk = matrix[(matrix[:, 0] >= lo) & (matrix[:, 0] < hi)]
        block = Block.from_columns(chunk[:, 0], {m: chunk[:, i + 1] for i, m in enumerate(METRICS)})
        block.events = [e for e in events if lo <= e.ts < hi]
        if len(block) or block.events:
            changes += state.process(block, cohorts, DEVICE_PROFILES[profile])
    return changes, len(rows)


def _cohorts(conn: psycopg.Connection, state: DeviceState) -> Cohorts:
    """The device's peers' latest figures, so the replay's reasons can compare."""
    cohorts = Cohorts()
    key = Cohorts.key(state.model, state.os_version)
    for device_id, figures in conn.execute(
        "SELECT h.device_id, h.figures FROM device_health h JOIN devices d USING (device_id)"
        " WHERE d.model IS NOT DISTINCT FROM %s AND d.os_version IS NOT DISTINCT FROM %s"
        " AND h.device_id <> %s",
        (state.model, state.os_version, state.device_id),
    ):
        cohorts.update(key, device_id, figures)
    return cohorts

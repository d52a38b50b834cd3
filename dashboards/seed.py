"""A simulated fleet written straight into the database, for dashboard tests and the bench.

Samples and events come from the simulator's device model (`simulator.fleet.Fleet`), so
panels see the same physics as the demo; they are copied in with COPY rather than sent
through MQTT and ingest, which would take an hour for 1,000 devices x 60 days. Around
them the seed writes what the other services would have written: batches (as ingest
does, one per device every six hours), findings for the simulator's faults, offers with
their answers, delivery attempts, suppressions, a fleet alert, the timeline, pipeline
health, dead letters and detector checkpoints.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from devicecare.contracts.vocabulary import (
    Answer,
    FindingStatus,
    OfferStatus,
    Severity,
    TouchPoint,
)
from devicecare.contracts.wire import RejectReason
from simulator.fleet import Fleet, day_ms

INTERVAL_S = 900
STEPS_PER_UPLOAD = 24  # one telemetry batch per device every six hours
SAMPLE_COLUMNS = (
    "battery_pct",
    "battery_charging",
    "battery_voltage_v",
    "battery_current_a",
    "battery_temp_c",
    "battery_full_wh",
    "battery_design_wh",
    "battery_cycles",
    "cpu_temp_c",
    "thermal_throttled",
    "cpu_load_pct",
    "storage_total_bytes",
    "storage_free_bytes",
    "flash_wear_pct",
    "flash_pre_eol",
)
_BOOLEAN = frozenset({"battery_charging", "thermal_throttled"})
_INTEGER = frozenset(
    {"battery_cycles", "storage_total_bytes", "storage_free_bytes", "flash_pre_eol"}
)
_OUTCOMES = (Answer.ACCEPT, Answer.DISMISS, Answer.WRONG, None)
"""Owners' answers, in turn; None: not answered yet (the offer stays delivered)."""
_FINDING_AFTER: dict[Answer | None, FindingStatus] = {
    Answer.ACCEPT: FindingStatus.RESOLVED,
    Answer.WRONG: FindingStatus.FALSE_ALARM,
}
_OFFER_AFTER: dict[Answer | None, OfferStatus] = {
    Answer.ACCEPT: OfferStatus.ACCEPTED,
    Answer.DISMISS: OfferStatus.DECLINED,
    Answer.WRONG: OfferStatus.DECLINED,
}
_SUPPRESSION_REASONS = (
    "consent",
    "quiet_hours",
    "cooldown",
    "frequency_cap",
    "storm",
)
_DEAD_LETTER_REASONS = (
    RejectReason.MALFORMED,
    RejectReason.INVALID,
    RejectReason.DEVICE_MISMATCH,
    RejectReason.OVERSIZED,
)


@dataclass(frozen=True)
class SeedResult:
    devices: int
    samples: int
    events: int
    findings: int
    start: datetime
    end: datetime


def seed(
    conn: psycopg.Connection,
    *,
    devices: int,
    days: float,
    seed: int = 7,
    faults: str | None = "all=20",
    now: datetime | None = None,
    progress: Callable[[int, int], None] = lambda *_: None,
) -> SeedResult:
    """Fill the (migrated, empty) database behind `conn` with a simulated fleet whose
    data ends at `now`; `progress(step, steps)` is called as samples are written."""
    end = (now or datetime.now(UTC)).replace(microsecond=0)
    step_ms = INTERVAL_S * 1000
    end_ms = int(end.timestamp() * 1000) // step_ms * step_ms
    start_ms = end_ms - day_ms(days)
    fleet = Fleet(devices, seed=seed, start_ms=start_ms, days=days, faults=faults)
    _devices(conn, fleet, _at(start_ms))
    samples, events = _telemetry(conn, fleet, start_ms, end_ms, progress)
    findings = _care(conn, fleet, end_ms)
    _pipeline(conn, fleet, end_ms)
    conn.commit()
    return SeedResult(devices, samples, events, findings, _at(start_ms), _at(end_ms))


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _devices(conn: psycopg.Connection, fleet: Fleet, registered: datetime) -> None:
    with conn.cursor() as cur:
        for i, device_id in enumerate(fleet.ids):
            customer = uuid.UUID(int=fleet.n * 7 + i)
            cur.execute(
                "INSERT INTO customers (customer_id, name, email) VALUES (%s, %s, %s)",
                (customer, f"Owner {i}", f"owner{i}@example.org"),
            )
            model = fleet.models[i]
            cur.execute(
                "INSERT INTO devices (device_id, customer_id, model, os_name, os_version,"
                " agent_version, consent_telemetry, consent_care_offers, consent_email,"
                " consent_changed_at, status, registered_at)"
                " VALUES (%s, %s, %s, %s, %s, 'sim-1', true, %s, %s, %s, 'online', %s)",
                (
                    device_id,
                    customer,
                    model.name,
                    model.os_name,
                    fleet.os_versions[i],
                    i % 10 != 0,
                    i % 3 != 0,
                    registered,
                    registered,
                ),
            )


def _python_column(name: str, values: np.ndarray) -> list[object]:
    """A reading column as COPY values: NaN (no such sensor) becomes NULL."""
    if name in _BOOLEAN:
        converted = values.astype(bool).astype(object)
    elif name in _INTEGER:
        converted = np.nan_to_num(values).astype(np.int64).astype(object)
    else:
        converted = values.astype(object)
    converted[np.isnan(values)] = None
    return converted.tolist()


def _telemetry(
    conn: psycopg.Connection,
    fleet: Fleet,
    start_ms: int,
    end_ms: int,
    progress: Callable[[int, int], None],
) -> tuple[int, int]:
    steps = (end_ms - start_ms) // (INTERVAL_S * 1000)
    ids = fleet.ids
    first_ts: list[int | None] = [None] * fleet.n
    upload = [0] * fleet.n
    batches: list[tuple[object, ...]] = []
    event_rows: list[tuple[object, ...]] = []
    samples = events = 0
    columns = ", ".join(SAMPLE_COLUMNS)
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY samples (ts, device_id, seq, {columns}) FROM STDIN") as copy_samples,
    ):
        for step in range(1, steps + 1):
            t_ms = start_ms + step * INTERVAL_S * 1000
            tick = fleet.step(t_ms, INTERVAL_S)
            ts = _at(t_ms)
            cols = [_python_column(c, tick.readings[c]) for c in SAMPLE_COLUMNS]
            for i, row in enumerate(zip(*cols, strict=True)):
                copy_samples.write_row((ts, ids[i], 2 * upload[i], *row))
                if first_ts[i] is None:
                    first_ts[i] = t_ms
                due = (step + i) % STEPS_PER_UPLOAD == 0 or step == steps
                if due:
                    seq = 2 * upload[i]
                    first = _at(first_ts[i] or t_ms)
                    rows = (t_ms - (first_ts[i] or t_ms)) // (INTERVAL_S * 1000) + 1
                    received = ts + timedelta(seconds=30 + i % 90)
                    batches.append((ids[i], seq, "telemetry", ts, received, rows, first, ts))
                    samples += rows
                    first_ts[i] = None
                    upload[i] += 1
            for device, event in tick.events:
                events += 1
                evt_seq = 2 * upload[device] + 1
                batches.append(
                    (ids[device], evt_seq, "events", ts, ts + timedelta(seconds=5), 1, ts, ts)
                )
                event_rows.append(
                    (ts, ids[device], evt_seq, event.kind.value, event.process, event.signature)
                )
            if step % 96 == 0 or step == steps:
                progress(step, steps)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO events (ts, device_id, seq, kind, process, signature)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            event_rows,
        )
        cur.executemany(
            "INSERT INTO batches (device_id, seq, channel, sent_at, received_at, rows,"
            " first_ts, last_ts) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (device_id, seq) DO UPDATE SET rows = batches.rows + 1",
            batches,
        )
        cur.execute(
            "UPDATE devices d SET last_seen_at = s.at FROM"
            " (SELECT device_id, max(received_at) AS at FROM batches GROUP BY 1) s"
            " WHERE d.device_id = s.device_id"
        )
    return samples, events


def _care(conn: psycopg.Connection, fleet: Fleet, end_ms: int) -> int:
    """Findings for the simulator's faults, offers and answers, and the timeline."""
    severities = list(Severity)
    count = 0
    with conn.cursor() as cur:
        for n, fault in enumerate(sorted(fleet.faults, key=lambda f: f.onset_ms)):
            if fault.half_ms >= end_ms:
                continue
            device_id = fleet.ids[fault.device]
            customer = uuid.UUID(int=fleet.n * 7 + fault.device)
            detected = _at(fault.half_ms)
            outcome = _OUTCOMES[n % len(_OUTCOMES)]
            status = _FINDING_AFTER.get(outcome, FindingStatus.OPEN)
            sent = detected + timedelta(hours=1)
            answered = sent + timedelta(hours=5) if outcome else None
            resolved = answered + timedelta(days=1) if status != FindingStatus.OPEN else None
            severity = severities[2 + n % 3]
            finding_id = cur.execute(
                "INSERT INTO findings (device_id, fault_kind, status, severity, confidence,"
                " onset_at, detected_at, updated_at, resolved_at, detector, reason, evidence)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'rules', %s, %s)"
                " RETURNING finding_id",
                (
                    device_id,
                    fault.kind.value,
                    status.value,
                    severity.value,
                    0.6 + 0.1 * (n % 4),
                    _at(fault.onset_ms),
                    detected,
                    resolved or detected,
                    resolved,
                    f"{fault.kind.value.replace('_', ' ')} on this device",
                    Jsonb({"baseline": 1.0, "now": 0.5}),
                ),
            ).fetchone()[0]  # type: ignore[index]
            offer_status = _OFFER_AFTER.get(outcome, OfferStatus.DELIVERED)
            offer_id = cur.execute(
                "INSERT INTO offers (device_id, finding_id, customer_id, fault_kind, kind,"
                " severity, status, title, body, channel, rule, created_at, updated_at,"
                " sent_at, delivered_at, answered_at, answer)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, 'Care offer', 'We can help', 'device',"
                " %s, %s, %s, %s, %s, %s, %s) RETURNING offer_id",
                (
                    device_id,
                    finding_id,
                    customer,
                    fault.kind.value,
                    f"{fault.kind.value}_check",
                    severity.value,
                    offer_status.value,
                    fault.kind.value,
                    detected,
                    answered or sent,
                    sent,
                    sent,
                    answered,
                    outcome.value if outcome else None,
                ),
            ).fetchone()[0]  # type: ignore[index]
            for attempt, ok in enumerate((n % 5 != 0, True), start=1):
                cur.execute(
                    "INSERT INTO offer_attempts (offer_id, purpose, channel, attempt, at, ok,"
                    " duration_ms, detail) VALUES (%s, 'offer', 'device', %s, %s, %s, %s, %s)",
                    (
                        offer_id,
                        attempt,
                        sent + timedelta(minutes=attempt),
                        ok,
                        12.5,
                        "" if ok else "timeout",
                    ),
                )
                if ok:
                    break
            timeline = [
                (detected, TouchPoint.SYSTEM, "finding", f"Finding: {fault.kind.value}"),
                (sent, TouchPoint.DEVICE_APP, "offer_sent", "Care offer sent"),
            ]
            if answered and outcome:
                timeline.append((answered, TouchPoint.DEVICE_APP, "offer_answer", outcome.value))
            elif fault.visible_ms < end_ms:
                timeline.append(
                    (_at(fault.visible_ms), TouchPoint.HOTLINE, "call", "Owner called support")
                )
            for ts, touchpoint, kind, summary in timeline:
                cur.execute(
                    "INSERT INTO interactions (ts, customer_id, device_id, touchpoint, kind,"
                    " offer_id, finding_id, summary) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        ts,
                        customer,
                        device_id,
                        touchpoint.value,
                        kind,
                        offer_id,
                        finding_id,
                        summary,
                    ),
                )
            if outcome == Answer.WRONG:
                cur.execute(
                    "INSERT INTO finding_feedback (ts, finding_id, device_id, fault_kind,"
                    " detector, verdict, source, offer_id) VALUES"
                    " (%s, %s, %s, %s, 'rules', 'false_alarm', %s, %s)",
                    (
                        answered,
                        finding_id,
                        device_id,
                        fault.kind.value,
                        TouchPoint.DEVICE_APP.value,
                        offer_id,
                    ),
                )
            reason = _SUPPRESSION_REASONS[n % len(_SUPPRESSION_REASONS)]
            cur.execute(
                "INSERT INTO offer_suppressions (ts, reason, device_id, customer_id, finding_id,"
                " fault_kind, offer_kind, severity) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    detected,
                    reason,
                    device_id,
                    customer,
                    finding_id,
                    fault.kind.value,
                    f"{fault.kind.value}_check",
                    severity.value,
                ),
            )
            cur.execute(
                "INSERT INTO interactions (ts, customer_id, device_id, touchpoint, kind,"
                " summary) VALUES (%s, %s, %s, %s, 'page_view', 'Self-care page opened')",
                (_at(end_ms - day_ms(1)), customer, device_id, TouchPoint.WEB.value),
            )
            count += 1
        cur.execute(
            "INSERT INTO fleet_alerts (kind, offer_kind, status, raised_at, closed_at, devices,"
            " fleet, summary) VALUES ('offer_storm', 'battery_fade_check', 'released', %s, %s,"
            " %s, %s, 'Battery offers held: many devices at once')",
            (_at(end_ms - day_ms(3)), _at(end_ms - day_ms(2)), max(1, fleet.n // 20), fleet.n),
        )
    return count


def _pipeline(conn: psycopg.Connection, fleet: Fleet, end_ms: int) -> None:
    """Two ingest workers, dead letters over the last day, four detector partitions."""
    end = _at(end_ms)
    with conn.cursor() as cur:
        for w in range(2):
            cur.execute(
                "INSERT INTO pipeline_health (worker, started_at, updated_at, received,"
                " stored_samples, stored_events, batches, duplicates, dead_lettered, flushes,"
                " last_flush_ms, lag_ms, queued_messages) VALUES"
                " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    f"ingest-{w}",
                    end - timedelta(days=1),
                    end,
                    10_000 + w,
                    90_000,
                    40,
                    9_000,
                    12 + w,
                    7,
                    900,
                    4.5,
                    120.0 + w,
                    w,
                ),
            )
        for k in range(24 * 4):
            cur.execute(
                "INSERT INTO dead_letters (received_at, topic, device_id, reason, detail,"
                " payload_size, payload_head) VALUES (%s, %s, %s, %s, 'rejected', 12, %s)",
                (
                    end - timedelta(minutes=15 * k),
                    f"dc/v1/devices/{fleet.ids[k % fleet.n]}/telemetry",
                    fleet.ids[k % fleet.n],
                    _DEAD_LETTER_REASONS[k % len(_DEAD_LETTER_REASONS)].value,
                    b"{bad",
                ),
            )
        offers = cur.execute("SELECT offer_id FROM offers ORDER BY offer_id LIMIT 24").fetchall()
        for k, (offer_id,) in enumerate(offers):
            cur.execute(
                "INSERT INTO offer_attempts (offer_id, purpose, channel, attempt, at, ok,"
                " permanent, duration_ms, detail) VALUES"
                " (%s, 'reminder', %s, 1, %s, %s, false, %s, %s)",
                (
                    offer_id,
                    ("device", "email")[k % 2],
                    end - timedelta(hours=k),
                    k % 3 != 0,
                    8.0 + k,
                    "" if k % 3 else "smtp 451",
                ),
            )
        for p in range(4):
            cur.execute(
                "INSERT INTO detector_checkpoints (profile, partition, owner, state, devices,"
                " watermark, updated_at, lease_until) VALUES"
                " ('default', %s, %s, %s, %s, %s, %s, %s)",
                (
                    p,
                    f"detect-{p % 2}",
                    b"\x00",
                    fleet.n // 4,
                    end - timedelta(minutes=p),
                    end - timedelta(seconds=30 * p),
                    end + timedelta(minutes=1),
                ),
            )

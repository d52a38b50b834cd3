"""Verdicts reach the live detector worker through the real database.

An owner answers "this was wrong" the way the notifier records it (`apply_answer`), staff
mark other findings of the same cohort wrong the way a closed task does; restarted
workers then read the verdicts back: the same evidence does not open the finding again,
clearly stronger evidence does, and its evidence names the device's false alarm and the
cohort's threshold factor. `devicecare eval feedback` lists the verdicts.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from care import store as care_store
from cli.app import app
from detectors.live import feed
from detectors.live import store as detector_store
from detectors.live.device import DEVICE_PROFILE, DeviceState
from detectors.live.rules.crashes import KernelFaults
from detectors.live.service import DetectService
from detectors.live.verdicts import threshold_factor
from devicecare.config import DetectSettings
from devicecare.contracts import EventKind, topics
from devicecare.contracts.topics import Channel
from devicecare.contracts.vocabulary import (
    Answer,
    FaultKind,
    FeedbackVerdict,
    FindingStatus,
    Severity,
    TouchPoint,
)
from ingest.intake import Flush, Inbound
from ingest.writer import Writer
from notifier.lifecycle import apply_answer

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
NOW_MS = 1_790_000_000_000
START_MS = NOW_MS - 40 * DAY_MS
CFG = DetectSettings(partitions=4, checkpoint_interval_s=3600, idle_wait_s=0.1)
DEVICE = "phone-answered"
MODEL, OS = "Pixel 8", "14"
PEERS = 5


def upload(url: str, first_day: float, last_day: float, panics: list[float]) -> None:
    """Hourly samples in six-hour batches, kernel panics at the given days, through
    ingest's writer."""
    writer = Writer(url, register_unknown=True)
    flush = Flush()
    seq = int(first_day * 100)
    day = first_day
    while day < last_day:
        at = START_MS + int(day * DAY_MS)
        samples = [
            {"ts": at + h * 3_600_000, "battery_pct": 60.0, "cpu_temp_c": 40.0} for h in range(6)
        ]
        messages = [(Channel.TELEMETRY, {"samples": samples})]
        events = [
            {"ts": START_MS + int(p * DAY_MS), "kind": EventKind.KERNEL_PANIC, "signature": "oops"}
            for p in panics
            if day <= p < day + 0.25
        ]
        if events:
            messages.append((Channel.EVENTS, {"events": events}))
        for channel, body in messages:
            seq += 1
            doc = {"v": 1, "device_id": DEVICE, "seq": seq, "sent_at": at, **body}
            inbound = Inbound(topics.topic(DEVICE, channel), json.dumps(doc).encode(), 0, 0)
            flush.accept(inbound, NOW_MS)
        day += 0.25
    writer.write(flush)
    writer.close()


def detect(url: str) -> None:
    """A worker started afresh (from the checkpoints), run until everything is processed."""
    DetectService(url, CFG).run(threading.Event(), until_idle=True)


def kernel_findings(db: psycopg.Connection) -> list[tuple[int, str, dict]]:
    return db.execute(
        "SELECT finding_id, status, evidence FROM findings"
        " WHERE device_id = %s AND fault_kind = %s ORDER BY finding_id",
        (DEVICE, FaultKind.KERNEL_FAULT),
    ).fetchall()


def checkpointed(db: psycopg.Connection) -> DeviceState:
    partition = feed.partition_of(DEVICE, CFG.partitions)
    states, _ = detector_store.load(db, DEVICE_PROFILE.name, partition)
    return states[DEVICE]


def add_device(db: psycopg.Connection, device_id: str) -> None:
    db.execute(
        "INSERT INTO devices (device_id, model, os_name, os_version)"
        " VALUES (%s, %s, 'Android', %s)",
        (device_id, MODEL, OS),
    )


def staff_found_nothing(db: psycopg.Connection, device_id: str, at: datetime) -> None:
    """A peer's kernel-fault finding that a store visit found nothing wrong with."""
    add_device(db, device_id)
    row = db.execute(
        "INSERT INTO findings (device_id, fault_kind, status, severity, confidence,"
        " detected_at, updated_at, detector, reason) VALUES (%s, %s, %s, %s, 0.6, %s, %s, %s,"
        " 'restarted') RETURNING finding_id",
        (
            device_id,
            FaultKind.KERNEL_FAULT,
            FindingStatus.FALSE_ALARM,
            Severity.MEDIUM,
            at,
            at,
            KernelFaults.name,
        ),
    ).fetchone()
    assert row is not None
    care_store.add_feedback(
        db,
        at=at,
        finding_id=row[0],
        device_id=device_id,
        fault_kind=FaultKind.KERNEL_FAULT,
        detector=KernelFaults.name,
        verdict=FeedbackVerdict.FALSE_ALARM,
        source=TouchPoint.STORE,
        offer_id=None,
        comment="no fault found",
    )


def test_a_false_alarm_is_not_opened_again_on_the_same_evidence(
    db: psycopg.Connection, db_url: str, tmp_path: Path
) -> None:
    add_device(db, DEVICE)
    upload(db_url, 0, 10, [3.0, 3.2])
    detect(db_url)
    [(finding_id, status, _)] = kernel_findings(db)
    assert status == FindingStatus.OPEN

    answered = datetime.fromtimestamp((START_MS + 10 * DAY_MS) / 1000, UTC)
    offer = db.execute(
        "INSERT INTO offers (device_id, finding_id, fault_kind, kind, severity, status, title,"
        " body) VALUES (%s, %s, %s, 'diagnostic', %s, 'sent', 'Check', 'Body') RETURNING offer_id",
        (DEVICE, finding_id, FaultKind.KERNEL_FAULT, Severity.MEDIUM),
    ).fetchone()
    assert offer is not None
    outcome = apply_answer(
        db, offer[0], Answer.WRONG, at=answered, touchpoint=TouchPoint.DEVICE_APP
    )
    assert outcome.applied
    for n in range(PEERS):
        staff_found_nothing(db, f"phone-peer-{n}", answered)
    assert kernel_findings(db)[0][1] == FindingStatus.FALSE_ALARM

    # A restarted worker reads the verdict and checkpoints the device without the finding.
    detect(db_url)
    state = checkpointed(db)
    assert FaultKind.KERNEL_FAULT not in state.open_findings()
    assert state.feedback.floors[FaultKind.KERNEL_FAULT].needed == 1.5

    # Two new panics in two weeks, as before: the same evidence, nothing opens.
    upload(db_url, 10, 23, [20.0, 20.2])
    detect(db_url)
    assert [s for _, s, _ in kernel_findings(db)] == [FindingStatus.FALSE_ALARM]

    # Four in two weeks: twice the rule's threshold, clearly stronger; it opens again.
    upload(db_url, 23, 27, [24.0, 24.2])
    detect(db_url)
    rows = kernel_findings(db)
    assert [s for _, s, _ in rows] == [FindingStatus.FALSE_ALARM, FindingStatus.OPEN]
    feedback = rows[1][2]["feedback"]
    factor = round(threshold_factor(PEERS + 1, 0), 2)
    assert feedback["marked_wrong_at_level"] == 1.0
    assert feedback["needed_level"] == 1.5
    assert feedback["level"] == 2.0
    assert feedback["cohort_threshold_factor"] == factor
    assert feedback["cohort_marked_wrong"] == PEERS + 1
    assert feedback["cohort_note"] == (
        f"threshold raised x{factor:.2f} in this cohort after {PEERS + 1} of {PEERS + 1}"
        " answered findings were marked wrong"
    )

    env = {"DEVICECARE_DATABASE_URL": db_url, "COLUMNS": "120"}
    listed = CliRunner().invoke(app, ["eval", "feedback"], env=env)
    assert listed.exit_code == 0, listed.output
    line = next(x for x in listed.output.splitlines() if KernelFaults.name in x)
    assert f"{MODEL} / {OS}" in line
    assert f"x{factor:.2f}" in line

    truth, figures = tmp_path / "truth.json", tmp_path / "figures.json"
    devices = [{"device_id": DEVICE, "region": 0}]
    end = START_MS + 27 * DAY_MS
    truth.write_text(
        json.dumps(
            {
                "start_ms": START_MS,
                "end_ms": end,
                "devices": devices,
                "faults": [],
                "non_faults": [],
            }
        )
    )
    scored = CliRunner().invoke(
        app, ["eval", "--truth", str(truth), "--json", str(figures)], env=env
    )
    assert scored.exit_code == 0, scored.output
    assert "verdicts on findings" in scored.output
    [row] = json.loads(figures.read_text())["feedback"]
    assert (row["detector"], row["wrong"], row["confirmed"]) == (KernelFaults.name, PEERS + 1, 0)

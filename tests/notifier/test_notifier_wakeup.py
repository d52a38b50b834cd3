"""The notifier wakes on what the detectors write: a finding stored by the detectors'
store reaches a LISTEN on the notifier's channel when its transaction commits."""

from __future__ import annotations

import psycopg
import pytest

from detectors.live import store
from detectors.live.findings import Change, Finding
from devicecare.contracts.vocabulary import FaultKind, FindingStatus, NotifyChannel, Severity
from tests.support.notifier_support import BASE, add_owner

pytestmark = pytest.mark.integration


def test_a_finding_written_by_the_detectors_wakes_the_notifier(
    db_url: str, db: psycopg.Connection
) -> None:
    add_owner(db, "fading")
    at = BASE.timestamp()
    finding = Finding(
        device_id="fading",
        kind=FaultKind.BATTERY_FADE,
        status=FindingStatus.OPEN,
        severity=Severity.HIGH,
        confidence=0.9,
        onset_at=at - 86_400,
        detected_at=at,
        updated_at=at,
        detector="battery",
        reason="The battery fades.",
        evidence={},
    )
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {NotifyChannel.NOTIFIER}")
        with db.transaction():
            assert store.write_changes(db, [Change("opened", finding)]) == 1
        woken = list(listener.notifies(timeout=30, stop_after=1))
    assert [n.channel for n in woken] == [NotifyChannel.NOTIFIER]
    row = db.execute("SELECT fault_kind, status, severity FROM findings").fetchone()
    assert row == (FaultKind.BATTERY_FADE, FindingStatus.OPEN, Severity.HIGH)

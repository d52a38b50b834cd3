"""End to end on the device channel: the notifier publishes as `_notifier` over the real
broker, the real agent shows the offers, its owner answers with `devicecare agent
respond`, real ingest stores the answers, and the notifier's next pass applies them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from agent.consent import Consent, record
from devicecare.config import Settings
from devicecare.contracts.vocabulary import FaultKind
from devicecare.endpoints import mqtt_endpoint
from devstack import local
from notifier.service import Notifier
from tests.support.agent_process import AgentProcess, fake_device, write_config
from tests.support.ingest_process import IngestWorkers
from tests.support.notifier_support import (
    add_finding,
    add_owner,
    notifier_settings,
    offers,
    timeline,
)
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """`devicecare agent offers` prints whole offer ids only when it has the width."""
    monkeypatch.setenv("COLUMNS", "200")


def test_offers_reach_the_real_agent_and_its_answers_come_back_through_ingest(
    stack: Settings, db_url: str, db: psycopg.Connection, device_id: str, tmp_path: Path
) -> None:
    add_owner(db, device_id, locale="en")
    now = datetime.now(UTC)
    fading = add_finding(db, device_id, FaultKind.BATTERY_FADE, detected_at=now)
    crashing = add_finding(db, device_id, FaultKind.CRASH_LOOP, detected_at=now)

    local.provision_devices(stack, [device_id])
    config = write_config(
        tmp_path / "agent" / "agent.toml",
        device_id,
        mqtt_endpoint(stack, device_id),
        fake_device(tmp_path / "device"),
    )
    agent = AgentProcess(config, tmp_path / "agent.log")
    record(agent.store(), device_id, Consent(telemetry=True, care_offers=True, email=False))
    workers = IngestWorkers(stack, db_url, tmp_path)
    # Wall-clock time here: no quiet hours, whatever the hour the suite runs.
    settings = notifier_settings(
        stack, channels=["device"], quiet_hours_start="00:00", quiet_hours_end="00:00"
    )
    notifier = Notifier(settings, database=db_url)
    workers.start()
    agent.start()
    try:
        wait_for(
            lambda: db.execute(
                "SELECT status = 'online' FROM devices WHERE device_id = %s", (device_id,)
            ).fetchone()[0],
            what="the agent to come online",
        )
        report = notifier.run_once(datetime.now(UTC))
        assert report.delivery.by_channel == {"device": 2}, report.summary()
        by_kind = {o["fault_kind"]: str(o["offer_id"]) for o in offers(db)}
        wait_for(
            lambda: all(i in agent.cli("offers").stdout for i in by_kind.values()),
            what="both offers on the device",
        )
        assert "Free battery check for your Pixel 7" in agent.cli("offers").stdout

        agent.cli("respond", by_kind[FaultKind.BATTERY_FADE], "accept")
        agent.cli("respond", by_kind[FaultKind.CRASH_LOOP], "wrong", "--comment", "App was removed")
        wait_for(
            lambda: db.execute("SELECT count(*) FROM offer_responses").fetchone()[0] == 2,
            what="both answers stored by ingest",
        )
        report = notifier.run_once(datetime.now(UTC))
    finally:
        notifier.close()
        agent.stop()
        workers.stop_all()

    assert report.answers == {"accepted": 1, "declined": 1}
    status = {o["fault_kind"]: (o["status"], o["answer"]) for o in offers(db)}
    assert status == {
        FaultKind.BATTERY_FADE: ("accepted", "accept"),
        FaultKind.CRASH_LOOP: ("declined", "wrong"),
    }
    findings = dict(db.execute("SELECT finding_id, status FROM findings").fetchall())
    assert findings == {fading: "open", crashing: "false_alarm"}
    feedback = db.execute(
        "SELECT finding_id, verdict, source, comment, detector FROM finding_feedback"
    ).fetchall()
    assert feedback == [(crashing, "false_alarm", "device_app", "App was removed", "test-detector")]
    assert (
        db.execute("SELECT count(*) FROM offer_responses WHERE processed_at IS NULL").fetchone()[0]
        == 0
    )
    kinds = timeline(db, device_id)
    for expected in (
        "offer_created",
        "offer_sent",
        "offer_accepted",
        "offer_declined",
        "false_alarm_reported",
    ):
        assert expected in kinds

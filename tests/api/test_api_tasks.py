"""Tasks through the care API: an accepted store diagnostic or call-back is listed as an
open task, and closing it confirms the finding or makes it a false alarm, on the timeline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role
from devicecare.config import Settings
from devicecare.contracts.vocabulary import FaultKind, FindingStatus, Severity, TaskStatus
from notifier.lifecycle import apply_answer
from notifier.service import Notifier
from tests.support.care_fleet import END, CareFleet, care_fleet
from tests.support.local_servers import WebhookReceiver
from tests.support.notifier_support import add_finding, notifier_settings, offers

pytestmark = pytest.mark.integration

SECRET = "webhook-secret"


@pytest.fixture
def fleet(db: psycopg.Connection) -> CareFleet:
    return care_fleet(db)


@pytest.fixture
def client(stack: Settings, db_url: str) -> Iterator[TestClient]:
    app = create_app(notifier_settings(stack), database=db_url, clock=lambda: END)
    with TestClient(app) as client:
        yield client


def _accepted_offers(
    stack: Settings, db_url: str, db: psycopg.Connection, fleet: CareFleet
) -> dict:
    """A cooling finding on the worn phone and a charger finding on Bob's, offered and
    accepted (the charger call-back with a slot); finding ids by device."""
    findings = {
        fleet.worn: add_finding(
            db, fleet.worn, FaultKind.COOLING_FAILURE, severity=Severity.HIGH, detected_at=END
        ),
        fleet.bobs: add_finding(
            db, fleet.bobs, FaultKind.FAULTY_CHARGER, severity=Severity.HIGH, detected_at=END
        ),
    }
    with WebhookReceiver(SECRET.encode()) as receiver:
        settings = notifier_settings(
            stack, channels=["webhook"], webhook_url=receiver.url, webhook_secret=SECRET
        )
        notifier = Notifier(settings, database=db_url)
        notifier.run_once(END)
        notifier.close()
    at = END + timedelta(minutes=5)
    for offer in offers(db):
        slot = "Friday morning" if offer["device_id"] == fleet.bobs else None
        apply_answer(db, offer["offer_id"], "accept", at=at, touchpoint="web", comment=slot)
    return findings


def test_support_lists_open_tasks_and_closes_them_with_a_result(
    stack: Settings, db_url: str, db: psycopg.Connection, client: TestClient, fleet: CareFleet
) -> None:
    findings = _accepted_offers(stack, db_url, db, fleet)
    support = {"authorization": f"Bearer {fleet.keys[Role.SUPPORT]}"}

    page = client.get("/tasks", params={"status": "open"}, headers=support).json()
    tasks = {t["device_id"]: t for t in page["items"]}
    assert set(tasks) == {fleet.worn, fleet.bobs}
    assert (tasks[fleet.worn]["touchpoint"], tasks[fleet.worn]["kind"]) == (
        "store",
        "store_visit_task",
    )
    assert tasks[fleet.bobs]["touchpoint"] == "hotline"
    assert tasks[fleet.bobs]["slot"] == "Friday morning"
    assert client.get("/tasks", params={"touchpoint": "hotline"}, headers=support).json()[
        "items"
    ] == [tasks[fleet.bobs]]

    found = client.post(
        f"/tasks/{tasks[fleet.worn]['task_id']}/close",
        json={"result": "fault_found", "note": "Fan clogged"},
        headers=support,
    )
    assert found.status_code == 200, found.text
    assert (found.json()["status"], found.json()["result"]) == (TaskStatus.CLOSED, "fault_found")
    none = client.post(
        f"/tasks/{tasks[fleet.bobs]['task_id']}/close",
        json={"result": "no_fault_found"},
        headers=support,
    )
    assert none.status_code == 200, none.text
    again = client.post(
        f"/tasks/{tasks[fleet.bobs]['task_id']}/close",
        json={"result": "fault_found"},
        headers=support,
    )
    assert again.status_code == 409
    assert (
        client.post("/tasks/424242/close", json={"result": "fault_found"}, headers=support)
    ).status_code == 404
    bad = client.post(
        f"/tasks/{tasks[fleet.worn]['task_id']}/close", json={"result": "maybe"}, headers=support
    )
    assert bad.status_code == 422

    assert client.get("/tasks", params={"status": "open"}, headers=support).json()["items"] == []
    feedback = dict(
        db.execute(
            "SELECT finding_id, verdict FROM finding_feedback ORDER BY feedback_id"
        ).fetchall()
    )
    assert feedback == {findings[fleet.worn]: "confirmed", findings[fleet.bobs]: "false_alarm"}
    statuses = dict(db.execute("SELECT finding_id, status FROM findings").fetchall())
    assert statuses[findings[fleet.worn]] == FindingStatus.OPEN
    assert statuses[findings[fleet.bobs]] == FindingStatus.FALSE_ALARM
    timeline = client.get(f"/devices/{fleet.worn}/timeline", headers=support).json()
    assert "task_closed" in {entry["kind"] for entry in timeline["items"]}

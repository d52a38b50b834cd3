"""Answer links through the FastAPI app (TestClient) against the real database."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from devicecare.config import Settings
from devicecare.contracts.vocabulary import FaultKind
from notifier.service import Notifier
from tests.support.local_servers import WebhookReceiver
from tests.support.notifier_support import (
    BASE,
    add_finding,
    add_owner,
    notifier_settings,
    offers,
    timeline,
)

pytestmark = pytest.mark.integration


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_signed_answer_links_view_accept_and_report_a_false_alarm(
    stack: Settings, db_url: str, db: psycopg.Connection
) -> None:
    add_owner(db, "phone", locale="de")
    add_owner(db, "laptop")
    add_finding(db, "phone", FaultKind.BATTERY_FADE)
    crash = add_finding(db, "laptop", FaultKind.CRASH_LOOP)
    with WebhookReceiver(b"hook") as receiver:
        settings = notifier_settings(
            stack, channels=["webhook"], webhook_url=receiver.url, webhook_secret="hook"
        )
        notifier = Notifier(settings, database=db_url)
        try:
            notifier.run_once(BASE)
        finally:
            notifier.close()
    links = {h["offer"]["device_id"]: h["links"] for h in receiver.received}
    phone, laptop = links["phone"], links["laptop"]
    later = BASE + timedelta(hours=2)

    with TestClient(create_app(settings, database=db_url, clock=lambda: later)) as client:
        shown = client.get(_path(phone["view"]))
        assert shown.status_code == 200
        assert (shown.json()["status"], shown.json()["locale"]) == ("viewed", "de")
        page = client.get(_path(phone["accept"]), headers={"accept": "text/html"})
        assert "Kostenloser Akku-Check" in page.text
        assert page.text.count("<form") == 1 and "Ja, gerne" in page.text

        token = phone["view"].split("token=")[1]
        tampered = phone["accept"].replace(
            token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
        )
        assert client.post(_path(tampered)).status_code == 403
        laptop_token = laptop["view"].split("token=")[1]
        borrowed = phone["accept"].replace(token, laptop_token)
        assert client.post(_path(borrowed)).status_code == 403
        assert offers(db, "phone")[0]["status"] == "viewed"

        accepted = client.post(_path(phone["accept"]))
        assert accepted.status_code == 200
        assert accepted.json() | {"offer_id": None} == {
            "offer_id": None,
            "status": "accepted",
            "applied": True,
            "detail": "",
        }
        again = client.post(_path(phone["dismiss"]))
        assert (again.status_code, again.json()["applied"]) == (200, False)
        assert offers(db, "phone")[0]["status"] == "accepted"

        wrong = client.post(_path(laptop["wrong"]) + "&comment=Never+installed+it")
        assert wrong.json()["status"] == "declined"

    assert timeline(db, "phone")[-2:] == ["offer_viewed", "offer_accepted"]
    touch = db.execute(
        "SELECT touchpoint FROM interactions WHERE device_id = 'phone' AND kind = 'offer_accepted'"
    ).fetchone()
    assert touch == ("web",)
    assert db.execute("SELECT status FROM findings WHERE finding_id = %s", (crash,)).fetchone() == (
        "false_alarm",
    )
    assert db.execute("SELECT source, comment FROM finding_feedback").fetchall() == [
        ("web", "Never installed it")
    ]
    assert offers(db, "phone")[0]["answered_at"] == later

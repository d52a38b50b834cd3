"""The notifier's policies on simulated time, against the real database and a real local
webhook receiver: no spam, no overstepping, and every suppression recorded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import psycopg
import pytest

from devicecare.config import Settings
from devicecare.contracts.vocabulary import FaultKind, Severity
from notifier import storm
from notifier.lifecycle import apply_answer
from notifier.service import Notifier
from notifier.signing import verify_answer_token
from tests.support.local_servers import WebhookReceiver
from tests.support.notifier_support import (
    BASE,
    LINK_SECRET,
    add_finding,
    add_owner,
    notifier_settings,
    offers,
    suppressions,
    timeline,
)

pytestmark = pytest.mark.integration

SECRET = "webhook-secret"
MakeNotifier = Callable[..., Notifier]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET.encode()) as server:
        yield server


@pytest.fixture
def make_notifier(
    stack: Settings, db_url: str, receiver: WebhookReceiver
) -> Iterator[MakeNotifier]:
    made: list[Notifier] = []

    def make(**overrides: object) -> Notifier:
        settings = notifier_settings(
            stack,
            channels=["webhook"],
            webhook_url=receiver.url,
            webhook_secret=SECRET,
            **overrides,
        )
        made.append(Notifier(settings, database=db_url))
        return made[-1]

    yield make
    for notifier in made:
        notifier.close()


def test_a_finding_becomes_one_signed_offer_in_the_customers_language(
    db: psycopg.Connection, make_notifier: MakeNotifier, receiver: WebhookReceiver
) -> None:
    add_owner(db, "phone-de", locale="de-DE", timezone="Europe/Berlin")
    finding = add_finding(db, "phone-de", FaultKind.BATTERY_FADE, severity=Severity.MEDIUM)
    notifier = make_notifier()

    report = notifier.run_once(BASE)
    assert (report.proposals.created, report.delivery.sent) == (1, 1)
    (offer,) = offers(db)
    assert (offer["kind"], offer["status"], offer["locale"]) == ("battery_check", "delivered", "de")
    assert offer["finding_id"] == finding and offer["channel"] == "webhook"
    (hook,) = receiver.received
    assert hook["event"] == "offer"
    assert hook["offer"]["title"] == "Kostenloser Akku-Check für Ihr Pixel 7"
    assert hook["offer"]["body"].startswith("Der Akku Ihres Geräts verliert")
    token = hook["links"]["accept"].split("token=")[1].split("&")[0]
    assert verify_answer_token(LINK_SECRET.encode(), str(offer["offer_id"]), token)
    assert timeline(db, "phone-de") == ["offer_created", "offer_sent", "offer_delivered"]

    for hours in (1, 5, 30):  # no spam: the open finding has its offer
        notifier.run_once(BASE + timedelta(hours=hours))
    assert len(receiver.received) == 1
    assert len(offers(db)) == 1


def test_quiet_hours_defer_consent_is_checked_at_send_time_and_safety_is_exempt(
    db: psycopg.Connection, make_notifier: MakeNotifier, receiver: WebhookReceiver
) -> None:
    late = BASE.replace(hour=22, minute=30)  # 23:30 in Berlin (CET)
    for device in ("waits", "withdraws", "swelling"):
        add_owner(db, device, timezone="Europe/Berlin")
    add_finding(db, "waits", FaultKind.CRASH_LOOP, detected_at=late)
    add_finding(db, "withdraws", FaultKind.COOLING_FAILURE, detected_at=late)
    add_finding(
        db, "swelling", FaultKind.BATTERY_SWELLING, severity=Severity.CRITICAL, detected_at=late
    )
    notifier = make_notifier()

    report = notifier.run_once(late)
    assert report.proposals.created == 3
    assert [h["offer"]["device_id"] for h in receiver.received] == ["swelling"]
    assert suppressions(db) == {"quiet_hours": 2}

    db.execute("UPDATE devices SET consent_care_offers = false WHERE device_id = 'withdraws'")
    morning = (late + timedelta(days=1)).replace(hour=7, minute=0)  # 08:00 in Berlin
    notifier.run_once(morning - timedelta(minutes=1))
    assert len(receiver.received) == 1
    notifier.run_once(morning)
    assert [h["offer"]["device_id"] for h in receiver.received] == ["swelling", "waits"]
    assert suppressions(db) == {"quiet_hours": 2, "consent": 1}
    (withheld,) = offers(db, "withdraws")
    assert (withheld["status"], withheld["held_reason"]) == ("created", "consent")

    notifier.run_once(morning + timedelta(hours=3))  # still no consent: held, counted once
    assert suppressions(db) == {"quiet_hours": 2, "consent": 1}
    assert len(receiver.received) == 2


def test_no_consent_means_no_offer_at_all(
    db: psycopg.Connection, make_notifier: MakeNotifier, receiver: WebhookReceiver
) -> None:
    add_owner(db, "never-asked", consent=False)
    add_finding(db, "never-asked", FaultKind.STORAGE_RUNAWAY)
    notifier = make_notifier()
    for hours in (0, 2, 4):
        notifier.run_once(BASE + timedelta(hours=hours))
    assert offers(db) == []
    assert suppressions(db) == {"consent": 1}
    assert receiver.requests == 0


def test_a_dismissed_offer_is_not_repeated_unless_the_fault_gets_worse(
    db: psycopg.Connection, make_notifier: MakeNotifier, receiver: WebhookReceiver
) -> None:
    add_owner(db, "phone")
    first = add_finding(db, "phone", FaultKind.BATTERY_FADE, severity=Severity.MEDIUM)
    notifier = make_notifier(cooldown_days=30)
    notifier.run_once(BASE)
    (offer,) = offers(db)
    db.execute(
        "INSERT INTO offer_responses (device_id, offer_id, answer, answered_at)"
        " VALUES ('phone', %s, 'dismiss', %s)",
        (str(offer["offer_id"]), BASE + timedelta(hours=1)),
    )
    assert notifier.run_once(BASE + timedelta(hours=2)).answers == {"declined": 1}
    assert offers(db)[0]["status"] == "declined"
    for days in (1, 3, 40):  # the same finding: never again at this severity
        notifier.run_once(BASE + timedelta(days=days))
    assert len(offers(db)) == 1

    # The fault comes back (a new finding) within the cooldown: suppressed, recorded.
    db.execute("UPDATE findings SET status = 'resolved', resolved_at = %s", (BASE,))
    again = BASE + timedelta(days=5)
    second = add_finding(
        db, "phone", FaultKind.BATTERY_FADE, severity=Severity.MEDIUM, detected_at=again
    )
    notifier.run_once(again)
    assert len(offers(db)) == 1
    assert suppressions(db) == {"cooldown": 1}
    notifier.run_once(again + timedelta(days=1))
    assert suppressions(db) == {"cooldown": 1}

    # ...until it gets worse.
    db.execute("UPDATE findings SET severity = 'high' WHERE finding_id = %s", (second,))
    notifier.run_once(again + timedelta(days=2))
    newest = offers(db)[-1]
    assert (newest["kind"], newest["severity"], newest["finding_id"]) == (
        "battery_replacement",
        Severity.HIGH,
        second,
    )
    assert first != second and len(receiver.received) == 2


def test_the_frequency_cap_holds_per_customer_and_lifts_after_the_window(
    db: psycopg.Connection, make_notifier: MakeNotifier, receiver: WebhookReceiver
) -> None:
    owner = add_owner(db, "tablet")
    for index, kind in enumerate(
        (
            FaultKind.CRASH_LOOP,
            FaultKind.STORAGE_RUNAWAY,
            FaultKind.KERNEL_FAULT,
            FaultKind.FLASH_EOL,
        )
    ):
        device = f"device-{index}"
        add_owner(db, device)
        db.execute("UPDATE devices SET customer_id = %s WHERE device_id = %s", (owner, device))
        add_finding(db, device, kind, detected_at=BASE + timedelta(minutes=index))
    add_finding(db, "tablet", FaultKind.COOLING_FAILURE, detected_at=BASE + timedelta(minutes=5))
    notifier = make_notifier(cap_offers=3, cap_window_days=7)

    notifier.run_once(BASE + timedelta(minutes=10))
    assert len(offers(db)) == 3
    assert suppressions(db) == {"frequency_cap": 2}

    add_finding(
        db, "tablet", FaultKind.BATTERY_SWELLING, severity=Severity.CRITICAL, detected_at=BASE
    )
    notifier.run_once(BASE + timedelta(hours=1))  # safety is never capped
    assert [o["kind"] for o in offers(db)][-1] == "battery_replacement"
    notifier.run_once(BASE + timedelta(days=3))
    assert len(offers(db)) == 4 and suppressions(db) == {"frequency_cap": 2}

    notifier.run_once(BASE + timedelta(days=7, minutes=11))  # the first offers left the window
    assert len(offers(db)) == 6
    assert [h["event"] for h in receiver.received].count("offer") == 6


def test_a_fleet_wide_event_holds_its_offers_and_raises_one_alert(
    db: psycopg.Connection, make_notifier: MakeNotifier, receiver: WebhookReceiver
) -> None:
    fleet = [f"fleet-{i:02d}" for i in range(40)]
    for device in fleet:
        add_owner(db, device)
    for index, device in enumerate(fleet[:8]):  # a bad app update: 20% crash-loop in an hour
        add_finding(
            db, device, FaultKind.CRASH_LOOP, detected_at=BASE + timedelta(minutes=5 * index)
        )
    add_finding(db, fleet[30], FaultKind.BATTERY_FADE, detected_at=BASE)
    notifier = make_notifier(storm_min_devices=5, storm_share=0.1, storm_window_min=60)

    report = notifier.run_once(BASE + timedelta(minutes=40))
    assert report.proposals.alerts == 1
    assert [o["kind"] for o in offers(db)] == ["battery_check"]  # other offers go on
    assert suppressions(db) == {"storm": 8}
    alert_id, status, devices = db.execute(
        "SELECT alert_id, status, devices FROM fleet_alerts"
    ).fetchone()
    assert (status, devices) == ("open", 8)

    add_finding(db, fleet[8], FaultKind.CRASH_LOOP, detected_at=BASE + timedelta(minutes=50))
    notifier.run_once(BASE + timedelta(minutes=55))
    assert db.execute("SELECT count(*) FROM fleet_alerts").fetchone()[0] == 1
    assert suppressions(db) == {"storm": 9}
    assert len(receiver.received) == 1

    assert storm.release(db, alert_id, BASE + timedelta(hours=2)) == 9
    notifier.run_once(BASE + timedelta(hours=2))
    assert sorted(o["kind"] for o in offers(db)).count("software_fix") == 9
    assert len(receiver.received) == 10
    assert db.execute("SELECT count(*) FROM fleet_alerts").fetchone()[0] == 1


def test_a_non_fault_gets_at_most_a_tip(
    db: psycopg.Connection, make_notifier: MakeNotifier, receiver: WebhookReceiver
) -> None:
    for device in ("hot-week", "heavy-use", "unsure"):
        add_owner(db, device)
    add_finding(
        db,
        "hot-week",
        FaultKind.COOLING_FAILURE,
        severity=Severity.HIGH,
        evidence={"explained_by": "regional heat wave"},
    )
    add_finding(db, "heavy-use", "anomaly", severity=Severity.HIGH)
    add_finding(db, "unsure", FaultKind.BATTERY_FADE, severity=Severity.HIGH, confidence=0.3)
    make_notifier().run_once(BASE)
    assert {o["kind"] for o in offers(db)} == {"self_help"}
    assert len(receiver.received) == 3


def test_life_cycle_reminder_expiry_and_resolution(
    db: psycopg.Connection, make_notifier: MakeNotifier, receiver: WebhookReceiver
) -> None:
    add_owner(db, "swollen")
    add_owner(db, "fading")
    add_owner(db, "crashing")
    add_finding(db, "swollen", FaultKind.BATTERY_SWELLING, severity=Severity.CRITICAL)
    fading = add_finding(db, "fading", FaultKind.BATTERY_FADE, severity=Severity.MEDIUM)
    add_finding(db, "crashing", FaultKind.CRASH_LOOP, severity=Severity.MEDIUM)
    notifier = make_notifier(reminder_after_h=24, expire_after_h=72)
    notifier.run_once(BASE)
    assert len(receiver.received) == 3

    crash_offer = offers(db, "crashing")[0]["offer_id"]
    apply_answer(db, crash_offer, "accept", at=BASE + timedelta(hours=1), touchpoint="web")
    db.execute(
        "UPDATE findings SET status = 'resolved', resolved_at = %s WHERE finding_id = %s",
        (BASE + timedelta(hours=3), fading),
    )
    notifier.run_once(BASE + timedelta(hours=23))

    def status() -> dict[str, str]:
        return {o["device_id"]: o["status"] for o in offers(db)}

    assert status() == {"swollen": "delivered", "fading": "resolved", "crashing": "accepted"}
    assert len(receiver.received) == 3

    for hours in (24, 25, 48):  # exactly one reminder, and only for the critical offer
        notifier.run_once(BASE + timedelta(hours=hours))
    reminders = [h for h in receiver.received if h["event"] == "reminder"]
    assert [h["offer"]["device_id"] for h in reminders] == ["swollen"]
    assert reminders[0]["offer"]["title"].startswith("Reminder: Safety notice")

    notifier.run_once(BASE + timedelta(hours=72))
    assert status() == {"swollen": "expired", "fading": "resolved", "crashing": "accepted"}
    assert timeline(db, "swollen") == [
        "offer_created",
        "offer_sent",
        "offer_delivered",
        "offer_reminded",
        "offer_expired",
    ]
    assert timeline(db, "fading")[-1] == "offer_resolved"

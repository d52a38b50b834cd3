"""What follows an answer: escalation of declined safety findings (the pure decision, the
rules file's validation, and a run through `Notifier.run_once` on simulated time), and the
task an accepted store diagnostic or call-back opens."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from devicecare.config import Settings
from devicecare.contracts.vocabulary import (
    FaultKind,
    OfferStatus,
    Severity,
    TaskStatus,
    TouchPoint,
)
from devicecare.errors import NotifierError
from notifier.lifecycle import apply_answer
from notifier.rules import default_rules_text, load_rules, parse_rules
from notifier.service import Notifier
from notifier.store import DeclinedCase
from notifier.tasks import EscalationStep, next_step
from tests.support.local_servers import WebhookReceiver
from tests.support.notifier_support import BASE, add_finding, add_owner, notifier_settings, offers

POLICY = load_rules().escalation
DAY = timedelta(days=1)


def case(
    kind: str = FaultKind.BATTERY_SWELLING,
    severity: Severity = Severity.CRITICAL,
    steps: tuple[str, ...] = (),
) -> DeclinedCase:
    return DeclinedCase(
        1, kind, severity, uuid.uuid4(), "d1", None, "Safety notice", BASE, list(steps)
    )


def test_the_shipped_rules_escalate_critical_safety_kinds_after_a_day_then_two() -> None:
    assert POLICY.applies(FaultKind.BATTERY_SWELLING, Severity.CRITICAL)
    assert not POLICY.applies(FaultKind.BATTERY_SWELLING, Severity.HIGH)
    assert not POLICY.applies(FaultKind.CRASH_LOOP, Severity.CRITICAL)
    assert (POLICY.reminder_after, POLICY.callback_after) == (DAY, 2 * DAY)


@pytest.mark.parametrize(
    ("waited", "steps", "expected"),
    [
        (DAY - timedelta(minutes=1), (), None),
        (DAY, (), EscalationStep.REMINDER),
        (3 * DAY, (), EscalationStep.REMINDER),  # a missed reminder still comes first
        (DAY + timedelta(hours=1), (EscalationStep.REMINDER,), None),
        (2 * DAY, (EscalationStep.REMINDER,), EscalationStep.CALLBACK),
        (9 * DAY, (EscalationStep.REMINDER, EscalationStep.CALLBACK), None),
    ],
)
def test_the_next_escalation_step(
    waited: timedelta, steps: tuple[str, ...], expected: EscalationStep | None
) -> None:
    assert next_step(POLICY, case(steps=steps), BASE + waited) == expected


def test_findings_outside_the_policy_never_escalate() -> None:
    later = BASE + 10 * DAY
    assert next_step(POLICY, case(severity=Severity.HIGH), later) is None
    assert next_step(POLICY, case(kind=FaultKind.CRASH_LOOP), later) is None
    assert next_step(parse_rules(_without_escalation()).escalation, case(), later) is None


def _without_escalation() -> str:
    text = default_rules_text()
    start = text.index("[escalation]")
    return text[:start] + text[text.index("# ---", start) :]


def _with_escalation(table: str) -> str:
    text = _without_escalation()
    return text.replace("[offers.self_help]", table + "\n[offers.self_help]", 1)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            '[escalation]\nfault_kinds = ["battery_swollen"]\nseverities = ["critical"]\n'
            "reminder_after_hours = 24\ncallback_after_hours = 48\n",
            "unknown fault kinds",
        ),
        (
            '[escalation]\nfault_kinds = ["battery_swelling"]\nseverities = ["dire"]\n'
            "reminder_after_hours = 24\ncallback_after_hours = 48\n",
            "severities must be among",
        ),
        (
            '[escalation]\nfault_kinds = ["battery_swelling"]\nseverities = ["critical"]\n'
            "reminder_after_hours = 48\ncallback_after_hours = 24\n",
            "later than reminder_after_hours",
        ),
        (
            '[escalation]\nfault_kinds = ["battery_swelling"]\nseverities = ["critical"]\n'
            "reminder_after_hours = 0\ncallback_after_hours = 24\n",
            "positive number of hours",
        ),
        (
            '[escalation]\nfault_kinds = ["battery_swelling"]\nseverities = ["critical"]\n'
            "reminder_after_hours = 24\n",
            "missing keys ['callback_after_hours']",
        ),
    ],
)
def test_a_bad_escalation_table_is_rejected_with_a_clear_message(table: str, message: str) -> None:
    with pytest.raises(NotifierError, match="escalation") as raised:
        parse_rules(_with_escalation(table))
    assert message in str(raised.value)


# ---------------------------------------------------------------- against the database

SECRET = "webhook-secret"


@pytest.fixture
def notifier(stack: Settings, db_url: str) -> Iterator[Notifier]:
    with WebhookReceiver(SECRET.encode()) as receiver:
        settings = notifier_settings(
            stack, channels=["webhook"], webhook_url=receiver.url, webhook_secret=SECRET
        )
        made = Notifier(settings, database=db_url)
        yield made
        made.close()


def _entries(db: psycopg.Connection, device_id: str) -> list[tuple[str, str, str | None]]:
    rows = db.execute(
        "SELECT kind, touchpoint, status FROM interactions WHERE device_id = %s"
        " AND (kind LIKE 'escalation%%' OR status IS NOT NULL) ORDER BY ts, interaction_id",
        (device_id,),
    ).fetchall()
    return [tuple(r) for r in rows]


@pytest.mark.integration
def test_a_declined_critical_swelling_escalates_to_a_reminder_then_a_hotline_task(
    db: psycopg.Connection, notifier: Notifier
) -> None:
    add_owner(db, "swollen")
    add_owner(db, "crashing")
    add_finding(db, "swollen", FaultKind.BATTERY_SWELLING, severity=Severity.CRITICAL)
    add_finding(db, "crashing", FaultKind.CRASH_LOOP, severity=Severity.CRITICAL)
    notifier.run_once(BASE)
    for offer in offers(db):
        outcome = apply_answer(
            db, offer["offer_id"], "dismiss", at=BASE + timedelta(hours=1), touchpoint="web"
        )
        assert outcome.status == OfferStatus.DECLINED

    assert notifier.run_once(BASE + timedelta(hours=20)).escalated == {}
    assert notifier.run_once(BASE + timedelta(hours=25)).escalated == {EscalationStep.REMINDER: 1}
    assert notifier.run_once(BASE + timedelta(hours=30)).escalated == {}
    assert notifier.run_once(BASE + timedelta(hours=49)).escalated == {EscalationStep.CALLBACK: 1}
    assert notifier.run_once(BASE + timedelta(days=5)).escalated == {}
    assert _entries(db, "swollen") == [
        (EscalationStep.REMINDER, TouchPoint.SYSTEM, None),
        (EscalationStep.CALLBACK, TouchPoint.HOTLINE, TaskStatus.OPEN),
    ]
    assert _entries(db, "crashing") == []  # not safety-relevant: no escalation


@pytest.mark.integration
def test_a_finding_that_resolves_after_the_decline_does_not_escalate(
    db: psycopg.Connection, notifier: Notifier
) -> None:
    add_owner(db, "swollen")
    finding = add_finding(db, "swollen", FaultKind.BATTERY_SWELLING, severity=Severity.CRITICAL)
    notifier.run_once(BASE)
    (offer,) = offers(db)
    apply_answer(db, offer["offer_id"], "dismiss", at=BASE, touchpoint="web")
    db.execute(
        "UPDATE findings SET status = 'resolved', resolved_at = %s WHERE finding_id = %s",
        (BASE + timedelta(hours=2), finding),
    )
    assert notifier.run_once(BASE + 3 * DAY).escalated == {}
    assert _entries(db, "swollen") == []


@pytest.mark.integration
def test_accepting_a_store_diagnostic_or_call_back_opens_a_task(
    db: psycopg.Connection, notifier: Notifier
) -> None:
    add_owner(db, "hot")
    add_owner(db, "charger")
    add_owner(db, "fading")
    add_finding(db, "hot", FaultKind.COOLING_FAILURE, severity=Severity.HIGH)
    add_finding(db, "charger", FaultKind.FAULTY_CHARGER, severity=Severity.HIGH)
    add_finding(db, "fading", FaultKind.BATTERY_FADE, severity=Severity.MEDIUM)
    notifier.run_once(BASE)
    kinds = {o["device_id"]: (o["offer_id"], o["kind"]) for o in offers(db)}
    assert {k for _, k in kinds.values()} == {
        "store_diagnostic",
        "support_callback",
        "battery_check",
    }
    later = BASE + timedelta(hours=2)
    apply_answer(db, kinds["hot"][0], "accept", at=later, touchpoint="web")
    apply_answer(
        db, kinds["charger"][0], "accept", at=later, touchpoint="web", comment="Tue after 18:00"
    )
    apply_answer(db, kinds["fading"][0], "accept", at=later, touchpoint="web")

    assert _entries(db, "hot") == [("store_visit_task", TouchPoint.STORE, TaskStatus.OPEN)]
    assert _entries(db, "charger") == [("callback_task", TouchPoint.HOTLINE, TaskStatus.OPEN)]
    assert _entries(db, "fading") == []
    slot = db.execute(
        "SELECT detail->>'slot', due_at FROM interactions WHERE device_id = 'charger'"
        " AND status = 'open'"
    ).fetchone()
    assert slot == ("Tue after 18:00", later)

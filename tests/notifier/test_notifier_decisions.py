"""The notifier's decisions as pure functions over typed rows: no database needed."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from devicecare.config import Settings
from devicecare.contracts.vocabulary import Answer, FaultKind, OfferStatus, Severity
from notifier import policies, storm
from notifier.channels.base import OfferChannel, Outgoing, Recipient, SendResult
from notifier.delivery import backoff, reminder_title, usable
from notifier.lifecycle import AnswerOutcome, answer_status
from notifier.proposals import owner_key, standing
from notifier.rules import TITLE_MAX, Finding
from notifier.store import ChannelTries, ClosedOffer, OfferRow, StandingOffer
from tests.support.notifier_support import BASE

DAY = timedelta(days=1)


def finding(severity: Severity = Severity.MEDIUM, finding_id: int = 7) -> Finding:
    return Finding(finding_id, "d1", FaultKind.BATTERY_FADE, severity, 0.9, "Fading.", BASE)


def closed(
    status: OfferStatus, severity: Severity, days_ago: float, finding_id: int | None = 7
) -> ClosedOffer:
    return ClosedOffer(uuid.uuid4(), finding_id, status, severity, BASE - days_ago * DAY)


def offer(status: OfferStatus, device_id: str = "d1") -> OfferRow:
    values: dict[str, object] = {
        "offer_id": uuid.uuid4(),
        "device_id": device_id,
        "finding_id": 7,
        "fault_kind": FaultKind.BATTERY_FADE,
        "kind": "battery_check",
        "severity": Severity.MEDIUM,
        "status": status,
        "locale": "en",
        "title": "t",
        "body": "b",
        "created_at": BASE,
        "updated_at": BASE,
    }
    return OfferRow(**{f: values.get(f) for f in OfferRow.__dataclass_fields__})  # type: ignore[arg-type]


class Channel(OfferChannel):
    """A channel that reaches recipients with an e-mail address (or everyone)."""

    name = "test"

    def __init__(self, name: str, *, email: bool) -> None:
        self.name = name  # type: ignore[misc]
        self.needs_email_consent = email  # type: ignore[misc]

    @classmethod
    def from_settings(cls, settings: Settings) -> OfferChannel | None:
        return None

    def reaches(self, recipient: Recipient) -> bool:
        return not self.needs_email_consent or recipient.email is not None

    def send(self, offer: Outgoing) -> SendResult:
        return SendResult(True)


def recipient(**kw: object) -> Recipient:
    values: dict[str, object] = {
        "device_id": "d1",
        "model": None,
        "consent_telemetry": True,
        "consent_care_offers": True,
        "consent_email": True,
        "customer_id": "c1",
        "email": "a@example.invalid",
    }
    return Recipient(**(values | kw))  # type: ignore[arg-type]


# ---------------------------------------------------------------- policies


def test_a_declined_finding_is_not_offered_again_at_its_severity() -> None:
    history = [closed(OfferStatus.DECLINED, Severity.MEDIUM, days_ago=90)]
    blocked = policies.cooldown(history, finding_id=7, severity=Severity.MEDIUM, now=BASE, days=30)
    assert blocked is not None and blocked.reason == "cooldown" and blocked.recheck_at is None
    assert blocked.detail is not None and blocked.detail["same_finding"] is True
    assert (
        policies.cooldown(history, finding_id=7, severity=Severity.HIGH, now=BASE, days=30) is None
    )


def test_another_finding_of_the_fault_waits_out_the_cooldown() -> None:
    recent = [closed(OfferStatus.EXPIRED, Severity.HIGH, days_ago=10, finding_id=3)]
    blocked = policies.cooldown(recent, finding_id=7, severity=Severity.MEDIUM, now=BASE, days=30)
    assert blocked is not None and blocked.recheck_at == BASE + 20 * DAY
    old = [closed(OfferStatus.DECLINED, Severity.HIGH, days_ago=31, finding_id=3)]
    assert policies.cooldown(old, finding_id=7, severity=Severity.MEDIUM, now=BASE, days=30) is None
    assert policies.cooldown([], finding_id=7, severity=Severity.MEDIUM, now=BASE, days=30) is None


def test_the_frequency_cap_counts_offers_made_and_pending() -> None:
    cap = {"now": BASE, "cap": 3, "window_days": 7.0}
    assert policies.frequency_cap(1, BASE - DAY, pending=1, **cap) is None  # type: ignore[arg-type]
    blocked = policies.frequency_cap(2, BASE - DAY, pending=1, **cap)  # type: ignore[arg-type]
    assert blocked is not None and blocked.reason == "frequency_cap"
    assert blocked.recheck_at == BASE + 6 * DAY
    assert blocked.detail == {"offers": 3, "cap": 3, "days": 7.0}
    only_pending = policies.frequency_cap(0, None, pending=3, **cap)  # type: ignore[arg-type]
    assert only_pending is not None and only_pending.recheck_at == BASE + 7 * DAY


def test_consent_and_addresses_choose_the_channels() -> None:
    device, email = Channel("device", email=False), Channel("email", email=True)
    allowed, blocked = policies.allowed_channels([device, email], recipient())
    assert allowed == [device, email] and blocked is None
    allowed, blocked = policies.allowed_channels([email], recipient(consent_email=False))
    assert allowed == [] and blocked == policies.Blocked("consent", detail={"missing": ["email"]})
    _, blocked = policies.allowed_channels([device], recipient(consent_care_offers=False))
    assert blocked == policies.Blocked("consent", detail={"missing": ["care_offers"]})
    _, blocked = policies.allowed_channels([email], recipient(email=None))
    assert blocked == policies.Blocked("no_channel", detail={"configured": ["email"]})


def test_a_suppression_reason_must_be_known() -> None:
    with pytest.raises(ValueError, match="unknown suppression reason"):
        policies.Blocked("because")


# ---------------------------------------------------------------- storm, standing offers


def test_a_storm_needs_both_enough_devices_and_a_share_of_the_fleet() -> None:
    assert storm.tripped(20, 400, min_devices=20, share=0.05)
    assert not storm.tripped(19, 100, min_devices=20, share=0.05)
    assert not storm.tripped(20, 401, min_devices=20, share=0.05)
    summary = storm.alert_summary("software_fix", 8, 40, timedelta(hours=1))
    assert summary.startswith("offer storm: 8 of 40 devices (20.0%) would get 'software_fix'")


def test_an_existing_offer_covers_the_finding_unless_the_finding_got_worse() -> None:
    live = StandingOffer(uuid.uuid4(), Severity.MEDIUM, OfferStatus.SENT)
    accepted = StandingOffer(uuid.uuid4(), Severity.MEDIUM, OfferStatus.ACCEPTED)
    assert standing(finding(Severity.MEDIUM), None) == "none"
    assert standing(finding(Severity.MEDIUM), live) == "covered"
    assert standing(finding(Severity.LOW), live) == "covered"
    assert standing(finding(Severity.HIGH), live) == "superseded"
    assert standing(finding(Severity.CRITICAL), accepted) == "covered"


def test_the_cap_counts_per_customer_or_per_ownerless_device() -> None:
    assert owner_key(recipient()) == "c1"
    assert owner_key(recipient(customer_id=None)) == "device:d1"


# ---------------------------------------------------------------- answers, delivery


def test_what_an_answer_does_to_an_offer() -> None:
    assert answer_status(offer(OfferStatus.SENT), Answer.ACCEPT, None) is OfferStatus.ACCEPTED
    assert answer_status(offer(OfferStatus.VIEWED), Answer.WRONG, "d1") is OfferStatus.DECLINED
    assert answer_status(offer(OfferStatus.EXPIRED), Answer.DISMISS, None) is (OfferStatus.DECLINED)
    assert answer_status(None, Answer.ACCEPT, None) == AnswerOutcome(
        False, "unknown", "no such offer for this device"
    )
    assert answer_status(offer(OfferStatus.SENT, "d2"), Answer.ACCEPT, "d1") == AnswerOutcome(
        False, "unknown", "no such offer for this device"
    )
    assert answer_status(offer(OfferStatus.ACCEPTED), Answer.DISMISS, None) == AnswerOutcome(
        False, "accepted", "offer is already accepted"
    )


def test_retries_back_off_and_channels_run_out_of_tries() -> None:
    assert [backoff(n, base_s=60, max_s=600).total_seconds() for n in (1, 2, 3, 4, 5)] == [
        60,
        120,
        240,
        480,
        600,
    ]
    device, email, hook = (Channel(n, email=False) for n in ("device", "email", "webhook"))
    tries = {
        "device": ChannelTries("device", 3, False),
        "email": ChannelTries("email", 1, True),
        "webhook": ChannelTries("webhook", 2, False),
    }
    assert usable([device, email, hook], tries, attempts=3) == [(hook, 2)]
    assert usable([device], {}, attempts=3) == [(device, 0)]


def test_a_reminder_title_is_prefixed_in_the_offers_language_and_clipped() -> None:
    assert reminder_title("Free battery check", "de") == "Erinnerung: Free battery check"
    assert reminder_title("Free battery check", "fr") == "Reminder: Free battery check"
    long = reminder_title("x" * TITLE_MAX, "en")
    assert len(long) == TITLE_MAX and long.endswith("…")

"""Offer rules, their guards and languages, quiet hours and link tokens (fast, pure), plus
a rules-file override against the real database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from pathlib import Path

import psycopg
import pytest

from devicecare.config import Settings
from devicecare.contracts.vocabulary import FaultKind, Severity
from devicecare.errors import NotifierError
from notifier.quiet import QuietHours, zone
from notifier.rules import Finding, load_rules, parse_rules
from notifier.service import Notifier
from notifier.signing import answer_token, verify_answer_token
from tests.support.local_servers import WebhookReceiver
from tests.support.notifier_support import BASE, add_finding, add_owner, notifier_settings, offers

RULES = load_rules()
SERVICE = {"battery_check", "battery_replacement", "store_diagnostic", "support_callback"}


def finding(
    kind: str, severity: Severity = Severity.MEDIUM, confidence: float = 0.9, **evidence: object
) -> Finding:
    return Finding(1, "d1", kind, severity, confidence, "Something is off.", BASE, "t", evidence)


def offer_kind(kind: str, severity: str, **kw: object) -> str | None:
    proposal = RULES.propose(finding(kind, severity, **kw))  # type: ignore[arg-type]
    return proposal.kind.name if proposal else None


@pytest.mark.parametrize(
    ("fault", "severity", "expected"),
    [
        (FaultKind.BATTERY_FADE, Severity.LOW, "self_help"),
        (FaultKind.BATTERY_FADE, Severity.MEDIUM, "battery_check"),
        (FaultKind.BATTERY_FADE, Severity.HIGH, "battery_replacement"),
        (FaultKind.BATTERY_SWELLING, Severity.CRITICAL, "battery_replacement"),
        (FaultKind.BATTERY_BAD_CELL, Severity.MEDIUM, "battery_check"),
        (FaultKind.COOLING_FAILURE, Severity.MEDIUM, "store_diagnostic"),
        (FaultKind.FAULTY_CHARGER, Severity.MEDIUM, "self_help"),
        (FaultKind.FAULTY_CHARGER, Severity.HIGH, "support_callback"),
        (FaultKind.CRASH_LOOP, Severity.MEDIUM, "software_fix"),
        (FaultKind.KERNEL_FAULT, Severity.MEDIUM, "software_fix"),
        (FaultKind.KERNEL_FAULT, Severity.HIGH, "store_diagnostic"),
        (FaultKind.STORAGE_RUNAWAY, Severity.HIGH, "self_help"),
        (FaultKind.FLASH_EOL, Severity.MEDIUM, "store_diagnostic"),
        (FaultKind.FLASH_EOL, Severity.CRITICAL, "support_callback"),
        ("anomaly", Severity.LOW, "self_help"),
        ("something_new", Severity.HIGH, "self_help"),
    ],
)
def test_default_rules_map_faults_and_severities_to_offers(
    fault: str, severity: str, expected: str
) -> None:
    assert offer_kind(fault, severity) == expected


@pytest.mark.parametrize(
    "fault", [FaultKind.BATTERY_FADE, FaultKind.COOLING_FAILURE, FaultKind.FLASH_EOL, "anomaly"]
)
@pytest.mark.parametrize("severity", list(Severity))
def test_non_faults_and_unsure_findings_never_get_a_repair_offer(fault: str, severity: str) -> None:
    assert offer_kind(fault, severity, explained_by="heat_wave") not in SERVICE
    assert offer_kind(fault, severity, confidence=0.2) not in SERVICE
    if fault == "anomaly" or severity in (Severity.INFO, Severity.LOW):
        assert offer_kind(fault, severity) not in SERVICE


def test_words_follow_the_customers_language_and_reuse_the_reason() -> None:
    proposal = RULES.propose(finding(FaultKind.COOLING_FAILURE))
    assert proposal is not None
    english = proposal.render("en-GB", model="ThinkPad X1", name=None)
    assert english.title == "Free diagnostic for your ThinkPad X1"
    assert english.body.startswith("Something is off. Bring it to a store")
    german = proposal.render("de_AT", model=None, name=None)
    assert german.title == "Kostenlose Diagnose für Ihr Gerät"
    assert german.body.startswith("Ihr Gerät wird ungewöhnlich heiß")
    assert proposal.render("fr", model="X", name=None).locale == "en"
    translated = RULES.propose(
        finding(FaultKind.COOLING_FAILURE, reason_i18n={"de": "Es ist heiß."})
    )
    assert translated is not None
    assert translated.render("de", model="X", name=None).body.startswith("Es ist heiß. ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[offers.fix]\nservice = true\nen.title = "t"\nen.body = "b"\n'
            '[offers.self_help]\nservice = false\nen.title = "t"\nen.body = "b"\n'
            '[[rules]]\nname = "r"\nfault_kinds = ["crash_loop"]\nseverities = ["low"]\n'
            'offer = "fix"\n',
            "get at most a tip",
        ),
        (
            '[offers.self_help]\nservice = false\nen.title = "t {price}"\nen.body = "b"\n'
            '[[rules]]\nname = "r"\nfault_kinds = ["crash_loop"]\noffer = "self_help"\n',
            "unknown placeholder {price}",
        ),
        (
            '[offers.self_help]\nservice = false\nen.title = "t"\nen.body = "b"\n'
            '[[rules]]\nname = "r"\nfault_kinds = ["crash_loop"]\noffer = "pizza"\n',
            "offer 'pizza' is not one of",
        ),
        (
            '[offers.self_help]\nservice = false\nde.title = "t"\nde.body = "b"\n'
            '[[rules]]\nname = "r"\nfault_kinds = ["crash_loop"]\noffer = "self_help"\n',
            "needs en.title and en.body",
        ),
        (
            '[offers.self_help]\nservice = false\nen.title = "t"\nen.body = "b"\n'
            '[[rules]]\nname = "r"\nfault_kinds = ["gremlins"]\noffer = "self_help"\n',
            "rules[0] (r).fault_kinds: unknown fault kinds ['gremlins']",
        ),
        (
            'tip_only = ["anomaly"]\n'
            '[offers.self_help]\nservice = false\nen.title = "t"\nen.body = "b"\n'
            '[[rules]]\nname = "r"\nfault_kinds = ["*"]\noffer = "self_help"\n',
            "tip_only: unknown fault kinds ['anomaly']",
        ),
        (
            '[reasons.de]\nbattery_fad = "Akku."\n'
            '[offers.self_help]\nservice = false\nen.title = "t"\nen.body = "b"\n'
            '[[rules]]\nname = "r"\nfault_kinds = ["*"]\noffer = "self_help"\n',
            "reasons.de: unknown fault kinds ['battery_fad']",
        ),
        (
            '[offers.self_help]\nservice = false\nen.title = "t"\nen.body = "b"\n'
            '[[rules]]\nname = "r"\nfault_kinds = ["*"]\nseverities = ["urgent"]\n'
            'offer = "self_help"\n',
            "severities must be among",
        ),
        ("rules = [", "rules file"),
    ],
)
def test_a_bad_rules_file_is_refused_with_a_precise_message(text: str, message: str) -> None:
    with pytest.raises(NotifierError, match=re.escape(message)):
        parse_rules(text, "custom.toml")


def test_quiet_hours_in_the_customers_time_zone() -> None:
    night = QuietHours(time(22), time(8))
    berlin, tokyo = zone("Europe/Berlin"), zone("Asia/Tokyo")
    at = datetime(2025, 3, 3, 21, 30, tzinfo=UTC)  # 22:30 in Berlin, 06:30 in Tokyo
    assert night.until(at, berlin) == datetime(2025, 3, 4, 7, 0, tzinfo=UTC)
    assert night.until(at, tokyo) == datetime(2025, 3, 3, 23, 0, tzinfo=UTC)
    assert night.until(datetime(2025, 3, 3, 12, tzinfo=UTC), berlin) is None
    # the night the clocks go forward (Berlin, 30 March 2025): 08:00 CEST is 06:00 UTC
    assert night.until(datetime(2025, 3, 29, 23, tzinfo=UTC), berlin) == datetime(
        2025, 3, 30, 6, tzinfo=UTC
    )
    assert QuietHours(time(13), time(15)).until(at, tokyo) is None
    assert QuietHours(time(0), time(0)).until(at, berlin) is None
    assert zone("Mars/Olympus_Mons") == zone("UTC")


def test_answer_tokens_are_bound_to_their_offer_and_key() -> None:
    token = answer_token(b"key", "offer-1")
    assert verify_answer_token(b"key", "offer-1", token)
    assert not verify_answer_token(b"key", "offer-2", token)
    assert not verify_answer_token(b"other", "offer-1", token)
    assert not verify_answer_token(b"key", "offer-1", token[:-1] + "x")


CUSTOM_RULES = """
[offers.self_help]
service = false
en.title = "Tip"
en.body = "{reason}"

[offers.courier_pickup]
service = true
en.title = "We pick up your {model}"
en.body = "{reason} A courier collects it tomorrow, free of charge."
de.title = "Wir holen Ihr {model} ab"
de.body = "{reason} Ein Kurier holt es morgen kostenlos ab."

[reasons.de]
battery_fade = "Ihr Akku lässt nach."

[[rules]]
name = "pickup"
fault_kinds = ["battery_fade"]
severities = ["medium", "high", "critical"]
offer = "courier_pickup"

[[rules]]
name = "nothing-for-the-rest"
fault_kinds = ["*"]
offer = "none"
"""


@pytest.mark.integration
def test_a_rules_file_named_in_the_settings_replaces_the_defaults(
    stack: Settings, db_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(CUSTOM_RULES)
    add_owner(db, "tablet", locale="de-CH", model="Galaxy Tab")
    add_finding(db, "tablet", FaultKind.BATTERY_FADE)
    add_finding(db, "tablet", FaultKind.CRASH_LOOP)
    with WebhookReceiver(b"k") as receiver:
        settings = notifier_settings(
            stack,
            rules_file=rules,
            channels=["webhook"],
            webhook_url=receiver.url,
            webhook_secret="k",
        )
        notifier = Notifier(settings, database=db_url)
        try:
            report = notifier.run_once(BASE)
        finally:
            notifier.close()
    assert (report.proposals.created, report.proposals.no_offer) == (1, 1)
    (offer,) = offers(db)
    assert (offer["kind"], offer["rule"], offer["locale"]) == ("courier_pickup", "pickup", "de")
    assert offer["title"] == "Wir holen Ihr Galaxy Tab ab"
    assert offer["body"] == "Ihr Akku lässt nach. Ein Kurier holt es morgen kostenlos ab."
    assert receiver.received[0]["offer"]["kind"] == "courier_pickup"

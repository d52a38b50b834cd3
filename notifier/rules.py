"""Offer rules: a finding in, an offer kind and its words out (or nothing).

An offer rule is a small unit behind `OfferRule`: `propose(finding)` answers with a
`Match` when the rule applies. The shipped rules are `DeclarativeRule`s, one `[[rules]]`
entry each in a TOML file (`notifier/rules.toml`, or the file that
`DEVICECARE_NOTIFIER__RULES_FILE` names), so adding one is a TOML entry. `RuleSet` asks
its rules in file order and applies the guards that keep the notifier from overstepping:
generic anomalies, non-faults (`evidence.explained_by`), low severities and unsure
findings get at most the tip, never a repair or replacement.
"""

from __future__ import annotations

import string
import tomllib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from devicecare.contracts.vocabulary import FaultKind, Severity, at_least
from devicecare.errors import NotifierError

SERVICE_MIN_SEVERITY = Severity.MEDIUM
ANY = "*"
NO_OFFER = "none"
FALLBACK_LOCALE = "en"
PLACEHOLDERS = frozenset({"reason", "model", "device_id", "name"})
TITLE_MAX = 120
BODY_MAX = 2000


@dataclass(frozen=True)
class Finding:
    """What the notifier reads of a `findings` row."""

    finding_id: int
    device_id: str
    fault_kind: str
    """A `FaultKind` value, kept as stored: kinds added later still get the tip rule."""
    severity: Severity
    confidence: float
    reason: str
    detected_at: datetime
    detector: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    onset_at: datetime | None = None


@dataclass(frozen=True)
class Template:
    title: str | None = None
    body: str | None = None


@dataclass(frozen=True)
class OfferKind:
    name: str
    service: bool
    """A repair, replacement, store visit or call-back, as opposed to a tip or a fix guide."""
    templates: Mapping[str, Template]


@dataclass(frozen=True)
class Match:
    """A rule's answer: an offer kind (None: deliberately no offer) and its own wording."""

    rule: str
    offer_kind: str | None
    templates: Mapping[str, Template] = field(default_factory=dict)


@dataclass(frozen=True)
class Wording:
    locale: str
    title: str
    body: str


@dataclass(frozen=True)
class Proposal:
    """The offer a finding should get, before the policies have their say."""

    finding: Finding
    rule: str
    kind: OfferKind
    templates: Mapping[str, Template]
    downgraded: str | None = None
    """Why a guard turned a service offer into the tip, if one did."""
    reasons: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    unknown_model: Mapping[str, str] = field(default_factory=dict)

    def render(self, locale: str | None, *, model: str | None, name: str | None) -> Wording:
        """Title and body in the customer's language (English when it has no templates)."""
        chosen = pick_locale(locale, self.kind.templates)
        own = self.templates.get(chosen, Template())
        base = self.kind.templates.get(chosen, Template())
        fallback = self.kind.templates[FALLBACK_LOCALE]
        title = own.title or base.title or fallback.title or ""
        body = own.body or base.body or fallback.body or ""
        values = {
            "reason": self._reason(chosen),
            "model": model or self.unknown_model.get(chosen) or "device",
            "device_id": self.finding.device_id,
            "name": name or "",
        }
        return Wording(
            chosen,
            _clip(title.format_map(values), TITLE_MAX),
            _clip(body.format_map(values), BODY_MAX),
        )

    def _reason(self, locale: str) -> str:
        finding = self.finding
        translated = finding.evidence.get("reason_i18n")
        if isinstance(translated, Mapping) and isinstance(translated.get(locale), str):
            return translated[locale].strip()
        if locale == FALLBACK_LOCALE:
            return finding.reason.strip()
        own = self.reasons.get(locale, {})
        return (own.get(finding.fault_kind) or own.get(ANY) or finding.reason).strip()


def pick_locale(locale: str | None, available: Mapping[str, object]) -> str:
    """`de-DE`, `de_AT` and `de` all choose German; anything unknown chooses English."""
    if locale:
        primary = locale.replace("_", "-").split("-")[0].lower()
        if primary in available:
            return primary
    return FALLBACK_LOCALE


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class OfferRule(ABC):
    """Finding in, `Match` out when the rule applies (None: ask the next rule)."""

    name: str

    @abstractmethod
    def propose(self, finding: Finding) -> Match | None: ...


@dataclass(frozen=True)
class DeclarativeRule(OfferRule):
    """One `[[rules]]` entry: fault kinds, severities and a minimum confidence."""

    name: str
    fault_kinds: frozenset[str]
    """`FaultKind` values, or `ANY`."""
    severities: frozenset[Severity]
    offer: str | None
    min_confidence: float = 0.0
    templates: Mapping[str, Template] = field(default_factory=dict)

    def propose(self, finding: Finding) -> Match | None:
        if ANY not in self.fault_kinds and finding.fault_kind not in self.fault_kinds:
            return None
        if finding.severity not in self.severities or finding.confidence < self.min_confidence:
            return None
        return Match(self.name, self.offer, self.templates)


@dataclass(frozen=True)
class Escalation:
    """Which open findings escalate after the owner declined their offer, and when.

    A finding of one of `fault_kinds` at one of `severities` that is still open escalates:
    a reminder `reminder_after` the decline, then a call-back task for the hotline
    `callback_after` the decline (the `[escalation]` table of the rules file).
    """

    fault_kinds: frozenset[str]
    severities: frozenset[Severity]
    reminder_after: timedelta
    callback_after: timedelta

    def applies(self, fault_kind: str, severity: Severity) -> bool:
        return fault_kind in self.fault_kinds and severity in self.severities


NO_ESCALATION = Escalation(frozenset(), frozenset(), timedelta(0), timedelta(0))


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[OfferRule, ...]
    offers: Mapping[str, OfferKind]
    reasons: Mapping[str, Mapping[str, str]]
    unknown_model: Mapping[str, str]
    tip_only: frozenset[str]
    tip_offer: str
    min_service_confidence: float
    source: str
    escalation: Escalation = NO_ESCALATION

    def propose(self, finding: Finding) -> Proposal | None:
        """The offer the finding should get, or None (no rule, or a rule that says none)."""
        for rule in self.rules:
            match = rule.propose(finding)
            if match is None:
                continue
            if match.offer_kind is None:
                return None
            kind = self.offers[match.offer_kind]
            why = self._guard(finding) if kind.service else None
            if why is not None:
                return self._proposal(finding, match.rule, self.offers[self.tip_offer], {}, why)
            return self._proposal(finding, match.rule, kind, match.templates, None)
        return None

    def _guard(self, finding: Finding) -> str | None:
        if finding.fault_kind in self.tip_only:
            return "tip_only"
        if finding.evidence.get("explained_by"):
            return "non_fault"
        if not at_least(finding.severity, SERVICE_MIN_SEVERITY):
            return "low_severity"
        if finding.confidence < self.min_service_confidence:
            return "low_confidence"
        return None

    def _proposal(
        self,
        finding: Finding,
        rule: str,
        kind: OfferKind,
        templates: Mapping[str, Template],
        why: str | None,
    ) -> Proposal:
        return Proposal(finding, rule, kind, templates, why, self.reasons, self.unknown_model)


# ---------------------------------------------------------------- loading


DEFAULT_RULES = "rules.toml"


def default_rules_text() -> str:
    return (resources.files("notifier") / DEFAULT_RULES).read_text(encoding="utf-8")


def load_rules(path: Path | None = None) -> RuleSet:
    """Read and check a rules file (the shipped defaults when `path` is None)."""
    source = str(path) if path is not None else f"notifier/{DEFAULT_RULES}"
    try:
        text = path.read_text(encoding="utf-8") if path is not None else default_rules_text()
    except OSError as exc:
        raise NotifierError(f"rules file {source}: {exc}") from exc
    return parse_rules(text, source)


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise NotifierError(f"rules file {source}: {exc}") from exc
    return _Parser(source).ruleset(doc)


_TOP_LEVEL = {
    "min_service_confidence",
    "tip_only",
    "tip_offer",
    "offers",
    "reasons",
    "rules",
    "unknown_model",
    "escalation",
}
_ESCALATION_KEYS = {"fault_kinds", "severities", "reminder_after_hours", "callback_after_hours"}
_RULE_KEYS = {"name", "fault_kinds", "severities", "offer", "min_confidence"}


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> NotifierError:
        return NotifierError(f"rules file {self.source}: {where}: {message}")

    def ruleset(self, doc: dict[str, Any]) -> RuleSet:
        unknown = set(doc) - _TOP_LEVEL
        if unknown:
            raise self.fail("top level", f"unknown keys {sorted(unknown)}")
        offers = {
            name: self.offer_kind(name, entry) for name, entry in doc.get("offers", {}).items()
        }
        if not offers:
            raise self.fail("offers", "no offer kinds defined")
        tip_offer = doc.get("tip_offer", "self_help")
        if tip_offer not in offers or offers[tip_offer].service:
            raise self.fail("tip_offer", f"{tip_offer!r} must name an offer kind that is a tip")
        confidence = doc.get("min_service_confidence", 0.6)
        if not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
            raise self.fail("min_service_confidence", "must be a number between 0 and 1")
        rules = tuple(
            self.rule(index, entry, offers) for index, entry in enumerate(doc.get("rules", []))
        )
        if not rules:
            raise self.fail("rules", "no rules defined")
        names = [r.name for r in rules]
        duplicate = {n for n in names if names.count(n) > 1}
        if duplicate:
            raise self.fail("rules", f"names used twice: {sorted(duplicate)}")
        reasons = doc.get("reasons", {})
        for locale, table in reasons.items():
            if not all(isinstance(v, str) for v in table.values()):
                raise self.fail(f"reasons.{locale}", "every reason must be a string")
            self.fault_kinds(f"reasons.{locale}", list(table), wildcard=True)
        return RuleSet(
            rules=rules,
            offers=offers,
            reasons=reasons,
            unknown_model=doc.get("unknown_model", {"en": "device", "de": "Gerät"}),
            tip_only=frozenset(self.fault_kinds("tip_only", doc.get("tip_only", []))),
            tip_offer=tip_offer,
            min_service_confidence=float(confidence),
            source=self.source,
            escalation=self.escalation(doc.get("escalation")),
        )

    def escalation(self, entry: object) -> Escalation:
        """The `[escalation]` table; without one, nothing escalates."""
        if entry is None:
            return NO_ESCALATION
        if not isinstance(entry, dict):
            raise self.fail("escalation", "must be a table")
        unknown = set(entry) - _ESCALATION_KEYS
        if unknown:
            raise self.fail("escalation", f"unknown keys {sorted(unknown)}")
        missing = _ESCALATION_KEYS - set(entry)
        if missing:
            raise self.fail("escalation", f"missing keys {sorted(missing)}")
        hours = {}
        for key in ("reminder_after_hours", "callback_after_hours"):
            value = entry[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise self.fail(f"escalation.{key}", "must be a positive number of hours")
            hours[key] = timedelta(hours=value)
        if hours["callback_after_hours"] <= hours["reminder_after_hours"]:
            raise self.fail(
                "escalation.callback_after_hours", "must be later than reminder_after_hours"
            )
        return Escalation(
            fault_kinds=frozenset(self.fault_kinds("escalation.fault_kinds", entry["fault_kinds"])),
            severities=frozenset(self.severities("escalation.severities", entry["severities"])),
            reminder_after=hours["reminder_after_hours"],
            callback_after=hours["callback_after_hours"],
        )

    def strings(self, where: str, value: object) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, "must be a list of strings")
        return value

    def fault_kinds(self, where: str, value: object, *, wildcard: bool = False) -> list[str]:
        """A list of `FaultKind` values (and `ANY` where a wildcard may stand)."""
        kinds = self.strings(where, value)
        known = {k.value for k in FaultKind} | ({ANY} if wildcard else set())
        bad = sorted(set(kinds) - known)
        if bad:
            raise self.fail(where, f"unknown fault kinds {bad}; known: {sorted(known)}")
        return kinds

    def severities(self, where: str, value: object) -> list[Severity]:
        names = self.strings(where, value)
        known = [s.value for s in Severity]
        if not names or set(names) - set(known):
            raise self.fail(where, f"severities must be among {known}")
        return [Severity(n) for n in names]

    def templates(self, where: str, entry: Mapping[str, Any]) -> dict[str, Template]:
        found: dict[str, Template] = {}
        for locale, value in entry.items():
            if not isinstance(value, dict):
                continue
            extra = set(value) - {"title", "body"}
            if extra:
                raise self.fail(f"{where}.{locale}", f"unknown keys {sorted(extra)}")
            for key in ("title", "body"):
                if key in value:
                    self.check_template(f"{where}.{locale}.{key}", value[key])
            found[locale] = Template(value.get("title"), value.get("body"))
        return found

    def check_template(self, where: str, text: object) -> None:
        if not isinstance(text, str) or not text.strip():
            raise self.fail(where, "must be a non-empty string")
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise self.fail(where, f"bad template: {exc}") from exc
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if name not in PLACEHOLDERS or spec or conversion:
                raise self.fail(
                    where, f"unknown placeholder {{{name}}}; use {sorted(PLACEHOLDERS)}"
                )

    def offer_kind(self, name: str, entry: Any) -> OfferKind:
        where = f"offers.{name}"
        if not isinstance(entry, dict) or not isinstance(entry.get("service"), bool):
            raise self.fail(where, "needs `service = true|false`")
        templates = self.templates(where, entry)
        english = templates.get(FALLBACK_LOCALE)
        if english is None or not english.title or not english.body:
            raise self.fail(where, f"needs {FALLBACK_LOCALE}.title and {FALLBACK_LOCALE}.body")
        return OfferKind(name, entry["service"], templates)

    def rule(self, index: int, entry: Any, offers: Mapping[str, OfferKind]) -> DeclarativeRule:
        where = f"rules[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise self.fail(where, "needs a `name`")
        where = f"rules[{index}] ({entry['name']})"
        templates = self.templates(where, entry)
        unknown = set(entry) - _RULE_KEYS - set(templates)
        if unknown:
            raise self.fail(where, f"unknown keys {sorted(unknown)}")
        kinds = self.fault_kinds(f"{where}.fault_kinds", entry.get("fault_kinds"), wildcard=True)
        if not kinds:
            raise self.fail(where, "fault_kinds is empty")
        severities = self.severities(
            f"{where}.severities", entry.get("severities", [s.value for s in Severity])
        )
        offer = entry.get("offer")
        if offer != NO_OFFER and offer not in offers:
            raise self.fail(where, f"offer {offer!r} is not one of {sorted(offers)} or 'none'")
        if offer != NO_OFFER and offers[offer].service:
            low = sorted(s.value for s in severities if not at_least(s, SERVICE_MIN_SEVERITY))
            if low:
                raise self.fail(
                    where,
                    f"service offer {offer!r} for severities {low}: findings below "
                    f"{SERVICE_MIN_SEVERITY} get at most a tip",
                )
        confidence = entry.get("min_confidence", 0.0)
        if not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
            raise self.fail(where, "min_confidence must be a number between 0 and 1")
        return DeclarativeRule(
            name=entry["name"],
            fault_kinds=frozenset(kinds),
            severities=frozenset(severities),
            offer=None if offer == NO_OFFER else offer,
            min_confidence=float(confidence),
            templates=templates,
        )

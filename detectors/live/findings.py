"""Findings: one open finding per device and fault kind, opened, updated and resolved
with hysteresis from the rules' assessments.

A rule's assessment carries a `level`: at 1 or more its fault condition holds, under
`CLEAR_LEVEL` it is clear. A finding opens when the level has stayed at 1 or more for the
tracker's `sustain_s` of data time after the device's warm-up (a single jump or one noisy
day is not a fault), is updated as severity or confidence grow, and resolves only after the level
stayed under `CLEAR_LEVEL` for `clear_s` of data time, so a condition that flickers
around its threshold does not open and close findings. Times are data times (the
samples' own timestamps, in seconds), so a replay finds what the live path found.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from detectors.live.verdicts import NO_FACTOR, CohortFactor
from devicecare.contracts.vocabulary import SEVERITY_RANK, FindingStatus, Severity

CLEAR_LEVEL = 0.5
ONSET_LEVEL = 0.3
"""The level at which an excursion is taken to have begun (the finding's onset)."""
UPDATE_EVERY_S = 6 * 3600.0
LEGACY_TRACKER_FIELDS = 5
"""A tracker pickled before the sustain time has this many fields."""


def confidence(level: float) -> float:
    """How sure a level makes us: 0.5 at the threshold, towards 1 as it grows."""
    return float(min(0.99, max(0.0, 1.0 - 0.5 / level))) if level > 0 else 0.0


def rounded(value: float | None, digits: int = 3) -> float | None:
    """A figure for the evidence: rounded, None when unknown."""
    return None if value is None or math.isnan(value) else round(float(value), digits)


@dataclass(frozen=True)
class Explanation:
    """What a finding says: how bad, how sure, why (for the customer) and the evidence."""

    severity: Severity
    confidence: float
    reason: str
    evidence: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Assessment:
    """How strongly a fault kind holds now. The explanation is made only when a finding
    opens or changes, so assessing every block stays cheap."""

    kind: str
    level: float
    detector: str
    explain: Callable[[], Explanation]


def quiet(kind: str, detector: str) -> Assessment:
    """An assessment of a fault kind that does not hold."""
    return Assessment(kind, 0.0, detector, lambda: Explanation(Severity.INFO, 0.0, ""))


DEVICE_CLASSES = ("phone", "tablet", "laptop", "gateway")
DESKTOP_OS = ("ubuntu", "windows", "macos", "fedora", "chrome os", "chromeos")


def device_noun(device_class: str | None, model: str | None, os_name: str | None = None) -> str:
    """The word for a device in a customer text: its reported class when it is one of
    `DEVICE_CLASSES`, else a class read from the model and OS names, else "device"."""
    reported = (device_class or "").strip().lower()
    if reported in DEVICE_CLASSES:
        return reported
    name = (model or "").lower()
    words = set(name.replace("-", " ").split())
    system = (os_name or "").lower()
    if any(w in name for w in ("thinkpad", "laptop", "book")) or any(
        s in system for s in DESKTOP_OS
    ):
        return "laptop"
    if "tab" in name or "ipad" in name:
        return "tablet"
    if words & {"pi", "gateway", "router"}:
        return "gateway"
    if not name or words & {"sensor"}:
        return "device"
    return "phone"


def times_text(n: int) -> str:
    """How often, for a reason: "once", "twice", "3 times"; "not once" for 0 or less,
    which a rule that opened a finding should never need."""
    if n <= 0:
        return "not once"
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def days_text(days: float) -> str:
    """A duration in days for a reason: "within a day" under one, never negative."""
    if not math.isfinite(days) or days < 0:
        return "at an unknown time"
    if days < 1:
        return "within a day"
    whole = round(days)
    return "in about a day" if whole == 1 else f"in about {whole} days"


@dataclass(frozen=True)
class Context:
    """What a rule may know about its device beyond its telemetry."""

    device_id: str
    model: str | None = None
    os_version: str | None = None
    percentile: Callable[[str, float], float | None] = lambda _metric, _value: None
    """Where a value of a metric stands among the device's cohort (0-100), if known."""
    cohort_median: Callable[[str], float | None] = lambda _metric: None
    crash_spread: Callable[[str, float], tuple[int, int] | None] = lambda _sig, _since: None
    """How many other devices of the cohort crashed heavily with a signature since a
    time, and the cohort's size, if known."""

    device_class: str | None = None
    """What the device says it is (phone, tablet, laptop, gateway), when it says so."""
    os_name: str | None = None
    cohort_factor: Callable[[str, str], CohortFactor] = lambda _kind, _detector: NO_FACTOR
    """The threshold factor of a (fault kind, detector) in the device's cohort, from the
    verdicts on its findings there (`verdicts.py`)."""

    @property
    def noun(self) -> str:
        """How a customer calls the device: the class it reports, else one read from its
        model and OS names, else plain "device"."""
        return device_noun(self.device_class, self.model, self.os_name)

    @property
    def peers(self) -> str:
        return f"{self.model} {self.noun}s" if self.model else f"{self.noun}s like yours"


@dataclass(frozen=True)
class Finding:
    device_id: str
    kind: str
    status: FindingStatus
    severity: Severity
    confidence: float
    onset_at: float | None
    detected_at: float
    updated_at: float
    detector: str
    reason: str
    evidence: dict[str, object]
    resolved_at: float | None = None


@dataclass(frozen=True)
class Change:
    """What happened to a finding: `opened`, `updated` or `resolved`."""

    what: str
    finding: Finding


class Tracker:
    """The finding life cycle of one device and fault kind."""

    __slots__ = (
        "above_since",
        "clear_s",
        "clear_since",
        "open",
        "reported_at",
        "rising_since",
        "sustain_s",
    )

    def __init__(self, clear_s: float = 24 * 3600.0, sustain_s: float = 0.0) -> None:
        self.clear_s = clear_s
        self.sustain_s = sustain_s
        self.open: Finding | None = None
        self.rising_since = math.nan
        self.clear_since = math.nan
        self.reported_at = math.nan
        self.above_since = math.nan
        """Since when the level has stayed at 1 or more (NaN: it is under 1)."""

    def __getstate__(self) -> tuple[object, ...]:
        return (
            self.clear_s,
            self.open,
            self.rising_since,
            self.clear_since,
            self.reported_at,
            self.sustain_s,
            self.above_since,
        )

    def __setstate__(self, state: tuple[object, ...]) -> None:
        """Checkpoints written before the sustain time (five fields) load with none."""
        if len(state) == LEGACY_TRACKER_FIELDS:
            state = (*state, 0.0, math.nan)
        (
            self.clear_s,
            self.open,
            self.rising_since,
            self.clear_since,
            self.reported_at,
            self.sustain_s,
            self.above_since,
        ) = state  # type: ignore[assignment]

    def dismiss(self, detected_at: float) -> bool:
        """Forget the open finding detected at `detected_at` (data seconds, to the
        second), which someone marked a false alarm: the level must rise anew to open
        one. False when no such finding is open."""
        if self.open is None or not abs(self.open.detected_at - detected_at) < 1.0:
            return False
        self.open = None
        self.rising_since = math.nan
        self.clear_since = math.nan
        self.above_since = math.nan
        return True

    def observe(
        self, device_id: str, now: float, a: Assessment, *, may_open: bool
    ) -> Change | None:
        if a.level >= ONSET_LEVEL:
            if math.isnan(self.rising_since):
                self.rising_since = now
        elif a.level < ONSET_LEVEL / 2 and self.open is None:
            self.rising_since = math.nan
        if a.level >= 1.0:
            if math.isnan(self.above_since):
                self.above_since = now
        else:
            self.above_since = math.nan
        if self.open is None:
            sustained = now - self.above_since >= self.sustain_s
            if a.level >= 1.0 and may_open and sustained:
                why = a.explain()
                self.open = Finding(
                    device_id=device_id,
                    kind=a.kind,
                    status=FindingStatus.OPEN,
                    severity=why.severity,
                    confidence=round(why.confidence, 3),
                    onset_at=None if math.isnan(self.rising_since) else self.rising_since,
                    detected_at=now,
                    updated_at=now,
                    detector=a.detector,
                    reason=why.reason,
                    evidence=why.evidence,
                )
                self.clear_since = math.nan
                self.reported_at = now
                return Change("opened", self.open)
            return None
        return self._follow(now, a)

    def _follow(self, now: float, a: Assessment) -> Change | None:
        assert self.open is not None
        if a.level < CLEAR_LEVEL:
            if math.isnan(self.clear_since):
                self.clear_since = now
            if now - self.clear_since >= self.clear_s:
                done = replace(
                    self.open, status=FindingStatus.RESOLVED, updated_at=now, resolved_at=now
                )
                self.open = None
                self.rising_since = math.nan
                self.clear_since = math.nan
                return Change("resolved", done)
            return None
        self.clear_since = math.nan
        if a.level < 1.0:
            return None
        why = a.explain()
        worse = SEVERITY_RANK[why.severity] > SEVERITY_RANK[self.open.severity]
        due = now - self.reported_at >= UPDATE_EVERY_S
        if not (worse or due):
            return None
        self.open = replace(
            self.open,
            severity=why.severity if worse else self.open.severity,
            confidence=round(max(self.open.confidence, why.confidence), 3),
            updated_at=now,
            reason=why.reason,
            evidence=why.evidence,
        )
        self.reported_at = now
        return Change("updated", self.open)

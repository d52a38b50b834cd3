"""One device's detection state: its rules, its river anomaly model and its findings.

`DeviceState.process(block)` is the whole per-device path, the same in the live service,
in replays and in evaluation: late or repeated samples are dropped, every rule that the
device's sensors allow scores and learns the block, the hourly anomaly model scores and
learns (only from hours it did not flag), and each fault kind's assessments are
combined, ordered by precedence (the more specific kind wins when two explain the same
evidence) and followed by a finding tracker, which opens a finding only when the level
held for the profile's sustain time. After an OS update the rules settle: for
`settle_days` no kind's level may rise above what it was before the update, then every
rule re-baselines (`Rule.rebaseline`). Verdicts on the device's findings and its
cohort's (`feedback.py`, `verdicts.py`) raise the level a kind needs to open. A profile
names the rules and parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from detectors.base import Guarded, Rule
from detectors.block import Block
from detectors.live.anomaly import RELATED, TEMPERATURES, ScaledDeviation, hourly_features
from detectors.live.cohorts import Cohorts
from detectors.live.feedback import DeviceFeedback
from detectors.live.findings import (
    CLEAR_LEVEL,
    ONSET_LEVEL,
    Assessment,
    Change,
    Context,
    Explanation,
    Tracker,
    rounded,
)
from detectors.live.rules import REGISTRY
from detectors.live.rules.crashes import CrashLoop
from detectors.live.verdicts import Verdict
from devicecare.contracts import EventKind
from devicecare.contracts.vocabulary import FaultKind, FeedbackVerdict

DAY = 86_400.0
HOT_PERCENTILE = 90.0
SUPPORT_Z = 2.0
"""A related feature this many standard deviations off supports a finding."""
STATE_VERSION = 3
"""Version of a pickled `DeviceState`: a checkpoint of an older version keeps its open
findings and the device's description, and its rules start learning afresh."""
PRECEDENCE: dict[str, tuple[str, ...]] = {
    FaultKind.BATTERY_SWELLING.value: (
        FaultKind.BATTERY_BAD_CELL.value,
        FaultKind.BATTERY_FADE.value,
    ),
    FaultKind.BATTERY_BAD_CELL.value: (FaultKind.BATTERY_FADE.value,),
}
"""A kind whose level is at least `ONSET_LEVEL` keeps the kinds it explains (a swelling
or failing cell also loses capacity and sags) from opening findings of their own."""
OS_UPDATE_REASONS = ("os_update", "ota", "system_update", "firmware_update")
"""Reboot reasons that mean the OS was updated: the rules settle and re-baseline."""
HELD = 0.99
"""The level a kind is held at when precedence or settling keeps it from opening."""


@dataclass(frozen=True)
class DeviceProfile:
    """Which rules run, with which parameters, and the device-level hygiene."""

    name: str
    rules: dict[str, dict[str, float]] = field(default_factory=lambda: {n: {} for n in REGISTRY})
    warmup_days: float = 1.0
    clear_hours: float = 24.0
    assess_hours: float = 24.0
    sustain_hours: float = 12.0
    """How long a kind's level must stay at 1 or more before its finding opens."""
    self_sustained: tuple[str, ...] = (
        FaultKind.CRASH_LOOP.value,
        FaultKind.STORAGE_RUNAWAY.value,
    )
    """Kinds whose rules ask for sustained evidence themselves (a crash episode of a day
    and a half, days of growth in a row): no further sustain time."""
    settle_days: float = 3.0
    """After an OS update, how long levels may not rise above their pre-update values."""
    anomaly: dict[str, float] = field(default_factory=dict)
    anomaly_threshold: float = 0.9

    def build(self, name: str) -> Rule:
        return REGISTRY[name](**self.rules[name])


DEVICE_PROFILE = DeviceProfile("device")
DEVICE_PROFILES = {DEVICE_PROFILE.name: DEVICE_PROFILE}


def _os_update(reason: str | None) -> bool:
    """Whether a reboot's reason says the OS was updated."""
    reason = (reason or "").lower()
    return any(word in reason for word in OS_UPDATE_REASONS)


class DeviceState:
    def __init__(self, device_id: str, profile: DeviceProfile = DEVICE_PROFILE) -> None:
        self.version = STATE_VERSION
        self.device_id = device_id
        self.rules: dict[str, Rule] = {}
        self.trackers: dict[str, Tracker] = {}
        self.anomaly = Guarded(ScaledDeviation(**profile.anomaly), profile.anomaly_threshold)
        self.hour: dict[str, float] = {}
        self.first = math.nan
        self.last_ts = -math.inf
        self.last_event_ts = -math.inf
        self.prev: tuple[float, float, float] = (math.nan, math.nan, math.nan)
        self.late = 0
        self.model: str | None = None
        self.os_version: str | None = None
        self.os_name: str | None = None
        self.device_class: str | None = None
        self.updated_at = math.nan
        """Data time of the last OS update (NaN: none pending re-baselining)."""
        self.levels: dict[str, float] = {}
        """Each kind's level at the last assessment; before an update, its ceiling."""
        self.ceiling: dict[str, float] = {}
        self.judged: dict[str, float] = {}
        """Each kind's level above 0 at the last assessment as it counts towards a finding:
        after the verdicts on the device and its cohort, precedence and an update's
        settling."""
        self.feedback = DeviceFeedback()

    def __setstate__(self, state: dict[str, object]) -> None:
        """A checkpoint of an older version: its open findings and the device's
        description stay, its rules (whose fields may have changed) start afresh."""
        fresh = DeviceState(str(state["device_id"]))
        self.__dict__.update(fresh.__dict__)
        self.__dict__.update(state)
        if state.get("version", 1) != STATE_VERSION:
            self.rules = {}
            self.version = STATE_VERSION

    def describe(
        self,
        model: str | None,
        os_version: str | None,
        *,
        os_name: str | None = None,
        device_class: str | None = None,
    ) -> None:
        """What the device reports about itself; a changed OS version is an update,
        after which the rules settle and re-baseline."""
        if self.os_version is not None and os_version not in (None, self.os_version):
            self._updated(self.last_ts)
        self.model = model
        self.os_version = os_version
        self.os_name = os_name or self.os_name
        self.device_class = device_class or self.device_class

    def apply_feedback(self, verdict: Verdict) -> None:
        """A verdict on one of the device's findings: a false alarm closes the finding
        (already closed in the database) and raises the level its kind needs."""
        now = max(self.last_ts, self.last_event_ts)
        if not self.feedback.apply(verdict, now):
            return
        tracker = self.trackers.get(verdict.kind)
        if verdict.verdict is FeedbackVerdict.FALSE_ALARM and tracker is not None:
            tracker.dismiss(verdict.detected_at)

    def process(
        self, block: Block, cohorts: Cohorts | None = None, profile: DeviceProfile = DEVICE_PROFILE
    ) -> list[Change]:
        """Process a block; a long one (a backlog) in steps of at most `assess_hours`, so
        that findings are as timely as when the data arrives as it is taken."""
        step = profile.assess_hours * 3600
        if len(block) and block.ts[-1] - block.ts[0] > step:
            changes = []
            for part in block.split(step):
                changes += self._process(part, cohorts, profile)
            return changes
        return self._process(block, cohorts, profile)

    def _updated(self, at: float) -> None:
        """An OS update at data time `at`: the levels before it become the ceilings
        while it settles."""
        if not math.isfinite(at):
            return
        if math.isnan(self.updated_at):
            self.ceiling = dict(self.levels)
        self.updated_at = at

    def _process(
        self, block: Block, cohorts: Cohorts | None, profile: DeviceProfile
    ) -> list[Change]:
        fresh = block.after(self.last_ts)
        fresh.events = [e for e in block.events if e.ts > self.last_event_ts]
        self.late += len(block) - len(fresh)
        if not len(fresh) and not fresh.events:
            return []
        if len(fresh):
            if math.isnan(self.first):
                self.first = float(fresh.ts[0])
            self.last_ts = float(fresh.ts[-1])
        if fresh.events:
            self.last_event_ts = max(e.ts for e in fresh.events)
            for event in fresh.events:
                if event.kind == EventKind.REBOOT.value and _os_update(event.reason):
                    self._updated(event.ts)
        self._ensure_rules(fresh, profile)
        for rule in self.rules.values():
            rule.process_block(fresh)
        self._anomaly(fresh)
        now = max(self.last_ts, self.last_event_ts)
        context = self._context(cohorts)
        changes = self._follow(now, context, profile)
        if cohorts is not None:
            key = Cohorts.key(self.model, self.os_version)
            cohorts.update(key, self.device_id, self.figures())
            crashes = self.rules.get(FaultKind.CRASH_LOOP.value)
            if isinstance(crashes, CrashLoop):
                cohorts.crashed(key, self.device_id, crashes.heavy(now), now)
        return changes

    def _ensure_rules(self, block: Block, profile: DeviceProfile) -> None:
        for name in profile.rules:
            rule = REGISTRY[name]
            if (
                name not in self.rules
                and all(block.has(m) for m in rule.needs)
                and not any(block.has(m) for m in rule.excludes)
            ):
                self.rules[name] = profile.build(name)

    def _anomaly(self, block: Block) -> None:
        if not len(block):
            return
        hours = hourly_features(block, self.prev)
        for x in hours:
            self.anomaly.process_one(x)
        if hours:
            self.hour = hours[-1]
        used = block.col("storage_total_bytes") - block.col("storage_free_bytes")
        self.prev = (float(block.ts[-1]), float(block.col("battery_pct")[-1]), float(used[-1]))

    def _context(self, cohorts: Cohorts | None) -> Context:
        if cohorts is None:
            return Context(
                self.device_id,
                self.model,
                self.os_version,
                device_class=self.device_class,
                os_name=self.os_name,
            )
        key = Cohorts.key(self.model, self.os_version)
        return Context(
            self.device_id,
            self.model,
            self.os_version,
            percentile=lambda metric, value: cohorts.percentile(key, metric, value),
            cohort_median=lambda metric: cohorts.median(key, metric),
            crash_spread=lambda signature, since: cohorts.crash_spread(
                key, signature, self.device_id, since
            ),
            cohort_factor=lambda kind, detector: cohorts.verdicts.factor(key, kind, detector),
            device_class=self.device_class,
            os_name=self.os_name,
        )

    def _follow(self, now: float, context: Context, profile: DeviceProfile) -> list[Change]:
        by_kind: dict[str, list[Assessment]] = {}
        for rule in self.rules.values():
            for a in rule.assess(now, context):
                by_kind.setdefault(a.kind, []).append(a)
        may_open = not math.isnan(self.first) and now - self.first >= profile.warmup_days * DAY
        combined = {k: self._combine(k, a, context) for k, a in by_kind.items()}
        self.levels = {k: a.level for k, a in combined.items()}
        held = self._held(now, profile)
        changes = []
        self.judged = {}
        for kind, combined_assessment in combined.items():
            assessment = self._judged(combined_assessment, now, context)
            if (judged := min(assessment.level, held.get(kind, math.inf))) > 0:
                self.judged[kind] = judged
            tracker = self.trackers.get(kind)
            if tracker is None:
                if assessment.level < ONSET_LEVEL / 2:
                    continue
                sustain = 0.0 if kind in profile.self_sustained else profile.sustain_hours
                tracker = self.trackers[kind] = Tracker(profile.clear_hours * 3600, sustain * 3600)
            ceiling = held.get(kind)
            if ceiling is not None and assessment.level > ceiling:
                assessment = replace(assessment, level=ceiling)
            change = tracker.observe(self.device_id, now, assessment, may_open=may_open)
            self.feedback.follow(
                kind,
                combined_assessment.level,
                opened=change is not None and change.what == "opened",
                open_now=tracker.open is not None,
            )
            if change is not None:
                changes.append(change)
        return changes

    def _judged(self, assessment: Assessment, now: float, context: Context) -> Assessment:
        """The assessment as the verdicts on this device and its cohort let it count."""
        cohort = context.cohort_factor(assessment.kind, assessment.detector)
        return self.feedback.adjust(assessment, now, cohort)

    def _held(self, now: float, profile: DeviceProfile) -> dict[str, float]:
        """The ceiling of each kind's level: under 1 for a kind a more specific one
        explains, the pre-update level while an OS update settles. At the end of the
        settling, every rule re-baselines."""
        held: dict[str, float] = {}
        for kind, explained in PRECEDENCE.items():
            if self.levels.get(kind, 0.0) >= ONSET_LEVEL:
                for other in explained:
                    held[other] = HELD
        if not math.isnan(self.updated_at):
            if now - self.updated_at < profile.settle_days * DAY:
                for kind in self.levels:
                    before = min(self.ceiling.get(kind, 0.0), HELD)
                    held[kind] = min(held.get(kind, math.inf), max(before, 0.0))
            else:
                for rule in self.rules.values():
                    rule.rebaseline(now)
                self.updated_at = math.nan
                self.ceiling = {}
        return held

    def _combine(self, kind: str, assessments: list[Assessment], context: Context) -> Assessment:
        """The strongest rule decides the level; the others and the anomaly model's
        deviations of the related features add evidence and confidence."""
        lead = max(assessments, key=lambda a: a.level)
        if lead.level < 1.0:
            return lead
        others = [a for a in assessments if a is not lead]
        deviations = self._supporting(kind, context)

        def explain() -> Explanation:
            why = lead.explain()
            evidence = dict(why.evidence)
            doubt = 1.0 - why.confidence
            for other in others:
                if other.level >= CLEAR_LEVEL:
                    extra = other.explain()
                    evidence |= {k: v for k, v in extra.evidence.items() if k not in evidence}
                    doubt *= 1.0 - 0.5 * extra.confidence
            if deviations:
                top = max(abs(z) for z in deviations.values())
                doubt *= 1.0 - 0.5 * (1.0 - math.exp(-((top / 4.0) ** 2)))
            evidence["top_signals"] = {k: rounded(z, 1) for k, z in deviations.items()}
            evidence["detectors"] = sorted({lead.detector, *(o.detector for o in others)})
            return replace(why, confidence=min(0.99, 1.0 - doubt), evidence=evidence)

        return Assessment(kind, lead.level, lead.detector, explain)

    def _supporting(self, kind: str, context: Context) -> dict[str, float]:
        """Deviations of the features related to a fault kind, strongest first; a
        temperature counts only when the device is hot against its cohort, so a
        heat wave that warms the whole cohort is not evidence of a fault."""
        related = {
            k: z
            for k, z in self.anomaly.anomaly_detector.deviations(self.hour).items()
            if k in RELATED.get(kind, ()) and abs(z) >= SUPPORT_Z
        }
        for feature in TEMPERATURES & related.keys():
            percentile = context.percentile(feature, self.hour[feature])
            if percentile is not None and percentile < HOT_PERCENTILE:
                del related[feature]
        return dict(sorted(related.items(), key=lambda kv: -abs(kv[1]))[:3])

    def figures(self) -> dict[str, float]:
        """Summary figures for cohorts and the device_health table."""
        out: dict[str, float] = {}
        fade = self.rules.get("capacity_fade")
        if fade is not None:
            out["battery_health_pct"] = fade.health  # type: ignore[attr-defined]
            out["battery_fade_pct_per_day"] = fade.measured_fade()  # type: ignore[attr-defined]
        for feature in TEMPERATURES:
            value = self.hour.get(feature)
            if value is not None:
                out[feature] = value
        return {k: v for k, v in out.items() if not math.isnan(v)}

    def open_findings(self) -> list[str]:
        return [k for k, t in self.trackers.items() if t.open is not None]

"""High-resolution sampling on suspicion: the policy, pure and shared by the live service
and the backtest.

While a fault kind's evidence is building but not conclusive (its level at or above
`Policy.level` and no finding open for it: under 1, or at 1 but not yet sustained), the
device is asked to sample the signals concerned faster for `Policy.hours`, so that the
evidence firms up (or fades) on more data. A device is raised at most once at a time, not
again within `rest_hours` of its last raise ending (no flapping), only with its owner's
telemetry consent, and never while `budget_pct` of the fleet is raised already. Times are
seconds on one clock: data time in the backtest, the wall clock in the live service.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from detectors.live.device import DeviceState
from devicecare.contracts import CollectorName
from devicecare.contracts.vocabulary import FaultCategory, FaultKind

HOUR = 3600.0

SIGNALS: dict[FaultCategory, tuple[CollectorName, ...]] = {
    FaultCategory.BATTERY: (CollectorName.BATTERY,),
    FaultCategory.THERMAL: (CollectorName.THERMAL, CollectorName.BATTERY),
    FaultCategory.STORAGE: (CollectorName.STORAGE,),
    FaultCategory.CRASH: (),
}
"""The collectors whose sampled signals a fault category's rules read (a charger or a
cooling fault shows in the battery's charge and temperature as well as in the CPU's).
Crashes arrive as events with their own timestamps, whatever the crash collector's
interval, so faster sampling adds nothing to their evidence: no raise for them."""


@dataclass(frozen=True)
class Policy:
    level: float = 0.5
    """A kind at this level or more, without an open finding, is a suspicion."""
    hours: float = 48.0
    """How long sampling stays raised."""
    interval_s: int = 10
    """The sampling interval while raised."""
    rest_hours: float = 72.0
    """After a raise ends, how long before the same device may be raised again."""
    budget_pct: float = 5.0
    """At most this share of the fleet is raised at once."""


@dataclass(frozen=True)
class Suspicion:
    """A fault kind whose evidence is building: its level and the rules behind it."""

    kind: str
    level: float
    rules: tuple[str, ...]

    @property
    def collectors(self) -> tuple[CollectorName, ...]:
        return SIGNALS[FaultKind(self.kind).category]


def suspicions(state: DeviceState, policy: Policy) -> list[Suspicion]:
    """The device's kinds whose level, as it counts towards a finding (after feedback,
    precedence and an update's settling), reached `policy.level` with no finding open and
    whose signals are sampled, strongest first."""
    found = []
    for kind, level in state.judged.items():
        tracker = state.trackers.get(kind)
        if level < policy.level or (tracker is not None and tracker.open is not None):
            continue
        if not SIGNALS[FaultKind(kind).category]:
            continue
        rules = tuple(sorted(n for n, r in state.rules.items() if kind in type(r).kinds))
        found.append(Suspicion(kind, float(level), rules))
    return sorted(found, key=lambda s: -s.level)


def collectors_of(found: Iterable[Suspicion]) -> list[CollectorName]:
    """The collectors the suspicions concern, in the contract's order."""
    wanted = {c for s in found for c in s.collectors}
    return [c for c in CollectorName if c in wanted]


def signals_text(collectors: Iterable[CollectorName]) -> str:
    """ "battery and thermal signals"."""
    names = [c.value for c in collectors]
    joined = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f"{joined} signals"


def evidence_text(found: list[Suspicion]) -> str:
    """Why, for the timeline: "evidence building (capacity_fade at level 0.70 for KIND)"."""
    parts = [f"{'/'.join(s.rules) or 'rules'} at level {s.level:.2f} for {s.kind}" for s in found]
    return f"evidence building ({'; '.join(parts)})"


class Verdict(StrEnum):
    RAISE = "raise"
    ACTIVE = "active"
    """Already raised."""
    RESTING = "resting"
    """Raised too recently."""
    OVER_BUDGET = "over_budget"
    NO_CONSENT = "no_consent"


def decide(
    policy: Policy,
    now: float,
    *,
    active: bool,
    last_ended: float | None,
    consent: bool,
    raised: int,
    fleet: int,
) -> Verdict:
    """Whether a device with a suspicion may be raised now, given its history (`active`, the
    end of its last raise) and how many of the `fleet`'s devices are `raised`."""
    if active:
        return Verdict.ACTIVE
    if not consent:
        return Verdict.NO_CONSENT
    if last_ended is not None and now - last_ended < policy.rest_hours * HOUR:
        return Verdict.RESTING
    if raised + 1 > budget(policy, fleet):
        return Verdict.OVER_BUDGET
    return Verdict.RAISE


def budget(policy: Policy, fleet: int) -> int:
    """How many devices may be raised at once: `budget_pct` of the fleet, rounded down."""
    return math.floor(fleet * policy.budget_pct / 100 + 1e-9)


@dataclass(frozen=True)
class Raise:
    device_id: str
    started: float
    until: float
    collectors: tuple[CollectorName, ...]
    why: str


@dataclass
class Ledger:
    """The raises of a fleet in memory (the backtest's; the live service keeps them as
    device config layers): which are active, when each device's last one ended."""

    policy: Policy
    fleet: int
    active: dict[str, Raise] = field(default_factory=dict)
    last_ended: dict[str, float] = field(default_factory=dict)
    refused: dict[Verdict, int] = field(default_factory=dict)
    raises: list[Raise] = field(default_factory=list)

    def consider(
        self, device_id: str, now: float, found: list[Suspicion], *, consent: bool = True
    ) -> Raise | None:
        """Raise the device for its suspicions if the policy allows; the raise or None."""
        if not found:
            return None
        verdict = decide(
            self.policy,
            now,
            active=device_id in self.active,
            last_ended=self.last_ended.get(device_id),
            consent=consent,
            raised=len(self.active),
            fleet=self.fleet,
        )
        if verdict is not Verdict.RAISE:
            self.refused[verdict] = self.refused.get(verdict, 0) + 1
            return None
        raised = Raise(
            device_id,
            now,
            now + self.policy.hours * HOUR,
            tuple(collectors_of(found)),
            evidence_text(found),
        )
        self.active[device_id] = raised
        self.raises.append(raised)
        return raised

    def expire(self, now: float) -> list[Raise]:
        """End the raises whose time is up; those ended."""
        ended = [r for r in self.active.values() if r.until <= now]
        for r in ended:
            del self.active[r.device_id]
            self.last_ended[r.device_id] = r.until
        return ended

"""One device's verdicts, applied to its assessments.

After a **false alarm** the same device and fault kind does not open again on the same
evidence: for `HOLD_DAYS` of data time its level must reach `MARGIN` times the highest
level of the finding that was marked wrong (and at least `MARGIN` times the threshold).
A **confirmed** finding (a repair found the fault) lifts that floor and exempts the
device's kind from its cohort's threshold factor (`verdicts.py`) for as long, so that a
fault known to be real is not resolved because others of its cohort were wrong. Levels
are divided by the larger of the floor and the cohort factor: a level is the evidence
over the rule's threshold, so dividing it raises the threshold by that factor. A finding
that opens or updates under either says so in `evidence.feedback`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from detectors.live.findings import Assessment, Explanation, rounded
from detectors.live.verdicts import CohortFactor, Verdict
from devicecare.contracts.vocabulary import FeedbackVerdict

DAY = 86_400.0
MARGIN = 1.5
"""After a false alarm, how many times the level it was marked wrong at it must reach."""
HOLD_DAYS = 30.0
"""How long a false alarm's floor (or a confirmation's exemption) lasts, in data days."""


@dataclass(frozen=True)
class Floor:
    """The level a kind must reach after a false alarm, until data time `until`."""

    marked: float
    needed: float
    until: float


@dataclass
class DeviceFeedback:
    """What the device's verdicts require of its kinds; pickled with its state."""

    applied: set[int] = field(default_factory=set)
    floors: dict[str, Floor] = field(default_factory=dict)
    confirmed: dict[str, float] = field(default_factory=dict)
    """Kinds a repair confirmed, until when (data time)."""
    peaks: dict[str, float] = field(default_factory=dict)
    """The highest level of each kind's current or last finding."""

    def apply(self, verdict: Verdict, now: float) -> bool:
        """Take a verdict into account at data time `now` (the verdict's own time when
        the device has no data yet); False when it was applied already."""
        if verdict.feedback_id in self.applied:
            return False
        self.applied.add(verdict.feedback_id)
        start = now if math.isfinite(now) else verdict.ts
        if verdict.verdict is FeedbackVerdict.FALSE_ALARM:
            marked = max(self.peaks.get(verdict.kind, 1.0), 1.0)
            self.floors[verdict.kind] = Floor(marked, marked * MARGIN, start + HOLD_DAYS * DAY)
            self.confirmed.pop(verdict.kind, None)
        else:
            self.confirmed[verdict.kind] = start + HOLD_DAYS * DAY
            self.floors.pop(verdict.kind, None)
        return True

    def follow(self, kind: str, level: float, *, opened: bool, open_now: bool) -> None:
        """Remember the highest level of the kind's finding while it is open."""
        if opened:
            self.peaks[kind] = level
        elif open_now:
            self.peaks[kind] = max(self.peaks.get(kind, level), level)

    def adjust(self, a: Assessment, now: float, cohort: CohortFactor) -> Assessment:
        """The assessment with its level divided by the floor or the cohort factor."""
        if self.confirmed.get(a.kind, -math.inf) > now:
            return a
        floor = self.floors.get(a.kind)
        if floor is not None and floor.until <= now:
            del self.floors[a.kind]
            floor = None
        divisor = max(cohort.factor if cohort.raised else 1.0, floor.needed if floor else 1.0)
        if divisor <= 1.0:
            return a

        def explain() -> Explanation:
            why = a.explain()
            notes = {"level": rounded(a.level, 2), "needed_level": rounded(divisor, 2)}
            if cohort.raised:
                notes |= {
                    "cohort_threshold_factor": rounded(cohort.factor, 2),
                    "cohort_marked_wrong": cohort.wrong,
                    "cohort_confirmed": cohort.confirmed,
                    "cohort_note": cohort.note(),
                }
            if floor is not None:
                notes |= {
                    "marked_wrong_at_level": rounded(floor.marked, 2),
                    "false_alarm_note": (
                        f"opened again after a false alarm: the evidence is {a.level:.2f}x the"
                        f" rule's threshold, against {floor.marked:.2f}x when it was marked"
                        f" wrong (needs {floor.needed:.2f}x)"
                    ),
                }
            return replace(why, evidence={**why.evidence, "feedback": notes})

        return replace(a, level=a.level / divisor, explain=explain)

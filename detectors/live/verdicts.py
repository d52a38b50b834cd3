"""Verdicts on findings, counted per cohort: how much more evidence a detector needs there.

Owners answer "this was wrong", and repairs find the fault or find nothing; each answer
is a row of `finding_feedback` (migration 0005). Counted per cohort (model and OS
version, as in `cohorts.py`), fault kind and detector, they give a **threshold factor**:
the rule's level must reach this factor before its finding opens in that cohort. The
share of findings marked wrong is estimated with a Beta prior worth `PRIOR_WRONG +
PRIOR_CONFIRMED` answers at the share a detector is allowed (`TOLERATED`), so a single
wrong answer barely moves it, many move it far, and confirmed findings pull it back.
The factor grows with the estimated share beyond the tolerated one, to at most
`MAX_FACTOR` when every answer says wrong.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from devicecare.contracts.vocabulary import FeedbackVerdict

PRIOR_WRONG = 2.0
PRIOR_CONFIRMED = 8.0
TOLERATED = PRIOR_WRONG / (PRIOR_WRONG + PRIOR_CONFIRMED)
"""The share of wrong findings a detector may have before it becomes more conservative:
the prior's mean, so that without answers the factor is 1."""
GAIN = 1.2
"""Factor per unit of estimated wrong share beyond `TOLERATED` (7 of 10 wrong: x1.3)."""
MAX_FACTOR = 1.0 + GAIN * (1.0 - TOLERATED)
"""The factor's limit (1.96): the level must reach about twice the rule's threshold."""
SLACK_IDS = 1000
"""Verdict ids this far under the highest one seen are read again, so that a row whose
transaction committed after a later id's is still counted (once: ids are remembered)."""

Cohort = tuple[str, str]


def wrong_share(wrong: int, confirmed: int) -> float:
    """The estimated share of a detector's findings that are wrong (the Beta posterior mean)."""
    return (wrong + PRIOR_WRONG) / (wrong + confirmed + PRIOR_WRONG + PRIOR_CONFIRMED)


def threshold_factor(wrong: int, confirmed: int) -> float:
    """How many times the rule's threshold a level must reach: 1 up to the tolerated
    share of wrong findings, growing beyond it towards `MAX_FACTOR`."""
    return 1.0 + GAIN * max(0.0, wrong_share(wrong, confirmed) - TOLERATED)


@dataclass(frozen=True)
class Verdict:
    """One row of `finding_feedback`, with the device's cohort and the finding's
    detection time (data seconds; NaN when unknown)."""

    feedback_id: int
    ts: float
    device_id: str
    kind: str
    detector: str
    verdict: FeedbackVerdict
    cohort: Cohort
    detected_at: float


@dataclass(frozen=True)
class CohortFactor:
    """The threshold factor in effect for a detector's kind in a cohort, and why."""

    factor: float = 1.0
    wrong: int = 0
    confirmed: int = 0

    @property
    def raised(self) -> bool:
        return self.factor > 1.0 + 1e-9

    def note(self) -> str:
        answered = self.wrong + self.confirmed
        return (
            f"threshold raised x{self.factor:.2f} in this cohort after {self.wrong} of"
            f" {answered} answered findings were marked wrong"
        )


NO_FACTOR = CohortFactor()


@dataclass
class Tally:
    wrong: int = 0
    confirmed: int = 0

    @property
    def factor(self) -> CohortFactor:
        return CohortFactor(
            threshold_factor(self.wrong, self.confirmed), self.wrong, self.confirmed
        )


class CohortVerdicts:
    """Verdict counts per (cohort, fault kind, detector), each verdict counted once."""

    def __init__(self) -> None:
        self.tallies: dict[tuple[Cohort, str, str], Tally] = defaultdict(Tally)
        self.cursor = 0
        """The highest verdict id counted."""
        self.recent: set[int] = set()
        """Ids counted within `SLACK_IDS` of the cursor."""

    @property
    def since(self) -> int:
        """Read verdicts with ids above this: the cursor less the slack."""
        return max(0, self.cursor - SLACK_IDS)

    def count(self, verdict: Verdict) -> bool:
        """Count a verdict; False when it was counted already."""
        if verdict.feedback_id <= self.since or verdict.feedback_id in self.recent:
            return False
        tally = self.tallies[(verdict.cohort, verdict.kind, verdict.detector)]
        if verdict.verdict is FeedbackVerdict.FALSE_ALARM:
            tally.wrong += 1
        else:
            tally.confirmed += 1
        self.recent.add(verdict.feedback_id)
        if verdict.feedback_id > self.cursor:
            self.cursor = verdict.feedback_id
            floor = self.since
            self.recent = {i for i in self.recent if i > floor}
        return True

    def factor(self, cohort: Cohort, kind: str, detector: str) -> CohortFactor:
        tally = self.tallies.get((cohort, kind, detector))
        return NO_FACTOR if tally is None else tally.factor

    def summary(self) -> list[tuple[str, str, Cohort, CohortFactor]]:
        """(detector, kind, cohort, factor) for every tally, most conservative first."""
        rows = [(d, k, c, t.factor) for (c, k, d), t in self.tallies.items()]
        return sorted(rows, key=lambda r: (-r[3].factor, r[0], r[1], r[2]))

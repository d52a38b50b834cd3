"""Named detector profiles: what `devicecare detect replay --profile NAME` (and, later, the
live service) builds for one univariate series.

A profile is a factory of a configured univariate detector plus a one-line description.
Adding one is a function and one `register` line; every registered profile is covered by
the conformance tests (clone, pickle, determinism, scores in [0, 1]).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from detectors.base import Detector
from detectors.replay.hst import ScaledHalfSpaceTrees
from detectors.replay.univariate import RecordBreaker
from devicecare.errors import DeviceCareError


class UnknownProfileError(DeviceCareError):
    """No detector profile has that name."""


@dataclass(frozen=True)
class ReplayProfile:
    name: str
    description: str
    factory: Callable[[], Detector]

    def build(self) -> Detector:
        return self.factory()


PROFILES: dict[str, ReplayProfile] = {}


def register(name: str, description: str, factory: Callable[[], Detector]) -> None:
    if name in PROFILES:
        raise ValueError(f"profile {name!r} is registered twice")
    PROFILES[name] = ReplayProfile(name, description, factory)


def get(name: str) -> ReplayProfile:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise UnknownProfileError(f"unknown detector profile {name!r} (known: {known})") from None


register(
    "default",
    "Records of the value, its time-of-day residual and its activity; one alert per event.",
    RecordBreaker,
)
register(
    "hst",
    "Baseline: river's default Half-Space Trees on min-max-scaled values.",
    ScaledHalfSpaceTrees,
)

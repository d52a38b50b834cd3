"""The detectors' extension point, in river's own terms.

A detector is a river `AnomalyDetector`: `learn_one(x)` updates it, `score_one(x)` says how
unusual `x` is, high score = anomaly, and every DeviceCare detector keeps its scores in
[0, 1] so that they can be combined and thresholded alike. Behaviour that applies to any
detector comes by wrapping, as river does: `Guarded` scores a point, and learns from it
only when it was not flagged, so an anomaly never becomes the model's new normal.
"""

from __future__ import annotations

import abc
import functools
import inspect
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from river import anomaly
from river import base as river_base

from detectors.block import Block

if TYPE_CHECKING:
    from detectors.live.findings import Assessment, Context

Features = dict[str, Any]


class Detector(river_base.AnomalyDetector):
    """A streaming detector with scores in [0, 1]; `name` registers it in a profile."""

    name: ClassVar[str]


class Guarded(anomaly.ThresholdFilter):
    """Wraps a detector: `process_one` scores a point, then learns from it only if the
    score stayed under `threshold`."""

    def __init__(self, anomaly_detector: Detector, threshold: float) -> None:
        super().__init__(anomaly_detector, threshold, protect_anomaly_detector=True)

    def process_one(self, x: Features) -> float:
        score = self.anomaly_detector.score_one(x)
        if not self.classify(score):
            self.anomaly_detector.learn_one(x)
        return score


class Rule(Detector):
    """A per-device detector for one or more fault kinds, fed a block at a time.

    `score_block` scores every sample of a block against what the rule has learned so
    far (without changing it); `learn_block` learns from the samples `mask` selects;
    `process_block` does both, learning only from samples it did not flag. `assess`
    says, at data time `now`, how strongly each of its fault kinds holds. `learn_one`
    and `score_one` are the same on a one-sample block, for river's API.
    """

    kinds: ClassVar[tuple[str, ...]]
    needs: ClassVar[tuple[str, ...]] = ()
    """Metrics the device must report for the rule to run."""
    excludes: ClassVar[tuple[str, ...]] = ()
    """Metrics that make the rule moot when a device reports them (another rule covers
    such devices): it is not built for them, and keeps no state."""
    flag_at: ClassVar[float] = 0.9

    @abc.abstractmethod
    def score_block(self, block: Block) -> np.ndarray: ...

    @abc.abstractmethod
    def learn_block(self, block: Block, mask: np.ndarray) -> None: ...

    @abc.abstractmethod
    def assess(self, now: float, context: Context) -> list[Assessment]: ...

    def rebaseline(self, now: float) -> None:
        """Start the device's baseline afresh at data time `now`, after an OS update has
        settled (a new normal for heat, storage or crashes). Rules whose baseline an
        update cannot move (battery physics) keep theirs: the default."""

    def __getstate__(self) -> dict[str, Any]:
        """The rule's state for a checkpoint, without the parameters left at their
        defaults: a restored rule shares the default objects rather than holding a copy
        of each for every device."""
        defaults = _parameter_defaults(type(self))
        return {k: v for k, v in self.__dict__.items() if not _is_default(defaults, k, v)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        defaults = _parameter_defaults(type(self))
        for name, value in (defaults | state).items():  # in __init__'s order: shared keys
            setattr(self, name, defaults[name] if _is_default(defaults, name, value) else value)

    def process_block(self, block: Block) -> np.ndarray:
        scores = self.score_block(block)
        self.learn_block(block, scores < self.flag_at)
        return scores

    def learn_one(self, x: Features) -> None:
        block = Block.one(x)
        self.learn_block(block, np.ones(1, dtype=bool))

    def score_one(self, x: Features) -> float:
        return float(self.score_block(Block.one(x))[0])


_SCALARS = (bool, int, float, str)


@functools.cache
def _parameter_defaults(cls: type[Rule]) -> dict[str, Any]:
    """The scalar defaults of `cls`'s keyword parameters, each kept under its own name
    (the rules store every parameter as the attribute of that name)."""
    return {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if p.kind is p.KEYWORD_ONLY and type(p.default) in _SCALARS
    }


def _is_default(defaults: dict[str, Any], name: str, value: Any) -> bool:
    default = defaults.get(name, inspect.Parameter.empty)
    return type(value) is type(default) and value == default

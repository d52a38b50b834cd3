"""The baseline: river's Half-Space Trees, as the design names it, on min-max-scaled values.

Half-Space Trees expect features in [0, 1]; a running min-max scaler puts the value there.
Only `value` is modelled (the timestamp is not a feature); a point without a finite value
is skipped, as in every profile. Every argument is river's
default, except that `seed` is fixed so that a replay is repeatable.
"""

from __future__ import annotations

from river import anomaly, preprocessing

from detectors.base import Detector, Features
from detectors.replay.features import value_of


class ScaledHalfSpaceTrees(Detector):
    """`HalfSpaceTrees` after a running `MinMaxScaler`; river's score is already in [0, 1]."""

    name = "hst"

    def __init__(
        self, n_trees: int = 10, height: int = 8, window_size: int = 250, seed: int = 42
    ) -> None:
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.seed = seed
        self._scaler = preprocessing.MinMaxScaler()
        self._trees = anomaly.HalfSpaceTrees(
            n_trees=n_trees, height=height, window_size=window_size, seed=seed
        )

    def learn_one(self, x: Features) -> None:
        v = value_of(x)
        if v is None:
            return
        value = {"value": v}
        self._scaler.learn_one(value)
        self._trees.learn_one(self._scaler.transform_one(value))

    def score_one(self, x: Features) -> float:
        v = value_of(x)
        if v is None:
            return 0.0
        value = {"value": v}
        return float(self._trees.score_one(self._scaler.transform_one(value)))

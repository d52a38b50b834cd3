"""The detectors' extension point, in river's own terms.

A detector is a river `AnomalyDetector`: `learn_one(x)` updates it, `score_one(x)` says how
unusual `x` is, high score = anomaly, and every DeviceCare detector keeps its scores in
[0, 1] so that they can be combined and thresholded alike. Behaviour that applies to any
detector comes by wrapping, as river does: `Guarded` scores a point, and learns from it
only when it was not flagged, so an anomaly never becomes the model's new normal.
"""

from __future__ import annotations

from typing import Any, ClassVar

from river import anomaly
from river import base as river_base

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

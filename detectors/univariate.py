"""The default univariate detector: several complementary views of one series.

Each view turns the newest point into a raw measure of how unusual it is; each raw measure
is calibrated by its own running distribution (`TailSurprise`), the strongest view wins,
and a refractory period keeps one event from alerting again and again.

Views:
- level: distance of the value from a slow, robust EW mean, in EW standard deviations;
- change: size of the step from the previous value, in typical step sizes;
- shift: distance between a fast and the slow EW mean, in slow standard deviations
  (level shifts and drifts that build up from small steps).

Statistics are winsorised: a point updates them as if it lay at most `clip` standard
deviations away, so a spike does not inflate the scale, while a persistent shift is still
followed within a few dozen points.
"""

from __future__ import annotations

import math

from detectors.base import Detector, Features
from detectors.calibration import LogZ, TailSurprise
from detectors.patterns import PatternView

_TINY = 1e-9
_MIN_POINTS = 2  # a step needs a previous value
_CLIP_AFTER = 10  # winsorise only once the scale means something


class MultiView(Detector):
    """Robust multi-view detector for telemetry-like series; scores in [0, 1]."""

    name = "multiview"

    def __init__(
        self,
        *,
        slow: float = 0.01,
        fast: float = 0.2,
        clip: float = 3.0,
        settle: int = 30,
        warmup: int = 150,
        refractory: float = 0.97,
        scale: float = 4.0,
        damp: float = 0.5,
        excess: bool = False,
        calibrate: bool | str = True,
        record_fade: float = 0.999,
        views: tuple[str, ...] = ("level", "step", "shift", "pattern"),
    ) -> None:
        self.views = views
        self.damp = damp
        self.excess = excess
        self.calibrate = calibrate
        self.record_fade = record_fade
        self._use = tuple(name in views for name in ("level", "step", "shift", "pattern"))
        self.slow = slow
        self.fast = fast
        self.clip = clip
        self.settle = settle
        self.warmup = warmup
        self.refractory = refractory
        self.scale = scale
        self._n = 0
        self._prev = 0.0
        self._mean = 0.0
        self._var = 0.0
        self._fast_mean = 0.0
        self._step = 0.0
        self._peak = 0.0
        self._views = tuple(
            (LogZ(fade=record_fade) if calibrate == "logz" else TailSurprise(fade=record_fade))
            for _ in range(4)
        )
        self._patterns = PatternView()
        self._pending: tuple[float, float, tuple[float, ...]] | None = None

    def _raw(self, v: float) -> tuple[float, ...]:
        sd = math.sqrt(self._var)
        floor = _TINY * (abs(self._mean) + 1.0)
        sd = max(sd, floor)
        level = abs(v - self._mean) / sd
        step = abs(v - self._prev) / max(self._step, floor)
        fast = self._fast_mean + self.fast * (v - self._fast_mean)
        shift = abs(fast - self._mean) / sd
        return level, step, shift, self._patterns.raw(v)

    def _surprise(self, raws: tuple[float, ...]) -> float:
        return max(
            (view.surprise(r) if self.calibrate else math.log1p(r)) if use else 0.0
            for view, r, use in zip(self._views, raws, self._use, strict=True)
        )

    def score_one(self, x: Features) -> float:
        v = float(x["value"])
        if self._n < _MIN_POINTS:
            return 0.0
        raws = self._raw(v)
        s = self._surprise(raws)
        self._pending = (v, s, raws)
        if self._n < self.warmup:
            return 0.0
        if self.excess:
            s = max(0.0, s - self.damp * self._peak)
        elif s <= self._peak:
            s *= self.damp
        return s / (s + self.scale)

    def learn_one(self, x: Features) -> None:
        v = float(x["value"])
        if self._n == 0:
            self._mean = self._fast_mean = self._prev = v
            self._n = 1
            return
        pending = self._pending
        self._pending = None
        if pending is not None and pending[0] == v:
            _, s, raws = pending
        else:
            raws = self._raw(v)
            s = self._surprise(raws)
        if self._n >= self.settle:
            for view, r in zip(self._views, raws, strict=True):
                view.update(r)
        self._peak = max(self._peak * self.refractory, s)
        # winsorised EW updates
        sd = math.sqrt(self._var)
        d = v - self._mean
        lim = self.clip * sd
        if self._n > _CLIP_AFTER and abs(d) > lim:
            d = math.copysign(lim, d)
        a = self.slow if self._n * self.slow > 1 else 1.0 / (self._n + 1)
        self._mean += a * d
        self._var = (1 - a) * (self._var + a * d * d)
        step = abs(v - self._prev)
        if self._n > _CLIP_AFTER and step > self.clip * self._step:
            step = self.clip * self._step
        self._step += a * (step - self._step)
        self._fast_mean += self.fast * (v - self._fast_mean)
        self._patterns.learn(v)
        self._prev = v
        self._n += 1

"""The default univariate detector: an anomaly is the series breaking its own records.

Three statistics of the series are each scored by where they stand in their own recent
range (`records.RollingRange`: the position inside the range, and above 1 for a record):

- value: the value itself, both ways (a high or a low not seen for about `value_memory`
  points): spikes and level shifts that leave the normal band;
- seasonal residual: the distance of the value from what this hour of the day has looked
  like (a slow, robust EW mean plus an EW offset per hour-of-day bin), in robust EW
  standard deviations, on a log scale: a daily cycle that stays flat, skips a peak or
  peaks at the wrong level, a spike or step within the band. On a series without a daily
  cycle the offsets follow the recent level and this is a local robust z-score;
- activity: a fast EW average of log(1 + |z|) of the value against the slow mean: bursts
  of spikes, a series that starts oscillating, a shift that persists.

The score of a point is the highest of the three. A record is rare by construction (the
newest of n exchangeable points is the largest with probability 1/n) and means the same
on every series, so one alert threshold serves a quiet battery curve and bursty traffic
alike; no distribution is assumed. The residual statistics keep records only after
`warmup` points and, when points carry timestamps, a whole day (the hour-of-day profile
has then seen every hour once, and the first daily cycle is no longer news); no score is
given before that.

One event should raise one alert: a refractory filter passes a score only if it beats
every earlier score, faded by `refractory` per point, so the next, bigger record of an
unfolding event still passes but its echoes do not. An alert's score counts in that
filter at most as `refractory_cap` (a record e times past its range), so one huge event
holds off only the next couple of hundred points, not the next thousands. Scores are
mapped from [0, inf) into [0, 1) by s / (1 + s): a record scores at least 0.5.

Estimates are winsorised (a point counts at most `clip` standard deviations away), so a
spike does not inflate the scale while a persistent shift is still followed, and scales
are floored at a fraction of a very slow mean absolute deviation, so a series that sits
still for a while does not turn every later wiggle into an infinite z. Timestamps (`ts`,
seconds since the epoch, any spacing) only choose the hour-of-day bin; without `ts` the
seasonal residual is a plain robust z-score. A point without a finite value is skipped
(`features.value_of`). The state is a few dozen floats.
"""

from __future__ import annotations

import math

from detectors.base import Detector, Features
from detectors.replay.features import value_of
from detectors.replay.records import RollingRange

_TINY = 1e-9
_DAY = 86_400.0
_SETTLED = 10  # points before winsorising: the scale means something by then
_WIDE_RATE = 0.1  # the floor's deviation is this much slower than the mean


class RecordBreaker(Detector):
    """Records of the value, of its seasonal residual and of its activity; scores in [0, 1)."""

    name = "records"

    def __init__(
        self,
        *,
        slow: float = 0.005,
        season_bins: int = 24,
        season_rate: float = 0.2,
        activity_rate: float = 0.15,
        clip: float = 3.0,
        floor: float = 0.1,
        warmup: int = 150,
        value_memory: int = 4096,
        residual_memory: int = 2048,
        refractory: float = 0.999,
        refractory_cap: float = 1.2,
    ) -> None:
        self.slow = slow
        self.season_bins = season_bins
        self.season_rate = season_rate
        self.activity_rate = activity_rate
        self.clip = clip
        self.floor = floor
        self.warmup = warmup
        self.value_memory = value_memory
        self.residual_memory = residual_memory
        self.refractory = refractory
        self.refractory_cap = refractory_cap
        self._n = 0
        self._warm = False  # enough points, and a day, for the profile and the ranges
        self._span: tuple[float, float] | None = None  # of the timestamps seen while warming
        self._mean = 0.0
        self._var = 0.0  # of the value around the slow mean
        self._res_var = 0.0  # of the seasonal residual
        self._wide = 0.0  # very slow mean absolute deviation: the floor of both scales
        self._offsets = [0.0] * season_bins
        self._activity = 0.0
        self._peak = 0.0
        self._values = RollingRange(value_memory)
        self._residuals = RollingRange(residual_memory)
        self._activities = RollingRange(residual_memory)
        # what score_one computed, for learn_one on the same point: (v, bin, seasonal,
        # activity, score before the refractory filter)
        self._pending: tuple[float, int, float, float, float] | None = None

    def _bin(self, x: Features) -> int:
        ts = x.get("ts")
        if ts is None:
            return 0
        return int((float(ts) % _DAY) / _DAY * self.season_bins) % self.season_bins

    def _clock(self, ts: float | None) -> None:
        """Warm after `warmup` points and, when there are timestamps, a whole day of them."""
        if self._warm:
            return
        if ts is not None:
            t = float(ts)
            self._span = (
                (t, t) if self._span is None else (min(self._span[0], t), max(self._span[1], t))
            )
        day = self._span is None or self._span[1] - self._span[0] >= _DAY
        self._warm = self._n + 1 >= self.warmup and day

    def _floor(self) -> float:
        return max(self.floor * self._wide, _TINY * (abs(self._mean) + 1.0))

    def _evaluate(self, v: float, b: int) -> tuple[float, int, float, float, float]:
        floor = self._floor()
        residual = v - self._mean - self._offsets[b]
        seasonal = math.log1p(abs(residual) / max(math.sqrt(self._res_var), floor))
        level = math.log1p(abs(v - self._mean) / max(math.sqrt(self._var), floor))
        activity = self._activity + self.activity_rate * (level - self._activity)
        score = self._values.score_both(v)
        if self._warm:
            score = max(score, self._residuals.score(seasonal), self._activities.score(activity))
        return v, b, seasonal, activity, score

    def score_one(self, x: Features) -> float:
        v = value_of(x)
        if self._n == 0 or v is None:
            return 0.0
        self._pending = self._evaluate(v, self._bin(x))
        score = self._pending[4]
        if not self._warm or score <= self._peak:
            return 0.0
        return score / (1.0 + score)

    def learn_one(self, x: Features) -> None:
        v = value_of(x)
        if v is None:
            return
        b = self._bin(x)
        self._clock(x.get("ts"))
        if self._n == 0:
            self._mean = v
            self._values.update(v)
            self._n = 1
            return
        pending, self._pending = self._pending, None
        if pending is None or pending[0] != v or pending[1] != b:
            pending = self._evaluate(v, b)
        _, _, seasonal, activity, score = pending
        if self._warm:
            self._peak = max(self._peak * self.refractory, min(score, self.refractory_cap))
            self._residuals.update(seasonal)
            self._activities.update(activity)
        self._values.update(v)
        self._activity = activity
        self._learn_moments(v, b)
        self._n += 1

    def _learn_moments(self, v: float, b: int) -> None:
        a = max(self.slow, 1.0 / (self._n + 1))
        settled = self._n > _SETTLED
        residual = v - self._mean - self._offsets[b]
        lim = self.clip * max(math.sqrt(self._res_var), self._floor())
        if settled and abs(residual) > lim:
            residual = math.copysign(lim, residual)
        self._res_var = (1.0 - a) * (self._res_var + a * residual * residual)
        d = v - self._mean
        lim = self.clip * max(math.sqrt(self._var), self._floor())
        if settled and abs(d) > lim:
            d = math.copysign(lim, d)
        self._var = (1.0 - a) * (self._var + a * d * d)
        self._wide += _WIDE_RATE * a * (abs(v - self._mean) - self._wide)
        self._mean += a * d
        self._offsets[b] += self.season_rate * (v - self._mean - self._offsets[b])

"""Robust statistics for the fault rules: a device's own noise, measured so that a few
outliers (a fuel-gauge recalibration, a glitch) do not move it.

`theil_sen` fits a slope as the median of pairwise slopes and gives its standard error
from the largest of three noise estimates: the residuals' scatter (MAD), the scatter of
successive differences (which a step or a slow drift does not inflate), and a floor (the
sensor's resolution), so that a short, smooth series cannot look more certain than the
sensor allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAD_TO_SIGMA = 1.4826
"""MAD times this is the standard deviation of normal noise."""
MIN_POINTS = 3


def mad_sigma(values: np.ndarray) -> float:
    """The standard deviation a normal noise would have, from the median absolute
    deviation (NaN for an empty series)."""
    values = values[np.isfinite(values)]
    if not len(values):
        return math.nan
    return MAD_TO_SIGMA * float(np.median(np.abs(values - np.median(values))))


@dataclass(frozen=True)
class Slope:
    """A robust linear trend: `slope` per unit of x, its standard error, the noise it
    assumed, and the span of x it covers."""

    slope: float
    se: float
    sigma: float
    span: float
    points: int

    @property
    def t(self) -> float:
        """The slope in standard errors (0 when there is no error estimate)."""
        return self.slope / self.se if self.se > 0 else 0.0


def theil_sen(x: np.ndarray, y: np.ndarray, floor: float) -> Slope | None:
    """The Theil-Sen slope of y on x (at least three points, distinct x), with its
    standard error from max(residual MAD, successive-difference sigma, floor)."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < MIN_POINTS or float(np.ptp(x)) <= 0:
        return None
    i, j = np.triu_indices(len(x), k=1)
    dx = x[j] - x[i]
    keep = dx > 0
    slope = float(np.median((y[j] - y[i])[keep] / dx[keep]))
    residual = y - slope * x
    residual = residual - np.median(residual)
    steps = np.diff(y) - slope * np.diff(x)
    successive = mad_sigma(steps) / math.sqrt(2.0)
    sigma = max(mad_sigma(residual), successive if math.isfinite(successive) else 0.0, floor)
    spread = float(np.sum((x - x.mean()) ** 2))
    return Slope(slope, sigma / math.sqrt(spread), sigma, float(np.ptp(x)), len(x))

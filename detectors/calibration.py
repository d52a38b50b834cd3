"""Calibration: a raw anomaly measure becomes a surprise comparable across series.

A raw measure (a z-score, a code length) means different things on different series: a
z of 6 is rare on a quiet battery curve and common on bursty network traffic. `TailSurprise`
ranks each raw value against the detector's own fading history of raw values and returns
-log10 of its tail probability: 1 for the top 10%, 2 for the top 1%, and so on. The
history is a histogram of log(1 + raw) in fixed bins with exponentially fading counts,
kept in a Fenwick tree so that both the update and the tail query cost O(log bins); the
fading uses a growing weight for new points instead of touching every bin. A raw value past
everything in the histogram keeps climbing with its distance from the top bin, so new
records stay ordered instead of all saturating. (river's P² `stats.Quantile` was tried
first: its estimates cross, q99 < q90, when the distribution moves.)
"""

from __future__ import annotations

import math
from array import array

_RESCALE = 1e12
_MIN_POINTS = 2


class TailSurprise:
    """Running map from a raw measure (>= 0) to -log10 of its fading tail probability.

    `fade` is the per-point factor by which old raw values lose weight (0.999: a memory of
    about a thousand points); `bin_width` the resolution in log(1 + raw); values past
    `bins * bin_width` share the top bin.
    """

    def __init__(self, fade: float = 0.999, bins: int = 128, bin_width: float = 0.125) -> None:
        self.fade = fade
        self.bins = bins
        self.bin_width = bin_width
        self._tree = array("d", bytes(8 * (bins + 1)))
        self._total = 0.0
        self._weight = 1.0
        self._top = -1  # highest bin ever filled
        self.n = 0

    def _bin(self, u: float) -> int:
        return min(int(u / self.bin_width), self.bins - 1)

    def _prefix(self, i: int) -> float:
        """Mass in bins [0, i)."""
        tree, s = self._tree, 0.0
        while i > 0:
            s += tree[i]
            i &= i - 1
        return s

    def surprise(self, raw: float) -> float:
        if self._total <= 0.0:
            return 0.0
        u = math.log1p(raw)
        b = self._bin(u)
        if b > self._top:
            top_edge = (self._top + 1) * self.bin_width
            return math.log10(self._total / self._weight + 1.0) + (u - top_edge) / math.log(10)
        above = self._total - self._prefix(b + 1)
        own = self._prefix(b + 1) - self._prefix(b)
        tail = (above + 0.5 * own + 0.5 * self._weight) / (self._total + self._weight)
        return -math.log10(tail)

    def update(self, raw: float) -> None:
        b = self._bin(math.log1p(raw))
        self._top = max(self._top, b)
        self._weight /= self.fade
        w = self._weight
        tree, i, n = self._tree, b + 1, self.bins
        while i <= n:
            tree[i] += w
            i += i & -i
        self._total += w
        self.n += 1
        if w > _RESCALE:
            for j in range(1, n + 1):
                tree[j] /= w
            self._total /= w
            self._weight = 1.0


class LogZ:
    """Running z-score of log(1 + raw) against its own fading mean and deviation."""

    def __init__(self, fade: float = 0.999, floor: float = 0.1) -> None:
        self.fade = fade
        self.floor = floor
        self._mean = 0.0
        self._var = 0.0
        self.n = 0

    def surprise(self, raw: float) -> float:
        if self.n < _MIN_POINTS:
            return 0.0
        u = math.log1p(raw)
        return max(0.0, (u - self._mean) / max(math.sqrt(self._var), self.floor))

    def update(self, raw: float) -> None:
        u = math.log1p(raw)
        a = max(1.0 - self.fade, 1.0 / (self.n + 1))
        d = u - self._mean
        self._mean += a * d
        self._var = (1 - a) * (self._var + a * d * d)
        self.n += 1

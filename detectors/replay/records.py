"""Records: how far a statistic stands within, or beyond, its own recent range.

The detectors' common currency. A statistic x (the value, a residual z-score, a local
activity level) is placed in the range [lo, hi] it covered over roughly the last
`memory` points, with a margin: `position = (x - lo) / ((hi - lo) * 1.05)`, so a record
(position > 1) clears the old top by 5% of the range; a series creeping along the edge
of its range (a slow drift, a filling disk) breaks no records. Inside the range the score
is half the position (at most 0.5); a record scores `1 + ln(position) / 5`, so that
records always rank above everything else and larger records above smaller ones,
without saturating. A record is rare by construction (among n
exchangeable points the newest is the largest with probability 1/n), it means the same on
a quiet battery curve and on bursty traffic, and it needs no distributional assumption.

The range forgets in blocks: `blocks` blocks of `memory / blocks` points each, so the
state is a few floats and the range follows a series whose normal band moves.
"""

from __future__ import annotations

import math

RECORD_SLOPE = 0.2  # score per e-fold of a record's position past the top of the range
RECORD_MARGIN = 0.05  # a record must clear the range by 5% of its span
INTERIOR = 0.5  # inside the range a score stays at or under this


def record_score(x: float, lo: float, hi: float) -> float:
    """Half x's position in the range (with margin); past it (a record), 1 + ln(position) / 5."""
    span = hi - lo
    if span <= 0.0:
        return 0.0 if x <= hi else 1.0 + RECORD_SLOPE * math.log1p(1.0)
    position = (x - lo) / span / (1.0 + RECORD_MARGIN)
    if position <= 1.0:
        return INTERIOR * max(position, 0.0)
    return 1.0 + RECORD_SLOPE * math.log(position)


class RollingRange:
    """Minimum and maximum over roughly the last `memory` points, kept in blocks."""

    def __init__(self, memory: int = 4096, blocks: int = 16, min_points: int = 32) -> None:
        self.memory = memory
        self.blocks = blocks
        self.min_points = min_points
        self._seen = 0
        self._size = max(1, memory // blocks)
        self._done: list[tuple[float, float]] = []  # (lo, hi) of completed blocks
        self._done_lo = math.inf
        self._done_hi = -math.inf
        self._lo = math.inf
        self._hi = -math.inf
        self._count = 0

    @property
    def ready(self) -> bool:
        """Whether the range has seen `min_points` points: a record means something."""
        return self._seen >= self.min_points

    @property
    def lo(self) -> float:
        return min(self._done_lo, self._lo)

    @property
    def hi(self) -> float:
        return max(self._done_hi, self._hi)

    def score(self, x: float) -> float:
        """`record_score` of x against the current range (0 until the range is ready)."""
        if not self.ready:
            return 0.0
        return record_score(x, self.lo, self.hi)

    def score_both(self, x: float) -> float:
        """The higher of x's score as a high and as a low (a record either way)."""
        if not self.ready:
            return 0.0
        lo, hi = self.lo, self.hi
        return max(record_score(x, lo, hi), record_score(-x, -hi, -lo))

    def update(self, x: float) -> None:
        self._lo = min(self._lo, x)
        self._hi = max(self._hi, x)
        self._count += 1
        self._seen += 1
        if self._count >= self._size:
            self._done.append((self._lo, self._hi))
            if len(self._done) > self.blocks:
                del self._done[0]
            self._done_lo = min(lo for lo, _ in self._done)
            self._done_hi = max(hi for _, hi in self._done)
            self._lo, self._hi, self._count = math.inf, -math.inf, 0

"""Conditional novelty of value patterns: how well the recent past predicts the present.

The value is quantised into levels (a fixed grid, `levels` bins across the series' central
90% range, with hysteresis so that noise at a bin edge is not a pattern) and the level
sequence is run-length encoded. Two kinds of events are predicted from the last few
distinct levels (the context):
- a transition: "the run of this level ended after about 2^b points and went to level L";
- a duration: "this run has now lasted 2^j points" (checked when the run length reaches a
  power of two).
Counts of contexts and events live in one small table of decayed counters addressed by
hash, and the raw measure is the code length -log2 P(event | context), taken at the context
length that finds the event most surprising. A cycle that stays flat, a jump that does not
come, a level never visited or spikes coming faster than ever cost many bits; transitions
that recur, however abrupt, cost few. This is the idea behind CAD OSE and ARTime in the
Numenta Anomaly Benchmark, reduced to a fixed-size table so that the state is a few KB.
"""

from __future__ import annotations

import math
from array import array

from river import stats

_START, _MOVE, _REACH = 0, 1, 2
_SATURATED = 0xFFFF  # counters are 16-bit


class PatternView:
    """Code length (bits) of the current level-and-duration event given recent levels."""

    def __init__(
        self,
        *,
        order: int = 3,
        levels: float = 8.0,
        hysteresis: float = 0.5,
        table_bits: int = 11,
        half_life: int = 2000,
        coarse: int = 2,
    ) -> None:
        self.coarse = coarse
        self.order = order
        self.levels = levels
        self.hysteresis = hysteresis
        self.table_bits = table_bits
        self.half_life = half_life
        self._mask = (1 << table_bits) - 1
        self._counts = array("H", bytes(2 << table_bits))
        self._lo = stats.Quantile(0.05)
        self._hi = stats.Quantile(0.95)
        self._width = 0.0
        self._history: tuple[int, ...] = ()  # last distinct levels, current one last
        self._run = 0
        self._since_decay = 0

    def _level_of(self, v: float) -> int:
        pos = v / self._width
        level = self._history[-1]
        if level - self.hysteresis <= pos < level + 1.0 + self.hysteresis:
            return level
        return math.floor(pos)

    def _events(self, level: int) -> list[tuple[tuple[int, ...], tuple]]:
        """(context, event) pairs that `level` as the next point makes, for each order."""
        history = self._history
        run = self._run + 1
        if level != history[-1]:
            event: tuple = (_MOVE, level, self._run.bit_length() // self.coarse)
        elif run & (run - 1) == 0:
            event = (_REACH, run.bit_length())
        else:
            return []
        return [(history[-k:], event) for k in range(1, min(self.order, len(history)) + 1)]

    def raw(self, v: float) -> float:
        if not self._history:
            return 0.0
        counts, mask = self._counts, self._mask
        best = 0.0
        for ctx, event in self._events(self._level_of(v)):
            seen = counts[hash((_START, ctx)) & mask]
            if seen:
                hits = counts[hash((ctx, event)) & mask]
                best = max(best, math.log2((seen + 1.0) / (hits + 0.5)))
        return best

    def learn(self, v: float) -> None:
        self._lo.update(v)
        self._hi.update(v)
        width = ((self._hi.get() or 0.0) - (self._lo.get() or 0.0)) / self.levels
        if width > 0.0 and not 0.5 * self._width <= width <= 2.0 * self._width:
            self._reset(width)
        if self._width <= 0.0:
            return
        if not self._history:
            self._history = (math.floor(v / self._width),)
            self._run = 1
            return
        level = self._level_of(v)
        for ctx, event in self._events(level):
            self._bump(hash((ctx, event)))
        if level == self._history[-1]:
            self._run += 1
        else:
            self._history = (*self._history[1 - self.order :], level)
            self._run = 1
            for k in range(1, len(self._history) + 1):
                self._bump(hash((_START, self._history[-k:])))
        self._since_decay += 1
        if self._since_decay >= self.half_life:
            self._since_decay = 0
            counts = self._counts
            for i, c in enumerate(counts):
                if c:
                    counts[i] = c >> 1

    def _bump(self, key: int) -> None:
        i = key & self._mask
        if self._counts[i] < _SATURATED:
            self._counts[i] += 1

    def _reset(self, width: float) -> None:
        self._width = width
        self._counts = array("H", bytes(2 << self.table_bits))
        self._history = ()
        self._run = 0

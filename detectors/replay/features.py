"""What a univariate detector reads from a point: `value`, and `ts` when there is one.

A point without a usable value (missing, not a number, infinite) is skipped: it scores 0
and teaches nothing, so one bad reading cannot poison a series' running statistics.
"""

from __future__ import annotations

import math

from detectors.base import Features


def value_of(x: Features) -> float | None:
    """The point's value as a finite float, or None when it has none."""
    raw = x.get("value")
    if raw is None:
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None

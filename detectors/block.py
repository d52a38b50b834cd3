"""A block of one device's telemetry: columns of numpy arrays, in time order.

Detectors see telemetry a block at a time (a batch as the device uploaded it, or the
rows of one device in a feed poll), so that their arithmetic runs over arrays rather
than one Python call per sample. A metric the device lacks is all NaN; booleans are
0.0 / 1.0. Timestamps are seconds since the epoch.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from devicecare.contracts import SAMPLE_METRICS

METRICS: tuple[str, ...] = SAMPLE_METRICS


@dataclass(frozen=True, slots=True)
class EventRow:
    ts: float
    kind: str
    process: str | None = None
    signature: str | None = None
    app_version: str | None = None
    reason: str | None = None
    """Why the device says it rebooted (the event's `detail.reason`), if it says."""


@dataclass
class Block:
    ts: np.ndarray
    cols: dict[str, np.ndarray]
    events: list[EventRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ts)

    def col(self, name: str) -> np.ndarray:
        return self.cols[name]

    def has(self, name: str) -> bool:
        """True when the device reported this metric at least once in the block."""
        values = self.cols.get(name)
        return values is not None and bool(np.isfinite(values).any())

    def after(self, t: float) -> Block:
        """The samples later than `t` (late and repeated ones are dropped), all events
        later than `t` as well."""
        keep = self.ts > t
        if keep.all():
            return Block(self.ts, self.cols, [e for e in self.events if e.ts > t])
        return Block(
            self.ts[keep],
            {k: v[keep] for k, v in self.cols.items()},
            [e for e in self.events if e.ts > t],
        )

    def split(self, seconds: float) -> list[Block]:
        """Consecutive parts spanning at most `seconds` each; events go with the part
        whose time range holds them (earlier ones with the first, later with the last)."""
        bins = np.floor((self.ts - self.ts[0]) / seconds).astype(np.int64)
        starts = np.flatnonzero(np.concatenate(([True], np.diff(bins) > 0)))
        ends = np.concatenate((starts[1:], [len(self.ts)]))
        parts = [
            Block(self.ts[a:b], {k: v[a:b] for k, v in self.cols.items()})
            for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
        ]
        firsts = [float(self.ts[a]) for a in starts.tolist()]
        for event in self.events:
            index = max(0, bisect.bisect_right(firsts, event.ts) - 1)
            parts[index].events.append(event)
        return parts

    @classmethod
    def one(cls, x: dict[str, object]) -> Block:
        """One sample given as a dict of metric values with its `ts` in seconds."""
        ts = float(x["ts"])  # type: ignore[arg-type]
        return cls.from_columns([ts], {m: [x.get(m)] for m in METRICS})

    @classmethod
    def empty(cls) -> Block:
        return cls(np.empty(0), {m: np.empty(0) for m in METRICS})

    @classmethod
    def from_columns(
        cls, ts: Sequence[float] | np.ndarray, columns: dict[str, Sequence[object] | np.ndarray]
    ) -> Block:
        """From column sequences (None for missing); rows are put in time order and a
        repeated timestamp keeps its first row."""
        stamps = np.asarray(ts, dtype=np.float64)
        cols = {
            m: _floats(columns[m]) if m in columns else np.full(len(stamps), np.nan)
            for m in METRICS
        }
        order = np.argsort(stamps, kind="stable")
        if len(stamps) and (np.any(order != np.arange(len(stamps))) or _repeats(stamps)):
            stamps = stamps[order]
            unique = np.concatenate(([True], np.diff(stamps) > 0))
            stamps = stamps[unique]
            cols = {k: v[order][unique] for k, v in cols.items()}
        return cls(stamps, cols)


def filled(values: np.ndarray, fill: float) -> np.ndarray:
    """NaN replaced by `fill` (a cheaper `np.nan_to_num` for finite fills)."""
    return np.where(np.isnan(values), fill, values)


def _floats(values: Sequence[object] | np.ndarray) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        return values.astype(np.float64, copy=False)
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)  # type: ignore[arg-type]


def _repeats(stamps: np.ndarray) -> bool:
    return bool(len(stamps) > 1 and np.any(np.diff(stamps) <= 0))

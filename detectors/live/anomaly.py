"""River-based anomaly scoring of a device's hourly features, scaled per device.

Each hour of a device's telemetry becomes a feature vector (temperatures, their
difference, drain, storage growth, throttling, crashes). `ScaledDeviation` keeps the
exponentially weighted mean and variance of river's `stats.EWMean` and `stats.EWVar`
per feature (in compact arrays), scores an hour by its largest standardised deviation,
and says which features contributed. Wrapped in `Guarded`, it never learns from an hour it
flagged.

Chosen by measurement (`bench/detect.py`, ROC AUC of faulty against healthy
device-hours on the simulated fleet): river's default `HalfSpaceTrees` separates better
(0.70-0.77 against 0.62-0.63) but takes about 170 KB and 30 µs an hour per device; an
HST small enough for the 20 KB budget (5 trees of height 6: 25 KB) scores 0.63, no
better than this at a tenth of the memory. The findings come from the rules; this model
only adds confidence and names signals, so the budget wins.

Its score does not open findings by itself (a generic anomaly is not a diagnosis); it
raises the confidence of a rule's finding when the features that the rule's physics
involves are unusual too, and names them as the top contributing signals.
"""

from __future__ import annotations

import math
from array import array

import numpy as np

from detectors.base import Detector, Features
from detectors.block import Block
from devicecare.contracts.vocabulary import FaultKind

HOUR = 3600.0
GB = 1e9
MAX_GAP_HOURS = 2.0
"""Rates are taken between samples at most this far apart."""

FEATURES: tuple[str, ...] = (
    "cpu_temp_c",
    "battery_temp_c",
    "battery_minus_cpu_c",
    "drain_pct_per_hour",
    "storage_growth_gb",
    "throttled_share",
    "crashes",
)
RELATED: dict[str, tuple[str, ...]] = {
    FaultKind.BATTERY_SWELLING: ("battery_temp_c", "battery_minus_cpu_c"),
    FaultKind.FAULTY_CHARGER: ("battery_temp_c", "battery_minus_cpu_c"),
    FaultKind.COOLING_FAILURE: ("cpu_temp_c", "battery_minus_cpu_c", "throttled_share"),
    FaultKind.BATTERY_FADE: ("drain_pct_per_hour",),
    FaultKind.BATTERY_BAD_CELL: ("drain_pct_per_hour",),
    FaultKind.STORAGE_RUNAWAY: ("storage_growth_gb",),
    FaultKind.CRASH_LOOP: ("crashes",),
    FaultKind.KERNEL_FAULT: ("crashes",),
    FaultKind.FLASH_EOL: ("storage_growth_gb",),
}
"""Features whose deviation supports a fault kind's finding."""
TEMPERATURES = frozenset({"cpu_temp_c", "battery_temp_c"})


class ScaledDeviation(Detector):
    """Largest |z| over the features, each standardised by its exponentially weighted
    mean and variance: river's `stats.EWMean` and `stats.EWVar` (the first value
    starts the mean; each later one moves it by `fading_factor`; the variance is the
    mean of squares less the squared mean), kept in two compact arrays of doubles per
    device rather than two river objects per feature (about 0.6 KB instead of 5 KB)."""

    name = "scaled_deviation"

    def __init__(self, fading_factor: float = 0.01, warmup: int = 24, z_scale: float = 4.0) -> None:
        self.fading_factor = fading_factor
        self.warmup = warmup
        self.z_scale = z_scale
        self.keys: tuple[str, ...] = ()
        self.means = array("d")
        """Per feature in `keys`: the EW mean."""
        self.squares = array("d")
        """Per feature in `keys`: the EW mean of squares."""
        self.seen = 0

    def learn_one(self, x: Features) -> None:
        a = self.fading_factor
        means, squares = self.means, self.squares
        for key, value in x.items():
            if value is None or math.isnan(value):
                continue
            if key not in self.keys:
                self.keys = (*self.keys, key)
                means.append(value)
                squares.append(value * value)
                continue
            i = self.keys.index(key)
            means[i] = a * value + (1 - a) * means[i]
            squares[i] = a * value * value + (1 - a) * squares[i]
        self.seen += 1

    def mean(self, key: str) -> float:
        """A feature's EW mean (NaN before it was seen)."""
        return self.means[self.keys.index(key)] if key in self.keys else math.nan

    def deviations(self, x: Features) -> dict[str, float]:
        """Standardised deviation of each known feature (0 during warm-up)."""
        out: dict[str, float] = {}
        if self.seen < self.warmup:
            return out
        keys = self.keys
        for key, value in x.items():
            if key not in keys or value is None or math.isnan(value):
                continue
            i = keys.index(key)
            mean = self.means[i]
            spread = math.sqrt(max(self.squares[i] - mean * mean, 0.0)) + 1e-3 * (abs(mean) + 1.0)
            out[key] = (value - mean) / spread
        return out

    def score_one(self, x: Features) -> float:
        deviations = self.deviations(x)
        if not deviations:
            return 0.0
        z = max(abs(v) for v in deviations.values())
        return 1.0 - math.exp(-((z / self.z_scale) ** 2))


def hourly_features(block: Block, prev: tuple[float, float, float]) -> list[Features]:
    """One feature dict per hour of the block; `prev` is the (ts, battery %, used bytes)
    before the block, for rates across its first sample."""
    if not len(block):
        return []
    ts = block.ts
    hours = np.floor(ts / HOUR)
    starts = np.flatnonzero(np.concatenate(([True], np.diff(hours) > 0)))
    pct = np.concatenate(([prev[1]], block.col("battery_pct")))
    used = np.concatenate(
        ([prev[2]], block.col("storage_total_bytes") - block.col("storage_free_bytes"))
    )
    dt_h = np.diff(np.concatenate(([prev[0]], ts))) / HOUR
    charging = block.col("battery_charging") == 1.0
    adjacent = (dt_h > 0) & (dt_h < MAX_GAP_HOURS)
    with np.errstate(divide="ignore", invalid="ignore"):
        drain = np.where(~charging & adjacent, (pct[:-1] - pct[1:]) / dt_h, np.nan)
        growth = np.where(adjacent, np.diff(used) / GB, np.nan)
    columns = {
        "cpu_temp_c": block.col("cpu_temp_c"),
        "battery_temp_c": block.col("battery_temp_c"),
        "battery_minus_cpu_c": block.col("battery_temp_c") - block.col("cpu_temp_c"),
        "drain_pct_per_hour": drain,
        "storage_growth_gb": np.clip(growth, 0.0, None),
        "throttled_share": block.col("thermal_throttled"),
    }
    means = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for key, values in columns.items():
            finite = np.isfinite(values)
            sums = np.add.reduceat(np.where(finite, values, 0.0), starts)
            counts = np.add.reduceat(finite.astype(np.float64), starts)
            means[key] = np.where(counts > 0, sums / counts, np.nan)
    crashes = np.zeros(len(starts))
    if block.events:
        hour_of = {h: i for i, h in enumerate(hours[starts].tolist())}
        for event in block.events:
            index = hour_of.get(math.floor(event.ts / HOUR))
            if index is not None:
                crashes[index] += 1
    means["crashes"] = crashes
    keys = [k for k in FEATURES if np.isfinite(means[k]).any()]
    rows = zip(*(means[k].tolist() for k in keys), strict=True)
    return [dict(zip(keys, row, strict=True)) for row in rows]

"""A device's health figures over a time window, and where it stands in its cohort.

`Figures` is the typed row the store returns for one device and window; the cohort is
the same figures of every device of the same model and OS version over the same window.
Percentiles are computed here, in plain Python, so they are tested without a database.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields

MIN_COHORT = 5
"""Fewer peers than this make no cohort: percentiles and medians are unknown."""


@dataclass(frozen=True, slots=True)
class Figures:
    """One device's figures over a window; None where the device has no such sensor."""

    samples: int = 0
    battery_health_pct: float | None = None
    battery_cycles: float | None = None
    battery_temp_c: float | None = None
    battery_temp_charging_c: float | None = None
    cpu_temp_c: float | None = None
    cpu_load_pct: float | None = None
    throttled_share: float | None = None
    storage_free_pct: float | None = None
    storage_trend_gb_per_day: float | None = None
    flash_wear_pct: float | None = None
    drain_pct_per_h: float | None = None
    sudden_drops: int = 0
    crashes: int = 0
    kernel_panics: int = 0
    crash_hours: int = 0
    top_signature: str | None = None
    top_signature_crashes: int = 0
    top_app_version: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


NUMERIC: tuple[str, ...] = tuple(
    f.name
    for f in fields(Figures)
    if f.name not in {"samples", "top_signature", "top_app_version", "top_signature_crashes"}
)
"""The figures a cohort percentile is given for."""


@dataclass(frozen=True, slots=True)
class Cohort:
    """Sorted values of each figure over a cohort's devices."""

    devices: int
    values: Mapping[str, list[float]]

    @classmethod
    def of(cls, members: Iterable[Figures]) -> Cohort:
        members = [m for m in members if m.samples > 0]
        values: dict[str, list[float]] = {}
        for name in NUMERIC:
            values[name] = sorted(float(v) for m in members if (v := getattr(m, name)) is not None)
        return cls(len(members), values)

    def percentile(self, name: str, value: float | None) -> float | None:
        """Share of peers below `value` (ties count half), in percent; None without a cohort."""
        ordered = self.values.get(name, [])
        if value is None or len(ordered) < MIN_COHORT:
            return None
        below = bisect.bisect_left(ordered, value)
        equal = bisect.bisect_right(ordered, value) - below
        return round(100.0 * (below + equal / 2) / len(ordered), 1)

    def median(self, name: str) -> float | None:
        ordered = self.values.get(name, [])
        if len(ordered) < MIN_COHORT:
            return None
        mid = len(ordered) // 2
        if len(ordered) % 2:
            return ordered[mid]
        return (ordered[mid - 1] + ordered[mid]) / 2

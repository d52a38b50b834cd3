"""Cohorts: a device against the others of its model and OS version.

Each device reports a few summary figures (battery health, fade rate, temperatures,
crash rate, storage growth) as it is processed; a cohort's distribution of each figure
gives a device's percentile and the cohort's median. A detector worker keeps the
figures of the devices it owns: partitions are a hash of the device id, so a worker's
devices are a random sample of the fleet and their distribution is the fleet's. The
figures also go to the `device_health` table, where support and Grafana read them.
The verdicts on the cohort's findings (`verdicts.py`) are kept beside the figures.
"""

from __future__ import annotations

import bisect
from collections import defaultdict

from detectors.live.verdicts import CohortVerdicts

MIN_COHORT = 5
"""Fewer devices than this make no cohort: percentiles and medians are unknown."""
REBUILD_EVERY = 500


class Cohorts:
    def __init__(self) -> None:
        self.figures: dict[tuple[str, str], dict[str, dict[str, float]]] = defaultdict(dict)
        self.sorted: dict[tuple[tuple[str, str], str], list[float]] = {}
        self.changes = 0
        self.verdicts = CohortVerdicts()

    @staticmethod
    def key(model: str | None, os_version: str | None) -> tuple[str, str]:
        return (model or "?", os_version or "?")

    def update(self, key: tuple[str, str], device_id: str, figures: dict[str, float]) -> None:
        self.figures[key][device_id] = figures
        self.changes += 1
        if self.changes >= REBUILD_EVERY:
            self.sorted.clear()
            self.changes = 0

    def _values(self, key: tuple[str, str], metric: str) -> list[float]:
        cached = self.sorted.get((key, metric))
        if cached is None:
            cached = sorted(f[metric] for f in self.figures.get(key, {}).values() if metric in f)
            self.sorted[(key, metric)] = cached
        return cached

    def percentile(self, key: tuple[str, str], metric: str, value: float) -> float | None:
        values = self._values(key, metric)
        if len(values) < MIN_COHORT:
            return None
        return 100.0 * bisect.bisect_left(values, value) / len(values)

    def median(self, key: tuple[str, str], metric: str) -> float | None:
        values = self._values(key, metric)
        if len(values) < MIN_COHORT:
            return None
        return values[len(values) // 2]

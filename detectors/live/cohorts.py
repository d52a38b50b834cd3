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
from collections.abc import Iterable

from detectors.live.verdicts import CohortVerdicts

MIN_COHORT = 5
"""Fewer devices than this make no cohort: percentiles and medians are unknown."""
REBUILD_EVERY = 500
CRASH_MEMORY_S = 7 * 86_400.0
"""How long a device's heavy crashing with a signature is remembered."""


class Cohorts:
    def __init__(self) -> None:
        self.figures: dict[tuple[str, str], dict[str, dict[str, float]]] = defaultdict(dict)
        self.sorted: dict[tuple[tuple[str, str], str], list[float]] = {}
        self.changes = 0
        self.crashing: dict[tuple[str, str], dict[str, dict[str, float]]] = defaultdict(dict)
        """Per cohort and crash signature: the devices crashing heavily with it, and
        when they last did."""
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

    def crashed(
        self, key: tuple[str, str], device_id: str, signatures: Iterable[str], now: float
    ) -> None:
        """The signatures a device is crashing with heavily at data time `now`: a fault
        of an app release shows on many devices of a cohort at once, a device's own
        loop on one."""
        signatures = list(signatures)
        if not signatures:
            return
        table = self.crashing[key]
        for signature in signatures:
            table.setdefault(signature, {})[device_id] = now
        horizon = now - CRASH_MEMORY_S
        for signature in list(table):
            devices = {d: t for d, t in table[signature].items() if t >= horizon}
            if devices:
                table[signature] = devices
            else:
                del table[signature]

    def crash_spread(
        self, key: tuple[str, str], signature: str, device_id: str, since: float
    ) -> tuple[int, int] | None:
        """How many other devices of the cohort crashed heavily with `signature` since
        `since`, and how many devices the cohort has; None for too small a cohort."""
        size = len(self.figures.get(key, {}))
        if size < MIN_COHORT:
            return None
        devices = self.crashing.get(key, {}).get(signature, {})
        return sum(1 for d, t in devices.items() if d != device_id and t >= since), size

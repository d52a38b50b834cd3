"""What can go wrong with a simulated device, when, and when its owner would notice.

A fault has an onset, a ramp (its signature grows from nothing to full strength over
days, as real wear-out and degradation do) and a user-visible time: the moment the
customer would call support. A non-fault feels like a fault to the owner (a heavy-usage
week drains the battery, a heat wave warms every phone of a region) but needs no repair.

Default rates follow the brief's industry figures: about 9 help requests per customer
and year, of which about 10% involve a real fault; the real faults are spread over the
kinds below, the rest are non-faults.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from devicecare.contracts.vocabulary import FaultKind

DAY_MS = 86_400_000


class NonFaultKind(StrEnum):
    HEAVY_USAGE = "heavy_usage"
    HOT_WEEK = "hot_week"


@dataclass(frozen=True)
class Shape:
    """How a fault kind unfolds: days from onset to full strength and to the owner's call."""

    ramp_days: tuple[float, float]
    visible_days: tuple[float, float]
    needs_battery: bool = False


SHAPES: dict[FaultKind, Shape] = {
    FaultKind.BATTERY_FADE: Shape((20, 40), (18, 35), needs_battery=True),
    FaultKind.BATTERY_SWELLING: Shape((6, 12), (8, 16), needs_battery=True),
    FaultKind.BATTERY_BAD_CELL: Shape((4, 10), (6, 12), needs_battery=True),
    FaultKind.COOLING_FAILURE: Shape((8, 16), (9, 18)),
    FaultKind.FAULTY_CHARGER: Shape((3, 8), (6, 12), needs_battery=True),
    FaultKind.CRASH_LOOP: Shape((0.2, 1), (3, 6)),
    FaultKind.KERNEL_FAULT: Shape((5, 10), (7, 14)),
    FaultKind.STORAGE_RUNAWAY: Shape((5, 10), (8, 16)),
    FaultKind.FLASH_EOL: Shape((10, 20), (12, 24)),
}

HELP_REQUESTS_PER_YEAR = 9.0
REAL_FAULT_SHARE = 0.10
DEFAULT_FAULT_RATE = HELP_REQUESTS_PER_YEAR * REAL_FAULT_SHARE / len(FaultKind)
"""Per device and year, for each fault kind."""
DEFAULT_HEAVY_USAGE_RATE = HELP_REQUESTS_PER_YEAR * (1 - REAL_FAULT_SHARE) * 0.5
DEFAULT_HOT_WEEKS_PER_YEAR = 4.0
"""Per region: heat waves that warm every device there for about a week."""


@dataclass(frozen=True)
class Fault:
    device: int
    kind: FaultKind
    onset_ms: int
    full_ms: int
    visible_ms: int

    @property
    def half_ms(self) -> int:
        """When the signature reaches half its full strength."""
        return (self.onset_ms + self.full_ms) // 2

    def strength(self, t_ms: int) -> float:
        """0 before onset, rising smoothly (smoothstep) to 1 at full strength."""
        if t_ms <= self.onset_ms:
            return 0.0
        x = min(1.0, (t_ms - self.onset_ms) / max(1, self.full_ms - self.onset_ms))
        return x * x * (3 - 2 * x)


@dataclass(frozen=True)
class Window:
    """A non-fault: one device (heavy usage) or a whole region (hot week), for a while."""

    kind: NonFaultKind
    start_ms: int
    end_ms: int
    device: int | None = None
    region: int | None = None

    def covers(self, t_ms: int) -> bool:
        return self.start_ms <= t_ms < self.end_ms


def parse_spec(spec: str | None) -> dict[str, float]:
    """`kind=rate,...` per device-year; `all=X` multiplies every default; `none` for none."""
    rates: dict[str, float] = {k.value: DEFAULT_FAULT_RATE for k in FaultKind}
    rates[NonFaultKind.HEAVY_USAGE.value] = DEFAULT_HEAVY_USAGE_RATE
    rates[NonFaultKind.HOT_WEEK.value] = DEFAULT_HOT_WEEKS_PER_YEAR
    if not spec:
        return rates
    if spec.strip() == "none":
        return dict.fromkeys(rates, 0.0)
    for item in spec.split(","):
        name, _, value = item.partition("=")
        name = name.strip()
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"fault spec {item!r}: expected kind=rate") from None
        if number < 0:
            raise ValueError(f"fault spec {item!r}: a rate cannot be negative")
        if name == "all":
            rates = {k: v * number for k, v in rates.items()}
        elif name in rates:
            rates[name] = number
        else:
            raise ValueError(f"fault spec {item!r}: unknown kind; known: {', '.join(rates)}")
    return rates


def schedule(
    rng: np.random.Generator,
    *,
    devices: int,
    start_ms: int,
    days: float,
    rates: dict[str, float],
    has_battery: np.ndarray,
    regions: int,
) -> tuple[list[Fault], list[Window]]:
    """Draw faults and non-faults for a run; at most one fault per device, as in the field.

    Onsets fall in the first 60% of the run so that most faults can become visible
    within it; a fault whose visible time lies beyond the run still counts (its owner
    would call later).
    """
    faults: list[Fault] = []
    years = days / 365.0
    taken = np.zeros(devices, dtype=bool)
    for kind in FaultKind:
        shape = SHAPES[kind]
        count = rng.poisson(rates[kind.value] * devices * years)
        eligible = np.flatnonzero(~taken & (has_battery if shape.needs_battery else True))
        for device in rng.permutation(eligible)[:count]:
            onset = start_ms + int(rng.uniform(0.05, 0.6) * days * DAY_MS)
            full = onset + int(rng.uniform(*shape.ramp_days) * DAY_MS)
            visible = onset + int(rng.uniform(*shape.visible_days) * DAY_MS)
            faults.append(Fault(int(device), kind, onset, full, visible))
            taken[device] = True
    windows: list[Window] = []
    heavy = rng.poisson(rates[NonFaultKind.HEAVY_USAGE.value] * devices * years)
    for device in rng.integers(0, devices, size=heavy):
        begin = start_ms + int(rng.uniform(0, days) * DAY_MS)
        length = int(rng.uniform(2, 6) * DAY_MS)
        windows.append(Window(NonFaultKind.HEAVY_USAGE, begin, begin + length, device=int(device)))
    for region in range(regions):
        for _ in range(rng.poisson(rates[NonFaultKind.HOT_WEEK.value] * years)):
            begin = start_ms + int(rng.uniform(0, days) * DAY_MS)
            length = int(rng.uniform(5, 8) * DAY_MS)
            windows.append(Window(NonFaultKind.HOT_WEEK, begin, begin + length, region=region))
    faults.sort(key=lambda f: (f.onset_ms, f.device))
    windows.sort(key=lambda w: (w.start_ms, w.device or -1, w.region or -1))
    return faults, windows

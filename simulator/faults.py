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
from simulator.families import Curve, Split

DAY_MS = 86_400_000


class NonFaultKind(StrEnum):
    HEAVY_USAGE = "heavy_usage"
    HOT_WEEK = "hot_week"
    COLD_SNAP = "cold_snap"
    OS_UPDATE = "os_update"
    APP_UPDATE = "app_update"
    TRAVEL = "travel"
    CHARGE_LIMIT = "charge_limit"
    LONG_IDLE = "long_idle"
    RUN_FLAT = "run_flat"
    CLEANUP = "cleanup"
    OFFLINE = "offline"


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
DEFAULT_SITUATION_RATE = 3.0
"""The reference rate of the other non-fault kinds: a split's families of that kind run
at their own rates, scaled by (spec rate / this); the default fleet has none of them."""


@dataclass(frozen=True)
class Fault:
    device: int
    kind: FaultKind
    onset_ms: int
    full_ms: int
    visible_ms: int
    family: str = "classic"
    curve: Curve = Curve.SMOOTH
    effects: tuple[tuple[str, float], ...] = ()
    """(physics channel, full-strength value); empty: the kind's classic channel at 1."""
    knobs: tuple[float, ...] = ()
    """Curve parameters: intermittent (duty, episode hours, salt); recovering (days
    after full when it eases, days it stays eased, strength meanwhile)."""

    @property
    def channels(self) -> tuple[tuple[str, float], ...]:
        return self.effects or ((self.kind.value, 1.0),)

    @property
    def half_ms(self) -> int:
        """When the signature reaches half its full strength."""
        return (self.onset_ms + self.full_ms) // 2

    def strength(self, t_ms: int) -> float:  # noqa: PLR0911 - one return per curve
        """0 before onset, rising along the fault's curve to 1 at full strength."""
        if t_ms <= self.onset_ms:
            return 0.0
        x = min(1.0, (t_ms - self.onset_ms) / max(1, self.full_ms - self.onset_ms))
        curve = self.curve
        if curve is Curve.SMOOTH:
            return x * x * (3 - 2 * x)
        if curve is Curve.STEP:
            return 1.0
        if curve is Curve.LINEAR:
            return x
        if curve is Curve.ACCELERATING:
            return x**3
        if curve is Curve.INTERMITTENT:
            duty, hours, salt = self.knobs
            episode = int((t_ms - self.onset_ms) / (hours * 3_600_000))
            draw = ((episode * 2_654_435_761 + int(salt)) % 4_294_967_296) / 4_294_967_296
            return max(x, 0.3) if draw < duty else 0.0
        after, length, floor = self.knobs
        eased = (t_ms - self.full_ms) / DAY_MS
        return floor if after <= eased < after + length else x * x * (3 - 2 * x)


@dataclass(frozen=True)
class Window:
    """A non-fault: one device (heavy usage) or a whole region (hot week), for a while."""

    kind: NonFaultKind
    start_ms: int
    end_ms: int
    device: int | None = None
    region: int | None = None
    family: str = "classic"
    effects: tuple[tuple[str, float], ...] = ()
    """(situation channel, value) drawn for this window; classic windows have none."""

    def covers(self, t_ms: int) -> bool:
        return self.start_ms <= t_ms < self.end_ms


def parse_spec(spec: str | None) -> dict[str, float]:
    """`kind=rate,...` per device-year; `all=X` multiplies every default; `none` for none."""
    rates: dict[str, float] = {k.value: DEFAULT_FAULT_RATE for k in FaultKind}
    rates[NonFaultKind.HEAVY_USAGE.value] = DEFAULT_HEAVY_USAGE_RATE
    rates[NonFaultKind.HOT_WEEK.value] = DEFAULT_HOT_WEEKS_PER_YEAR
    for kind in NonFaultKind:
        rates.setdefault(kind.value, DEFAULT_SITUATION_RATE)
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


def reference_rate(kind: str) -> float:
    """The default rate of a kind, against which a spec's rate scales a split's families."""
    return parse_spec(None)[kind]


def schedule_split(
    rng: np.random.Generator,
    split: Split,
    *,
    devices: int,
    start_ms: int,
    days: float,
    rates: dict[str, float],
    has_battery: np.ndarray,
    regions: int,
) -> tuple[list[Fault], list[Window]]:
    """Faults and situations drawn from a split's families.

    Each fault kind keeps its rate from `rates`, shared evenly by the split's families
    of that kind; each fault gets a curve of its family and effects drawn from its
    family's ranges. At most one fault per device. Situations run at their family's
    rate, scaled by the spec's rate of their kind over the kind's default.
    """
    faults: list[Fault] = []
    years = days / 365.0
    taken = np.zeros(devices, dtype=bool)
    for kind in FaultKind:
        families = [f for f in split.fault_families if f.kind is kind]
        wanted = [
            family
            for family in families
            for _ in range(rng.poisson(rates[kind.value] / len(families) * devices * years))
        ]
        for index in rng.permutation(len(wanted)):
            family = wanted[index]
            eligible = np.flatnonzero(~taken & (has_battery if family.needs_battery else True))
            if len(eligible):
                device = eligible[rng.integers(len(eligible))]
                onset = start_ms + int(rng.uniform(0.05, 0.6) * days * DAY_MS)
                full = onset + int(rng.uniform(*family.ramp_days) * DAY_MS)
                visible = onset + int(rng.uniform(*family.visible_days) * DAY_MS)
                curve = family.curves[int(rng.integers(len(family.curves)))]
                if curve is Curve.INTERMITTENT:
                    knobs = (rng.uniform(0.35, 0.7), rng.uniform(2, 10), rng.integers(1 << 30))
                elif curve is Curve.RECOVERING:
                    knobs = (rng.uniform(0, 2), rng.uniform(2, 5), rng.uniform(0.1, 0.4))
                else:
                    knobs = ()
                effects = tuple(
                    (name, round(float(rng.uniform(*span)), 4))
                    for name, span in family.effects.items()
                )
                faults.append(
                    Fault(
                        int(device),
                        kind,
                        onset,
                        full,
                        visible,
                        family.name,
                        curve,
                        effects,
                        tuple(float(k) for k in knobs),
                    )
                )
                taken[device] = True
    windows: list[Window] = []
    for situation in split.situations:
        scale = rates[situation.kind] / reference_rate(situation.kind)
        kind = NonFaultKind(situation.kind)
        if situation.regional:
            hosts = [
                (None, region)
                for region in range(regions)
                for _ in range(rng.poisson(situation.rate * scale * years))
            ]
        else:
            count = rng.poisson(situation.rate * scale * devices * years)
            pool = np.flatnonzero(has_battery) if situation.needs_battery else np.arange(devices)
            if not len(pool):
                continue
            hosts = [(int(d), None) for d in rng.choice(pool, size=count)]
        for device, region in hosts:
            begin = start_ms + int(rng.uniform(0, days) * DAY_MS)
            length = int(rng.uniform(*situation.days) * DAY_MS)
            effects = tuple(
                (name, round(float(rng.uniform(*span)), 4))
                for name, span in situation.effects.items()
            )
            windows.append(
                Window(kind, begin, begin + length, device, region, situation.name, effects)
            )
    faults.sort(key=lambda f: (f.onset_ms, f.device))
    windows.sort(key=lambda w: (w.start_ms, -1 if w.device is None else w.device))
    return faults, windows

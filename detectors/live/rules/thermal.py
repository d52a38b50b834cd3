"""Thermal rules: heat where it does not belong, against the device's own physics.

`ThermalPaths` looks at the battery's temperature minus the CPU's. Both follow the
ambient temperature, so the difference does not move on a hot day or in a heat wave;
what it does depend on (load, power source, charging) is learned per device in cells of
load band x power state. The recent difference against the cell's baseline separates
three faults: a swelling battery runs warm while not charging; a faulty charger heats
the battery only while charging; failed cooling heats the CPU, pushing the difference
the other way. `CpuLoad` covers devices without a battery temperature (gateways): it
watches how steeply the CPU heats with load, where failed cooling makes the slope
steeper and ambient heat only lifts the line (and moves too slowly to show in the
sample-to-sample changes the slope is measured on).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from detectors.base import Rule
from detectors.block import Block, filled
from detectors.live.decay import DecayedCells, DecayedMean, DecayedRegression
from detectors.live.findings import Assessment, Context, Explanation, confidence, rounded
from devicecare.contracts import Severity
from devicecare.contracts.vocabulary import FaultKind

DAY = 86_400.0
HOUR = 3600.0
LOAD_BANDS = np.array([0.0, 10.0, 25.0, 40.0, 60.0, 80.0])
"""Lower edges of the CPU load bands (%)."""
ON_BATTERY, ON_MAINS, CHARGING = 0, 1, 2
POWER_STATES = 3
MAINS_CURRENT_A = 0.05
"""Not charging and drawing less than this from the battery: running on mains."""
MIN_WEIGHT = 8.0
"""Samples' worth of recent evidence (decayed) needed before a difference counts."""
MIN_BASE_WEIGHT = 8.0
"""Samples' worth of baseline a cell needs before its recent mean is compared."""
MIN_THROTTLED = 0.02
THROTTLING_RATIO = 2.0
"""Throttling at this multiple of the device's usual share (and at least 2% of the time)
supports failed cooling."""
MAX_STEP_S = 3600.0
"""Consecutive samples further apart than this are not compared."""


def _score(z: np.ndarray) -> np.ndarray:
    """|z| of 0 -> 0, 4 -> 0.63, 8 -> 0.98: a calibrated score in [0, 1]."""
    out = 1.0 - np.exp(-((filled(z, 0.0) / 4.0) ** 2))
    return np.asarray(out, dtype=np.float64)


class ThermalPaths(Rule):
    """Battery minus CPU temperature, per load band and power state, recent against the
    device's own baseline.

    Samples fall in cells of `LOAD_BANDS` x power state (on battery, on mains, charging),
    since the same load means different power (and heat) on mains and on battery.
    Throttled samples are left out (throttling caps the CPU's temperature). Each cell
    keeps a baseline over `memory_days` and a recent mean over `recent_hours`
    (`charging_hours` for charging cells, pooling several charge sessions). The
    difference recent - baseline, averaged over the cells with enough of both, is read
    against the device's own noise (the cells' pooled standard deviation):

    - failed cooling: the CPU hotter at light load (the difference negative), beyond
      max(`cooling_c`, `noise_k` sigma); more throttling than usual adds to it;
    - a swelling battery: the battery warmer while not charging, beyond max(`swelling_c`,
      `noise_k` sigma);
    - a faulty charger: extra heat only while charging, beyond max(`charger_c`, `noise_k`
      sigma) over what the battery shows when not charging.

    The baseline stops learning while any of them is half-way to a fault."""

    name = "thermal_paths"
    kinds: ClassVar[tuple[str, ...]] = (
        FaultKind.BATTERY_SWELLING,
        FaultKind.FAULTY_CHARGER,
        FaultKind.COOLING_FAILURE,
    )
    needs: ClassVar[tuple[str, ...]] = ("battery_temp_c", "cpu_temp_c", "cpu_load_pct")

    def __init__(
        self,
        *,
        memory_days: float = 21.0,
        recent_hours: float = 24.0,
        charging_hours: float = 48.0,
        warmup_days: float = 2.0,
        swelling_c: float = 2.0,
        charger_c: float = 2.5,
        cooling_c: float = 2.5,
        noise_k: float = 1.0,
        light_bands: int = 3,
    ) -> None:
        self.memory_days = memory_days
        self.recent_hours = recent_hours
        self.charging_hours = charging_hours
        self.warmup_days = warmup_days
        self.swelling_c = swelling_c
        self.charger_c = charger_c
        self.cooling_c = cooling_c
        self.noise_k = noise_k
        self.light_bands = light_bands
        cells = len(LOAD_BANDS) * POWER_STATES
        charging = np.arange(cells) % POWER_STATES == CHARGING
        self.base = DecayedCells(np.full(cells, memory_days * DAY))
        self.recent = DecayedCells(np.where(charging, charging_hours * HOUR, recent_hours * HOUR))
        self.throttled_base = DecayedMean(memory_days * DAY)
        self.throttled_now = DecayedMean(recent_hours * HOUR)
        self.first = math.nan
        self.levels = (0.0, 0.0, 0.0)
        """Swelling, charger and cooling levels as last seen with enough evidence: one
        without fresh evidence (no charging lately) keeps its last value."""
        self.frozen = False

    @staticmethod
    def _cells(block: Block) -> tuple[np.ndarray, np.ndarray]:
        load = filled(block.col("cpu_load_pct"), 0.0)
        band = np.clip(np.searchsorted(LOAD_BANDS, load, side="right") - 1, 0, len(LOAD_BANDS) - 1)
        charging = filled(block.col("battery_charging"), 0.0) > 0.5
        current = block.col("battery_current_a")
        mains = ~charging & np.isfinite(current) & (current >= -MAINS_CURRENT_A)
        state = np.where(charging, CHARGING, np.where(mains, ON_MAINS, ON_BATTERY))
        y = block.col("battery_temp_c") - block.col("cpu_temp_c")
        y = np.where(filled(block.col("thermal_throttled"), 0.0) > 0.5, np.nan, y)
        return band * POWER_STATES + state, y

    def score_block(self, block: Block) -> np.ndarray:
        if not len(block) or not self.warm(float(block.ts[-1])):
            return np.zeros(len(block))
        cell, y = self._cells(block)
        sigma = np.sqrt(self.base.variances[cell])
        z = np.abs(y - self.base.means[cell]) / np.maximum(filled(sigma, 1.0), 0.5)
        return _score(z)

    def learn_block(self, block: Block, mask: np.ndarray) -> None:
        if not len(block):
            return
        if math.isnan(self.first):
            self.first = float(block.ts[0])
        cell, y = self._cells(block)
        throttled = block.col("thermal_throttled")
        self.recent.update(block.ts, cell, y)
        self.throttled_now.update(block.ts, throttled)
        if self.frozen:
            return
        self.base.update(block.ts, cell, y)
        self.throttled_base.update(block.ts, throttled)

    def warm(self, now: float) -> bool:
        return not math.isnan(self.first) and now - self.first >= self.warmup_days * DAY

    def rebaseline(self, now: float) -> None:
        """An OS update may change how hot the CPU runs for a load: learn anew, with a
        fresh warm-up."""
        self.base = DecayedCells(self.base.tau)
        self.recent = DecayedCells(self.recent.tau)
        self.throttled_base = DecayedMean(self.throttled_base.tau)
        self.first = now
        self.levels = (0.0, 0.0, 0.0)
        self.frozen = False

    def _excess(self, cells: np.ndarray, now: float) -> float:
        """Recent minus baseline, weighted over the chosen cells that have enough of
        both (NaN when none has)."""
        base_w = self.base.weights_at(now)
        recent_w = self.recent.weights_at(now)
        ok = cells & (base_w >= MIN_BASE_WEIGHT) & (recent_w >= 1.0)
        if recent_w[ok].sum() < MIN_WEIGHT:
            return math.nan
        diff = self.recent.means[ok] - self.base.means[ok]
        return float(np.average(diff, weights=recent_w[ok]))

    def sigma(self) -> float:
        """The device's own within-cell noise of battery minus CPU temperature."""
        w = self.base.s0
        ok = w > 0
        if not ok.any():
            return math.nan
        return float(math.sqrt(np.average(self.base.variances[ok], weights=w[ok])))

    def assess(self, now: float, context: Context) -> list[Assessment]:
        if not self.warm(now):
            return []
        sigma = self.sigma()
        if math.isnan(sigma):
            return []
        index = np.arange(len(self.base.tau))
        state, band = index % POWER_STATES, index // POWER_STATES
        resting = self._excess(state != CHARGING, now)
        light = self._excess((band < self.light_bands) & (state != CHARGING), now)
        charge = self._excess(state == CHARGING, now)
        noise = self.noise_k * sigma
        swelling, charger, cooling = self.levels
        usual = self.throttled_base.mean
        throttled = self.throttled_now.mean
        more_throttling = (
            not math.isnan(throttled)
            and throttled >= MIN_THROTTLED
            and throttled >= THROTTLING_RATIO * max(usual if not math.isnan(usual) else 0.0, 0.01)
        )
        if not math.isnan(resting):
            swelling = resting / max(self.swelling_c, noise)
        if not math.isnan(light):
            cooling = -light / max(self.cooling_c, noise) * (1.25 if more_throttling else 1.0)
        if not math.isnan(charge):
            rest = 0.0 if math.isnan(resting) else max(resting, 0.0)
            charger = (charge - rest) / max(self.charger_c, noise) if swelling < 0.5 else 0.0
        self.levels = (swelling, charger, cooling)
        self.frozen = max(self.levels) >= 0.5
        noun = context.noun
        evidence = {
            "battery_minus_cpu_change_c": rounded(resting),
            "battery_minus_cpu_change_light_load_c": rounded(light),
            "battery_minus_cpu_change_charging_c": rounded(charge),
            "noise_c": rounded(sigma),
            "throttled_share": rounded(throttled),
            "throttled_share_baseline": rounded(usual),
        }
        warmer = max(resting if not math.isnan(resting) else 0.0, 0.0)
        hotter = max(charge if not math.isnan(charge) else 0.0, 0.0)
        cpu = max(-light if not math.isnan(light) else 0.0, 0.0)

        def swollen() -> Explanation:
            return Explanation(
                Severity.CRITICAL if swelling >= 1 else Severity.HIGH,
                confidence(swelling),
                f"Your {noun}'s battery runs about {max(warmer, 1.0):.0f} °C warmer than it "
                f"normally does for the same use, while the rest of the {noun} does not: a "
                "sign of a swelling battery. Please stop charging it overnight and have it "
                "checked.",
                evidence,
            )

        def charger_heat() -> Explanation:
            return Explanation(
                Severity.HIGH,
                confidence(charger),
                f"Your {noun}'s battery gets about {max(hotter, 1.0):.0f} °C hotter than "
                "usual while charging, and only then: the charger or cable is the likely "
                "cause. Try another charger and let us check the old one.",
                evidence,
            )

        def hot_cpu() -> Explanation:
            slows = f" and slows itself down {throttled:.0%} of the time" if more_throttling else ""
            return Explanation(
                Severity.HIGH,
                confidence(cooling),
                f"Your {noun}'s processor runs about {max(cpu, 1.0):.0f} °C hotter than it "
                f"used to at the same light load{slows}, though the battery does not: its "
                "cooling has degraded. A free diagnostic at a store can restore it.",
                evidence,
            )

        return [
            Assessment(FaultKind.BATTERY_SWELLING, swelling, self.name, swollen),
            Assessment(FaultKind.FAULTY_CHARGER, charger, self.name, charger_heat),
            Assessment(FaultKind.COOLING_FAILURE, cooling, self.name, hot_cpu),
        ]


class CpuLoad(Rule):
    """Failed cooling on a device without a battery temperature, from how steeply its
    CPU heats with load. On a device with one, `ThermalPaths` decides (it compares like
    with like per load band and power state); this rule then stays silent."""

    name = "cpu_load"
    kinds: ClassVar[tuple[str, ...]] = (FaultKind.COOLING_FAILURE,)
    needs: ClassVar[tuple[str, ...]] = ("cpu_temp_c", "cpu_load_pct")

    def __init__(
        self,
        *,
        memory_days: float = 7.0,
        recent_days: float = 1.0,
        warmup_days: float = 1.5,
        slope_rise_c: float = 12.0,
    ) -> None:
        self.memory_days = memory_days
        self.recent_days = recent_days
        self.warmup_days = warmup_days
        self.slope_rise_c = slope_rise_c
        self.baseline = DecayedRegression(memory_days * DAY, 2)
        self.recent = DecayedRegression(recent_days * DAY, 2)
        self.throttled_base = DecayedMean(memory_days * DAY)
        self.throttled_now = DecayedMean(recent_days * DAY)
        self.first = math.nan
        self.last: tuple[float, float, float] = (math.nan, math.nan, math.nan)
        self.frozen = False
        self.battery_temp = False
        """Whether the device reports a battery temperature (then `ThermalPaths` rules)."""

    def _design(self, block: Block) -> tuple[np.ndarray, np.ndarray]:
        """Changes from one sample to the next: the CPU's temperature change against the
        load's. Ambient heat moves slowly and drops out of the differences."""
        prev_t, prev_load, prev_temp = self.last
        ts = np.concatenate(([prev_t], block.ts))
        load = np.concatenate(([prev_load], block.col("cpu_load_pct"))) / 100.0
        temp = np.concatenate(([prev_temp], block.col("cpu_temp_c")))
        adjacent = np.diff(ts) <= MAX_STEP_S
        x = np.column_stack((np.ones(len(block)), np.where(adjacent, np.diff(load), np.nan)))
        return x, np.diff(temp)

    def score_block(self, block: Block) -> np.ndarray:
        beta = self.baseline.coef()
        if beta is None or not self.warm(block.ts[-1] if len(block) else math.nan):
            return np.zeros(len(block))
        x, y = self._design(block)
        return _score(filled(y - x @ beta, 0.0) / 3.0)

    def learn_block(self, block: Block, mask: np.ndarray) -> None:
        if not len(block):
            return
        if math.isnan(self.first):
            self.first = float(block.ts[0])
        self.battery_temp = self.battery_temp or block.has("battery_temp_c")
        x, y = self._design(block)
        self.recent.update(block.ts, x, y)
        throttled = block.col("thermal_throttled")
        self.throttled_now.update(block.ts, throttled)
        if not self.frozen:
            self.baseline.update(block.ts[mask], x[mask], y[mask])
            self.throttled_base.update(block.ts[mask], throttled[mask])
        self.last = (
            float(block.ts[-1]),
            float(block.col("cpu_load_pct")[-1]),
            float(block.col("cpu_temp_c")[-1]),
        )

    def warm(self, now: float) -> bool:
        return not math.isnan(self.first) and now - self.first >= self.warmup_days * DAY

    def rebaseline(self, now: float) -> None:
        """After an OS update: learn the heating slope and throttling anew."""
        self.baseline = DecayedRegression(self.baseline.tau, 2)
        self.recent = DecayedRegression(self.recent.tau, 2)
        self.throttled_base = DecayedMean(self.throttled_base.tau)
        self.first = now
        self.frozen = False

    def assess(self, now: float, context: Context) -> list[Assessment]:
        base, recent = self.baseline.coef(), self.recent.coef()
        if base is None or recent is None or not self.warm(now) or self.battery_temp:
            return []
        rise = float(recent[1] - base[1])
        level = rise / self.slope_rise_c
        self.frozen = level >= 0.5
        throttled = self.throttled_now.mean

        def explain() -> Explanation:
            slows = (
                f" and slows itself down {throttled:.0%} of the time"
                if not math.isnan(throttled) and throttled >= 0.01
                else ""
            )
            return Explanation(
                Severity.HIGH,
                confidence(level),
                f"Under full load your {context.noun}'s processor now heats up {rise:.0f} °C "
                f"more than it used to{slows}: its cooling has degraded. A free diagnostic "
                "at a store can restore it.",
                {
                    "cpu_heating_per_load_c": rounded(float(recent[1])),
                    "cpu_heating_per_load_baseline_c": rounded(float(base[1])),
                    "throttled_share": rounded(throttled),
                    "throttled_share_baseline": rounded(self.throttled_base.mean),
                },
            )

        return [Assessment(FaultKind.COOLING_FAILURE, level, self.name, explain)]

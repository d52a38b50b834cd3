"""Thermal rules: heat where it does not belong, against the device's own physics.

`ThermalPaths` looks at the battery's temperature minus the CPU's. Both follow the
ambient temperature, so the difference does not move on a hot day or in a heat wave;
what it does depend on (load, charging) is learned per device as a linear model. Its
residual then separates three faults: a swelling battery runs warm whether charging or
not; a faulty charger heats the battery only while charging; failed cooling heats the
CPU, pushing the difference the other way. `CpuLoad` watches how steeply the CPU heats
with load: failed cooling makes the slope steeper, ambient heat only lifts the line (and
moves too slowly to show in the sample-to-sample changes the slope is measured on).
It covers devices without a battery sensor and counts throttling.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from detectors.base import Rule
from detectors.block import Block, filled
from detectors.live.decay import DecayedMean, DecayedRegression
from detectors.live.findings import Assessment, Context, Explanation, confidence, rounded
from devicecare.contracts import Severity
from devicecare.contracts.vocabulary import FaultKind

DAY = 86_400.0
HOUR = 3600.0
MIN_CHARGING_LEARNED = 48.0
"""Charging samples' worth the model must have learned before charging residuals count."""
MIN_WEIGHT = 8.0
"""Samples' worth of recent evidence (decayed) needed before a residual mean counts."""
MAX_STEP_S = 3600.0
"""Consecutive samples further apart than this are not compared."""


def _score(z: np.ndarray) -> np.ndarray:
    """|z| of 0 -> 0, 4 -> 0.63, 8 -> 0.98: a calibrated score in [0, 1]."""
    out = 1.0 - np.exp(-((filled(z, 0.0) / 4.0) ** 2))
    return np.asarray(out, dtype=np.float64)


class ThermalPaths(Rule):
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
        memory_days: float = 7.0,
        recent_hours: float = 8.0,
        charging_hours: float = 24.0,
        warmup_days: float = 2.0,
        swelling_c: float = 2.0,
        charger_c: float = 2.5,
        cooling_c: float = 3.0,
    ) -> None:
        self.memory_days = memory_days
        self.recent_hours = recent_hours
        self.charging_hours = charging_hours
        self.warmup_days = warmup_days
        self.swelling_c = swelling_c
        self.charger_c = charger_c
        self.cooling_c = cooling_c
        self.model = DecayedRegression(memory_days * DAY, 3)
        self.noise = DecayedMean(memory_days * DAY)
        self.resting = DecayedMean(recent_hours * HOUR)
        self.charging = DecayedMean(charging_hours * HOUR)
        self.first = math.nan
        self.charge_excess = 0.0
        self.levels = (0.0, 0.0, 0.0)
        """Swelling, charger and cooling levels as last seen with enough evidence: one
        without fresh evidence (no charging lately) keeps its last value."""
        self.frozen = False

    @staticmethod
    def _design(block: Block) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        load = block.col("cpu_load_pct") / 100.0
        charging = filled(block.col("battery_charging"), 0.0)
        x = np.column_stack((np.ones(len(block)), load, charging))
        y = block.col("battery_temp_c") - block.col("cpu_temp_c")
        return x, y, charging

    def _residual(self, block: Block) -> tuple[np.ndarray, np.ndarray]:
        x, y, charging = self._design(block)
        beta = self.model.coef()
        if beta is None:
            return np.full(len(block), np.nan), charging
        return y - x @ beta, charging

    def _sigma(self) -> float:
        return max(self.noise.std if self.noise.s0 > 0 else math.nan, 0.5)

    def score_block(self, block: Block) -> np.ndarray:
        residual, _ = self._residual(block)
        sigma = self._sigma()
        if math.isnan(sigma) or not self.warm(block.ts[-1] if len(block) else math.nan):
            return np.zeros(len(block))
        return _score(np.abs(residual) / sigma)

    def learn_block(self, block: Block, mask: np.ndarray) -> None:
        if not len(block):
            return
        if math.isnan(self.first):
            self.first = float(block.ts[0])
        residual, charging = self._residual(block)
        on = charging > 0.5
        self.resting.update(block.ts[~on], residual[~on])
        self.charging.update(block.ts[on], residual[on])
        if self.frozen:
            return
        x, y, _ = self._design(block)
        learn = mask if self.warm(float(block.ts[-1])) else np.ones(len(block), dtype=bool)
        self.model.update(block.ts[learn], x[learn], y[learn])
        ok = learn & np.isfinite(residual)
        self.noise.update(block.ts[ok], residual[ok])

    def warm(self, now: float) -> bool:
        return (
            not math.isnan(self.first)
            and now - self.first >= self.warmup_days * DAY
            and self.model.weight > 0
        )

    def assess(self, now: float, context: Context) -> list[Assessment]:
        if not self.warm(now):
            return []
        rest = self.resting.mean if self.resting.weight_at(now) >= MIN_WEIGHT else math.nan
        charge = (
            self.charging.mean
            if self.charging.weight_at(now) >= MIN_WEIGHT
            and self.model.xtx[2, 2] >= MIN_CHARGING_LEARNED
            else math.nan
        )
        both = [v for v in (rest, charge) if not math.isnan(v)]
        if not both:
            return []
        swelling, charger, cooling = self.levels
        if not math.isnan(rest):
            swelling = min(both) / self.swelling_c
            cooling = -float(np.mean(both)) / self.cooling_c
            if not math.isnan(charge):
                charger = (
                    (charge - max(rest, 0.0)) / self.charger_c
                    if rest < self.swelling_c / 2
                    else 0.0
                )
        self.levels = (swelling, charger, cooling)
        self.frozen = max(self.levels) >= 0.5
        if not math.isnan(charge):
            self.charge_excess = charge
        warmer = min(both)
        hotter = self.charge_excess
        noun = context.noun
        evidence = {
            "battery_minus_cpu_residual_c": rounded(rest),
            "battery_minus_cpu_residual_charging_c": rounded(charge),
            "residual_noise_c": rounded(self._sigma()),
        }

        def swollen() -> Explanation:
            return Explanation(
                Severity.CRITICAL if swelling >= 1 else Severity.HIGH,
                confidence(swelling),
                f"Your {noun}'s battery runs about {warmer:.0f} °C warmer than it "
                "normally does for the same use, charging or not, while the rest of the "
                f"{noun} does not: a sign of a swelling battery. Please stop charging it "
                "overnight and have it checked.",
                evidence,
            )

        def charger_heat() -> Explanation:
            return Explanation(
                Severity.HIGH,
                confidence(charger),
                f"Your {noun}'s battery gets about {hotter:.0f} °C hotter than usual while "
                "charging, and only then: the charger or cable is the likely cause. Try "
                "another charger and let us check the old one.",
                evidence,
            )

        def hot_cpu() -> Explanation:
            return Explanation(
                Severity.HIGH,
                confidence(cooling),
                f"Your {noun}'s processor runs about {-float(np.mean(both)):.0f} °C hotter "
                "than it used to for the same work, though the battery does not: its "
                "cooling has degraded. A free diagnostic at a store can restore it.",
                evidence,
            )

        return [
            Assessment(FaultKind.BATTERY_SWELLING, swelling, self.name, swollen),
            Assessment(FaultKind.FAULTY_CHARGER, charger, self.name, charger_heat),
            Assessment(FaultKind.COOLING_FAILURE, cooling, self.name, hot_cpu),
        ]


class CpuLoad(Rule):
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

    def assess(self, now: float, context: Context) -> list[Assessment]:
        base, recent = self.baseline.coef(), self.recent.coef()
        if base is None or recent is None or not self.warm(now):
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

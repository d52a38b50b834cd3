"""Battery rules: capacity fade against what use and heat explain, sudden charge drops,
and an unsteady voltage.

`CapacityFade` compares the measured fade of health (full / design capacity) with the
fade that the battery's own use and temperature explain under a standard lithium-ion
ageing model: about 0.018% of capacity per equivalent full cycle plus 0.002% per day of
calendar ageing at 25 °C, both doubling per 10 °C (Arrhenius). A heavy-usage week or a
heat wave raises both, so only fade beyond what they explain counts as a fault.
"""

from __future__ import annotations

import math
import time
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
CYCLE_FADE_PCT = 0.018
CALENDAR_FADE_PCT_PER_DAY = 0.002
MIN_HEALTH = 0.3


def _last(values: np.ndarray) -> float:
    ok = np.flatnonzero(np.isfinite(values))
    return float(values[ok[-1]]) if len(ok) else math.nan


class CapacityFade(Rule):
    name = "capacity_fade"
    kinds: ClassVar[tuple[str, ...]] = (FaultKind.BATTERY_FADE,)
    needs: ClassVar[tuple[str, ...]] = ("battery_full_wh", "battery_design_wh")

    def __init__(
        self,
        *,
        memory_days: float = 4.0,
        warmup_days: float = 3.0,
        excess_ratio: float = 4.0,
        min_fade_pct_per_day: float = 0.06,
    ) -> None:
        self.memory_days = memory_days
        self.warmup_days = warmup_days
        self.excess_ratio = excess_ratio
        self.min_fade_pct_per_day = min_fade_pct_per_day
        self.trend = DecayedRegression(memory_days * DAY, 2)
        self.expected = DecayedMean(memory_days * DAY)
        self.first = math.nan
        self.health = math.nan
        self.last: tuple[float, float] = (math.nan, math.nan)

    def _health(self, block: Block) -> np.ndarray:
        design = block.col("battery_design_wh")
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(design > 0, 100.0 * block.col("battery_full_wh") / design, np.nan)

    def score_block(self, block: Block) -> np.ndarray:
        return np.zeros(len(block))

    def learn_block(self, block: Block, mask: np.ndarray) -> None:
        health = self._health(block)
        ok = np.isfinite(health)
        if not ok.any():
            return
        ts = block.ts
        if math.isnan(self.first):
            self.first = float(ts[ok][0])
        days = (ts - self.first) / DAY
        self.trend.update(ts, np.column_stack((np.ones(len(ts)), days)), health)
        self.health = _last(health)
        pct = block.col("battery_pct")
        temp = filled(block.col("battery_temp_c"), 25.0)
        charging = block.col("battery_charging") > 0.5
        prev_t, prev_pct = self.last
        all_t = np.concatenate(([prev_t], ts))
        all_pct = np.concatenate(([prev_pct], pct))
        dt_days = np.diff(all_t) / DAY
        discharged = np.clip(all_pct[:-1] - all_pct[1:], 0.0, None)
        discharged = np.where(charging, 0.0, discharged)
        heat = 2.0 ** ((temp - 25.0) / 10.0)
        fade = (discharged / 100.0 * CYCLE_FADE_PCT + dt_days * CALENDAR_FADE_PCT_PER_DAY) * heat
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where((dt_days > 0) & (dt_days < 0.5), fade / dt_days, np.nan)
        self.expected.update(ts, rate)
        self.last = (float(ts[-1]), _last(pct))

    def measured_fade(self) -> float:
        """Capacity lost per day, % of design, over the last few days."""
        beta = self.trend.coef(ridge=0.0)
        return math.nan if beta is None else -float(beta[1])

    def assess(self, now: float, context: Context) -> list[Assessment]:
        if math.isnan(self.first) or now - self.first < self.warmup_days * DAY:
            return []
        fade = self.measured_fade()
        expected = self.expected.mean
        if math.isnan(fade) or math.isnan(expected):
            return []
        ratio = fade / max(expected, 0.002)
        level = min(ratio / self.excess_ratio, fade / self.min_fade_pct_per_day)
        days_to_80 = (self.health - 80.0) / fade if fade > 0 else math.inf
        health = self.health

        def explain() -> Explanation:
            cohort = context.cohort_median("battery_health_pct")
            reason = (
                f"Your battery holds {health:.0f}% of its original charge and is losing "
                f"about {fade * 30:.1f}% a month, {ratio:.0f} times faster than its use and "
                "temperature explain"
            )
            reason += f"; most {context.peers} hold {cohort:.0f}%." if cohort else "."
            if 0 < days_to_80 < 3 * 365:
                when = time.strftime("%B %Y", time.gmtime(now + days_to_80 * DAY))
                reason += f" At this rate it drops under 80% around {when}."
            elif health < 80:
                reason += " It is below the 80% at which a replacement is due."
            return Explanation(
                Severity.HIGH if days_to_80 < 60 or health < 80 else Severity.MEDIUM,
                confidence(level),
                reason + " A battery check is free.",
                {
                    "health_pct": rounded(health, 1),
                    "fade_pct_per_day": rounded(fade, 4),
                    "expected_fade_pct_per_day": rounded(expected, 4),
                    "fade_ratio": rounded(ratio, 2),
                    "days_to_80_pct": rounded(min(days_to_80, 9999.0), 1),
                    "cohort_median_health_pct": rounded(cohort, 1),
                    "cohort_percentile_fade": rounded(
                        context.percentile("battery_fade_pct_per_day", fade), 1
                    ),
                },
            )

        return [Assessment(FaultKind.BATTERY_FADE, level, self.name, explain)]


class ChargeDrops(Rule):
    """A bad cell: the charge level falls by many points within minutes, unplugged."""

    name = "charge_drops"
    kinds: ClassVar[tuple[str, ...]] = (FaultKind.BATTERY_BAD_CELL,)
    needs: ClassVar[tuple[str, ...]] = ("battery_pct", "battery_charging")

    def __init__(
        self,
        *,
        min_drop_pct: float = 10.0,
        min_rate_pct_per_hour: float = 30.0,
        window_days: float = 7.0,
        drops_for_fault: int = 2,
    ) -> None:
        self.min_drop_pct = min_drop_pct
        self.min_rate_pct_per_hour = min_rate_pct_per_hour
        self.window_days = window_days
        self.drops_for_fault = drops_for_fault
        self.drops: list[tuple[float, float]] = []
        self.last: tuple[float, float, float] = (math.nan, math.nan, 1.0)
        self.health = 1.0

    def _drops(self, block: Block) -> np.ndarray:
        """Sudden drops; the thresholds grow as capacity shrinks, since a worn battery
        drains each point of charge faster (that is fade, not a bad cell)."""
        prev_t, prev_pct, prev_charging = self.last
        design = block.col("battery_design_wh")
        with np.errstate(divide="ignore", invalid="ignore"):
            health = block.col("battery_full_wh") / design
        ok = np.flatnonzero(np.isfinite(health) & (design > 0))
        if len(ok):
            self.health = float(health[ok[-1]])
        worn = 1.0 / min(max(self.health, MIN_HEALTH), 1.0)
        ts = np.concatenate(([prev_t], block.ts))
        pct = np.concatenate(([prev_pct], block.col("battery_pct")))
        charging = np.concatenate(([prev_charging], block.col("battery_charging")))
        hours = np.diff(ts) / HOUR
        drop = pct[:-1] - pct[1:]
        unplugged = ~(charging[:-1] > 0.5) & ~(charging[1:] > 0.5)
        with np.errstate(divide="ignore", invalid="ignore"):
            sudden = (
                unplugged
                & (hours > 0)
                & (hours <= 1.0)
                & (drop >= self.min_drop_pct * worn)
                & (drop / hours >= self.min_rate_pct_per_hour * worn)
            )
        return np.where(sudden, drop, 0.0)

    def score_block(self, block: Block) -> np.ndarray:
        drops = self._drops(block)
        return np.clip(drops / (2 * self.min_drop_pct), 0.0, 1.0)

    def learn_block(self, block: Block, mask: np.ndarray) -> None:
        if not len(block):
            return
        drops = self._drops(block)
        for i in np.flatnonzero(drops):
            self.drops.append((float(block.ts[i]), float(drops[i])))
        horizon = float(block.ts[-1]) - 2 * self.window_days * DAY
        self.drops = [d for d in self.drops if d[0] >= horizon][-16:]
        charging = block.col("battery_charging")
        self.last = (
            float(block.ts[-1]),
            float(block.col("battery_pct")[-1]),
            0.0 if math.isnan(charging[-1]) else float(charging[-1]),
        )

    def assess(self, now: float, context: Context) -> list[Assessment]:
        if math.isnan(self.last[0]):
            return []
        recent = [d for t, d in self.drops if t >= now - self.window_days * DAY]
        level = len(recent) / self.drops_for_fault
        deepest = max(recent, default=0.0)

        def explain() -> Explanation:
            return Explanation(
                Severity.HIGH,
                min(0.99, 0.35 * len(recent)),
                f"Your {context.noun}'s charge level fell suddenly {len(recent)} times in "
                f"the last week, by up to {deepest:.0f}% within minutes, while it was not "
                "charging: a sign of a failing battery cell. A battery check is free.",
                {"sudden_drops_7d": len(recent), "deepest_drop_pct": rounded(deepest, 1)},
            )

        return [Assessment(FaultKind.BATTERY_BAD_CELL, level, self.name, explain)]


class BatteryVoltage(Rule):
    """A swelling battery's voltage turns unsteady: the residual of the device's own
    voltage model (charge level and current) grows against its usual spread."""

    name = "battery_voltage"
    kinds: ClassVar[tuple[str, ...]] = (FaultKind.BATTERY_SWELLING,)
    needs: ClassVar[tuple[str, ...]] = ("battery_voltage_v", "battery_pct", "battery_current_a")

    def __init__(
        self,
        *,
        memory_days: float = 7.0,
        recent_hours: float = 12.0,
        warmup_days: float = 1.0,
        noise_ratio: float = 4.0,
    ) -> None:
        self.memory_days = memory_days
        self.recent_hours = recent_hours
        self.warmup_days = warmup_days
        self.noise_ratio = noise_ratio
        self.model = DecayedRegression(memory_days * DAY, 4)
        self.base = DecayedMean(memory_days * DAY)
        self.recent = DecayedMean(recent_hours * HOUR)
        self.first = math.nan
        self.frozen = False

    @staticmethod
    def _design(block: Block) -> tuple[np.ndarray, np.ndarray]:
        p = block.col("battery_pct") / 100.0
        x = np.column_stack((np.ones(len(block)), p, p * p, block.col("battery_current_a")))
        return x, block.col("battery_voltage_v")

    def _residual(self, block: Block) -> np.ndarray:
        beta = self.model.coef(ridge=1e-6)
        if beta is None:
            return np.full(len(block), np.nan)
        x, y = self._design(block)
        return y - x @ beta

    def _spread(self) -> float:
        return max(math.sqrt(self.base.mean), 0.003) if self.base.s0 > 0 else math.nan

    def score_block(self, block: Block) -> np.ndarray:
        spread = self._spread()
        if math.isnan(spread):
            return np.zeros(len(block))
        z = filled(np.abs(self._residual(block)) / spread, 0.0)
        return 1.0 - np.exp(-((z / 6.0) ** 2))

    def learn_block(self, block: Block, mask: np.ndarray) -> None:
        if not len(block):
            return
        if math.isnan(self.first):
            self.first = float(block.ts[0])
        residual = self._residual(block)
        self.recent.update(block.ts, residual * residual)
        if self.frozen:
            return
        x, y = self._design(block)
        self.model.update(block.ts[mask], x[mask], y[mask])
        self.base.update(block.ts[mask], (residual * residual)[mask])

    def assess(self, now: float, context: Context) -> list[Assessment]:
        if math.isnan(self.first) or now - self.first < self.warmup_days * DAY:
            return []
        spread = self._spread()
        if math.isnan(spread) or self.recent.s0 <= 0:
            return []
        ratio = math.sqrt(self.recent.mean) / spread
        level = (ratio - 1.0) / (self.noise_ratio - 1.0)
        self.frozen = level >= 0.5
        noise = math.sqrt(self.recent.mean)

        def explain() -> Explanation:
            return Explanation(
                Severity.CRITICAL if level >= 1 else Severity.HIGH,
                confidence(level),
                f"Your {context.noun}'s battery voltage has become unsteady ({ratio:.0f} "
                "times its usual spread): a sign of a swelling battery. Please stop charging "
                "it overnight and have it checked.",
                {"voltage_noise_ratio": rounded(ratio, 2), "voltage_noise_v": rounded(noise, 4)},
            )

        return [Assessment(FaultKind.BATTERY_SWELLING, level, self.name, explain)]

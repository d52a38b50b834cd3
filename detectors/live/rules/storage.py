"""Storage rules: runaway filling with a time-to-full forecast, and flash wearing out."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from detectors.base import Rule
from detectors.block import Block, filled
from detectors.live.decay import DecayedMean
from detectors.live.findings import Assessment, Context, Explanation, confidence, rounded
from devicecare.contracts import Severity
from devicecare.contracts.vocabulary import FaultKind

DAY = 86_400.0
HOUR = 3600.0
GB = 1e9


class StorageFill(Rule):
    """Used space growing far faster than this device's own usual growth.

    Growth counts only increases (a clean-up is not negative growth), per day, over the
    last `recent_hours`; the baseline is the same over `memory_days`, learned only while
    recent growth stays under `min_growth_gb_per_day` and the rule does not flag, so a
    runaway that builds up slowly is not learned as the new normal."""

    name = "storage_fill"
    kinds: ClassVar[tuple[str, ...]] = (FaultKind.STORAGE_RUNAWAY,)
    needs: ClassVar[tuple[str, ...]] = ("storage_total_bytes", "storage_free_bytes")

    def __init__(
        self,
        *,
        recent_hours: float = 12.0,
        memory_days: float = 7.0,
        warmup_days: float = 1.0,
        min_growth_gb_per_day: float = 2.0,
        growth_ratio: float = 5.0,
    ) -> None:
        self.recent_hours = recent_hours
        self.memory_days = memory_days
        self.warmup_days = warmup_days
        self.min_growth_gb_per_day = min_growth_gb_per_day
        self.growth_ratio = growth_ratio
        self.recent = DecayedMean(recent_hours * HOUR)
        self.base = DecayedMean(memory_days * DAY)
        self.last: tuple[float, float] = (math.nan, math.nan)
        self.free = math.nan
        self.first = math.nan
        self.frozen = False

    def _growth(self, block: Block) -> np.ndarray:
        used = block.col("storage_total_bytes") - block.col("storage_free_bytes")
        prev_t, prev_used = self.last
        ts = np.concatenate(([prev_t], block.ts))
        used = np.concatenate(([prev_used], used))
        days = np.diff(ts) / DAY
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(
                (days > 0) & (days < 2), np.clip(np.diff(used), 0.0, None) / days, np.nan
            )

    def _threshold(self) -> float:
        base = self.base.mean if self.base.s0 > 0 else 0.0
        return max(self.min_growth_gb_per_day * GB, self.growth_ratio * base)

    def score_block(self, block: Block) -> np.ndarray:
        growth = filled(self._growth(block), 0.0)
        return np.clip(growth / (2 * self._threshold()), 0.0, 1.0)

    def learn_block(self, block: Block, mask: np.ndarray) -> None:
        used = block.col("storage_total_bytes") - block.col("storage_free_bytes")
        ok = np.flatnonzero(np.isfinite(used))
        if not len(ok):
            return
        if math.isnan(self.first):
            self.first = float(block.ts[ok[0]])
        growth = self._growth(block)
        self.recent.update(block.ts, growth)
        calm = self.recent.mean < self.min_growth_gb_per_day * GB
        if calm and not self.frozen:
            self.base.update(block.ts[mask], growth[mask])
        self.last = (float(block.ts[ok[-1]]), float(used[ok[-1]]))
        self.free = float(block.col("storage_free_bytes")[ok[-1]])

    def assess(self, now: float, context: Context) -> list[Assessment]:
        if math.isnan(self.first) or now - self.first < self.warmup_days * DAY:
            return []
        rate = self.recent.mean
        if math.isnan(rate):
            return []
        level = rate / self._threshold()
        self.frozen = level >= 0.5
        usual = self.base.mean
        free = self.free

        def explain() -> Explanation:
            days_to_full = free / rate if rate > 0 else math.inf
            if days_to_full < 1:
                severity = Severity.CRITICAL
            elif days_to_full < 7:
                severity = Severity.HIGH
            else:
                severity = Severity.MEDIUM
            times = f", {rate / usual:.0f} times faster than usual" if usual > 0 else ""
            return Explanation(
                severity,
                confidence(level),
                f"Your {context.noun}'s storage is filling by {rate / GB:.1f} GB a day{times}; "
                f"at this rate it is full in {days_to_full:.0f} days. A runaway app log or "
                "cache is the usual cause: our clean-up guide shows how to find and clear it.",
                {
                    "growth_gb_per_day": rounded(rate / GB, 2),
                    "usual_growth_gb_per_day": rounded(usual / GB, 2),
                    "free_gb": rounded(free / GB, 1),
                    "days_to_full": rounded(min(days_to_full, 9999.0), 1),
                },
            )

        return [Assessment(FaultKind.STORAGE_RUNAWAY, level, self.name, explain)]


class FlashWear(Rule):
    """Flash wear (eMMC/UFS `life_time`, in steps of 10%) advancing within weeks, where
    normal use takes years per step, or the chip's own pre-end-of-life warning."""

    name = "flash_wear"
    kinds: ClassVar[tuple[str, ...]] = (FaultKind.FLASH_EOL,)
    needs: ClassVar[tuple[str, ...]] = ("flash_wear_pct",)

    def __init__(self, *, window_days: float = 45.0, steps_for_fault: int = 2) -> None:
        self.window_days = window_days
        self.steps_for_fault = steps_for_fault
        self.wear = math.nan
        self.pre_eol = 1.0
        self.steps: list[float] = []

    def score_block(self, block: Block) -> np.ndarray:
        wear = block.col("flash_wear_pct")
        before = np.concatenate(([self.wear], wear[:-1]))
        return np.where(filled(wear - before, 0.0) > 0, 0.5, 0.0)

    def learn_block(self, block: Block, mask: np.ndarray) -> None:
        wear = block.col("flash_wear_pct")
        for i in np.flatnonzero(np.isfinite(wear)):
            if not math.isnan(self.wear) and wear[i] > self.wear:
                self.steps.append(float(block.ts[i]))
            self.wear = float(wear[i])
        eol = block.col("flash_pre_eol")
        if np.isfinite(eol).any():
            self.pre_eol = float(np.nanmax(eol))
        self.steps = self.steps[-8:]

    def assess(self, now: float, context: Context) -> list[Assessment]:
        if math.isnan(self.wear):
            return []
        recent = [t for t in self.steps if t >= now - self.window_days * DAY]
        level = len(recent) / self.steps_for_fault
        if self.pre_eol >= 2 or self.wear >= 90:
            level = max(level, 1.0)
        wear, pre_eol, window = self.wear, self.pre_eol, self.window_days

        def explain() -> Explanation:
            rate = math.nan
            if len(recent) >= 2:
                rate = 10.0 * (len(recent) - 1) / max((recent[-1] - recent[0]) / DAY, 0.1)
            days_left = (100.0 - wear) / rate if rate > 0 else math.nan
            critical = pre_eol >= 3 or (not math.isnan(days_left) and days_left < 14)
            forecast = (
                f"; at this rate it wears out in about {days_left:.0f} days"
                if not math.isnan(days_left)
                else ""
            )
            return Explanation(
                Severity.CRITICAL if critical else Severity.HIGH,
                confidence(level),
                f"Your {context.noun}'s built-in storage chip has used {wear:.0f}% of its "
                f"rated life, {len(recent)} steps of 10% in the last {window:.0f} days"
                f"{forecast}. Back up your data now; a free diagnostic can confirm it.",
                {
                    "flash_wear_pct": rounded(wear, 0),
                    "wear_steps_recent": len(recent),
                    "pre_eol": int(pre_eol),
                    "wear_pct_per_day": rounded(rate, 2),
                    "days_to_end_of_life": rounded(days_left, 1),
                },
            )

        return [Assessment(FaultKind.FLASH_EOL, level, self.name, explain)]

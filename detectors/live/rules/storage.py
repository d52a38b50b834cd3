"""Storage rules: sustained runaway filling (or storage sitting full) with a time-to-full
forecast, and flash wearing out."""

from __future__ import annotations

import math
from array import array
from typing import ClassVar

import numpy as np

from detectors.base import Rule
from detectors.block import Block, filled
from detectors.live.decay import DecayedMean
from detectors.live.findings import (
    Assessment,
    Context,
    Explanation,
    confidence,
    days_text,
    rounded,
)
from devicecare.contracts import Severity
from devicecare.contracts.vocabulary import FaultKind

DAY = 86_400.0
HOUR = 3600.0
GB = 1e9


class StorageFill(Rule):
    """Used space growing far faster than this device's own usual growth, day after day
    and not slowing down, or storage sitting full for days after fast growth.

    Growth counts only increases (a clean-up is not negative growth) and is summed per
    day of data. A day's growth is beyond the device's noise at `min_growth_gb_per_day`,
    at `min_growth_share_per_day` of the disk and at `growth_ratio` times its usual daily
    growth (learned over `memory_days` from calm days only, under half the first two:
    a runaway that ramps up slowly must not teach the usual growth, or the threshold
    runs ahead of it). A runaway keeps going, a
    burst (an OS update re-indexing, a restore from a backup, a sync, a big download)
    ends; so a fault needs a run of such days in a row:

    - `sustain_days` when the disk is full within `urgent_days` at the run's rate, one
      more when it takes longer (a disk that fills within a week cannot wait; one
      that takes weeks can wait a day for proof that this is no burst);
    - not slowing down: the latest day at least `steady_share` of the run's fastest;
    - beyond what the storage held before the run by a day's threshold: filling back
      space that a clean-up or a reinstall freed (a restore) is not new growth, unless
      the disk had grown fast on `fast_days` days in the `fast_memory_days` before the
      run: then it is the runaway coming back after the owner's clean-up.

    Days on which the storage was full (free under `full_share` of the total, or
    `full_gb`) for most of the observed time count as well: `full_days` of the last
    week make a fault when the storage is full now and grew fast (beyond the threshold)
    on `fast_days` days within `fast_memory_days`: something kept writing until it was
    full, or refilled it after the owner's clean-ups. A disk that filled at its usual
    pace, or that one update pushed over the edge, is full, not running away.
    Days with less than `min_observed_hours` of samples (the device off) do not count."""

    name = "storage_fill"
    kinds: ClassVar[tuple[str, ...]] = (FaultKind.STORAGE_RUNAWAY,)
    needs: ClassVar[tuple[str, ...]] = ("storage_total_bytes", "storage_free_bytes")

    def __init__(
        self,
        *,
        memory_days: float = 14.0,
        min_growth_gb_per_day: float = 1.0,
        min_growth_share_per_day: float = 0.01,
        growth_ratio: float = 5.0,
        sustain_days: int = 3,
        urgent_days: float = 7.0,
        steady_share: float = 0.7,
        full_share: float = 0.01,
        full_gb: float = 0.2,
        full_days: int = 4,
        fast_days: int = 3,
        fast_memory_days: int = 14,
        min_observed_hours: float = 6.0,
    ) -> None:
        self.memory_days = memory_days
        self.min_growth_gb_per_day = min_growth_gb_per_day
        self.min_growth_share_per_day = min_growth_share_per_day
        self.growth_ratio = growth_ratio
        self.sustain_days = sustain_days
        self.urgent_days = urgent_days
        self.steady_share = steady_share
        self.full_share = full_share
        self.full_gb = full_gb
        self.full_days = full_days
        self.fast_days = fast_days
        self.fast_memory_days = fast_memory_days
        self.min_observed_hours = min_observed_hours
        self.base = DecayedMean(memory_days * DAY)
        self.days: dict[int, array[float]] = {}
        """Per day: growth, seconds full, seconds observed, most used, first used (an
        array of doubles: half the memory of a list of floats)."""
        """Per day of data: [growth bytes, seconds full, seconds observed, most used,
        first used]."""
        self.learned_through = -1
        """The last day whose growth the baseline has seen (or skipped)."""
        self.last: tuple[float, float] = (math.nan, math.nan)
        self.free = math.nan
        self.total = 0.0
        self.first = math.nan
        self.frozen = False
        self.fast: list[int] = []
        """The recent complete days whose growth was beyond the threshold."""

    def _floor(self) -> float:
        """The growth a day that is fast on any device: an absolute and a disk share."""
        return max(self.min_growth_gb_per_day * GB, self.min_growth_share_per_day * self.total)

    def _threshold(self) -> float:
        base = self.base.mean if self.base.s0 > 0 else 0.0
        return max(self._floor(), self.growth_ratio * base)

    def score_block(self, block: Block) -> np.ndarray:
        used = block.col("storage_total_bytes") - block.col("storage_free_bytes")
        prev_t, prev_used = self.last
        ts = np.concatenate(([prev_t], block.ts))
        used = np.concatenate(([prev_used], used))
        days = np.diff(ts) / DAY
        with np.errstate(divide="ignore", invalid="ignore"):
            growth = np.where(
                (days > 0) & (days < 2), np.clip(np.diff(used), 0.0, None) / days, np.nan
            )
        return np.clip(filled(growth, 0.0) / (2 * self._threshold()), 0.0, 1.0)

    def learn_block(self, block: Block, mask: np.ndarray) -> None:
        total = block.col("storage_total_bytes")
        free = block.col("storage_free_bytes")
        used = total - free
        ok = np.flatnonzero(np.isfinite(used))
        if not len(ok):
            return
        ts, used, total, free = block.ts[ok], used[ok], total[ok], free[ok]
        if math.isnan(self.first):
            self.first = float(ts[0])
        prev_t, prev_used = self.last
        all_t = np.concatenate(([prev_t], ts))
        all_used = np.concatenate(([prev_used], used))
        dt = np.diff(all_t)
        adjacent = np.isfinite(dt) & (dt > 0) & (dt < DAY)
        growth = np.where(adjacent, np.clip(np.diff(all_used), 0.0, None), 0.0)
        observed = np.where(adjacent, dt, 0.0)
        full = free <= np.maximum(self.full_share * total, self.full_gb * GB)
        day = np.floor(ts / DAY).astype(np.int64)
        for d in np.unique(day).tolist():
            sel = day == d
            entry = self.days.setdefault(
                d, array("d", (0.0, 0.0, 0.0, -math.inf, float(used[sel][0])))
            )
            entry[0] += float(growth[sel].sum())
            entry[1] += float(observed[sel & full].sum())
            entry[2] += float(observed[sel].sum())
            entry[3] = max(entry[3], float(used[sel].max()))
        self._learn_days(int(day[-1]))
        self.last = (float(ts[-1]), float(used[-1]))
        self.free = float(free[-1])
        self.total = float(total[-1]) if math.isfinite(total[-1]) else self.total

    def _learn_days(self, today: int) -> None:
        """Completed, calm days teach the usual growth; old days are dropped."""
        threshold = self._threshold()
        for d in sorted(self.days):
            if d >= today:
                break
            if d <= self.learned_through:
                continue
            self.learned_through = d
            growth, _, observed, _, _ = self.days[d]
            rate = growth * DAY / observed if observed > 0 else math.inf
            enough = observed >= self.min_observed_hours * HOUR
            if enough and rate >= threshold:
                self.fast = [*self.fast[-self.fast_days * 4 :], d]
            calm = enough and rate < self._floor() / 2
            if calm and not self.frozen:
                self.base.update(np.array([(d + 1) * DAY]), np.array([growth * DAY / observed]))
        horizon = today - 8
        self.days = {d: v for d, v in self.days.items() if d >= horizon}

    def rebaseline(self, now: float) -> None:
        """After an OS update (which may move files, re-index, cache anew): the usual
        growth is learned anew from the days after it."""
        self.base = DecayedMean(self.base.tau)
        self.learned_through = int(now // DAY)
        self.frozen = False

    def _recent(self, now: float) -> tuple[list[tuple[int, float, float, float]], int]:
        """(Day, daily growth rate in bytes/day, most used bytes, first used bytes) of
        the complete observed days kept, oldest first, and how many of the last seven
        days the storage sat full."""
        today = int(now // DAY)
        days, full = [], 0
        for d in sorted(self.days):
            growth, full_s, observed, most, first = self.days[d]
            if observed < self.min_observed_hours * HOUR:
                continue
            if full_s >= 0.5 * observed:
                full += 1
            if d < today:
                days.append((d, growth * DAY / observed, most, first))
        return days, full

    def _growing(
        self, days: list[tuple[int, float, float, float]], threshold: float
    ) -> tuple[float, int]:
        """How strongly the latest days are a runaway (1 = every condition holds), and
        how many days in a row grew beyond the threshold."""
        rates = [r for _, r, _, _ in days]
        run = 0
        while run < len(rates) and rates[-1 - run] >= threshold:
            run += 1
        if not run:
            return (rates[-1] / threshold / self.sustain_days if rates else 0.0), 0
        grew = rates[-run:]
        rate = float(np.median(grew))
        days_to_full = self.free / rate if rate > 0 and math.isfinite(self.free) else math.inf
        required = self.sustain_days + (days_to_full > self.urgent_days)
        steady = grew[-1] / (self.steady_share * max(grew))
        start = days[-run][0]
        regrowth = sum(1 for d in self.fast if start - self.fast_memory_days <= d < start)
        before = [m for _, _, m, _ in days[:-run]] + [days[-run][3]]
        beyond = (self.last[1] - max(before)) / threshold
        if regrowth >= self.fast_days:
            beyond = math.inf
        return min(run / required, steady, max(beyond, 0.0)), run

    def assess(self, now: float, context: Context) -> list[Assessment]:
        if math.isnan(self.first):
            return []
        days, full = self._recent(now)
        threshold = self._threshold()
        growing, run = self._growing(days, threshold)
        full_now = self.free <= max(self.full_share * self.total, self.full_gb * GB)
        recent_fast = [d for d in self.fast if int(now // DAY) - d <= self.fast_memory_days]
        fast = len(recent_fast) >= self.fast_days
        filled_level = (
            full / self.full_days if full_now and fast else min(full / self.full_days, 0.9)
        )
        level = max(growing, filled_level)
        self.frozen = growing >= 0.5
        usual = self.base.mean if self.base.s0 > 0 else math.nan
        rates = [r for _, r, _, _ in days][-max(run, 1) :]
        rate = float(np.median(rates)) if rates else 0.0
        free = self.free

        def explain() -> Explanation:
            days_to_full = free / rate if rate > 0 else math.inf
            if full or days_to_full < 1:
                severity = Severity.CRITICAL if full >= self.full_days else Severity.HIGH
            elif days_to_full < 7:
                severity = Severity.HIGH
            else:
                severity = Severity.MEDIUM
            noun = context.noun
            if filled_level >= growing:
                reason = (
                    f"Your {noun}'s storage has been full on {full} of the last 7 days, "
                    "so apps cannot save data and updates fail."
                )
            else:
                times = (
                    f", {rate / usual:.0f} times faster than usual"
                    if usual > 0 and rate / usual >= 2
                    else ""
                )
                ahead = (
                    "it is full within a day"
                    if days_to_full < 1
                    else f"it is full {days_text(days_to_full)}"
                )
                reason = (
                    f"Your {noun}'s storage has been filling by {rate / GB:.1f} GB a day "
                    f"for {max(run, 1)} days in a row{times}; at this rate {ahead}."
                )
            return Explanation(
                severity,
                confidence(level),
                reason + " A runaway app log or cache is the usual cause: our clean-up "
                "guide shows how to find and clear it.",
                {
                    "growth_gb_per_day": rounded(rate / GB, 2),
                    "usual_growth_gb_per_day": rounded(usual / GB, 2),
                    "days_of_growth": run,
                    "days_full_7d": full,
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

"""Battery rules: capacity fade from the fuel gauge's re-learn points and, independently,
from the energy the battery delivers per percent of discharge; a bad cell from sudden
charge drops and early shutdowns, and internal resistance against the battery's own
open-circuit voltage curve (allowing for the rise that comes with lost capacity).

Each rule states the noise it expects from the device's own history and reports a level
of 1 only when the evidence is beyond that noise; the finding tracker then asks for the
level to hold for its sustain time before a finding opens.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from detectors.base import Rule
from detectors.block import Block, EventRow, filled
from detectors.live.decay import DecayedMean, DecayedRegression
from detectors.live.findings import (
    Assessment,
    Context,
    Explanation,
    confidence,
    rounded,
    times_text,
)
from detectors.live.robust import Slope, theil_sen
from devicecare.contracts import EventKind, Severity
from devicecare.contracts.vocabulary import FaultKind

DAY = 86_400.0
HOUR = 3600.0
CYCLE_FADE_PCT = 0.018
CALENDAR_FADE_PCT_PER_DAY = 0.002
MIN_HEALTH = 0.3
COLD_C = 15.0
"""Below this battery temperature a fuel gauge under-reads capacity and a cell's
resistance rises: such samples are not evidence of a fault."""
KERNEL_EVENTS = frozenset({EventKind.KERNEL_PANIC.value, EventKind.KERNEL_OOPS.value})
PANIC_REBOOT_S = 600.0
"""A reboot this soon after a panic is the panic's own."""
EXPECTED_REBOOTS = (
    "user",
    "update",
    "ota",
    "shutdown",
    "reboot_command",
    "install",
    "scheduled",
    "battery_empty",
)
"""Reboot reasons that are the owner's or the system's own choice, or a battery that
simply ran flat: not a failure."""


def _last(values: np.ndarray) -> float:
    ok = np.flatnonzero(np.isfinite(values))
    return float(values[ok[-1]]) if len(ok) else math.nan


def _health(block: Block) -> np.ndarray:
    design = block.col("battery_design_wh")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(design > 0, 100.0 * block.col("battery_full_wh") / design, np.nan)


def unexpected_reboot(event: EventRow) -> bool:
    """A reboot the owner did not ask for: no reason, a watchdog, a power loss, a panic.
    The reason is the event's own (`detail.reason`), else its signature."""
    if event.kind != EventKind.REBOOT.value:
        return False
    reason = (event.reason or event.signature or "").lower()
    return not any(word in reason for word in EXPECTED_REBOOTS)


USUAL_POWER = (0.6, 1.6)
"""The band of a discharge point's mean power, as multiples of the device's median,
in which its energy per percent is compared."""


class DischargeCapacity:
    """Capacity counted from the discharge, as a fuel gauge counts it: the energy the
    battery delivered (voltage times current over time) per point of charge it lost,
    as a share of its design energy.

    It is independent of the gauge's re-learn points and has many more of them: one
    point per `drop_pct` points of discharge. Only intervals of at most `max_gap_s`
    between two samples count, unplugged and discharging at both ends, warm (cold
    cells deliver less), between `low_pct` and `high_pct` (a gauge is least exact at
    the ends), and without a sudden drop (a bad cell's loss is not capacity): more than
    `jump_pct` points beyond what the energy explains. Charge stretches are not used: a
    charger's current is regulated, and the percent gained per hour tells less about
    the capacity than the percent lost. A point spans at most `max_span_days` (a device
    in a drawer adds little); each keeps its mean discharge power, so that a fit can
    take out what load explains (a cell delivers less energy at high current)."""

    def __init__(
        self,
        *,
        drop_pct: float = 20.0,
        max_gap_s: float = 1800.0,
        low_pct: float = 10.0,
        high_pct: float = 98.0,
        jump_pct: float = 4.0,
        max_span_days: float = 3.0,
    ) -> None:
        self.drop_pct = drop_pct
        self.max_gap_s = max_gap_s
        self.low_pct = low_pct
        self.high_pct = high_pct
        self.jump_pct = jump_pct
        self.max_span_days = max_span_days
        self.last = np.full(4, np.nan)
        """The last sample: time, charge %, discharge power (W), charging flag."""
        self.sums = np.zeros(4)
        """The point under way: energy (Wh), percent lost, power x hours, hours."""
        self.since = math.nan

    def update(self, block: Block, reference: float) -> list[tuple[float, float, float]]:
        """The points completed in the block: (time, energy per percent as a share of
        the design energy, mean discharge power in W). `reference` is the capacity
        share expected now (to tell a sudden drop from discharge)."""
        design = _last(block.col("battery_design_wh"))
        current = block.col("battery_current_a")
        power = -block.col("battery_voltage_v") * current
        charging = block.col("battery_charging") > 0.5
        charging = charging | ~(current < 0)
        temp = filled(block.col("battery_temp_c"), 25.0)
        power = np.where(temp >= COLD_C, power, np.nan)
        ts = np.concatenate(([self.last[0]], block.ts))
        pct = np.concatenate(([self.last[1]], block.col("battery_pct")))
        watts = np.concatenate(([self.last[2]], power))
        plugged = np.concatenate(([self.last[3] > 0.5], charging))
        last_power = float(watts[-1])
        self.last = np.array([ts[-1], pct[-1], last_power, float(plugged[-1])])
        if not design > 0 or not reference > 0:
            return []
        hours = np.diff(ts) / HOUR
        drop = pct[:-1] - pct[1:]
        mean_w = (watts[:-1] + watts[1:]) / 2
        energy = mean_w * hours
        explained = energy / (reference * design / 100.0)
        with np.errstate(invalid="ignore"):
            ok = (
                (hours > 0)
                & (hours * HOUR <= self.max_gap_s)
                & ~plugged[:-1]
                & ~plugged[1:]
                & (pct[:-1] <= self.high_pct)
                & (pct[1:] >= self.low_pct)
                & (drop >= 0)
                & (drop <= explained + self.jump_pct)
                & (mean_w > 0)
            )
        ok &= np.isfinite(drop) & np.isfinite(energy)
        rows = np.where(ok[:, None], np.column_stack((energy, drop, mean_w * hours, hours)), 0.0)
        points = []
        start = 0
        while True:
            valid = np.flatnonzero(ok[start:])
            if not len(valid):
                break
            if math.isnan(self.since):
                self.since = float(ts[start + valid[0]])
            hit = np.flatnonzero(self.sums[1] + np.cumsum(rows[start:, 1]) >= self.drop_pct)
            if not len(hit):
                self.sums += rows[start:].sum(axis=0)
                break
            end = start + int(hit[0])
            total = self.sums + rows[start : end + 1].sum(axis=0)
            at = float(ts[end + 1])
            if at - self.since <= self.max_span_days * DAY:
                share = total[0] / (total[1] / 100.0) / design
                points.append((at, share, total[2] / total[3]))
            self.sums = np.zeros(4)
            self.since = math.nan
            start = end + 1
        if float(ts[-1]) - self.since > self.max_span_days * DAY:
            self.sums = np.zeros(4)
            self.since = math.nan
        return points


@dataclass(frozen=True)
class Fade:
    """A capacity fade estimate, % of design per day, with its standard error and the
    days it spans; `drain_days` > 0 when discharge points went into it."""

    fade: float
    se: float
    span: float
    relearn_points: int
    drain_days: int
    drain_fade: float = math.nan
    drain_se: float = math.nan

    @property
    def t(self) -> float:
        return self.fade / self.se if self.se > 0 else 0.0


def drain_trend(points: np.ndarray, floor: float, min_days: int) -> Slope | None:
    """The trend of the energy delivered per percent of charge, % of its level per day.

    Only points at the device's usual power count (`USUAL_POWER` times the median):
    at a small fraction of it (a week in a drawer) the standby draw dominates, which a
    gauge's current sense measures worst, and far above it a cell delivers less.
    What the load explains is taken out first (a least-squares fit of the log share on
    time and on log mean power and its square, the power terms removed: a cell gives
    less energy at high current, and a gauge's percent is not exactly linear in
    energy), so that a busy week or a week in a drawer does not read as a change of
    capacity. Then the points of a day are
    pooled into their median, and the Theil-Sen slope runs through the daily medians:
    its noise model is the day-to-day scatter, not the far smaller scatter a few
    hundred points would claim. That scatter is the residuals' standard deviation when
    it exceeds the robust one: a week of other use shifts several days together (a
    step the median absolute deviation hides), and a line through a step is no fade."""
    ok = np.isfinite(points).all(axis=1) & (points[:, 1] > 0) & (points[:, 2] > 0)
    points = points[ok].astype(np.float64)
    if len(points) < min_days:
        return None
    usual = float(np.median(points[:, 2]))
    band = (points[:, 2] >= usual * USUAL_POWER[0]) & (points[:, 2] <= usual * USUAL_POWER[1])
    points = points[band]
    if len(points) < min_days:
        return None
    x = points[:, 0] / DAY
    y = 100.0 * np.log(points[:, 1])
    z = np.log(points[:, 2])
    z = z - np.median(z)
    if float(np.ptp(z)) > 0:
        design = np.column_stack((np.ones(len(x)), x - x.mean(), z, z * z))
        beta = np.linalg.lstsq(design, y, rcond=None)[0]
        y = y - design[:, 2:] @ beta[2:]
    days, index = np.unique(np.floor(x), return_inverse=True)
    if len(days) < min_days:
        return None
    counts = np.bincount(index)
    day_x = np.bincount(index, x) / counts
    day_y = group_medians(y, index, counts)
    fit = theil_sen(day_x, day_y, floor)
    if fit is None:
        return None
    residual = day_y - fit.slope * day_x
    spread = float(np.std(residual, ddof=2))
    if not spread > fit.sigma:
        return fit
    return replace(fit, se=fit.se * spread / fit.sigma, sigma=spread)


def group_medians(values: np.ndarray, group: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The median of `values` in each group 0..n-1 (`counts`: the groups' sizes), in one
    sort rather than one median per group."""
    ordered = values[np.lexsort((values, group))]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return (ordered[starts + (counts - 1) // 2] + ordered[starts + counts // 2]) / 2


class CapacityFade(Rule):
    """Capacity fade: a robust (Theil-Sen) trend through the fuel gauge's re-learn points.

    A fuel gauge re-learns full capacity now and then and jumps by about a percent each
    time; between re-learns the value does not move. So only the points where the value
    changes count, merged when they fall within `merge_hours` of each other, over the
    last `window_days`. Cold readings (< 15 °C) and sudden drops (a glitch, more than
    `glitch_pct` under the recent points) are left out; a jump up of `replaced_pct` or
    more is a new battery and starts over. A fault needs the slope `min_t` standard
    errors below zero (noise: the larger of the residual scatter, the re-learn steps'
    scatter and `floor_pct`), a total decline of `min_decline_pct` over the window, and a
    rate `excess_ratio` times what the battery's own use and heat explain under a Li-ion
    ageing model (0.018%/cycle plus 0.002%/day, doubling per 10 °C)."""

    name = "capacity_fade"
    kinds: ClassVar[tuple[str, ...]] = (FaultKind.BATTERY_FADE,)
    needs: ClassVar[tuple[str, ...]] = ("battery_full_wh", "battery_design_wh")

    def __init__(
        self,
        *,
        window_days: float = 45.0,
        merge_hours: float = 6.0,
        min_points: int = 4,
        min_t: float = 4.0,
        min_decline_pct: float = 2.0,
        excess_ratio: float = 3.0,
        min_fade_pct_per_day: float = 0.05,
        floor_pct: float = 0.8,
        glitch_pct: float = 5.0,
        replaced_pct: float = 5.0,
        max_points: int = 64,
        min_drain_days: int = 21,
        drain_floor_pct: float = 0.5,
        agree_z: float = 3.0,
        confirm_t: float = 2.0,
        max_drain_points: int = 256,
    ) -> None:
        self.window_days = window_days
        self.merge_hours = merge_hours
        self.min_points = min_points
        self.min_t = min_t
        self.min_decline_pct = min_decline_pct
        self.excess_ratio = excess_ratio
        self.min_fade_pct_per_day = min_fade_pct_per_day
        self.floor_pct = floor_pct
        self.glitch_pct = glitch_pct
        self.replaced_pct = replaced_pct
        self.max_points = max_points
        self.min_drain_days = min_drain_days
        self.drain_floor_pct = drain_floor_pct
        self.agree_z = agree_z
        self.confirm_t = confirm_t
        self.max_drain_points = max_drain_points
        self.reading = math.nan
        """The gauge's last warm reading."""
        self.low: tuple[float, float] = (math.nan, math.nan)
        """A reading far under the recent points, waiting for the next to confirm it."""
        self.points = np.empty((0, 2))
        """Re-learn points, one row (time, health %) each, oldest first (an array: a
        device keeps up to `max_points` of them, compactly)."""
        self.expected = DecayedMean(window_days * DAY / 3)
        self.health = math.nan
        self.last: tuple[float, float] = (math.nan, math.nan)
        self.fit: Slope | None = None
        self.discharge = DischargeCapacity()
        self.drain = np.empty((0, 3), dtype=np.float32)
        """Discharge points, one row (time, energy per percent as a share of design,
        mean discharge power in W) each, oldest first; single precision keeps a
        device's state small (the time to about two minutes)."""
        self.drain_fit: Slope | None = None

    def score_block(self, block: Block) -> np.ndarray:
        return np.zeros(len(block))

    def learn_block(self, block: Block, mask: np.ndarray) -> None:
        health = _health(block)
        ok = np.isfinite(health)
        if not ok.any():
            return
        self.health = _last(health)
        temp = filled(block.col("battery_temp_c"), 25.0)
        warm = ok & (temp >= COLD_C)
        index = np.flatnonzero(warm)
        values = health[index]
        changed = values != np.concatenate(([self.reading], values[:-1]))
        for i, value in zip(index[changed].tolist(), values[changed].tolist(), strict=True):
            self._relearn(float(block.ts[i]), value)
        if len(values):
            self.reading = float(values[-1])
        self._expected(block, temp)
        self.fit = None
        if block.has("battery_current_a") and block.has("battery_voltage_v"):
            reference = self.health / 100.0 if self.health > 0 else 1.0
            found = self.discharge.update(block, reference)
            if found:
                horizon = float(block.ts[-1]) - self.window_days * DAY
                drain = np.vstack((self.drain, np.array(found, dtype=np.float32)))
                self.drain = drain[drain[:, 0] >= horizon][-self.max_drain_points :]
                self.drain_fit = None

    def _relearn(self, t: float, value: float) -> None:
        """A re-learn point: merged with the last one within `merge_hours`, a new
        battery starting over. A reading `glitch_pct` under the recent points (beyond
        twice the drop the faster of the two trends foresees since the last point; the
        discharge points see a fast fade before the sparse re-learns do) waits for the
        next re-learn: if that one is as low, the drop holds (a fast fade or a knee)
        and both count; if not, it was a glitch."""
        if len(self.points):
            recent = float(np.median(self.points[-3:, 1]))
            estimate = self.estimate()
            fade = 0.0 if estimate is None else np.nanmax([estimate.fade, estimate.drain_fade, 0])
            foreseen = 2.0 * fade * (t - float(self.points[-1, 0])) / DAY
            if value >= recent + self.replaced_pct:
                self.points = np.empty((0, 2))
                self.expected = DecayedMean(self.expected.tau)
                self.drain = np.empty((0, 3), dtype=np.float32)
                self.drain_fit = None
            elif value <= recent - self.glitch_pct - foreseen:
                if math.isnan(self.low[1]):
                    self.low = (t, value)
                    return
                self._point(*self.low)
            self.low = (math.nan, math.nan)
        self._point(t, value)

    def _point(self, t: float, value: float) -> None:
        if len(self.points) and t - self.points[-1, 0] < self.merge_hours * HOUR:
            self.points[-1, 1] = value
        else:
            self.points = np.vstack((self.points, [t, value]))
        horizon = t - self.window_days * DAY
        self.points = self.points[self.points[:, 0] >= horizon][-self.max_points :]

    def _expected(self, block: Block, temp: np.ndarray) -> None:
        """The fade rate the battery's own discharge and heat explain, % per day."""
        ts = block.ts
        pct = block.col("battery_pct")
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

    def trend(self) -> Slope | None:
        """The robust trend of the re-learn points, % of design capacity per day."""
        if self.fit is None and len(self.points) >= 3:
            self.fit = theil_sen(self.points[:, 0] / DAY, self.points[:, 1], self.floor_pct)
        return self.fit

    def drain_trend(self) -> Slope | None:
        """The robust trend of the discharge points, % of their own level per day."""
        if self.drain_fit is None:
            self.drain_fit = drain_trend(self.drain, self.drain_floor_pct, self.min_drain_days)
        return self.drain_fit

    def estimate(self) -> Fade | None:
        """Capacity lost per day, % of design: the re-learn points' trend, combined
        with the discharge points' trend when the two agree within `agree_z` standard
        errors, but never more than one standard error above the gauge's own: the
        discharge (weeks of days against a handful of re-learns) sharpens the
        estimate, the gauge bounds it.
        When they disagree, the gauge's stands unless the energy per percent holds
        (under `confirm_t` standard errors of fade): a gauge whose re-learns drift down
        while the discharge shows no fade is not evidence, and a discharge that fades
        faster than the sparse re-learns show waits for them."""
        fit = self.trend()
        if fit is None:
            return None
        relearn = Fade(-fit.slope, fit.se, fit.span, fit.points, 0)
        drain = self.drain_trend()
        if drain is None or not self.health > 0:
            return relearn
        scale = self.health / 100.0
        fade, se = -drain.slope * scale, drain.se * scale
        if se <= 0:
            return relearn
        if abs(fade - relearn.fade) > self.agree_z * math.hypot(se, relearn.se):
            if fade >= relearn.fade or fade >= self.confirm_t * se:
                return replace(relearn, drain_fade=fade, drain_se=se)
            return Fade(fade, se, drain.span, fit.points, drain.points, fade, se)
        w_relearn, w_drain = relearn.se**-2, se**-2
        combined = (w_relearn * relearn.fade + w_drain * fade) / (w_relearn + w_drain)
        return Fade(
            min(combined, relearn.fade + relearn.se),
            (w_relearn + w_drain) ** -0.5,
            max(relearn.span, drain.span),
            fit.points,
            drain.points,
            fade,
            se,
        )

    def measured_fade(self) -> float:
        """Capacity lost per day, % of design (NaN before there is a trend)."""
        estimate = self.estimate()
        return math.nan if estimate is None else estimate.fade

    def assess(self, now: float, context: Context) -> list[Assessment]:
        estimate = self.estimate()
        expected = self.expected.mean
        if estimate is None or len(self.points) < self.min_points or math.isnan(expected):
            return []
        fade = estimate.fade
        decline = fade * estimate.span
        ratio = fade / max(expected, 0.002)
        level = min(
            estimate.t / self.min_t,
            decline / self.min_decline_pct,
            fade / self.min_fade_pct_per_day,
            ratio / self.excess_ratio,
        )
        health = self.health
        days_to_80 = (health - 80.0) / fade if fade > 0 else math.inf

        def explain() -> Explanation:
            cohort = context.cohort_median("battery_health_pct")
            measured = (
                " (by its fuel gauge and by the energy it delivers)" if estimate.drain_days else ""
            )
            reason = (
                f"Your {context.noun}'s battery holds {health:.0f}% of its original charge "
                f"and is losing about {fade * 30:.1f}% a month{measured}, "
                + (f"{ratio:.0f} times" if ratio >= 2 else "clearly")
                + " faster than its use and temperature explain"
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
                    "fade_t": rounded(estimate.t, 1),
                    "relearn_points": estimate.relearn_points,
                    "discharge_days": estimate.drain_days,
                    "discharge_fade_pct_per_day": rounded(estimate.drain_fade, 4),
                    "decline_pct": rounded(decline, 2),
                    "expected_fade_pct_per_day": rounded(expected, 4),
                    "fade_ratio": rounded(ratio, 2),
                    "days_to_80_pct": rounded(min(max(days_to_80, 0.0), 9999.0), 1),
                    "cohort_median_health_pct": rounded(cohort, 1),
                    "cohort_percentile_fade": rounded(
                        context.percentile("battery_fade_pct_per_day", fade), 1
                    ),
                },
            )

        return [Assessment(FaultKind.BATTERY_FADE, level, self.name, explain)]


class ChargeDrops(Rule):
    """A bad cell: the charge level falls by many points within minutes, unplugged, or
    the device shuts down with charge to spare (early shutdown).

    An early shutdown is a gap in the samples followed by a reboot the owner did not ask
    for (no reason, a watchdog, a power loss), with the battery at `shutdown_pct` or
    more and not charging before the gap, and `min_drop_pct` lower after it (the cell
    gave out; a hung system that a watchdog restarts keeps its charge). A device that
    ran flat, one restarted on purpose, or one rebooting after a kernel panic is no
    evidence of a bad cell."""

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
        shutdown_pct: float = 20.0,
        min_gap_minutes: float = 20.0,
    ) -> None:
        self.min_drop_pct = min_drop_pct
        self.min_rate_pct_per_hour = min_rate_pct_per_hour
        self.window_days = window_days
        self.drops_for_fault = drops_for_fault
        self.shutdown_pct = shutdown_pct
        self.min_gap_minutes = min_gap_minutes
        self.drops: list[tuple[float, float]] = []
        self.shutdowns: list[tuple[float, float]] = []
        """Early shutdowns: (reboot time, charge level before the gap)."""
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

    def _early_shutdowns(self, block: Block) -> list[tuple[float, float]]:
        """Reboots the owner did not ask for after a gap, with charge to spare before it."""
        panics = [e.ts for e in block.events if e.kind in KERNEL_EVENTS]
        reboots = [
            e
            for e in block.events
            if unexpected_reboot(e) and not any(0 <= e.ts - p <= PANIC_REBOOT_S for p in panics)
        ]
        if not reboots:
            return []
        prev_t, prev_pct, prev_charging = self.last
        ts = np.concatenate(([prev_t], block.ts))
        pct = np.concatenate(([prev_pct], block.col("battery_pct")))
        charging = np.concatenate(([prev_charging], block.col("battery_charging")))
        found = []
        for event in reboots:
            before = int(np.searchsorted(ts, event.ts, side="left")) - 1
            if before < 0 or before + 1 >= len(ts) or not math.isfinite(ts[before]):
                continue
            gap = event.ts - float(ts[before])
            level, after = float(pct[before]), float(pct[before + 1])
            if (
                gap >= self.min_gap_minutes * 60
                and level >= self.shutdown_pct
                and after <= level - self.min_drop_pct
                and not charging[before] > 0.5
            ):
                found.append((event.ts, level))
        return found

    def score_block(self, block: Block) -> np.ndarray:
        drops = self._drops(block)
        return np.clip(drops / (2 * self.min_drop_pct), 0.0, 1.0)

    def learn_block(self, block: Block, mask: np.ndarray) -> None:
        self.shutdowns += self._early_shutdowns(block)
        if not len(block):
            return
        drops = self._drops(block)
        for i in np.flatnonzero(drops):
            self.drops.append((float(block.ts[i]), float(drops[i])))
        horizon = float(block.ts[-1]) - 2 * self.window_days * DAY
        self.drops = [d for d in self.drops if d[0] >= horizon][-16:]
        self.shutdowns = [s for s in self.shutdowns if s[0] >= horizon][-16:]
        charging = block.col("battery_charging")
        self.last = (
            float(block.ts[-1]),
            _last(block.col("battery_pct")),
            0.0 if math.isnan(charging[-1]) else float(charging[-1]),
        )

    def assess(self, now: float, context: Context) -> list[Assessment]:
        if math.isnan(self.last[0]):
            return []
        horizon = now - self.window_days * DAY
        recent = [d for t, d in self.drops if t >= horizon]
        shutdowns = [pct for t, pct in self.shutdowns if t >= horizon]
        events = len(recent) + len(shutdowns)
        level = events / self.drops_for_fault
        deepest = max(recent, default=0.0)
        highest = max(shutdowns, default=0.0)

        def explain() -> Explanation:
            parts = []
            if recent:
                parts.append(
                    f"lost charge suddenly {times_text(len(recent))} in the last week, up "
                    f"to {deepest:.0f} points within minutes while not charging"
                )
            if shutdowns:
                parts.append(
                    f"switched itself off {times_text(len(shutdowns))} in the last week "
                    f"with up to {highest:.0f}% charge left"
                )
            what = " and ".join(parts) if parts else "lost charge erratically"
            return Explanation(
                Severity.HIGH,
                min(0.99, 0.35 * max(events, 1)),
                f"Your {context.noun} {what}: a sign of a failing battery cell. "
                "A battery check is free.",
                {
                    "sudden_drops_7d": len(recent),
                    "deepest_drop_pct": rounded(deepest, 1),
                    "early_shutdowns_7d": len(shutdowns),
                    "charge_before_shutdown_pct": rounded(highest, 1),
                },
            )

        return [Assessment(FaultKind.BATTERY_BAD_CELL, level, self.name, explain)]


class BatteryResistance(Rule):
    """A failing cell's internal resistance rises: its voltage sags further under load.

    The battery's open-circuit voltage curve (a cubic in the charge level) and its
    resistance (volts per ampere) are learned together per device over `memory_days`,
    by time-weighted least squares of voltage on charge level and current. The recent
    resistance is the same fit over `recent_hours` with the learned curve held fixed.
    Only charge levels of 15-95% count (the curve is steep at the ends, and a device
    that ran flat and sat off is no evidence) and only warm samples (cold raises the
    resistance of any cell). A fault needs the recent resistance at `ratio` times the
    learned one (which allows for ageing) and `min_t` standard errors above it (noise:
    the device's own voltage residual). A cell's resistance also grows as it loses
    capacity (a worn Li-ion cell reaches about twice its resistance by 80% capacity):
    the ratio asked for grows by `ageing_per_pct` for each point of capacity the fuel
    gauge lost between the learned and the recent window, so a fading battery is fade,
    not a bad cell."""

    name = "battery_resistance"
    kinds: ClassVar[tuple[str, ...]] = (FaultKind.BATTERY_BAD_CELL,)
    needs: ClassVar[tuple[str, ...]] = ("battery_voltage_v", "battery_pct", "battery_current_a")

    def __init__(
        self,
        *,
        memory_days: float = 30.0,
        recent_hours: float = 48.0,
        warmup_days: float = 3.0,
        ratio: float = 1.5,
        ageing_per_pct: float = 0.05,
        min_t: float = 4.0,
        min_current_weight: float = 8.0,
    ) -> None:
        self.memory_days = memory_days
        self.recent_hours = recent_hours
        self.warmup_days = warmup_days
        self.ratio = ratio
        self.ageing_per_pct = ageing_per_pct
        self.min_t = min_t
        self.min_current_weight = min_current_weight
        self.model = DecayedRegression(memory_days * DAY, 5)
        self.recent = DecayedRegression(recent_hours * HOUR, 5)
        self.noise = DecayedMean(memory_days * DAY)
        self.health = DecayedMean(memory_days * DAY)
        self.recent_health = DecayedMean(recent_hours * HOUR)
        self.first = math.nan
        self.frozen = False

    @staticmethod
    def _design(block: Block) -> tuple[np.ndarray, np.ndarray]:
        p = block.col("battery_pct") / 100.0
        temp = filled(block.col("battery_temp_c"), 25.0)
        usable = (p >= 0.15) & (p <= 0.95) & (temp >= COLD_C)
        current = block.col("battery_current_a")
        x = np.column_stack((np.ones(len(block)), p, p * p, p * p * p, current))
        y = np.where(usable, block.col("battery_voltage_v"), np.nan)
        return x, y

    def score_block(self, block: Block) -> np.ndarray:
        return np.zeros(len(block))

    def learn_block(self, block: Block, mask: np.ndarray) -> None:
        if not len(block):
            return
        if math.isnan(self.first):
            self.first = float(block.ts[0])
        x, y = self._design(block)
        self.recent.update(block.ts, x, y)
        health = _health(block)
        self.recent_health.update(block.ts, health)
        if self.frozen:
            return
        self.health.update(block.ts, health)
        beta = self.model.coef(ridge=1e-6)
        if beta is not None:
            residual = y - x @ beta
            self.noise.update(block.ts, residual * residual)
        self.model.update(block.ts, x, y)

    def resistances(self) -> tuple[float, float, float]:
        """Learned and recent resistance (ohms) and the recent one's standard error."""
        beta = self.model.coef(ridge=1e-6)
        weight = float(self.recent.xtx[4, 4])
        if beta is None or weight < self.min_current_weight or self.noise.s0 <= 0:
            return math.nan, math.nan, math.nan
        ocv = beta[:4]
        recent = float((self.recent.xty[4] - self.recent.xtx[4, :4] @ ocv) / weight)
        se = max(math.sqrt(self.noise.mean), 0.002) / math.sqrt(weight)
        return float(beta[4]), recent, se

    def assess(self, now: float, context: Context) -> list[Assessment]:
        if math.isnan(self.first) or now - self.first < self.warmup_days * DAY:
            return []
        base, recent, se = self.resistances()
        if math.isnan(recent) or base <= 0:
            return []
        ratio = recent / base
        t = (recent - base) / se
        lost = self.health.mean - self.recent_health.mean
        allowed = self.ratio + self.ageing_per_pct * (lost if lost > 0 else 0.0)
        level = min((ratio - 1.0) / (allowed - 1.0), t / self.min_t)
        self.frozen = level >= 0.5

        def explain() -> Explanation:
            return Explanation(
                Severity.HIGH,
                confidence(level),
                f"Your {context.noun}'s battery voltage now sags {ratio:.1f} times as far "
                "under load as it used to at the same charge level: its internal "
                "resistance has risen, a sign of a failing cell. A battery check is free.",
                {
                    "resistance_ohm": rounded(recent, 4),
                    "resistance_baseline_ohm": rounded(base, 4),
                    "resistance_ratio": rounded(ratio, 2),
                    "resistance_t": rounded(t, 1),
                    "capacity_lost_pct": rounded(lost, 1),
                },
            )

        return [Assessment(FaultKind.BATTERY_BAD_CELL, level, self.name, explain)]
